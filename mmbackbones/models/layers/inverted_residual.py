"""Inverted residual blocks: MBConv (MobileNetV2, Sandler et al. 2018, arXiv 1801.04381; with
squeeze-excitation in MobileNetV3 and EfficientNet) and Fused-MBConv (EfficientNetV2, Tan & Le
2021, arXiv 2104.00298), and the channel rounding these networks share.

Both end in a 1x1 projection conv + norm *without* an activation (the "linear bottleneck"), and
add the input back only where the block keeps the shape (stride 1, same channels).
"""
from typing import Optional

import torch
import torch.nn as nn

from .args import DEFAULT_ACT, DEFAULT_NORM
from .drop_path import DropPath
from .norm_act import build_act, build_norm
from .same_padding import create_conv2d
from .squeeze_excite import SqueezeExcite

__all__ = ['ConvNormAct', 'FusedMBConv', 'InvertedResidual']


class ConvNormAct(nn.Module):
    """``act(norm(conv(x)))``: submodules ``conv``, ``norm`` and, unless ``act_cfg=None``,
    ``act``. ``padding``: ``'symmetric'`` (PyTorch) or ``'same'`` (TensorFlow), see
    :func:`~mmbackbones.models.layers.same_padding.create_conv2d`."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 stride: int = 1, dilation: int = 1, groups: int = 1,
                 padding: str = 'symmetric', conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = DEFAULT_NORM,
                 act_cfg: Optional[dict] = DEFAULT_ACT):
        super().__init__()
        self.conv = create_conv2d(in_channels, out_channels, kernel_size, stride, dilation,
                                  groups, bias=norm_cfg is None, padding=padding,
                                  conv_cfg=conv_cfg)
        self.norm = build_norm(norm_cfg, out_channels)
        self.act = None if act_cfg is None else build_act(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.conv(x))
        return x if self.act is None else self.act(x)


def _se(channels: int, se_cfg: Optional[dict]) -> Optional[nn.Module]:
    if se_cfg is None:
        return None
    if not isinstance(se_cfg, dict) or 'squeeze_channels' not in se_cfg:
        raise TypeError(f"se_cfg={se_cfg!r}; valid values are None or a dict of SqueezeExcite's "
                        "arguments with 'squeeze_channels' (and optionally 'act_cfg', "
                        "'gate_cfg')")
    return SqueezeExcite(channels, **se_cfg)


class _ResidualBlock(nn.Module):
    """The shortcut both blocks share: ``x + drop_path(branch)`` where shapes match."""

    def _setup_residual(self, in_channels, out_channels, stride, with_residual, drop_path_rate):
        self.has_residual = bool(with_residual) and stride == 1 and in_channels == out_channels
        if drop_path_rate and not self.has_residual:
            drop_path_rate = 0.0  # stochastic depth drops a residual branch; there is none
        self.drop_path = DropPath(drop_path_rate) if drop_path_rate > 0 else None

    def _add_residual(self, out: torch.Tensor, x: torch.Tensor,
                      inplace: bool = True) -> torch.Tensor:
        """``inplace``: add into ``out`` (no block-sized allocation), allowed where ``out`` is a
        norm's or a conv's output, whose backward does not need it."""
        if not self.has_residual:
            return out
        if self.drop_path is not None:
            out = self.drop_path(out)
        if inplace:
            out += x
            return out
        return out + x


class InvertedResidual(_ResidualBlock):
    """MBConv: [1x1 expansion conv] - kxk depthwise conv - [squeeze-excite] - 1x1 projection.

    Submodules: ``expand_conv`` (a :class:`ConvNormAct`; absent when the block does not expand,
    MobileNetV2/EfficientNet's expansion ratio 1), ``depthwise_conv`` (:class:`ConvNormAct`,
    carries the stride and dilation), ``se`` (:class:`SqueezeExcite`, absent without
    ``se_cfg``), ``project_conv`` (:class:`ConvNormAct` with no activation), and ``drop_path``.

    Args:
        in_channels, out_channels: block input and output channels.
        mid_channels: channels of the expanded (depthwise) part.
        kernel_size, stride, dilation: of the depthwise conv.
        se_cfg: ``None`` (no SE) or SqueezeExcite's arguments except ``channels``
            (``dict(squeeze_channels=..., act_cfg=..., gate_cfg=...)``); it acts on the
            ``mid_channels`` after the depthwise conv.
        conv_cfg, norm_cfg, act_cfg: mmcv configs of the convs, norms and activations.
        drop_path_rate: stochastic depth of the residual branch.
        padding: ``'symmetric'`` or ``'same'`` (TensorFlow) for every conv.
        with_residual: allow the shortcut; it is used only with stride 1 and
            ``in_channels == out_channels``.
        with_expand_conv: ``None``: expand when ``mid_channels != in_channels``.
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int,
                 kernel_size: int = 3, stride: int = 1, dilation: int = 1,
                 se_cfg: Optional[dict] = None, conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = DEFAULT_NORM, act_cfg: Optional[dict] = DEFAULT_ACT,
                 drop_path_rate: float = 0.0, padding: str = 'symmetric',
                 with_residual: bool = True, with_expand_conv: Optional[bool] = None):
        super().__init__()
        if with_expand_conv is None:
            with_expand_conv = mid_channels != in_channels
        if not with_expand_conv and mid_channels != in_channels:
            raise ValueError(f'with_expand_conv=False needs mid_channels == in_channels; got '
                             f'mid_channels={mid_channels}, in_channels={in_channels}')
        common = dict(padding=padding, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.expand_conv = (ConvNormAct(in_channels, mid_channels, 1, act_cfg=act_cfg, **common)
                            if with_expand_conv else None)
        self.depthwise_conv = ConvNormAct(mid_channels, mid_channels, kernel_size, stride,
                                          dilation, groups=mid_channels, act_cfg=act_cfg,
                                          **common)
        self.se = _se(mid_channels, se_cfg)
        self.project_conv = ConvNormAct(mid_channels, out_channels, 1, act_cfg=None, **common)
        self._setup_residual(in_channels, out_channels, stride, with_residual, drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = x if self.expand_conv is None else self.expand_conv(x)
        out = self.depthwise_conv(out)
        if self.se is not None:
            out = self.se(out)
        return self._add_residual(self.project_conv(out), x)


class FusedMBConv(_ResidualBlock):
    """Fused-MBConv: kxk conv (expansion and spatial mixing in one) - [squeeze-excite] - 1x1
    projection; or, without expansion, a single kxk conv + norm + activation.

    Submodules: ``fused_conv`` (:class:`ConvNormAct`, carries stride and dilation), ``se``
    (absent without ``se_cfg``), ``project_conv`` (:class:`ConvNormAct` without activation;
    absent without projection, when ``fused_conv`` maps ``in_channels`` to ``out_channels``
    directly, with its activation), and ``drop_path``.

    Args: as :class:`InvertedResidual`; ``mid_channels`` are ``fused_conv``'s outputs.
        with_project_conv: ``None``: project when ``mid_channels != in_channels`` (an expansion
            ratio other than 1; EfficientNetV2's ratio-1 blocks are a single conv).
    """

    def __init__(self, in_channels: int, out_channels: int, mid_channels: int,
                 kernel_size: int = 3, stride: int = 1, dilation: int = 1,
                 se_cfg: Optional[dict] = None, conv_cfg: Optional[dict] = None,
                 norm_cfg: Optional[dict] = DEFAULT_NORM, act_cfg: Optional[dict] = DEFAULT_ACT,
                 drop_path_rate: float = 0.0, padding: str = 'symmetric',
                 with_residual: bool = True, with_project_conv: Optional[bool] = None):
        super().__init__()
        if with_project_conv is None:
            with_project_conv = mid_channels != in_channels
        fused_out = mid_channels if with_project_conv else out_channels
        common = dict(padding=padding, conv_cfg=conv_cfg, norm_cfg=norm_cfg)
        self.fused_conv = ConvNormAct(in_channels, fused_out, kernel_size, stride, dilation,
                                      act_cfg=act_cfg, **common)
        self.se = _se(fused_out, se_cfg)
        self.project_conv = (ConvNormAct(mid_channels, out_channels, 1, act_cfg=None, **common)
                             if with_project_conv else None)
        self._setup_residual(in_channels, out_channels, stride, with_residual, drop_path_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.fused_conv(x)
        if self.se is not None:
            out = self.se(out)
        if self.project_conv is None:  # ends in an activation, which may need its output
            return self._add_residual(out, x, inplace=False)
        return self._add_residual(self.project_conv(out), x)
