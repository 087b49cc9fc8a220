"""Structural re-parameterisation: the RepVGG block (Ding et al. 2021, "RepVGG: Making
VGG-style ConvNets Great Again", arXiv 2101.03697, Fig. 4).

While training, a block sums three branches, each ending in a BatchNorm: a 3x3 conv, a 1x1
conv and (where input and output have the same shape) the identity. All three are linear in
the input once the BatchNorms use their running statistics, so :meth:`switch_to_deploy` folds
each BatchNorm into its branch, pads the 1x1 kernel and the identity to 3x3 kernels, and adds
them into one 3x3 conv with a bias (Fig. 4 (B) to (C)): the multi-branch topology helps
optimisation, the single conv runs fast.

Keys are mmyolo's ``RepVGGBlock``'s (``rbr_dense``, ``rbr_1x1``, ``rbr_identity``; after the
switch ``rbr_reparam``), so that mmyolo's checkpoints load in both forms unchanged.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn

from .deploy import switch_blocks_to_deploy
from .norm_act import build_act, build_norm

__all__ = ['RepVGGBlock', 'ConvBN', 'fuse_conv_bn_weights', 'switch_to_deploy']

# mmyolo's RepVGGBlock defaults: YOLO's BatchNorm (momentum 0.03, eps 1e-3), ReLU.
REP_NORM = dict(type='BN', momentum=0.03, eps=0.001)
REP_ACT = dict(type='ReLU', inplace=True)


class ConvBN(nn.Module):
    """A bias-free conv and its norm, no activation (a RepVGG branch; keys ``conv``, ``bn``
    as mmcv's ``ConvModule``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int,
                 padding: int, groups: int, norm_cfg: dict):
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding,
                              groups=groups, bias=False)
        self.bn = build_norm(norm_cfg, out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.conv(x))


def fuse_conv_bn_weights(kernel: torch.Tensor, bn: nn.Module) -> Tuple[torch.Tensor,
                                                                      torch.Tensor]:
    """Kernel and bias of ``conv(kernel, no bias)`` followed by the eval-mode BatchNorm
    ``bn``: ``gamma / std * W`` and ``beta - gamma * mean / std``."""
    if not isinstance(bn, nn.modules.batchnorm._BatchNorm) or bn.running_var is None:
        raise TypeError(f'cannot fold {type(bn).__name__} into a conv: a BatchNorm with '
                        'running statistics is needed')
    scale = bn.weight / (bn.running_var + bn.eps).sqrt()
    return kernel * scale.reshape(-1, 1, 1, 1), bn.bias - bn.running_mean * scale


class RepVGGBlock(nn.Module):
    """RepVGG block (Ding et al. 2021, Fig. 4): 3x3 conv+BN, 1x1 conv+BN and identity BN
    branches, summed, then the activation; one 3x3 conv after :meth:`switch_to_deploy`.

    Arguments as mmyolo's ``RepVGGBlock`` (``kernel_size`` 3 and ``padding`` 1 only, as
    there). ``use_alpha`` scales the 1x1 branch by a learned scalar (PP-YOLOE);
    ``use_bn_first=False`` drops the identity branch; ``deploy=True`` builds the fused form
    directly, for loading deployed checkpoints.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, padding: int = 1, dilation: int = 1, groups: int = 1,
                 padding_mode: str = 'zeros', norm_cfg: Optional[dict] = REP_NORM,
                 act_cfg: Optional[dict] = REP_ACT, use_se: bool = False,
                 use_alpha: bool = False, use_bn_first: bool = True, deploy: bool = False):
        super().__init__()
        if kernel_size != 3 or padding != 1 or dilation != 1 or padding_mode != 'zeros':
            raise ValueError(
                f'kernel_size={kernel_size!r}, padding={padding!r}, dilation={dilation!r}, '
                f'padding_mode={padding_mode!r}; the RepVGG block is defined for the valid '
                "values kernel_size=3, padding=1, dilation=1, padding_mode='zeros'")
        if use_se:
            raise ValueError('use_se=True: squeeze-excitation is not supported (nor by '
                             "mmyolo's RepVGGBlock); valid values: False")
        if in_channels % groups or out_channels % groups:
            raise ValueError(f'groups={groups!r} must divide in_channels={in_channels} and '
                             f'out_channels={out_channels}')
        self.in_channels, self.out_channels = in_channels, out_channels
        self.stride, self.groups = stride, groups
        self.nonlinearity = build_act(act_cfg)
        self.alpha = nn.Parameter(torch.ones(1)) if use_alpha else None
        self.deploy = False
        if deploy:
            self._build_fused()
            return
        has_identity = use_bn_first and in_channels == out_channels and stride == 1
        self.rbr_identity = build_norm(norm_cfg, in_channels) if has_identity else None
        self.rbr_dense = ConvBN(in_channels, out_channels, 3, stride, 1, groups, norm_cfg)
        self.rbr_1x1 = ConvBN(in_channels, out_channels, 1, stride, 0, groups, norm_cfg)

    def _build_fused(self) -> None:
        self.rbr_reparam = nn.Conv2d(self.in_channels, self.out_channels, 3, self.stride, 1,
                                     groups=self.groups, bias=True)
        self.deploy = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.deploy:
            return self.nonlinearity(self.rbr_reparam(x))
        one_by_one = self.rbr_1x1(x)
        if self.alpha is not None:
            one_by_one = self.alpha * one_by_one
        out = self.rbr_dense(x) + one_by_one
        if self.rbr_identity is not None:
            out = out + self.rbr_identity(x)
        return self.nonlinearity(out)

    @torch.no_grad()
    def equivalent_kernel_bias(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """The 3x3 kernel and bias that compute the sum of the three branches (eval mode)."""
        kernel, bias = fuse_conv_bn_weights(self.rbr_dense.conv.weight, self.rbr_dense.bn)
        kernel_1x1, bias_1x1 = fuse_conv_bn_weights(self.rbr_1x1.conv.weight, self.rbr_1x1.bn)
        scale = self.alpha if self.alpha is not None else 1.0
        kernel = kernel + scale * nn.functional.pad(kernel_1x1, [1, 1, 1, 1])
        bias = bias + scale * bias_1x1
        if self.rbr_identity is not None:
            # the identity as a 3x3 kernel: 1 at the centre of each channel's own input
            per_group = self.in_channels // self.groups
            identity = torch.zeros_like(kernel)
            channels = torch.arange(self.in_channels)
            identity[channels, channels % per_group, 1, 1] = 1
            kernel_id, bias_id = fuse_conv_bn_weights(identity, self.rbr_identity)
            kernel, bias = kernel + kernel_id, bias + bias_id
        return kernel, bias

    def switch_to_deploy(self) -> None:
        """Fuse the branches into ``rbr_reparam`` (Fig. 4 (C)); a no-op once fused."""
        if self.deploy:
            return
        kernel, bias = self.equivalent_kernel_bias()
        device = kernel.device
        for name in ('rbr_dense', 'rbr_1x1', 'rbr_identity'):
            delattr(self, name)
        self._build_fused()
        self.rbr_reparam.to(device=device, dtype=kernel.dtype)
        self.rbr_reparam.weight.data.copy_(kernel)
        self.rbr_reparam.bias.data.copy_(bias)
        # ``alpha`` (folded into the kernel now) stays, unused, so that the deployed keys
        # are mmyolo's

    def extra_repr(self) -> str:
        return f'deploy={self.deploy}'


def switch_to_deploy(model: nn.Module) -> nn.Module:
    """The deploy form of any module; returns ``model``.

    A module with its own ``switch_to_deploy()`` (a backbone or a YOLO neck: BatchNorms folded
    too, see ``BaseBackbone.switch_to_deploy``; a RepVGG block) does it; in any other module
    (mmyolo's models, a container) the re-parameterisable blocks switch, as in the base class's
    first step (:func:`~mmbackbones.models.layers.deploy.switch_blocks_to_deploy`), and the
    other BatchNorms stay: the keys of mmyolo's deploy form."""
    own = getattr(model, 'switch_to_deploy', None)
    if callable(own):
        own()
    else:
        switch_blocks_to_deploy(model)
    return model
