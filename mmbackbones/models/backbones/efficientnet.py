"""EfficientNet (Tan & Le 2019, arXiv 1905.11946) and EfficientNetV2 (Tan & Le 2021,
arXiv 2104.00298).

EfficientNet-B0 is a searched MBConv network; B1-B8 scale it with the paper's compound rule:
every width times ``w`` rounded to a multiple of 8 (never more than 10% down,
:func:`~mmbackbones.models.layers.make_divisible_mobilenet`), every stage's depth times ``d``
rounded up.
EfficientNetV2 starts with Fused-MBConv stages (one 3x3 conv instead of 1x1 expansion + 3x3
depthwise) and continues with MBConv stages with squeeze-excitation; S, M, L and XL are tables of
their own, B0-B3 scale the V2 base table like B0-B7 (without the 10% rule).

Two numerical flavours, chosen by arguments, not by class:

* TensorFlow-trained weights (timm's ``tf_`` models, mmdet's and mmpretrain's checkpoints):
  TensorFlow's "SAME" padding (``conv_cfg=dict(type='Conv2dAdaptivePadding')``, mmdet's and
  mmpretrain's default) and BatchNorm eps 1e-3 (``norm_cfg=dict(type='BN', eps=1e-3)``, ditto);
* PyTorch-trained weights (timm's ``efficientnet_b*``, ``efficientnetv2_rw_*``, torchvision's):
  symmetric padding (``conv_cfg=None``), eps 1e-5 (timm, torchvision's B0-B4) or 1e-3
  (torchvision's B5-B7 and V2).

torchvision's networks are the paper's (same tables, same rounding), but not all its weights
are timm's: B0-B4 are timm's PyTorch-trained weights (eps 1e-5: they convert exactly into the
``efficientnet_b*`` rows); B5-B7 (TensorFlow weights via EfficientNet-PyTorch) and V2-L (from
google/automl) are TensorFlow-trained weights that torchvision runs with symmetric padding and
eps 1e-3 (momentum 0.01 for B5-B7), V2-S/M torchvision's own training with eps 1e-3. Every one
converts exactly into a row with torchvision's settings (``tv_efficientnet_b5``...,
``tv_efficientnet_v2_s``...); the TensorFlow-trained ones then compute torchvision's function,
not TensorFlow's (use timm's ``tf_`` weights for that).

The argument names, defaults and level tables are OpenMMLab's (mmdet's ``EfficientNet``,
mmpretrain's ``EfficientNetV2``), so their backbone dicts build here with only ``type``
changed. Parameter names follow those tables (``layers.<level>``), with the shared blocks of
:mod:`mmbackbones.models.layers` inside; the converters at the end map timm's, torchvision's and
OpenMMLab's checkpoints onto them.
"""
import math
import re
from typing import Dict, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn

from mmbackbones.references import reference_levels, run_timm_stage
from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import PretrainedMismatchError, register_converter
from mmbackbones.zoo import Variant, register_variants

from ..layers import (ConvNormAct, FusedMBConv, InvertedResidual, drop_path_rates,
                      make_divisible_mobilenet)
from .base import BaseBackbone

__all__ = ['EfficientNet', 'EfficientNetV2']

# mmdet's / mmpretrain's defaults: TensorFlow padding and BatchNorm eps (their weights are
# converted from the TensorFlow releases).
TF_SAME = dict(type='Conv2dAdaptivePadding')
TF_BN = dict(type='BN', eps=1e-3)
# mmcv's Swish is x * sigmoid(x), PyTorch's SiLU the same function in one kernel; in place, as
# timm and torchvision run it (it follows a norm or a conv, whose backward needs no output).
_SWISH_TYPES = ('Swish', 'MemoryEfficientSwish')

class Stage(NamedTuple):
    """One stage of identical blocks (the first carries the stride).

    kind: ``'mbconv'`` (InvertedResidual; no expansion conv when ``expand_ratio`` is 1),
        ``'fused'`` (Fused-MBConv: kxk conv then 1x1 projection) or ``'conv'`` (Fused-MBConv
        without expansion: a single kxk conv + norm + activation).
    """
    kind: str
    repeats: int
    kernel_size: int
    stride: int
    expand_ratio: int
    channels: int
    se_ratio: float = 0.0  # squeeze channels: se_ratio * the block's input channels


class Arch(NamedTuple):
    """A base table and its compound scaling."""
    stem: int
    stages: Tuple[Stage, ...]
    head: int
    width: float = 1.0
    depth: Union[float, Tuple[float, ...]] = 1.0  # one per stage, or one for all
    round_limit: float = 0.9  # make_divisible_mobilenet's: at most 10% down (0: nearest multiple)


def _mb(repeats, kernel, stride, expand, channels, se=0.25):
    return Stage('mbconv', repeats, kernel, stride, expand, channels, se)


# EfficientNet-B0 (Tan & Le 2019, Table 1): stem 3x3 conv 32, seven MBConv stages, 1x1 conv 1280.
B0_STAGES = (_mb(1, 3, 1, 1, 16), _mb(2, 3, 2, 6, 24), _mb(2, 5, 2, 6, 40), _mb(3, 3, 2, 6, 80),
             _mb(3, 5, 1, 6, 112), _mb(4, 5, 2, 6, 192), _mb(1, 3, 1, 6, 320))
# (width, depth) multipliers of the compound scaling (the reference code's table; B8 from
# Xie et al. 2020, AdvProp).
B_SCALES = {'b0': (1.0, 1.0), 'b1': (1.0, 1.1), 'b2': (1.1, 1.2), 'b3': (1.2, 1.4),
            'b4': (1.4, 1.8), 'b5': (1.6, 2.2), 'b6': (1.8, 2.6), 'b7': (2.0, 3.1),
            'b8': (2.2, 3.6)}


def _v2(conv_repeats, fused, mbconv, stem, head=1280, **scaling) -> Arch:
    """An EfficientNetV2 table: a stride-1 single-conv stage, Fused-MBConv stages
    ``(repeats, stride, expand, channels)`` and MBConv stages with SE."""
    stages = [Stage('conv', conv_repeats[0], 3, 1, 1, conv_repeats[1])]
    stages += [Stage('fused', r, 3, s, e, c) for r, s, e, c in fused]
    stages += [Stage('mbconv', r, 3, s, e, c, 0.25) for r, s, e, c in mbconv]
    return Arch(stem, tuple(stages), head, **scaling)


# EfficientNetV2 tables (Tan & Le 2021, Table 4 for S; M, L, XL and the base of B0-B3 from the
# authors' code, google/automl efficientnetv2).
V2_S = _v2((2, 24), [(4, 2, 4, 48), (4, 2, 4, 64)],
           [(6, 2, 4, 128), (9, 1, 6, 160), (15, 2, 6, 256)], stem=24)
V2_M = _v2((3, 24), [(5, 2, 4, 48), (5, 2, 4, 80)],
           [(7, 2, 4, 160), (14, 1, 6, 176), (18, 2, 6, 304), (5, 1, 6, 512)], stem=24)
V2_L = _v2((4, 32), [(7, 2, 4, 64), (7, 2, 4, 96)],
           [(10, 2, 4, 192), (19, 1, 6, 224), (25, 2, 6, 384), (7, 1, 6, 640)], stem=32)
V2_XL = _v2((4, 32), [(8, 2, 4, 64), (8, 2, 4, 96)],
            [(16, 2, 4, 192), (24, 1, 6, 256), (32, 2, 6, 512), (8, 1, 6, 640)], stem=32)
_V2_BASE = dict(conv_repeats=(1, 16), fused=[(2, 2, 4, 32), (2, 2, 4, 48)],
                mbconv=[(3, 2, 4, 96), (5, 1, 6, 112), (8, 2, 6, 192)], stem=32,
                round_limit=0.0)
# timm's EfficientNetV2-S as Ross Wightman built it from the paper before the official code
# (``efficientnetv2_rw_*``): a Fused-MBConv (with projection) first stage, 272 channels last,
# 1792 at the head.
V2_RW_S = Arch(24, (Stage('fused', 2, 3, 1, 1, 24),) + V2_S.stages[1:-1]
               + (V2_S.stages[-1]._replace(channels=272),), 1792)


def _squeeze_act(act_cfg: Optional[dict]) -> Optional[dict]:
    if isinstance(act_cfg, dict) and act_cfg.get('type') in _SWISH_TYPES:
        extra = set(act_cfg) - {'type'}
        if extra:
            raise ValueError(f'act_cfg={act_cfg!r}: {act_cfg["type"]} takes no options; got '
                             f'{sorted(extra)}')
        return dict(type='SiLU', inplace=True)
    return act_cfg


class _EfficientNetBase(BaseBackbone):
    """What EfficientNet and EfficientNetV2 share: building a scaled table into levels, the
    contract, initialisation. The families differ in their tables and in how stages group into
    levels (:attr:`merge_stride_one_stages`)."""
    arch_settings: Dict[str, Arch] = {}
    # mmdet's EfficientNet puts a stage that keeps the resolution (stride 1) into the level of
    # the stage before it; mmpretrain's EfficientNetV2 gives every stage its own level.
    merge_stride_one_stages = False

    def __init__(self, arch, in_channels: int = 3, drop_path_rate: float = 0.0,
                 out_indices: Optional[Sequence[int]] = None, frozen_stages: int = 0,
                 conv_cfg: Optional[dict] = TF_SAME, norm_cfg: Optional[dict] = TF_BN,
                 act_cfg: Optional[dict] = dict(type='Swish'), norm_eval: bool = False,
                 with_cp: bool = False, init_cfg=None, pretrained: Optional[str] = None):
        spec = self.resolve_arch(arch)
        if not isinstance(drop_path_rate, (int, float)) or not 0 <= drop_path_rate < 1:
            raise ValueError(f'drop_path_rate={drop_path_rate!r}; valid values are floats in '
                             '[0, 1)')
        stage_levels, level_channels, level_strides = self.level_table(spec)
        if out_indices is None:
            out_indices = self.detection_levels(level_strides)
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        self.arch = arch
        self.stages, stem, head = self.scaled_stages(spec)
        common = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=_squeeze_act(act_cfg))
        num_levels = len(level_channels)
        # levels after the last one out_indices returns compute nothing an output needs
        built = self._built_levels(num_levels)

        layers = [ConvNormAct(in_channels, stem, 3, 2, **common)]  # level 0
        groups: List[list] = [[] for _ in range(num_levels - 2)]  # the blocks of levels 1..
        rates = drop_path_rates(drop_path_rate, [sum(s.repeats for s in self.stages)])[0]
        # (level, index in the level) of every block, stage by stage: the converters' map
        self.block_positions: List[List[Tuple[int, int]]] = []
        channels, block_id = stem, 0
        for stage, level in zip(self.stages, stage_levels):
            positions = []
            for repeat in range(stage.repeats):
                group = groups[level - 1]
                positions.append((level, len(group)))
                group.append(None if level >= built else self._block(
                    stage, channels, stage.stride if repeat == 0 else 1, rates[block_id],
                    common))
                channels = stage.channels
                block_id += 1
            self.block_positions.append(positions)
        layers += [nn.Sequential(*group) for group in groups[:built - 1]]
        if built == num_levels:
            layers.append(ConvNormAct(channels, head, 1, **common))  # the last level
        self.layers = nn.ModuleList(layers)
        self._setup_levels(level_channels, level_strides)

    # ---------------------------------------------------------------- the table
    @classmethod
    def scaled_stages(cls, spec: Arch) -> Tuple[Tuple[Stage, ...], int, int]:
        """(stages, stem channels, head channels) of ``spec`` after compound scaling: widths
        times ``spec.width`` made divisible by 8, depths times ``spec.depth`` rounded up."""
        def width(channels):
            if spec.width == 1.0:
                return channels
            return make_divisible_mobilenet(channels * spec.width, 8, round_limit=spec.round_limit)

        depths = (spec.depth if isinstance(spec.depth, tuple)
                  else (spec.depth, ) * len(spec.stages))
        stages = tuple(stage._replace(channels=width(stage.channels),
                                      repeats=int(math.ceil(stage.repeats * depth)))
                       for stage, depth in zip(spec.stages, depths))
        return stages, width(spec.stem), width(spec.head)

    @classmethod
    def level_table(cls, spec: Arch) -> Tuple[List[int], List[int], List[int]]:
        """(level of each stage, channels and stride of each level): level 0 is the stem,
        then the stages (grouped as :attr:`merge_stride_one_stages` says), last the head."""
        stages, stem, head = cls.scaled_stages(spec)
        stage_levels, channels, strides = [], [stem], [2]
        for index, stage in enumerate(stages):
            if cls.merge_stride_one_stages and index > 0 and stage.stride == 1:
                channels[-1] = stage.channels
            else:
                channels.append(stage.channels)
                strides.append(strides[-1] * stage.stride)
            stage_levels.append(len(channels) - 1)
        return stage_levels, channels + [head], strides + [strides[-1]]

    @staticmethod
    def detection_levels(level_strides: Sequence[int]) -> Tuple[int, ...]:
        """The last level of stride 8, 16 and 32 before the head conv: mmdet's EfficientNet
        configs' ``out_indices=(3, 4, 5)``."""
        last = {stride: index for index, stride in enumerate(level_strides[:-1])}
        return tuple(last[s] for s in (8, 16, 32))

    @staticmethod
    def _block(stage: Stage, in_channels: int, stride: int, drop_path: float,
               common: dict) -> nn.Module:
        se_cfg = None
        if stage.se_ratio > 0:
            se_cfg = dict(squeeze_channels=max(1, int(in_channels * stage.se_ratio)),
                          act_cfg=common['act_cfg'], gate_cfg=dict(type='Sigmoid'))
        kwargs = dict(kernel_size=stage.kernel_size, stride=stride, se_cfg=se_cfg,
                      drop_path_rate=drop_path, **common)
        mid = make_divisible_mobilenet(in_channels * stage.expand_ratio)
        if stage.kind == 'mbconv':
            return InvertedResidual(in_channels, stage.channels, mid, **kwargs)
        return FusedMBConv(in_channels, stage.channels, mid,
                           with_project_conv=stage.kind == 'fused', **kwargs)

    def _built_levels(self, num_levels: int) -> int:
        indices = [i % num_levels for i in self._requested_out_indices
                   if -num_levels <= i < num_levels]
        if len(indices) != len(self._requested_out_indices) or not indices:
            return num_levels  # _setup_levels reports the bad index
        return max(indices) + 1

    # ----------------------------------------------------------------- contract
    def stem_modules(self) -> List[nn.Module]:
        return []  # the stem conv is level 0, as in OpenMMLab (out_indices=0 returns it)

    def level_blocks(self, index: int) -> List[nn.Module]:
        if index >= len(self.layers):
            return []  # not built: no output needs it
        layer = self.layers[index]
        return list(layer) if isinstance(layer, nn.Sequential) else [layer]

    def level_modules(self, index: int) -> List[nn.Module]:
        # the container too, so that a frozen level reports training=False
        return [self.layers[index]] if index < len(self.layers) else []

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        outs = []
        for index in range(len(self.layers)):
            x = self.run_blocks(self.level_blocks(index), x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def _init_default_weights(self) -> None:
        """mmdet's and mmpretrain's default: Kaiming-normal (fan-out) convs with zero bias,
        norms 1 / 0."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode='fan_out', nonlinearity='relu')
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm)):
                if module.weight is not None:
                    nn.init.ones_(module.weight)
                    nn.init.zeros_(module.bias)


@MODELS.register_module()
class EfficientNet(_EfficientNetBase):
    """EfficientNet B0-B8 (mmdet's and mmpretrain's ``EfficientNet`` arguments).

    Levels (B0's channels; B1-B8 scale them), mmdet's table:

    ===== ======= ====== ==============================================
    level channels stride what
    ===== ======= ====== ==============================================
    0     32      2      stem: 3x3 conv, stride 2
    1     16      2      stage 1: MBConv1 3x3 (no expansion)
    2     24      4      stage 2: MBConv6 3x3
    3     40      8      stage 3: MBConv6 5x5
    4     112     16     stages 4-5: MBConv6 3x3 (80), MBConv6 5x5 (112)
    5     320     32     stages 6-7: MBConv6 5x5 (192), MBConv6 3x3 (320)
    6     1280    32     the final 1x1 conv (the classifier's features)
    ===== ======= ====== ==============================================

    The final 1x1 conv is a level of its own (``out_indices=6``), as in mmdet; levels after the
    last one ``out_indices`` returns are not built. The default ``out_indices=(3, 4, 5)`` (strides
    8, 16, 32) is what mmdet's EfficientNet configs use (mmdet's class default is ``(6,)``).

    Args:
        arch: ``'b0'`` ... ``'b8'``.
        in_channels: input image channels.
        drop_path_rate: stochastic depth, linear from 0 at the first MBConv block to this rate
            at the last.
        out_indices: levels to return (default ``(3, 4, 5)``).
        frozen_stages: as in mmdet, the number of leading levels frozen: ``0`` (default)
            nothing, ``1`` the stem conv, ``k`` levels ``0..k-1`` (``-1`` also nothing).
        conv_cfg: ``dict(type='Conv2dAdaptivePadding')`` (default): TensorFlow's "SAME" padding,
            for TensorFlow-trained weights (timm's ``tf_efficientnet_*``, mmdet's / mmpretrain's
            checkpoints); ``None``: PyTorch's symmetric padding (timm's ``efficientnet_*``,
            torchvision's); other mmcv conv types take the symmetric padding.
        norm_cfg: mmcv norm (default ``BN`` with TensorFlow's eps 1e-3; timm's and torchvision's
            B0-B4 PyTorch-trained weights use eps 1e-5).
        act_cfg: activation (default ``Swish``, computed as PyTorch's SiLU).
        norm_eval, with_cp, init_cfg, pretrained: see :class:`BaseBackbone`; without weights
            the init is mmdet's (Kaiming convs, norms 1/0).
    """
    arch_settings = {name: Arch(32, B0_STAGES, 1280, width, depth)
                     for name, (width, depth) in B_SCALES.items()}
    merge_stride_one_stages = True

    def __init__(self, arch: str = 'b0', **kwargs):
        super().__init__(arch, **kwargs)


@MODELS.register_module()
class EfficientNetV2(_EfficientNetBase):
    """EfficientNetV2 S/M/L/XL and B0-B3 (mmpretrain's ``EfficientNetV2`` arguments).

    Levels (mmpretrain's table: every stage its own level), for S:

    ===== ======= ====== ==============================================
    level channels stride what
    ===== ======= ====== ==============================================
    0     24      2      stem: 3x3 conv, stride 2
    1     24      2      stage 1: 3x3 conv (Fused-MBConv without expansion), residual
    2     48      4      stage 2: Fused-MBConv4 3x3
    3     64      8      stage 3: Fused-MBConv4 3x3
    4     128     16     stage 4: MBConv4 3x3, SE
    5     160     16     stage 5: MBConv6 3x3, SE
    6     256     32     stage 6: MBConv6 3x3, SE
    7     1280    32     the final 1x1 conv (the classifier's features)
    ===== ======= ====== ==============================================

    M, L and XL have a seventh stage at stride 32 (levels 7 and the head 8); B0-B3 have S's
    structure with their own widths. The default ``out_indices`` are the last levels of stride
    8, 16 and 32 before the head (S, B0-B3: ``(3, 5, 6)``; M, L, XL: ``(3, 5, 7)``);
    mmpretrain's class default is ``(-1,)``, the head.

    Args:
        arch: ``'s'``, ``'m'``, ``'l'``, ``'xl'`` (also ``'small'``, ``'medium'``, ``'large'``),
            ``'b0'`` ... ``'b3'``; and timm's ``'rw_t'``, ``'rw_s'``, ``'rw_m'``
            (``efficientnetv2_rw_*``: the paper's S as built before the official code,
            scaled).
        frozen_stages: as in mmpretrain, the number of leading levels frozen: ``0`` (default)
            nothing, ``1`` the stem conv, ``k`` levels ``0..k-1`` (``-1`` also nothing).
        Others: as :class:`EfficientNet` (the defaults are mmpretrain's: TensorFlow padding,
        BN eps 1e-3, Swish).
    """
    arch_settings = {
        **dict.fromkeys(('s', 'small'), V2_S), **dict.fromkeys(('m', 'medium'), V2_M),
        **dict.fromkeys(('l', 'large'), V2_L), 'xl': V2_XL,
        'b0': _v2(**_V2_BASE), 'b1': _v2(**_V2_BASE, depth=1.1),
        'b2': _v2(**_V2_BASE, width=1.1, depth=1.2), 'b3': _v2(**_V2_BASE, width=1.2, depth=1.4),
        'rw_t': V2_S._replace(width=0.8, depth=0.9),
        'rw_s': V2_RW_S, 'rw_m': V2_RW_S._replace(width=1.2, depth=(1.2, ) * 4 + (1.6, ) * 2),
    }

    def __init__(self, arch: str = 's', **kwargs):
        super().__init__(arch, **kwargs)


# ---------------------------------------------------------------------------- weights
# Our keys: ``layers.0`` the stem and ``layers.<last>`` the head (ConvNormAct: conv, norm),
# ``layers.<level>.<i>`` the blocks (InvertedResidual: expand_conv, depthwise_conv, se,
# project_conv; FusedMBConv: fused_conv, se, project_conv). A reference's block is found through
# ``model.block_positions[stage][block]``; what its submodules are called depends on the block.
#
# timm: conv_stem/bn1, blocks.<stage>.<block>, conv_head/bn2; per block kind
_TIMM_BLOCK = {
    # MBConv with expansion (timm InvertedResidual)
    'expand': {'conv_pw': 'expand_conv.conv', 'bn1': 'expand_conv.norm',
               'conv_dw': 'depthwise_conv.conv', 'bn2': 'depthwise_conv.norm',
               'conv_pwl': 'project_conv.conv', 'bn3': 'project_conv.norm'},
    # MBConv without expansion (timm DepthwiseSeparableConv)
    'no_expand': {'conv_dw': 'depthwise_conv.conv', 'bn1': 'depthwise_conv.norm',
                  'conv_pw': 'project_conv.conv', 'bn2': 'project_conv.norm'},
    # Fused-MBConv (timm EdgeResidual)
    'fused': {'conv_exp': 'fused_conv.conv', 'bn1': 'fused_conv.norm',
              'conv_pwl': 'project_conv.conv', 'bn2': 'project_conv.norm'},
    # single conv (timm ConvBnAct)
    'conv': {'conv': 'fused_conv.conv', 'bn1': 'fused_conv.norm'},
}
_SE = {'conv_reduce': 'se.conv_reduce', 'conv_expand': 'se.conv_expand'}


def _block_kind(block: nn.Module) -> str:
    if isinstance(block, InvertedResidual):
        return 'expand' if block.expand_conv is not None else 'no_expand'
    return 'fused' if block.project_conv is not None else 'conv'


def _block_parts(block: nn.Module) -> List[str]:
    """The block's units in forward order (torchvision's ``block.<i>`` numbering)."""
    names = ['expand_conv', 'depthwise_conv', 'fused_conv', 'se', 'project_conv']
    return [n for n in names if getattr(block, n, None) is not None]


class _Keys:
    """Maps a reference's (stage, block) onto our keys, and knows what is built."""

    def __init__(self, model: _EfficientNetBase):
        self.model = model
        self.head_level = model.num_levels - 1

    def built(self, level: int) -> bool:
        return level < len(self.model.layers)

    def block(self, stage: int, index: int) -> Tuple[str, Optional[nn.Module]]:
        try:
            level, position = self.model.block_positions[stage][index]
        except IndexError:
            raise PretrainedMismatchError(
                f'the checkpoint has block {index} of stage {stage}, which '
                f'{type(self.model).__name__}(arch={self.model.arch!r}) does not have: a '
                'checkpoint of another size') from None
        prefix = f'layers.{level}.{position}.'
        return prefix, self.model.layers[level][position] if self.built(level) else None


def _is_timm(sd) -> bool:
    return 'conv_stem.weight' in sd and any(k.startswith('blocks.0.0.') for k in sd)


def _is_torchvision(sd) -> bool:
    return 'features.0.0.weight' in sd and any(k.startswith('features.1.0.block.') for k in sd)


def _is_openmmlab(sd) -> bool:
    return 'layers.0.conv.weight' in sd and not any(k.startswith('layers.0.norm.') for k in sd)


@register_converter(_EfficientNetBase, 'timm', detect=_is_timm)
def convert_timm(state_dict, model):
    keys, out = _Keys(model), {}
    for key, value in state_dict.items():
        match = re.match(r'blocks\.(\d+)\.(\d+)\.(\w+)\.(.+)', key)
        if match:
            prefix, block = keys.block(int(match.group(1)), int(match.group(2)))
            if block is None:
                continue
            part, rest = match.group(3), match.group(4)
            if part == 'se':
                sub, _, rest = rest.partition('.')
                name = _SE.get(sub)
            else:
                name = _TIMM_BLOCK[_block_kind(block)].get(part)
            if name is None:
                raise KeyError(f'unexpected timm EfficientNet key {key!r}')
            out[prefix + name + '.' + rest] = value
        elif key.startswith(('conv_stem.', 'bn1.')):
            unit = 'conv' if key.startswith('conv_stem.') else 'norm'
            out[f'layers.0.{unit}.{key.split(".", 1)[1]}'] = value
        elif key.startswith(('conv_head.', 'bn2.')):
            if keys.built(keys.head_level):
                unit = 'conv' if key.startswith('conv_head.') else 'norm'
                out[f'layers.{keys.head_level}.{unit}.{key.split(".", 1)[1]}'] = value
        elif not key.startswith('classifier.'):
            out[key] = value  # reported as unexpected by the loader
    return out


@register_converter(_EfficientNetBase, 'torchvision', detect=_is_torchvision)
def convert_torchvision(state_dict, model):
    """features.0 the stem, features.1.. the stages, the last features.N the head;
    a block's units are block.0, block.1, ... (conv: .0, norm: .1; SE: fc1, fc2)."""
    keys, out = _Keys(model), {}
    num_stages = len(model.block_positions)
    units = {'0': 'conv', '1': 'norm'}
    for key, value in state_dict.items():
        match = re.match(r'features\.(\d+)\.(.+)', key)
        if not match:
            if not key.startswith('classifier.'):
                out[key] = value
            continue
        feature, rest = int(match.group(1)), match.group(2)
        if feature == 0 or feature == num_stages + 1:
            level = 0 if feature == 0 else keys.head_level
            unit, _, param = rest.partition('.')
            if keys.built(level):
                out[f'layers.{level}.{units[unit]}.{param}'] = value
            continue
        block_match = re.match(r'(\d+)\.block\.(\d+)\.(\w+)\.(.+)', rest)
        if not block_match:
            raise KeyError(f'unexpected torchvision EfficientNet key {key!r}')
        prefix, block = keys.block(feature - 1, int(block_match.group(1)))
        if block is None:
            continue
        part = _block_parts(block)[int(block_match.group(2))]
        sub, param = block_match.group(3), block_match.group(4)
        name = (f'se.{ {"fc1": "conv_reduce", "fc2": "conv_expand"}[sub] }' if part == 'se'
                else f'{part}.{units[sub]}')
        out[prefix + name + '.' + param] = value
    return out


# mmdet / mmpretrain: layers.<level> as ours; ConvModule names its norm after the type (bn, gn);
# SELayer has conv1/conv2 (ConvModules); InvertedResidual's projection is linear_conv;
# EdgeResidual (Fused-MBConv) has conv1/conv2, a single-conv block is a ConvModule itself.
_OPENMMLAB_BLOCK = {
    'expand': {'linear_conv': 'project_conv'},
    'no_expand': {'linear_conv': 'project_conv'},
    'fused': {'conv1': 'fused_conv', 'conv2': 'project_conv'},
    'conv': {'conv': 'fused_conv.conv', 'bn': 'fused_conv.norm', 'gn': 'fused_conv.norm'},
}
_MMCV_NORM = re.compile(r'\.(bn|gn|ln|in)\.')


@register_converter(_EfficientNetBase, 'mmdet', detect=_is_openmmlab)
def convert_openmmlab(state_dict, model):
    out = {}
    for key, value in state_dict.items():
        match = re.match(r'layers\.(\d+)\.(.+)', key)
        if not match:
            if not key.startswith(('head.', 'fc.', 'classifier.')):
                out[key] = value
            continue
        level, rest = int(match.group(1)), match.group(2)
        if level >= len(model.layers):
            continue
        block_match = re.match(r'(\d+)\.(\w+)\.(.+)', rest)
        if isinstance(model.layers[level], nn.Sequential) and block_match:
            block = model.layers[level][int(block_match.group(1))]
            part, tail = block_match.group(2), block_match.group(3)
            if part == 'se':
                tail = re.sub(r'^conv1\.conv\.', 'conv_reduce.', tail)
                tail = re.sub(r'^conv2\.conv\.', 'conv_expand.', tail)
                name = f'se.{tail}'
            else:
                name = f'{_OPENMMLAB_BLOCK[_block_kind(block)].get(part, part)}.{tail}'
            rest = f'{block_match.group(1)}.{name}'
        out[_MMCV_NORM.sub('.norm.', f'layers.{level}.{rest}')] = value
    return out


register_converter(_EfficientNetBase, 'mmpretrain', detect=_is_openmmlab)(convert_openmmlab)


# ------------------------------------------------------------------------- references
def _first_stride(stage: nn.Module) -> int:
    return max((m.stride[0] for m in stage.modules() if isinstance(m, nn.Conv2d)), default=1)


def _stage_levels(model_cls, stem, stages, head, x,
                  run_stage=lambda stage, x: stage(x)) -> List[torch.Tensor]:
    """A reference's levels in our table: the stem, the stages grouped as ``model_cls`` groups
    them, the head conv."""
    x = stem(x)
    levels = [x]
    for index, stage in enumerate(stages):
        x = run_stage(stage, x)
        first_block = stage[0]
        if model_cls.merge_stride_one_stages and index > 0 and _first_stride(first_block) == 1:
            levels[-1] = x
        else:
            levels.append(x)
    levels.append(head(x))
    return levels


def _timm_levels(model_cls):
    def levels(model, x):
        return _stage_levels(model_cls, lambda t: model.bn1(model.conv_stem(t)), model.blocks,
                             lambda t: model.bn2(model.conv_head(t)), x,
                             run_stage=lambda stage, t: run_timm_stage(model, stage, t))
    return levels


def _torchvision_levels(model_cls):
    def levels(model, x):
        features = model.features
        return _stage_levels(model_cls, features[0], features[1:-1], features[-1], x)
    return levels


for _cls in (EfficientNet, EfficientNetV2):
    reference_levels(_cls, 'timm')(_timm_levels(_cls))
    reference_levels(_cls, 'torchvision')(_torchvision_levels(_cls))


# ----------------------------------------------------------------------------------- zoo
_TAN_V1 = 'Tan & Le 2019, arXiv 1905.11946'
_TAN_V2 = 'Tan & Le 2021, arXiv 2104.00298'
_INPUT = (128, 160)
_PARITY_SIZES = ((128, 160), (97, 131))  # one odd: TensorFlow's padding differs there
# one row per code path in the default run: PyTorch padding with timm and torchvision
# (MBConv with and without expansion), TensorFlow padding with Fused-MBConv, single-conv
# stages and the mmpretrain layout
_DEFAULT_RUN = {'efficientnet_b0', 'tf_efficientnetv2_b0'}
# PyTorch-trained weights: symmetric padding; eps 1e-5 (timm, torchvision B0-B4) or 1e-3
_TORCH = dict(conv_cfg=None, norm_cfg=dict(type='BN'))
_TORCH_EPS3 = dict(conv_cfg=None, norm_cfg=dict(type='BN', eps=1e-3))
# exact backbone parameter counts per architecture (padding and eps add none): timm's models
# with num_classes=0, torchvision's without their classifier
_PARAMS = {
    'EfficientNet': {'b0': 4007548, 'b1': 6513184, 'b2': 7700994, 'b3': 10696232,
                     'b4': 17548616, 'b5': 28340784, 'b6': 40735704, 'b7': 63786960,
                     'b8': 84596142},
    'EfficientNetV2': {'s': 20177488, 'm': 52858356, 'l': 117234272, 'xl': 206838808,
                       'b0': 5858704, 'b1': 6860052, 'b2': 8687086, 'b3': 12821406,
                       'rw_t': 12624388, 'rw_s': 22148296, 'rw_m': 51083442},
}


def _all_levels(family, arch):
    cls = MODELS.get(f'mmbackbones.{family}')
    return tuple(range(len(cls.level_table(cls.arch_settings[arch])[1])))


def _row(name, family, arch, cfg, paper, refs):
    return Variant(name=name, family=family,
                   cfg=dict(arch=arch, out_indices=_all_levels(family, arch), **cfg),
                   refs=refs, params=_PARAMS[family][arch], paper=paper, test_input=_INPUT,
                   parity_sizes=_PARITY_SIZES, slow=name not in _DEFAULT_RUN)


def _rows():
    rows = []
    for arch in B_SCALES:
        number = arch[1]
        refs = {'timm': f'efficientnet_{arch}'}
        if int(number) <= 4:  # torchvision's B5-B7 use BatchNorm eps 1e-3: rows of their own
            refs['torchvision'] = f'efficientnet_{arch}'
        rows.append(_row(f'efficientnet_{arch}', 'EfficientNet', arch, _TORCH, _TAN_V1, refs))
        openmmlab = dict(type='EfficientNet', arch=arch)
        rows.append(_row(f'tf_efficientnet_{arch}', 'EfficientNet', arch, {}, _TAN_V1,
                         {'timm': f'tf_efficientnet_{arch}', 'mmdet': openmmlab,
                          'mmpretrain': openmmlab}))
        if 5 <= int(number) <= 7:
            rows.append(_row(f'tv_efficientnet_{arch}', 'EfficientNet', arch, _TORCH_EPS3,
                             _TAN_V1, {'torchvision': f'efficientnet_{arch}'}))
    for arch in ('s', 'm', 'l', 'xl', 'b0', 'b1', 'b2', 'b3'):
        rows.append(_row(f'tf_efficientnetv2_{arch}', 'EfficientNetV2', arch, {}, _TAN_V2,
                         {'timm': f'tf_efficientnetv2_{arch}',
                          'mmpretrain': dict(type='EfficientNetV2', arch=arch)}))
    for arch in ('t', 's', 'm'):
        rows.append(_row(f'efficientnetv2_rw_{arch}', 'EfficientNetV2', f'rw_{arch}', _TORCH,
                         _TAN_V2, {'timm': f'efficientnetv2_rw_{arch}'}))
    for arch in ('s', 'm', 'l'):
        rows.append(_row(f'tv_efficientnet_v2_{arch}', 'EfficientNetV2', arch, _TORCH_EPS3,
                         _TAN_V2, {'torchvision': f'efficientnet_v2_{arch}'}))
    return rows


register_variants(_rows())
