"""Pieces of residual blocks shared by the ResNet-like families."""
from typing import Tuple

import torch.nn as nn

from .conv_plugin import build_conv
from .drop_path import DropPath
from .norm_act import build_act, build_norm


def split_strides(style: str, stride: int) -> Tuple[int, int]:
    """(1x1 conv stride, 3x3 conv stride) of a bottleneck: ``'pytorch'`` strides the 3x3
    conv, ``'caffe'`` (the original MSRA models) the first 1x1 conv."""
    return (1, stride) if style == 'pytorch' else (stride, 1)


def projection_shortcut(in_channels: int, out_channels: int, stride: int = 1,
                        avg_down: bool = False, norm_cfg=dict(type='BN'),
                        conv_cfg=None) -> nn.Sequential:
    """Projection shortcut of a residual block whose stride or width changes.

    ``avg_down=False``: strided 1x1 conv + norm (ResNet v1b). ``avg_down=True``: 2x2 average
    pool, then a 1x1 conv + norm (ResNet-D, Bag of Tricks): the strided 1x1 conv would drop
    three quarters of the positions. The pool slot is kept (as identity) at stride 1 so that
    parameter keys do not depend on the stride, as in timm and mmdet.
    """
    conv = build_conv(conv_cfg, in_channels, out_channels, 1, stride=1 if avg_down else stride,
                      bias=False)
    norm = build_norm(norm_cfg, out_channels)
    if not avg_down:
        return nn.Sequential(conv, norm)
    pool = (nn.AvgPool2d(stride, stride, ceil_mode=True, count_include_pad=False)
            if stride > 1 else nn.Identity())
    return nn.Sequential(pool, conv, norm)


class BottleneckExpansion:
    """The end every ResNet-style bottleneck shares (ResNet, Res2Net, ResNeSt): a 1x1 conv
    expanding to the block's output width and its norm (``conv3``, ``bn3``: mmdet's names),
    stochastic depth, the shortcut (``downsample``) and the activation after the sum
    (``act3``); the block's forward ends in :func:`add_residual` with them."""

    def _build_expansion(self, in_channels: int, out_channels: int, downsample, conv_cfg,
                         norm_cfg, act_cfg, drop_path: float) -> None:
        self.conv3 = build_conv(conv_cfg, in_channels, out_channels, 1, bias=False)
        self.bn3 = build_norm(norm_cfg, out_channels)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.downsample = downsample
        self.act3 = build_act(act_cfg)

    def last_norm(self) -> nn.Module:
        """The norm whose weight ``zero_init_residual`` zeroes."""
        return self.bn3


def add_residual(branch, shortcut, drop_path: nn.Module, act: nn.Module):
    """``act(drop_path(branch) + shortcut)``, adding in place: no block-sized allocation
    (the branch ends in a norm or a drop-path product, neither of which autograd keeps)."""
    if not isinstance(drop_path, nn.Identity):  # a no-op module call is pure overhead, and
        branch = drop_path(branch)  # small GPU batches are bound by such overheads
    branch += shortcut
    return act(branch)
