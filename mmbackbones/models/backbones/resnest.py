"""ResNeSt (Zhang et al. 2022, arXiv 2004.08955).

A ResNet-D (deep stem, average-pool shortcut) whose bottleneck 3x3 conv is a split-attention
conv (:class:`~mmbackbones.models.layers.SplitAttention`: ``radix`` splits weighted by a
softmax attention). In a strided block the stride moves out of the conv into a 3x3 average
pool ("avd"), after the attention conv (``avd_first=False``) or before it.

Unlike timm and mmdet, the attention's BatchNorm also trains with a batch of one image (see
``SplitAttention._norm_pooled``); eval-mode outputs are identical to theirs. Stochastic depth
drops the residual branch (timm's ResNeSt applies it to the block input, where it is a no-op
without a projection shortcut).
"""
import math
from typing import Optional

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from mmbackbones.zoo import Variant, register_variants

from ..layers import (DEFAULT_ACT, DEFAULT_NORM, BottleneckExpansion, SplitAttention,
                      add_residual, build_act, build_conv, build_norm, split_strides)
from .resnet import ResNet

__all__ = ['ResNeStBottleneck', 'ResNeSt']


class ResNeStBottleneck(BottleneckExpansion, nn.Module):
    """1x1 reduce, split-attention 3x3 (+ average pool for the stride), 1x1 expand by 4."""
    expansion = 4

    def __init__(self, in_channels: int, planes: int, width: int, stride: int = 1,
                 dilation: int = 1, conv2_dilation: int = 1,
                 downsample: Optional[nn.Module] = None, style: str = 'pytorch', groups: int = 1,
                 conv_cfg=None, norm_cfg=DEFAULT_NORM, act_cfg=DEFAULT_ACT,
                 drop_path: float = 0.0, dcn=None, plugins=(), radix: int = 2,
                 reduction_factor: int = 4, avg_down_stride: bool = True,
                 avd_first: bool = False):
        super().__init__()
        out_channels = planes * self.expansion
        conv1_stride, conv2_stride = split_strides(style, stride)
        pool_stride = conv2_stride if avg_down_stride and conv2_stride > 1 else 0
        self.conv1 = build_conv(conv_cfg, in_channels, width, 1, conv1_stride, bias=False)
        self.bn1 = build_norm(norm_cfg, width)
        self.act1 = build_act(act_cfg)
        self.avd_first = (nn.AvgPool2d(3, pool_stride, padding=1)
                          if pool_stride and avd_first else None)
        self.conv2 = SplitAttention(width, width, 3, stride=1 if pool_stride else conv2_stride,
                                    dilation=dilation, groups=groups, radix=radix,
                                    reduction_factor=reduction_factor, norm_cfg=norm_cfg,
                                    act_cfg=act_cfg, conv_cfg=conv_cfg)
        self.avd_last = (nn.AvgPool2d(3, pool_stride, padding=1)
                         if pool_stride and not avd_first else None)
        self._build_expansion(width, out_channels, downsample, conv_cfg, norm_cfg, act_cfg,
                              drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.act1(self.bn1(self.conv1(x)))
        if self.avd_first is not None:
            out = self.avd_first(out)
        out = self.conv2(out)
        if self.avd_last is not None:
            out = self.avd_last(out)
        out = self.bn3(self.conv3(out))
        return add_residual(out, shortcut, self.drop_path, self.act3)


@MODELS.register_module()
class ResNeSt(ResNet):
    """ResNeSt; arguments as :class:`ResNet` (defaults as mmdet/mmseg's ``ResNeSt``: deep stem,
    ``avg_down=True``, ``groups=1, base_width=4``) plus

    Args:
        radix: splits per cardinal group (1 gives sigmoid gating).
        reduction_factor: width reduction of the attention MLP (at least 32 channels).
        avg_down_stride: move a block's stride into a 3x3 average pool (mmdet's name).
        avd_first: put that pool before the split-attention conv instead of after it (timm).

    The 3x3 conv of a stage with ``planes`` has ``planes`` channels when ``groups=1``
    (``base_width`` unused, as mmdet), else ``floor(planes * base_width / base_channels) *
    groups``. ``dcn`` and ``plugins`` are refused (no OpenMMLab config uses them here).
    """
    arch_settings = {
        14: (ResNeStBottleneck, (1, 1, 1, 1)),
        26: (ResNeStBottleneck, (2, 2, 2, 2)),
        50: (ResNeStBottleneck, (3, 4, 6, 3)),
        101: (ResNeStBottleneck, (3, 4, 23, 3)),
        152: (ResNeStBottleneck, (3, 8, 36, 3)),
        200: (ResNeStBottleneck, (3, 24, 36, 3)),
        269: (ResNeStBottleneck, (3, 30, 48, 8)),
    }
    zero_init_residual_default = False
    supports_plugins = False
    supports_dcn = False

    def __init__(self, depth: int = 50, groups: int = 1, base_width: int = 4, radix: int = 2,
                 reduction_factor: int = 4, avg_down_stride: bool = True,
                 avd_first: bool = False, deep_stem=None, stem_type=None,
                 stem_channels: int = 64, avg_down: bool = True, **kwargs):
        if not isinstance(radix, int) or radix < 1:
            raise ValueError(f'radix={radix!r}; valid values are integers >= 1')
        if not isinstance(reduction_factor, int) or reduction_factor < 1:
            raise ValueError(f'reduction_factor={reduction_factor!r}; '
                             'valid values are integers >= 1')
        if deep_stem is None and stem_type is None:
            deep_stem = True
        super().__init__(depth=depth, groups=groups, base_width=base_width,
                         deep_stem=deep_stem, stem_type=stem_type, stem_channels=stem_channels,
                         avg_down=avg_down,
                         block_args=dict(radix=radix, reduction_factor=reduction_factor,
                                         avg_down_stride=avg_down_stride,
                                         avd_first=avd_first), **kwargs)

    def _block_width(self, planes: int) -> int:
        if self.groups == 1:
            return planes
        return int(math.floor(planes * self.base_width / self.base_channels)) * self.groups


# Weights and references: ResNet's converters (timm keys are ours, ``conv2.conv/bn0/fc1/bn1/fc2``
# for split attention as in mmdet/mmseg; mmdet/mmseg need the deep stem mapping) and its timm
# level adapter serve ResNeSt through the class hierarchy.

# ----------------------------------------------------------------------------------- zoo
_ZHANG = 'Zhang et al. 2022, arXiv 2004.08955'


# The default test run covers each code path once; the other rows run with `-m slow`.
_DEFAULT_RUN = {'resnest14d', 'resnest50d_1s4x24d'}


def _row(name, cfg, params, **openmmlab):
    return Variant(name=name, family='ResNeSt', cfg=cfg, refs={'timm': name, **openmmlab},
                   params=params,
                   paper=_ZHANG, test_input=(128, 160),
                   parity_sizes=((128, 160), (97, 131)), slow=name not in _DEFAULT_RUN)


def _mm(depth, stem_channels):
    """mmdet/mmseg's ResNeSt dict of the same network (their ResNeSt-50 configs use 64 stem
    channels, -101 and deeper 128, as the 'e' models)."""
    return dict(type='ResNeSt', depth=depth, stem_channels=stem_channels, radix=2,
                reduction_factor=4, avg_down_stride=True)


register_variants([
    _row('resnest14d', dict(depth=14), 8562688),
    _row('resnest26d', dict(depth=26), 15020448),
    _row('resnest50d', dict(depth=50), 25434240, mmdet=_mm(50, 64)),
    _row('resnest50d_4s2x40d', dict(depth=50, radix=4, groups=2, base_width=40, avd_first=True),
         28368592),
    _row('resnest50d_1s4x24d', dict(depth=50, radix=1, groups=4, base_width=24, avd_first=True),
         23628000),
    _row('resnest101e', dict(depth=101, stem_channels=128), 46226016, mmdet=_mm(101, 128),
         mmseg=_mm(101, 128)),
    _row('resnest200e', dict(depth=200, stem_channels=128), 68152544, mmdet=_mm(200, 128)),
    _row('resnest269e', dict(depth=269, stem_channels=128), 108880480),
])
