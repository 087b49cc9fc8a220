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
Dilated ResNet-18/34 dilate only the first 3x3 conv of a block, as mmdet/mmseg
(``dilate_basic_conv2=True``: both, as timm). ResNeXt is the same network with grouped 3x3
convs (``groups``, ``base_width``).

Every argument of mmdet 3.x's and mmseg 1.x's ``ResNet``/``ResNetV1c``/``ResNetV1d``/``ResNeXt``
is accepted with their meaning (``num_stages``, ``deep_stem``, ``base_channels``, ``conv_cfg``,
``dcn``/``stage_with_dcn``, ``plugins``, ``pretrained``, mmseg's ``multi_grid`` and
``contract_dilation``, ...), so that their config dicts build the same network here with only
``type`` changed to ``mmbackbones.<name>``. Stages after the last one ``out_indices`` returns are
not built (no unused parameters under DDP).

Parameter names follow timm (``conv1``, ``bn1``, ``layer1.0.conv1``, ...), which torchvision
shares; the converters at the end of this module map mmdet/mmseg checkpoints (and serve the
subclasses: ResNeXt, Res2Net, ResNeSt), next to the reference adapters and the zoo rows.
"""
import math
import re
from typing import Dict, List, Optional, Sequence, Tuple, Type

import torch
import torch.nn as nn

from mmbackbones.references import reference_levels
from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import register_converter
from mmbackbones.zoo import Variant, register_variants

from ..layers import (DEFAULT_ACT, DEFAULT_NORM, BottleneckExpansion, DropPath, PluginMixin,
                      add_residual, build_act,
                      build_conv, build_norm, check_choice, check_dcn, drop_path_rates,
                      int_tuple, openmmlab_norm_eval, openmmlab_scope, projection_shortcut,
                      split_strides, stage_plugins)
from .base import BaseBackbone

__all__ = ['BasicBlock', 'Bottleneck', 'ResNet', 'ResNetV1c', 'ResNetV1d', 'ResNeXt']

STEM_TYPES = ('plain', 'deep')
STYLES = ('pytorch', 'caffe')
# mmdet/mmseg's ResNet default init (init_cfg=None and pretrained=None).
OPENMMLAB_INIT = [dict(type='Kaiming', layer='Conv2d'),
                  dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]


class BasicBlock(nn.Module):
    """Two 3x3 convs (ResNet-18/34). ``style`` does not apply: the first conv carries the stride.

    ``dilation`` dilates the first conv; ``conv2_dilation`` the second (1 in mmdet/mmseg).
    """
    expansion = 1

    def __init__(self, in_channels: int, planes: int, width: int, stride: int = 1,
                 dilation: int = 1, conv2_dilation: int = 1,
                 downsample: Optional[nn.Module] = None, style: str = 'pytorch', groups: int = 1,
                 conv_cfg=None, norm_cfg=DEFAULT_NORM, act_cfg=DEFAULT_ACT,
                 drop_path: float = 0.0, dcn=None, plugins=()):
        super().__init__()
        if dcn is not None or plugins:
            raise ValueError('dcn / plugins need a bottleneck block (depth >= 50), as in mmdet; '
                             'valid values for ResNet-18/34: dcn=None, plugins=None')
        self.conv1 = build_conv(conv_cfg, in_channels, planes, 3, stride, padding=dilation,
                                dilation=dilation, bias=False)
        self.bn1 = build_norm(norm_cfg, planes)
        self.act1 = build_act(act_cfg)
        self.conv2 = build_conv(conv_cfg, planes, planes, 3, padding=conv2_dilation,
                                dilation=conv2_dilation, bias=False)
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


class Bottleneck(PluginMixin, BottleneckExpansion, nn.Module):
    """1x1 reduce to ``width``, 3x3 (grouped for ResNeXt; deformable with ``dcn``), 1x1 expand
    to ``planes * 4``; ``plugins`` after any of the three convs (mmdet's positions)."""
    expansion = 4

    def __init__(self, in_channels: int, planes: int, width: int, stride: int = 1,
                 dilation: int = 1, conv2_dilation: int = 1,
                 downsample: Optional[nn.Module] = None, style: str = 'pytorch', groups: int = 1,
                 conv_cfg=None, norm_cfg=DEFAULT_NORM, act_cfg=DEFAULT_ACT,
                 drop_path: float = 0.0, dcn=None, plugins=()):
        super().__init__()
        out_channels = planes * self.expansion
        conv1_stride, conv2_stride = split_strides(style, stride)
        self.conv1 = build_conv(conv_cfg, in_channels, width, 1, conv1_stride, bias=False)
        self.bn1 = build_norm(norm_cfg, width)
        self.act1 = build_act(act_cfg)
        self.conv2 = build_conv(dcn if dcn is not None else conv_cfg, width, width, 3,
                                conv2_stride, padding=dilation, dilation=dilation, groups=groups,
                                bias=False)
        self.bn2 = build_norm(norm_cfg, width)
        self.act2 = build_act(act_cfg)
        self._build_expansion(width, out_channels, downsample, conv_cfg, norm_cfg, act_cfg,
                              drop_path)
        self._build_plugins(plugins, dict(after_conv1=width, after_conv2=width,
                                          after_conv3=out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self._run_plugins('after_conv1', self.act1(self.bn1(self.conv1(x))))
        out = self._run_plugins('after_conv2', self.act2(self.bn2(self.conv2(out))))
        out = self._run_plugins('after_conv3', self.bn3(self.conv3(out)))
        return add_residual(out, shortcut, self.drop_path, self.act3)


@MODELS.register_module()
class ResNet(BaseBackbone):
    """ResNet v1b/v1c/v1d and ResNeXt; up to four levels (``layer1``..``layer4``), strides 4-32.

    Arguments of mmdet's / mmseg's ``ResNet`` keep their meaning:

    Args:
        depth: one of :attr:`arch_settings` (18, 26, 34, 50, 101, 152, 200).
        in_channels: input image channels.
        stem_channels: output channels of the stem (``None``: ``base_channels``).
        base_channels: planes of the first stage (stage ``i`` has ``base_channels * 2**i``).
        num_stages: 1..4 stages (mmdet's C4 detectors use 3 and put ``layer4`` in the RoI head).
        strides, dilations: per-stage stride of the first block and dilation of the 3x3 convs,
            one per stage.
        out_indices: stages to return; stages after the last of them are not built. ``None``
            (default): OpenMMLab's default of the scope the model is built in (mmdet, mmseg:
            ``(0, 1, 2, 3)``; mmpretrain's ResNet, pasted with ``_scope_='mmpretrain'``: ``(3,)``).
        style: ``'pytorch'`` (3x3 conv strided) or ``'caffe'`` (first 1x1 conv strided).
        deep_stem: three 3x3 convs (``stem_channels // 2``, ``// 2``, ``stem_channels``) instead
            of one 7x7 conv (v1c/v1d). ``stem_type='deep'``/``'plain'`` says the same.
        avg_down: average-pool in the projection shortcut instead of a strided 1x1 conv.
        frozen_stages: ``-1`` nothing, ``0`` the stem, ``k`` the stem and the first ``k`` stages.
        conv_cfg: mmcv conv config of every conv (e.g. ``dict(type='ConvWS')``).
        norm_cfg, act_cfg: mmcv norm and activation.
        norm_eval: BatchNorm in eval mode while training. ``None`` (default): OpenMMLab's
            default of the scope the model is built in (mmdet: ``True``; mmseg, mmpretrain,
            other: ``False``).
        dcn, stage_with_dcn: deformable 3x3 convs (mmcv ``DCN``/``DCNv2``) in the stages marked.
        plugins: ``[dict(cfg=..., position='after_conv1'|'after_conv2'|'after_conv3',
            stages=(bool, ...))]`` built by mmcv's ``build_plugin_layer`` (bottlenecks only).
        with_cp: activation checkpointing per block.
        zero_init_residual: with the default init, zero each block's last norm (as mmdet, only
            when neither ``init_cfg`` nor ``pretrained`` is given).
        pretrained, init_cfg: see :class:`BaseBackbone`.
        multi_grid: mmseg's dilations of the blocks of the last stage (replacing its dilation).
        contract_dilation: mmseg's: the first block of a dilated stage uses half the dilation.
        groups, base_width: ResNeXt cardinality and width per group; the 3x3 conv of a stage with
            ``planes`` has ``floor(planes * base_width / 64) * groups`` channels here (wide ResNet
            with ``base_width=128``); :class:`ResNeXt` follows mmdet's formula.
        drop_path_rate: stochastic depth, linear from 0 over the blocks.
        dilate_basic_conv2: dilate both 3x3 convs of a basic block (timm, torchvision).
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
    # mmdet/mmseg zero-init the last norm only for their plain ResNet blocks (`block is
    # Bottleneck` fails for ResNeXt, Res2Net and ResNeSt), hence the subclasses' False default.
    zero_init_residual_default = True
    # Families whose blocks take plugins / dcn; others refuse them by name.
    supports_plugins = True
    supports_dcn = True

    def __init__(self, depth: int = 50, in_channels: int = 3,
                 stem_channels: Optional[int] = None, base_channels: int = 64,
                 num_stages: int = 4, strides: Sequence[int] = (1, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Optional[Sequence[int]] = None, style: str = 'pytorch',
                 deep_stem: Optional[bool] = None, avg_down: bool = False,
                 frozen_stages: int = -1, conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = DEFAULT_NORM, norm_eval: Optional[bool] = None,
                 dcn: Optional[dict] = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False),
                 plugins: Optional[List[dict]] = None, with_cp: bool = False,
                 zero_init_residual: Optional[bool] = None, pretrained: Optional[str] = None,
                 init_cfg=None, multi_grid: Optional[Sequence[int]] = None,
                 contract_dilation: bool = False, stem_type: Optional[str] = None,
                 groups: int = 1, base_width: int = 64, act_cfg: Optional[dict] = DEFAULT_ACT,
                 drop_path_rate: float = 0.0, dilate_basic_conv2: bool = False,
                 block_args: Optional[dict] = None):
        if norm_eval is None:
            norm_eval = openmmlab_norm_eval()
        if out_indices is None:
            out_indices = (3, ) if openmmlab_scope() == 'mmpretrain' else (0, 1, 2, 3)
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        block, stage_blocks = self.resolve_arch(depth, 'depth')
        check_choice('style', style, STYLES)
        if stem_type is not None:
            check_choice('stem_type', stem_type, STEM_TYPES)
            if deep_stem is not None and bool(deep_stem) != (stem_type == 'deep'):
                raise ValueError(f'deep_stem={deep_stem!r} contradicts stem_type={stem_type!r}; '
                                 'give one of them')
            deep_stem = stem_type == 'deep'
        deep_stem = bool(deep_stem)
        if not isinstance(num_stages, int) or not 1 <= num_stages <= 4:
            raise ValueError(f'num_stages={num_stages!r}; valid values are 1, 2, 3, 4')
        strides = int_tuple('strides', strides, num_stages)
        dilations = int_tuple('dilations', dilations, num_stages)
        if groups < 1 or base_width < 1:
            raise ValueError(f'groups={groups}, base_width={base_width}; both must be >= 1')
        stem_channels = base_channels if stem_channels is None else stem_channels
        if deep_stem and stem_channels % 2:
            raise ValueError(f'stem_channels={stem_channels}; the deep stem needs an even number')
        if block is BasicBlock and (groups != 1 or base_width != 64):
            raise ValueError(f'BasicBlock (ResNet-18/34) supports groups=1 and base_width=64 '
                             f'only, got groups={groups}, base_width={base_width}')
        dcn = check_dcn(dcn, conv_cfg)
        if dcn is not None:
            if not self.supports_dcn:
                raise ValueError(f'dcn={dcn!r}: {type(self).__name__} does not support '
                                 'deformable convs; valid values: dcn=None')
            if len(stage_with_dcn) != num_stages:
                raise ValueError(f'stage_with_dcn={tuple(stage_with_dcn)}; valid values are '
                                 f'{num_stages} bools, one per stage (num_stages={num_stages})')
        elif any(stage_with_dcn):
            raise ValueError(f'stage_with_dcn={tuple(stage_with_dcn)} needs dcn=dict(type=...); '
                             'valid values with dcn=None: all False')
        if plugins and not self.supports_plugins:
            raise ValueError(f'plugins={plugins!r}: {type(self).__name__} does not support '
                             'plugins; valid values: plugins=None')
        stage_blocks = tuple(stage_blocks[:num_stages])
        if multi_grid is not None:
            multi_grid = int_tuple('multi_grid', multi_grid, stage_blocks[-1],
                                   per='block of the last stage')
        if zero_init_residual is None:
            zero_init_residual = self.zero_init_residual_default

        self.depth = depth
        self.num_stages = num_stages
        self.deep_stem = deep_stem
        self.base_channels = base_channels
        self.groups = groups
        self.base_width = base_width
        self.zero_init_residual = bool(zero_init_residual)
        # Stages after the last returned one compute nothing any output needs.
        built = self._built_stages(num_stages)
        self.stage_blocks = stage_blocks[:built]

        self._build_stem(in_channels, deep_stem, stem_channels, conv_cfg, norm_cfg, act_cfg)

        block_rates = drop_path_rates(drop_path_rate, self.stage_blocks)
        in_ch, stride_so_far = stem_channels, 4
        level_channels, level_strides = [], []
        for index in range(num_stages):
            planes = base_channels * 2**index
            out_ch = planes * block.expansion
            stride, dilation = strides[index], dilations[index]
            stride_so_far *= stride
            level_channels.append(out_ch)
            level_strides.append(stride_so_far)
            if index >= built:
                continue
            num_blocks = stage_blocks[index]
            if multi_grid is not None and index == num_stages - 1:
                block_dilations = list(multi_grid)
            else:
                first = dilation // 2 if contract_dilation and dilation > 1 else dilation
                block_dilations = [first] + [dilation] * (num_blocks - 1)
            downsample = None
            if stride != 1 or in_ch != out_ch:
                downsample = self._shortcut(in_ch, out_ch, stride, avg_down, norm_cfg, conv_cfg)
            plugins_here = stage_plugins(plugins, index, num_stages)
            blocks = []
            for block_index in range(num_blocks):
                first = block_index == 0
                block_dilation = block_dilations[block_index]
                blocks.append(block(
                    in_ch if first else out_ch, planes, self._block_width(planes),
                    stride=stride if first else 1, dilation=block_dilation,
                    conv2_dilation=((dilation if first else block_dilation)
                                    if dilate_basic_conv2 else 1),
                    downsample=downsample if first else None, style=style, groups=groups,
                    conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                    drop_path=block_rates[index][block_index],
                    dcn=dcn if dcn is not None and stage_with_dcn[index] else None,
                    plugins=plugins_here, **(block_args or {})))
            self.add_module(f'layer{index + 1}', nn.Sequential(*blocks))
            in_ch = out_ch
        self._setup_levels(level_channels, level_strides)

    def _built_stages(self, num_stages: int) -> int:
        indices = [i % num_stages for i in self._requested_out_indices
                   if -num_stages <= i < num_stages]
        if len(indices) != len(self._requested_out_indices) or not indices:
            return num_stages  # _setup_levels reports the bad index
        return max(indices) + 1

    def _block_width(self, planes: int) -> int:
        """Channels of a bottleneck's 3x3 conv."""
        return int(math.floor(planes * self.base_width / 64)) * self.groups

    def _shortcut(self, in_ch, out_ch, stride, avg_down, norm_cfg, conv_cfg):
        return projection_shortcut(in_ch, out_ch, stride, avg_down, norm_cfg, conv_cfg=conv_cfg)

    def _build_stem(self, in_channels, deep_stem, stem_channels, conv_cfg, norm_cfg, act_cfg):
        if deep_stem:
            mid = stem_channels // 2
            self.conv1 = nn.Sequential(
                build_conv(conv_cfg, in_channels, mid, 3, 2, padding=1, bias=False),
                build_norm(norm_cfg, mid), build_act(act_cfg),
                build_conv(conv_cfg, mid, mid, 3, 1, padding=1, bias=False),
                build_norm(norm_cfg, mid), build_act(act_cfg),
                build_conv(conv_cfg, mid, stem_channels, 3, 1, padding=1, bias=False))
        else:
            self.conv1 = build_conv(conv_cfg, in_channels, stem_channels, 7, 2, padding=3,
                                    bias=False)
        self.bn1 = build_norm(norm_cfg, stem_channels)
        self.act1 = build_act(act_cfg)
        self.maxpool = nn.MaxPool2d(3, 2, padding=1)

    def built_layers(self) -> List[nn.Sequential]:
        return [getattr(self, f'layer{i + 1}') for i in range(len(self.stage_blocks))]

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.maxpool(self.act1(self.bn1(self.conv1(x))))
        outs = []
        for index, layer in enumerate(self.built_layers()):
            x = self.run_blocks(layer, x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)

    # ------------------------------------------------------------------- init
    def init_weights(self):
        """mmdet's / mmseg's ResNet initialisation, step by step:

        * ``init_cfg=None``: Kaiming (fan-out) convs, norms 1/0, then (``zero_init_residual``)
          each block's last norm 0;
        * any other non-``Pretrained`` ``init_cfg``: that config, no zero init;
        * ``Pretrained`` (or ``pretrained=``): the checkpoint, converted from any supported
          layout, over the modules' own initialisation;

        and in every case the blocks' mmcv layers (deformable convs, plugins) run their own
        ``init_weights`` afterwards, so deformable offsets start at zero as in mmdet.
        """
        from mmengine.model.weight_init import initialize
        cfgs = self.init_cfg
        if cfgs is None:
            cfgs = OPENMMLAB_INIT
        elif isinstance(cfgs, dict):
            cfgs = [cfgs]
        pretrained = [c for c in cfgs if c.get('type') == 'Pretrained']
        others = [c for c in cfgs if c.get('type') != 'Pretrained']
        if others:
            initialize(self, others)
        if self.init_cfg is None and self.zero_init_residual:
            for module in self.modules():
                if hasattr(module, 'last_norm'):
                    norm = module.last_norm()
                    if getattr(norm, 'weight', None) is not None:
                        nn.init.zeros_(norm.weight)
                        nn.init.zeros_(norm.bias)
        for layer in self.built_layers():
            for block in layer:
                for child in block.children():
                    if hasattr(child, 'init_weights') and not getattr(child, 'is_init', False):
                        child.init_weights()
        for cfg in pretrained:
            from mmbackbones.weights import load_pretrained
            load_pretrained(self, cfg['checkpoint'], source=cfg.get('source'))
        self._is_init = True

    def _init_default_weights(self) -> None:
        init_cfg, self.init_cfg = self.init_cfg, None
        try:
            self.init_weights()
        finally:
            self.init_cfg = init_cfg

    # --------------------------------------------------------------- contract
    def stem_modules(self):
        return [self.conv1, self.bn1]

    def level_blocks(self, index: int):
        if index >= len(self.stage_blocks):
            return []  # not built: no output needs it
        return list(getattr(self, f'layer{index + 1}'))

    def level_modules(self, index: int):
        # the stage container too, so that a frozen `layerN` reports training=False
        return [getattr(self, f'layer{index + 1}')] if index < len(self.stage_blocks) else []


def _fixed(name: str, kwargs: dict, **fixed) -> dict:
    """mmdet/mmseg's ResNetV1c/V1d fix ``deep_stem``/``avg_down``; refuse a contrary value."""
    for key, value in fixed.items():
        if key in kwargs and kwargs[key] is not None and bool(kwargs[key]) != value:
            raise ValueError(f'{name} has {key}={value}; got {key}={kwargs[key]!r} '
                             f"(use type='ResNet' for other stems/shortcuts)")
        kwargs[key] = value
    if kwargs.get('stem_type') not in (None, 'deep'):
        raise ValueError(f"{name} has a deep stem; got stem_type={kwargs['stem_type']!r}")
    return kwargs


@MODELS.register_module()
class ResNetV1c(ResNet):
    """ResNet with the deep stem (mmseg's ``ResNetV1c``: ``deep_stem=True, avg_down=False``)."""

    def __init__(self, **kwargs):
        super().__init__(**_fixed('ResNetV1c', kwargs, deep_stem=True, avg_down=False))


@MODELS.register_module()
class ResNetV1d(ResNet):
    """ResNet with the deep stem and average-pool shortcut (mmdet/mmseg's ``ResNetV1d``)."""

    def __init__(self, **kwargs):
        super().__init__(**_fixed('ResNetV1d', kwargs, deep_stem=True, avg_down=True))


@MODELS.register_module()
class ResNeXt(ResNet):
    """ResNet with grouped 3x3 convs; ``groups=32, base_width=4`` is ResNeXt-32x4d.

    As mmdet: the defaults are ``groups=1, base_width=4``; the 3x3 conv of a stage with
    ``planes`` has ``planes`` channels when ``groups=1`` (``base_width`` unused), else
    ``floor(planes * base_width / base_channels) * groups``.
    """
    arch_settings = {depth: setting for depth, setting in ResNet.arch_settings.items()
                     if setting[0] is Bottleneck}
    zero_init_residual_default = False

    def __init__(self, depth: int = 50, groups: int = 1, base_width: int = 4, **kwargs):
        super().__init__(depth=depth, groups=groups, base_width=base_width, **kwargs)

    def _block_width(self, planes: int) -> int:
        if self.groups == 1:
            return planes
        return int(math.floor(planes * self.base_width / self.base_channels)) * self.groups


# ---------------------------------------------------------------------------- weights
# Our keys are timm's, which torchvision shares. mmdet and mmseg differ in two ways: the deep
# stem is ``stem.0..7`` (three convs and three norms, the last norm being our ``bn1``) instead of
# ``conv1.0..6`` + ``bn1``, and norms are named after their type (``gn1`` for GroupNorm).
# Deformable convs (``conv2.conv_offset``) and plugins (``context_block``, ...) keep mmdet's keys.
# Dilated ResNet-18/34: mmdet/mmseg (and ours by default) dilate only the first 3x3 conv of a
# basic block, timm both (``dilate_basic_conv2=True``).

# mmdet deep stem index -> ours: Sequential(conv, norm, act, conv, norm, act, conv, norm, act)
_MMDET_STEM = {'0': 'conv1.0', '1': 'conv1.1', '3': 'conv1.3', '4': 'conv1.4', '6': 'conv1.6',
               '7': 'bn1'}
# build_norm_layer names a norm by its type: bn, gn, ln, in, or norm_layer; ours are all bn.
_MMCV_NORM_NAME = re.compile(r'(^|\.)(?:gn|ln|in|norm_layer)(\d+)\.')


def _drop_head(state_dict, model):
    """Without the classifier, and without the stages ``model`` does not build (those after
    the last level its ``out_indices`` return, or beyond ``num_stages``)."""
    built = len(model.stage_blocks)

    def keep(key):
        match = re.match(r'layer(\d)\.', key)
        return not key.startswith('fc.') and (match is None or int(match.group(1)) <= built)

    return {k: v for k, v in state_dict.items() if keep(k)}


def _is_timm_layout(state_dict) -> bool:
    return 'layer1.0.conv1.weight' in state_dict and (
        'conv1.weight' in state_dict or 'conv1.0.weight' in state_dict)


def _is_torchvision_layout(state_dict) -> bool:
    return 'layer1.0.conv1.weight' in state_dict and 'conv1.weight' in state_dict


def _is_openmmlab_layout(state_dict) -> bool:
    return 'layer1.0.conv1.weight' in state_dict and (
        'stem.0.weight' in state_dict or 'conv1.weight' in state_dict)


@register_converter(ResNet, 'timm', detect=_is_timm_layout)
def convert_timm(state_dict, model):
    return _drop_head(state_dict, model)


register_converter(ResNet, 'torchvision', detect=_is_torchvision_layout)(convert_timm)


@register_converter(ResNet, 'mmdet', detect=_is_openmmlab_layout)
def convert_openmmlab(state_dict, model):
    out = {}
    for key, value in _drop_head(state_dict, model).items():
        match = re.match(r'stem\.(\d+)\.(.*)', key)
        if match:
            if match.group(1) not in _MMDET_STEM:
                raise KeyError(f'unexpected mmdet stem key {key!r}')
            key = f'{_MMDET_STEM[match.group(1)]}.{match.group(2)}'
        out[_MMCV_NORM_NAME.sub(r'\1bn\2.', key)] = value
    return out


register_converter(ResNet, 'mmseg', detect=_is_openmmlab_layout)(convert_openmmlab)


# ------------------------------------------------------------------------- references
@reference_levels(ResNet, 'timm')
def _timm_levels(model, x):
    # timm's feature index 0 is the stem (stride 2); 1..4 are layer1..layer4
    return model.forward_intermediates(x, indices=[1, 2, 3, 4], intermediates_only=True)


@reference_levels(ResNet, 'torchvision')
def _torchvision_levels(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    levels = []
    for layer in (model.layer1, model.layer2, model.layer3, model.layer4):
        x = layer(x)
        levels.append(x)
    return levels


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


def _row(name, family, cfg, params, paper, torchvision=None, **openmmlab):
    """A row whose timm model has the row's name; ``openmmlab``: ``mmdet=`` / ``mmseg=`` the
    backbone dict of the same network in that library."""
    refs = {'timm': name}
    if torchvision:
        refs['torchvision'] = torchvision
    refs.update(openmmlab)
    return Variant(name=name, family=family, cfg=cfg, refs=refs, params=params, paper=paper,
                   test_input=_INPUT, parity_sizes=_PARITY_SIZES, slow=name not in _DEFAULT_RUN)


def _mm(depth, type='ResNet', **kwargs):
    return dict(type=type, depth=depth, **kwargs)


_V1C, _V1D = 'ResNetV1c', 'ResNetV1d'
_RESNEXT_D = dict(deep_stem=True, avg_down=True)

register_variants([
    _row('resnet18', 'ResNet', dict(depth=18), 11176512, _HE, torchvision='resnet18',
         mmdet=_mm(18)),
    _row('resnet18d', 'ResNet', dict(depth=18, **_DEEP_D), 11195744, _TRICKS,
         mmdet=_mm(18, _V1D)),
    _row('resnet26', 'ResNet', dict(depth=26), 13946176, _HE),
    _row('resnet26d', 'ResNet', dict(depth=26, **_DEEP_D), 13965408, _TRICKS),
    _row('resnet34', 'ResNet', dict(depth=34), 21284672, _HE, torchvision='resnet34',
         mmdet=_mm(34)),
    _row('resnet34d', 'ResNet', dict(depth=34, **_DEEP_D), 21303904, _TRICKS,
         mmdet=_mm(34, _V1D)),
    _row('resnet50', 'ResNet', dict(depth=50), 23508032, _HE, torchvision='resnet50',
         mmdet=_mm(50), mmseg=_mm(50)),
    _row('resnet50c', 'ResNet', dict(depth=50, **_DEEP_C), 23527264, _TRICKS,
         mmseg=_mm(50, _V1C)),
    _row('resnet50d', 'ResNet', dict(depth=50, **_DEEP_D), 23527264, _TRICKS,
         mmdet=_mm(50, _V1D)),
    _row('resnet101', 'ResNet', dict(depth=101), 42500160, _HE, torchvision='resnet101',
         mmdet=_mm(101)),
    _row('resnet101c', 'ResNet', dict(depth=101, **_DEEP_C), 42519392, _TRICKS,
         mmseg=_mm(101, _V1C)),
    _row('resnet101d', 'ResNet', dict(depth=101, **_DEEP_D), 42519392, _TRICKS,
         mmdet=_mm(101, _V1D)),
    _row('resnet152', 'ResNet', dict(depth=152), 58143808, _HE, torchvision='resnet152',
         mmdet=_mm(152)),
    _row('resnet152c', 'ResNet', dict(depth=152, **_DEEP_C), 58163040, _TRICKS,
         mmseg=_mm(152, _V1C)),
    _row('resnet152d', 'ResNet', dict(depth=152, **_DEEP_D), 58163040, _TRICKS,
         mmdet=_mm(152, _V1D)),
    _row('resnet200', 'ResNet', dict(depth=200), 62624832, _HE),
    _row('resnet200d', 'ResNet', dict(depth=200, **_DEEP_D), 62644064, _TRICKS),
    _row('wide_resnet50_2', 'ResNet', dict(depth=50, base_width=128), 66834240, _WIDE,
         torchvision='wide_resnet50_2'),
    _row('wide_resnet101_2', 'ResNet', dict(depth=101, base_width=128), 124837696, _WIDE,
         torchvision='wide_resnet101_2'),
    _row('resnext50_32x4d', 'ResNeXt', dict(depth=50, groups=32, base_width=4), 22979904, _XIE,
         torchvision='resnext50_32x4d', mmdet=_mm(50, 'ResNeXt', groups=32, base_width=4)),
    _row('resnext50d_32x4d', 'ResNeXt', dict(depth=50, groups=32, base_width=4, **_DEEP_D),
         22999136, _XIE, mmdet=_mm(50, 'ResNeXt', groups=32, base_width=4, **_RESNEXT_D)),
    _row('resnext101_32x4d', 'ResNeXt', dict(depth=101, groups=32, base_width=4), 42128704,
         _XIE, mmdet=_mm(101, 'ResNeXt', groups=32, base_width=4)),
    _row('resnext101_32x8d', 'ResNeXt', dict(depth=101, groups=32, base_width=8), 86742336,
         _XIE, torchvision='resnext101_32x8d', mmdet=_mm(101, 'ResNeXt', groups=32, base_width=8)),
    _row('resnext101_64x4d', 'ResNeXt', dict(depth=101, groups=64, base_width=4), 81406272,
         _XIE, torchvision='resnext101_64x4d', mmdet=_mm(101, 'ResNeXt', groups=64, base_width=4)),
])
