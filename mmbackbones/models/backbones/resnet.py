"""ResNet (He et al. 2016, arXiv 1512.03385) and ResNeXt (Xie et al. 2017, arXiv 1611.05431).

One class covers the variants that differ only in the stem and the shortcut (Bag of Tricks,
He et al. 2019, arXiv 1812.01187):

* v1b (default): 7x7 stem conv, strided 1x1 projection shortcut (torchvision, timm ``resnet50``);
* v1c: ``stem_type='deep'``, three 3x3 stem convs (timm ``resnet50c``, mmseg ``ResNetV1c``);
* v1d: ``stem_type='deep', avg_down=True``, average pool before the 1x1 projection
  (timm ``resnet50d``, mmdet/mmseg ``ResNetV1d``).

``style='pytorch'`` puts a bottleneck's stride on its 3x3 conv, ``'caffe'`` on its first 1x1
conv (the original MSRA models). ``strides``/``dilations`` turn strides into dilations for
segmentation, e.g. output stride 8 (D8): ``strides=(1, 2, 1, 1), dilations=(1, 1, 2, 4)``.
Dilated ResNet-18/34 dilate both 3x3 convs of a block, as timm does (mmdet/mmseg only the
first). ResNeXt is the same network with grouped 3x3 convs (``groups``, ``base_width``).

Parameter names follow timm (``conv1``, ``bn1``, ``layer1.0.conv1``, ...), which torchvision
shares; mmdet/mmseg checkpoints convert in :mod:`mmbackbones.weights.resnet`.
"""
import math
import re
from typing import Dict, Optional, Sequence, Tuple, Type

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from mmbackbones.registry import MODELS
from mmbackbones.zoo import Variant, register_variants

from ..layers import (DropPath, add_residual, build_act, build_norm, checkpoint_module,
                      projection_shortcut)
from ..layers.drop_path import drop_path_rates
from .base import BaseBackbone

__all__ = ['BasicBlock', 'Bottleneck', 'ResNet', 'ResNeXt']

STEM_TYPES = ('plain', 'deep')
STYLES = ('pytorch', 'caffe')
DEFAULT_NORM = dict(type='BN', requires_grad=True)
DEFAULT_ACT = dict(type='ReLU', inplace=True)


def check_choice(name: str, value, valid) -> None:
    """ValueError naming the argument and its valid values."""
    if value not in valid:
        raise ValueError(f'{name}={value!r}; valid values are {sorted(valid)}')


def split_strides(style: str, stride: int) -> Tuple[int, int]:
    """(1x1 conv stride, 3x3 conv stride) of a bottleneck."""
    return (1, stride) if style == 'pytorch' else (stride, 1)


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34). ``style`` does not apply: the first conv carries the stride."""
    expansion = 1

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1,
                 first_dilation: Optional[int] = None, downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch', groups: int = 1, base_width: int = 64,
                 norm_cfg=DEFAULT_NORM, act_cfg=DEFAULT_ACT, drop_path: float = 0.0):
        super().__init__()
        if groups != 1 or base_width != 64:
            raise ValueError(f'BasicBlock (ResNet-18/34) supports groups=1 and base_width=64 only, '
                             f'got groups={groups}, base_width={base_width}')
        first_dilation = first_dilation or dilation
        self.conv1 = nn.Conv2d(in_channels, planes, 3, stride, padding=first_dilation,
                               dilation=first_dilation, bias=False)
        self.bn1 = build_norm(norm_cfg, planes)
        self.act1 = build_act(act_cfg)
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn2 = build_norm(norm_cfg, planes)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.downsample = downsample
        self.act2 = build_act(act_cfg)

    def last_norm(self) -> nn.Module:
        return self.bn2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return add_residual(out, shortcut, self.drop_path, self.act2)


class Bottleneck(nn.Module):
    """1x1 reduce, 3x3 (grouped for ResNeXt), 1x1 expand by 4."""
    expansion = 4

    def __init__(self, in_channels: int, planes: int, stride: int = 1, dilation: int = 1,
                 first_dilation: Optional[int] = None, downsample: Optional[nn.Module] = None,
                 style: str = 'pytorch', groups: int = 1, base_width: int = 64,
                 norm_cfg=DEFAULT_NORM, act_cfg=DEFAULT_ACT, drop_path: float = 0.0):
        super().__init__()
        width = int(math.floor(planes * base_width / 64)) * groups
        out_channels = planes * self.expansion
        first_dilation = first_dilation or dilation
        conv1_stride, conv2_stride = split_strides(style, stride)
        self.conv1 = nn.Conv2d(in_channels, width, 1, conv1_stride, bias=False)
        self.bn1 = build_norm(norm_cfg, width)
        self.act1 = build_act(act_cfg)
        self.conv2 = nn.Conv2d(width, width, 3, conv2_stride, padding=first_dilation,
                               dilation=first_dilation, groups=groups, bias=False)
        self.bn2 = build_norm(norm_cfg, width)
        self.act2 = build_act(act_cfg)
        self.conv3 = nn.Conv2d(width, out_channels, 1, bias=False)
        self.bn3 = build_norm(norm_cfg, out_channels)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.downsample = downsample
        self.act3 = build_act(act_cfg)

    def last_norm(self) -> nn.Module:
        return self.bn3

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.act1(self.bn1(self.conv1(x)))
        out = self.act2(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return add_residual(out, shortcut, self.drop_path, self.act3)


@MODELS.register_module()
class ResNet(BaseBackbone):
    """ResNet v1b/v1c/v1d and ResNeXt; four levels (``layer1``..``layer4``) at strides 4-32.

    Args:
        depth: one of :attr:`arch_settings` (18, 26, 34, 50, 101, 152, 200).
        in_channels: input image channels.
        stem_type: ``'plain'`` (one 7x7 conv) or ``'deep'`` (3x3 convs of widths
            ``stem_channels // 2``, ``stem_channels // 2``, ``stem_channels``).
        stem_channels: output channels of the stem.
        avg_down: average-pool in the projection shortcut instead of a strided 1x1 conv.
        style: ``'pytorch'`` (3x3 conv strided) or ``'caffe'`` (first 1x1 conv strided).
        groups, base_width: ResNeXt cardinality and width per group at 64 planes; the 3x3 conv
            of a stage with ``planes`` has ``floor(planes * base_width / 64) * groups`` channels.
        strides, dilations: per-stage stride of the first block and dilation of the 3x3 convs.
        contract_dilation: the first block of a stage uses the previous stage's dilation in its
            first 3x3 conv (it still sees the previous resolution), as timm, torchvision and
            mmseg's ``contract_dilation`` do.
        norm_cfg, act_cfg: mmcv-style norm and activation.
        drop_path_rate: stochastic depth, linear from 0 over the blocks.
        zero_init_residual: initialise each block's last norm weight to zero.
        block_args: extra keyword arguments for every block (used by subclasses).
    """
    arch_settings: Dict[int, Tuple[Type[nn.Module], Tuple[int, ...]]] = {
        18: (BasicBlock, (2, 2, 2, 2)),
        26: (Bottleneck, (2, 2, 2, 2)),
        34: (BasicBlock, (3, 4, 6, 3)),
        50: (Bottleneck, (3, 4, 6, 3)),
        101: (Bottleneck, (3, 4, 23, 3)),
        152: (Bottleneck, (3, 8, 36, 3)),
        200: (Bottleneck, (3, 24, 36, 3)),
    }

    def __init__(self, depth: int = 50, in_channels: int = 3, stem_type: str = 'plain',
                 stem_channels: int = 64, avg_down: bool = False, style: str = 'pytorch',
                 groups: int = 1, base_width: int = 64,
                 strides: Sequence[int] = (1, 2, 2, 2), dilations: Sequence[int] = (1, 1, 1, 1),
                 contract_dilation: bool = True, norm_cfg: dict = DEFAULT_NORM,
                 act_cfg: Optional[dict] = DEFAULT_ACT, drop_path_rate: float = 0.0,
                 zero_init_residual: bool = True, block_args: Optional[dict] = None,
                 out_indices: Sequence[int] = (0, 1, 2, 3), frozen_stages: int = -1,
                 norm_eval: bool = False, with_cp: bool = False, init_cfg=None):
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg)
        check_choice('depth', depth, self.arch_settings)
        check_choice('stem_type', stem_type, STEM_TYPES)
        check_choice('style', style, STYLES)
        for name, values in (('strides', strides), ('dilations', dilations)):
            if (not isinstance(values, (list, tuple)) or len(values) != 4
                    or not all(isinstance(v, int) and v >= 1 for v in values)):
                raise ValueError(f'{name}={values!r}; valid values are 4 positive ints, '
                                 'one per stage')
        if groups < 1 or base_width < 1:
            raise ValueError(f'groups={groups}, base_width={base_width}; both must be >= 1')
        if stem_type == 'deep' and stem_channels % 2:
            raise ValueError(f'stem_channels={stem_channels}; the deep stem needs an even number')
        block, stage_blocks = self.arch_settings[depth]
        self.depth = depth
        self.stage_blocks = tuple(stage_blocks)
        self.zero_init_residual = zero_init_residual

        self._build_stem(in_channels, stem_type, stem_channels, norm_cfg, act_cfg)

        block_rates = drop_path_rates(drop_path_rate, self.stage_blocks)
        in_ch, stride_so_far, prev_dilation = stem_channels, 4, 1
        level_channels, level_strides = [], []
        for index, num_blocks in enumerate(self.stage_blocks):
            planes = 64 * 2**index
            out_ch = planes * block.expansion
            stride, dilation = strides[index], dilations[index]
            downsample = None
            if stride != 1 or in_ch != out_ch:
                downsample = projection_shortcut(in_ch, out_ch, stride, avg_down, norm_cfg)
            blocks = []
            for block_index in range(num_blocks):
                first = block_index == 0
                blocks.append(block(
                    in_ch if first else out_ch, planes,
                    stride=stride if first else 1, dilation=dilation,
                    first_dilation=prev_dilation if first and contract_dilation else dilation,
                    downsample=downsample if first else None, style=style, groups=groups,
                    base_width=base_width, norm_cfg=norm_cfg, act_cfg=act_cfg,
                    drop_path=block_rates[index][block_index], **(block_args or {})))
            self.add_module(f'layer{index + 1}', nn.Sequential(*blocks))
            in_ch, prev_dilation = out_ch, dilation
            stride_so_far *= stride
            level_channels.append(out_ch)
            level_strides.append(stride_so_far)
        self._setup_levels(level_channels, level_strides)

    def _build_stem(self, in_channels, stem_type, stem_channels, norm_cfg, act_cfg):
        if stem_type == 'deep':
            mid = stem_channels // 2
            self.conv1 = nn.Sequential(
                nn.Conv2d(in_channels, mid, 3, 2, padding=1, bias=False),
                build_norm(norm_cfg, mid), build_act(act_cfg),
                nn.Conv2d(mid, mid, 3, 1, padding=1, bias=False),
                build_norm(norm_cfg, mid), build_act(act_cfg),
                nn.Conv2d(mid, stem_channels, 3, 1, padding=1, bias=False))
        else:
            self.conv1 = nn.Conv2d(in_channels, stem_channels, 7, 2, padding=3, bias=False)
        self.bn1 = build_norm(norm_cfg, stem_channels)
        self.act1 = build_act(act_cfg)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        outs = []
        for index in range(self.num_levels):
            for block in getattr(self, f'layer{index + 1}'):
                if self.with_cp and torch.is_grad_enabled():
                    x = checkpoint_module(block, x)
                else:
                    x = block(x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)

    # ------------------------------------------------------------------- init
    def _init_default_weights(self) -> None:
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (_BatchNorm, nn.GroupNorm)) and module.weight is not None:
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        if self.zero_init_residual:  # each block starts as the identity (Goyal et al. 2017)
            for module in self.modules():
                if hasattr(module, 'last_norm') and module.last_norm().weight is not None:
                    nn.init.zeros_(module.last_norm().weight)

    # --------------------------------------------------------------- contract
    def stem_modules(self):
        return [self.conv1, self.bn1]

    def level_modules(self, index: int):
        return [getattr(self, f'layer{index + 1}')]

    def num_blocks(self) -> int:
        return sum(self.stage_blocks)

    def _block_depth(self, param_name: str):
        if param_name.startswith(('conv1.', 'bn1.')):
            return 0
        match = re.match(r'layer(\d)\.(\d+)\.', param_name)
        if match is None:
            return None
        stage, block = int(match.group(1)) - 1, int(match.group(2))
        return sum(self.stage_blocks[:stage]) + block + 1


@MODELS.register_module()
class ResNeXt(ResNet):
    """ResNet with grouped 3x3 convs; ``groups=32, base_width=4`` is ResNeXt-32x4d."""
    arch_settings = {depth: setting for depth, setting in ResNet.arch_settings.items()
                     if setting[0] is Bottleneck}

    def __init__(self, depth: int = 50, groups: int = 32, base_width: int = 4, **kwargs):
        super().__init__(depth=depth, groups=groups, base_width=base_width, **kwargs)


# ----------------------------------------------------------------------------------- zoo
_HE = 'He et al. 2016, arXiv 1512.03385'
_TRICKS = 'He et al. 2019 (Bag of Tricks, v1c/v1d), arXiv 1812.01187'
_XIE = 'Xie et al. 2017, arXiv 1611.05431'
_WIDE = 'Zagoruyko & Komodakis 2016, arXiv 1605.07146'
_DEEP_C = dict(stem_type='deep', stem_channels=64)
_DEEP_D = dict(stem_type='deep', stem_channels=64, avg_down=True)
_INPUT = (128, 160)
_PARITY_SIZES = ((128, 160), (97, 131))  # one odd: checks padding/ceil behaviour


# The default test run covers each code path once (resnet18: plain stem + torchvision;
# resnet50d: deep stem + avg-down; resnext50: groups); the other rows run with `-m slow`.
_DEFAULT_RUN = {'resnet18', 'resnet50d', 'resnext50_32x4d'}


def _row(name, family, cfg, params, paper, torchvision=None):
    refs = {'timm': name}
    if torchvision:
        refs['torchvision'] = torchvision
    return Variant(name=name, family=family, cfg=cfg, refs=refs, params=params, paper=paper,
                   test_input=_INPUT, parity_sizes=_PARITY_SIZES, slow=name not in _DEFAULT_RUN)


register_variants([
    _row('resnet18', 'ResNet', dict(depth=18), 11176512, _HE, torchvision='resnet18'),
    _row('resnet18d', 'ResNet', dict(depth=18, **_DEEP_D), 11195744, _TRICKS),
    _row('resnet26', 'ResNet', dict(depth=26), 13946176, _HE),
    _row('resnet26d', 'ResNet', dict(depth=26, **_DEEP_D), 13965408, _TRICKS),
    _row('resnet34', 'ResNet', dict(depth=34), 21284672, _HE, torchvision='resnet34'),
    _row('resnet34d', 'ResNet', dict(depth=34, **_DEEP_D), 21303904, _TRICKS),
    _row('resnet50', 'ResNet', dict(depth=50), 23508032, _HE, torchvision='resnet50'),
    _row('resnet50c', 'ResNet', dict(depth=50, **_DEEP_C), 23527264, _TRICKS),
    _row('resnet50d', 'ResNet', dict(depth=50, **_DEEP_D), 23527264, _TRICKS),
    _row('resnet101', 'ResNet', dict(depth=101), 42500160, _HE, torchvision='resnet101'),
    _row('resnet101c', 'ResNet', dict(depth=101, **_DEEP_C), 42519392, _TRICKS),
    _row('resnet101d', 'ResNet', dict(depth=101, **_DEEP_D), 42519392, _TRICKS),
    _row('resnet152', 'ResNet', dict(depth=152), 58143808, _HE, torchvision='resnet152'),
    _row('resnet152c', 'ResNet', dict(depth=152, **_DEEP_C), 58163040, _TRICKS),
    _row('resnet152d', 'ResNet', dict(depth=152, **_DEEP_D), 58163040, _TRICKS),
    _row('resnet200', 'ResNet', dict(depth=200), 62624832, _HE),
    _row('resnet200d', 'ResNet', dict(depth=200, **_DEEP_D), 62644064, _TRICKS),
    _row('wide_resnet50_2', 'ResNet', dict(depth=50, base_width=128), 66834240, _WIDE,
         torchvision='wide_resnet50_2'),
    _row('wide_resnet101_2', 'ResNet', dict(depth=101, base_width=128), 124837696, _WIDE,
         torchvision='wide_resnet101_2'),
    _row('resnext50_32x4d', 'ResNeXt', dict(depth=50, groups=32, base_width=4), 22979904, _XIE,
         torchvision='resnext50_32x4d'),
    _row('resnext50d_32x4d', 'ResNeXt', dict(depth=50, groups=32, base_width=4, **_DEEP_D),
         22999136, _XIE),
    _row('resnext101_32x4d', 'ResNeXt', dict(depth=101, groups=32, base_width=4), 42128704,
         _XIE),
    _row('resnext101_32x8d', 'ResNeXt', dict(depth=101, groups=32, base_width=8), 86742336,
         _XIE, torchvision='resnext101_32x8d'),
    _row('resnext101_64x4d', 'ResNeXt', dict(depth=101, groups=64, base_width=4), 81406272,
         _XIE, torchvision='resnext101_64x4d'),
])
