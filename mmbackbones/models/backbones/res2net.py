"""Res2Net (Gao et al. 2021, arXiv 1904.01169).

The bottleneck's 3x3 conv is replaced by ``scales`` groups of ``width`` channels: split ``i``
goes through its own 3x3 conv after adding the previous split's output, so one block mixes
receptive fields of several sizes. The last split skips the convs. The stem, the shortcut and
the stage layout are ResNet's. The defaults are mmdet's ``Res2Net``: v1d deep stem, average-pool
shortcut, last split pooled only in strided blocks (``split_pool='strided'``); timm's
``res2net50_26w_4s`` is ``deep_stem=False, avg_down=False, split_pool='always'``.
"""
import math
from typing import Optional

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from mmbackbones.zoo import Variant, register_variants

from ..layers import (DEFAULT_ACT, DEFAULT_NORM, BottleneckExpansion, add_residual, build_act,
                      build_conv, build_norm, check_choice, split_strides)
from .resnet import ResNet

__all__ = ['Bottle2neck', 'Res2Net']

SPLIT_POOLS = ('always', 'strided')


class Bottle2neck(BottleneckExpansion, nn.Module):
    """Res2Net bottleneck: 1x1 to ``width * scales``, hierarchical 3x3 convs, 1x1 expand by 4.

    In the first block of a stage (the one with the projection shortcut) the splits are not
    chained, and the conv-free last split is 3x3 average-pooled with the block's stride.
    ``split_pool='always'`` pools it also at stride 1 (official Res2Net, timm);
    ``'strided'`` only when the block downsamples (mmdet, mmseg).
    """
    expansion = 4

    def __init__(self, in_channels: int, planes: int, width: int, stride: int = 1,
                 dilation: int = 1, conv2_dilation: int = 1,
                 downsample: Optional[nn.Module] = None, style: str = 'pytorch', groups: int = 1,
                 conv_cfg=None, norm_cfg=DEFAULT_NORM, act_cfg=DEFAULT_ACT,
                 drop_path: float = 0.0, dcn=None, plugins=(), scales: int = 4,
                 split_pool: str = 'strided'):
        super().__init__()
        out_channels = planes * self.expansion
        conv1_stride, conv2_stride = split_strides(style, stride)
        self.width = width
        self.stage_first = downsample is not None
        self.conv1 = build_conv(conv_cfg, in_channels, width * scales, 1, conv1_stride,
                                bias=False)
        self.bn1 = build_norm(norm_cfg, width * scales)
        self.convs = nn.ModuleList(
            build_conv(dcn if dcn is not None else conv_cfg, width, width, 3, conv2_stride,
                       padding=dilation, dilation=dilation, groups=groups, bias=False)
            for _ in range(scales - 1))
        self.bns = nn.ModuleList(build_norm(norm_cfg, width) for _ in range(scales - 1))
        self.act1 = build_act(act_cfg)
        self.acts = nn.ModuleList(build_act(act_cfg) for _ in range(scales - 1))
        pool_last = self.stage_first and (conv2_stride > 1 or split_pool == 'always')
        self.pool = nn.AvgPool2d(3, conv2_stride, padding=1) if pool_last else None
        self._build_expansion(width * scales, out_channels, downsample, conv_cfg, norm_cfg,
                              act_cfg, drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        splits = torch.split(self.act1(self.bn1(self.conv1(x))), self.width, dim=1)
        outs, sp = [], None
        for index, (conv, norm, act) in enumerate(zip(self.convs, self.bns, self.acts)):
            # chained (split i sees split i-1's output) except in a stage's first block
            sp = splits[index] if sp is None or self.stage_first else sp + splits[index]
            sp = act(norm(conv(sp)))
            outs.append(sp)
        outs.append(splits[-1] if self.pool is None else self.pool(splits[-1]))
        out = self.bn3(self.conv3(torch.cat(outs, dim=1)))
        return add_residual(out, shortcut, self.drop_path, self.act3)


@MODELS.register_module()
class Res2Net(ResNet):
    """Res2Net; arguments as :class:`ResNet` (defaults as mmdet's ``Res2Net``: ``deep_stem=True,
    avg_down=True``) plus

    Args:
        scales: number of splits (``s`` in ``26w_4s``), at least 2.
        base_width: channels per split at ``base_channels`` planes (``w`` in ``26w_4s``).
        split_pool: see :class:`Bottle2neck`; ``'strided'`` (default) is mmdet/mmseg's Res2Net,
            ``'always'`` timm's and the authors'.

    ``plugins`` are refused: mmdet builds them for a bottleneck's ``planes`` channels, which a
    Res2Net block does not have after its first conv. ``avg_down=False`` gives the strided 1x1
    shortcut of timm's ``res2net50_26w_4s`` (mmdet's Res2Net pools whatever ``avg_down`` says;
    no OpenMMLab config sets it).
    """
    arch_settings = {
        50: (Bottle2neck, (3, 4, 6, 3)),
        101: (Bottle2neck, (3, 4, 23, 3)),
        152: (Bottle2neck, (3, 8, 36, 3)),
    }
    zero_init_residual_default = False
    supports_plugins = False

    def __init__(self, depth: int = 50, scales: int = 4, base_width: int = 26,
                 split_pool: str = 'strided', deep_stem=None, avg_down: bool = True,
                 stem_type=None, **kwargs):
        if not isinstance(scales, int) or scales < 2:
            raise ValueError(f'scales={scales!r}; valid values are integers >= 2')
        check_choice('split_pool', split_pool, SPLIT_POOLS)
        if deep_stem is None and stem_type is None:
            deep_stem = True
        super().__init__(depth=depth, base_width=base_width, deep_stem=deep_stem,
                         stem_type=stem_type, avg_down=avg_down,
                         block_args=dict(scales=scales, split_pool=split_pool), **kwargs)

    def _block_width(self, planes: int) -> int:
        """Channels of one split (mmdet: ``floor(planes * base_width / base_channels)``)."""
        return int(math.floor(planes * self.base_width / self.base_channels)) * self.groups


# Weights and references: ResNet's converters (timm keys are ours; mmdet/mmseg need the deep
# stem mapping) and its timm level adapter serve Res2Net through the class hierarchy.
# mmdet/mmseg's Res2Net pools the first block's last split only at stride 2 (our default
# split_pool='strided'); timm's weights need split_pool='always' (the timm rows below).

# ----------------------------------------------------------------------------------- zoo
_GAO = 'Gao et al. 2021, arXiv 1904.01169'
# timm's rows: the authors' pooling of the first block's last split (split_pool='always').
_V1B = dict(stem_type='plain', avg_down=False, split_pool='always')
_V1D = dict(stem_type='deep', stem_channels=64, avg_down=True, split_pool='always')


# The default test run covers each code path once; the other rows run with `-m slow`.
_DEFAULT_RUN = {'res2net50_26w_4s'}


def _row(name, cfg, params, refs=None):
    return Variant(name=name, family='Res2Net', cfg=cfg, refs=refs or {'timm': name},
                   params=params, paper=_GAO, test_input=(128, 160),
                   parity_sizes=((128, 160), (97, 131)), slow=name not in _DEFAULT_RUN)


register_variants([
    _row('res2net50_26w_4s', dict(depth=50, scales=4, base_width=26, **_V1B), 23650120),
    _row('res2net50_26w_6s', dict(depth=50, scales=6, base_width=26, **_V1B), 35002448),
    _row('res2net50_26w_8s', dict(depth=50, scales=8, base_width=26, **_V1B), 46354776),
    _row('res2net50_14w_8s', dict(depth=50, scales=8, base_width=14, **_V1B), 23010816),
    _row('res2net50_48w_2s', dict(depth=50, scales=2, base_width=48, **_V1B), 23238304),
    _row('res2next50', dict(depth=50, scales=4, base_width=4, groups=8, **_V1B), 22622464),
    _row('res2net50d', dict(depth=50, scales=4, base_width=26, **_V1D), 23669352),
    _row('res2net101_26w_4s', dict(depth=101, scales=4, base_width=26, **_V1B), 43157688),
    _row('res2net101d', dict(depth=101, scales=4, base_width=26, **_V1D), 43176920),
    # mmdet's Res2Net (deep stem, average-pool shortcut, split_pool='strided'): the network of
    # mmdet's res2net configs and their open-mmlab://res2net101_v1d_26w_4s weights.
    _row('res2net101_v1d_26w_4s', dict(depth=101, scales=4, base_width=26), 43176920,
         refs=dict(mmdet=dict(type='Res2Net', depth=101, scales=4, base_width=26))),
])
