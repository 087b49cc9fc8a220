"""Squeeze-and-excitation (Hu et al. 2018, arXiv 1709.01507), as MobileNetV3, EfficientNet and
RegNetY use it: global average pool, 1x1 conv down, activation, 1x1 conv up, gate, rescale."""
from typing import Optional

import torch
import torch.nn as nn

from .norm_act import build_act

__all__ = ['SqueezeExcite', 'build_gate']

HARD_SIGMOIDS = ('HSigmoid', 'Hardsigmoid')


def build_gate(gate_cfg: Optional[dict]) -> nn.Module:
    """The gating function of ``gate_cfg``: ``'Sigmoid'``, a hard sigmoid, or any mmcv
    activation.

    The hard sigmoid of MobileNetV3 is ``relu6(x + 3) / 6`` in timm, torchvision and the paper;
    mmcv's ``HSigmoid`` computes ``clamp((x + bias) / divisor, min_value, max_value)``, which is
    that function with its mmcv >= 1.4.4 defaults (``bias=3, divisor=6``; mmcv before 1.4.4
    defaulted to ``(x + 1) / 2``, so OpenMMLab's MobileNetV3 configs spell the values out).
    That case is built as ``nn.Hardsigmoid`` (the references' own module, no mmcv needed, no
    mmcv warning per layer); other values build mmcv's ``HSigmoid`` with them.
    """
    if gate_cfg is None:
        return nn.Identity()
    if not isinstance(gate_cfg, dict) or 'type' not in gate_cfg:
        raise TypeError(f"gate_cfg={gate_cfg!r}; valid values are None or a dict with 'type' "
                        "(e.g. dict(type='Sigmoid'), dict(type='HSigmoid'))")
    cfg = dict(gate_cfg)
    gate_type = cfg.pop('type')
    if gate_type == 'Sigmoid' and not cfg:
        return nn.Sigmoid()
    if gate_type in HARD_SIGMOIDS:
        unknown = set(cfg) - {'bias', 'divisor', 'min_value', 'max_value'}
        if unknown:
            raise ValueError(f'gate_cfg={gate_cfg!r}: unknown keys {sorted(unknown)}; valid '
                             "keys are 'bias', 'divisor', 'min_value', 'max_value'")
        params = (cfg.get('bias', 3.0), cfg.get('divisor', 6.0), cfg.get('min_value', 0.0),
                  cfg.get('max_value', 1.0))
        if params == (3.0, 6.0, 0.0, 1.0):
            return nn.Hardsigmoid()
        return build_act(dict(type='HSigmoid', **cfg))
    return build_act(gate_cfg)


class SqueezeExcite(nn.Module):
    """``x * gate(conv_expand(act(conv_reduce(mean_hw(x)))))``.

    Args:
        channels: input (and output) channels.
        squeeze_channels: channels of the bottleneck; each family has its own rule (EfficientNet:
            a quarter of the block's input channels; MobileNetV3: a quarter of the expanded
            channels, made divisible by 8; RegNetY: a quarter of the block's input width).
        act_cfg: activation between the two convs (mmcv config; EfficientNet uses SiLU/Swish).
        gate_cfg: the gate, see :func:`build_gate` (``'Sigmoid'``; MobileNetV3:
            ``dict(type='HSigmoid')``, the hard sigmoid ``relu6(x + 3) / 6``).

    Submodules ``conv_reduce`` and ``conv_expand`` are 1x1 convs with bias.
    """

    def __init__(self, channels: int, squeeze_channels: int,
                 act_cfg: Optional[dict] = dict(type='ReLU'),
                 gate_cfg: Optional[dict] = dict(type='Sigmoid')):
        super().__init__()
        if not isinstance(squeeze_channels, int) or squeeze_channels < 1:
            raise ValueError(f'squeeze_channels={squeeze_channels!r}; valid values are ints >= 1')
        self.conv_reduce = nn.Conv2d(channels, squeeze_channels, 1, bias=True)
        self.act = build_act(act_cfg)
        self.conv_expand = nn.Conv2d(squeeze_channels, channels, 1, bias=True)
        self.gate = build_gate(gate_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scale = x.mean((2, 3), keepdim=True)
        scale = self.conv_expand(self.act(self.conv_reduce(scale)))
        return x * self.gate(scale)
