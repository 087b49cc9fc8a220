"""MobileNet V1 (Howard et al. 2017, arXiv 1704.04861), V2 (Sandler et al. 2018, arXiv
1801.04381) and V3 (Howard et al. 2019, arXiv 1905.02244).

* V1: a 3x3 stem conv, then depthwise-separable blocks (3x3 depthwise, 1x1 pointwise, norm and
  activation after each); stride-2 depthwise convs instead of pooling. Five levels (strides
  2-32); timm's ``mobilenetv1_100h`` adds a 1x1 conv at the end (``with_last_conv=True``).
* V2: inverted residuals with linear bottlenecks (expand by ``t``, ReLU6, depthwise, no
  activation after the narrow projection, a shortcut only where shapes match). The level table
  is mmdet's ``MobileNetV2``: ``layer1``..``layer7`` and the last 1x1 conv ``conv2`` (1280
  channels) as level 7. mmseg's ``MobileNetV2`` has no ``conv2`` and dilates with
  ``strides``/``dilations``; both dicts build here with only ``type`` changed.
* V3: inverted residuals with squeeze-excitation inside the expansion (hard-sigmoid gate),
  h-swish in the later layers, a 16-filter stem and a trimmed last stage ending in a 1x1 conv.
  The level table is mmseg's ``MobileNetV3``: ``layer0`` (the stem) .. ``layer16`` (large) /
  ``layer12`` (small), one level per block, so that ``out_indices`` picks any block.

Level tables and the default ``out_indices`` (strides 8/16/32 for detection):

============================  ==========================================  ==================
backbone                      levels (channels at width 1.0 / stride)      detection indices
============================  ==========================================  ==================
MobileNetV1                   0: 64/2, 1: 128/4, 2: 256/8, 3: 512/16,      (2, 3, 4) (default)
                              4: 1024/32, [5: last 1x1 conv 1024/32]
MobileNetV2                   0: 16/2, 1: 24/4, 2: 32/8, 3: 64/16,         (2, 4, 7); mmdet's
                              4: 96/16, 5: 160/32, 6: 320/32,              default (1, 2, 4, 7)
                              7: last 1x1 conv 1280/32
MobileNetV3 large             0: stem 16/2, 1: 16/2, 2-3: 24/4,            (6, 12, 16)
                              4-6: 40/8, 7-10: 80/16, 11-12: 112/16,
                              13-15: 160/32, 16: last 1x1 conv 960/32
MobileNetV3 small             0: stem 16/2, 1: 16/4, 2-3: 24/8,            (3, 8, 12)
                              4-6: 40/16, 7-8: 48/16, 9-11: 96/32,
                              12: last 1x1 conv 576/32
============================  ==========================================  ==================

(mmseg's ``MobileNetV3`` default ``out_indices=(0, 1, 12)`` and its output stride 8 are kept
for mmseg's dicts: see :class:`MobileNetV3`.)

Parameter names follow OpenMMLab's layer names (``conv1``, ``layer1.0``, ``conv2``; ``layer0``
.. ``layer16``); the converters at the end map timm's, torchvision's, mmdet's and mmseg's keys.
"""
import math
import re
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmbackbones.references import reference_levels, run_timm_stage
from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import register_converter
from mmbackbones.zoo import Variant, register_variants

from ..layers import (PADDING_MODES, ConvNormAct, InvertedResidual, check_choice,
                      drop_path_rates, int_tuple, make_divisible_mobilenet)
from .base import BaseBackbone

__all__ = ['MobileNetV1', 'MobileNetV2', 'MobileNetV3']

OPENMMLAB_NORM = dict(type='BN')
# OpenMMLab's MobileNet default init (init_cfg=None and pretrained=None).
OPENMMLAB_INIT = [dict(type='Kaiming', layer='Conv2d'),
                  dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]


def _scope() -> Optional[str]:
    """The mmengine default scope the model is built in (None outside any)."""
    try:
        from mmengine.registry import DefaultScope
    except ImportError:
        return None
    scope = DefaultScope.get_current_instance()
    return None if scope is None else scope.scope_name


# ------------------------------------------------------------------------------ V1
class DepthwiseSeparable(nn.Module):
    """3x3 depthwise conv - norm - act, 1x1 pointwise conv - norm - act (MobileNet V1)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int = 1, dilation: int = 1,
                 conv_cfg=None, norm_cfg=OPENMMLAB_NORM, act_cfg=dict(type='ReLU6')):
        super().__init__()
        self.depthwise = ConvNormAct(in_channels, in_channels, 3, stride, dilation,
                                     groups=in_channels, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg)
        self.pointwise = ConvNormAct(in_channels, out_channels, 1, conv_cfg=conv_cfg,
                                     norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class _MobileNet(BaseBackbone):
    """What the three versions share: a stem, levels of blocks, OpenMMLab's default init."""

    def init_weights(self):
        if self.init_cfg is None:
            from mmengine.model.weight_init import initialize
            initialize(self, OPENMMLAB_INIT)
            self._is_init = True
        else:
            super().init_weights()

    def _init_default_weights(self) -> None:
        from mmengine.model.weight_init import initialize
        initialize(self, OPENMMLAB_INIT)

    def _check_width(self, name: str, value) -> float:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
            raise ValueError(f'{name}={value!r}; valid values are numbers > 0 (e.g. 0.5, 1.0)')
        return float(value)

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        for module in self.stem_modules():
            x = module(x)
        outs = []
        for index in range(self.num_levels):
            x = self.run_blocks(self.level_blocks(index), x)
            if index in self.out_indices:
                outs.append(x)
            if index == self.out_indices[-1]:
                break
        return tuple(outs)


@MODELS.register_module()
class MobileNetV1(_MobileNet):
    """MobileNet V1: five levels of depthwise-separable blocks (``layer1``..``layer5``).

    Args:
        widen_factor: width multiplier (``alpha``); channels are rounded to multiples of 8 as
            timm does (0.25, 0.5, 0.75, 1.0 and 1.25 are the usual values).
        out_indices: levels to return (see the module's level table); default strides 8/16/32.
        frozen_stages: ``-1`` nothing, ``0`` the stem, ``k`` the stem and the first ``k`` levels.
        conv_cfg, norm_cfg, act_cfg: mmcv configs; the activation is timm's ReLU6 by default
            (the paper uses ReLU).
        norm_eval, with_cp, pretrained, init_cfg: see :class:`BaseBackbone`.
        with_last_conv: a 1x1 conv to ``max(1024, 1024 * widen_factor)`` channels after the last
            block as one more level (timm's ``mobilenetv1_100h``).
        strides, dilations: per-level stride of the first block and dilation of the depthwise
            convs (five each).
    """
    # per level: (output channels, blocks, stride of the first block)
    arch_settings = {'v1': ((64, 1, 1), (128, 2, 2), (256, 2, 2), (512, 6, 2), (1024, 2, 2))}

    def __init__(self, widen_factor: float = 1.0, out_indices: Sequence[int] = (2, 3, 4),
                 frozen_stages: int = -1, conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = OPENMMLAB_NORM, act_cfg: dict = dict(type='ReLU6'),
                 norm_eval: bool = False, with_cp: bool = False, pretrained=None,
                 init_cfg=None, with_last_conv: bool = False,
                 strides: Optional[Sequence[int]] = None,
                 dilations: Sequence[int] = (1, 1, 1, 1, 1), in_channels: int = 3):
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        settings = self.arch_settings['v1']
        self.widen_factor = self._check_width('widen_factor', widen_factor)
        if strides is None:
            strides = tuple(s for _, _, s in settings)
        strides = int_tuple('strides', strides, 5, per='level (5 levels)')
        dilations = int_tuple('dilations', dilations, 5, per='level (5 levels)')
        stem = make_divisible_mobilenet(32 * self.widen_factor, 8)
        self.conv1 = ConvNormAct(in_channels, stem, 3, 2, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                 act_cfg=act_cfg)
        in_ch, total_stride = stem, 2
        channels, level_strides = [], []
        self.layer_names = []
        for index, (width, num_blocks, _) in enumerate(settings):
            out_ch = make_divisible_mobilenet(width * self.widen_factor, 8)
            blocks = [DepthwiseSeparable(in_ch if i == 0 else out_ch, out_ch,
                                         strides[index] if i == 0 else 1, dilations[index],
                                         conv_cfg, norm_cfg, act_cfg) for i in range(num_blocks)]
            self.add_module(f'layer{index + 1}', nn.Sequential(*blocks))
            self.layer_names.append(f'layer{index + 1}')
            total_stride *= strides[index]
            channels.append(out_ch)
            level_strides.append(total_stride)
            in_ch = out_ch
        if with_last_conv:
            out_ch = max(1024, make_divisible_mobilenet(1024 * self.widen_factor, 8))
            self.conv2 = ConvNormAct(in_ch, out_ch, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg)
            self.layer_names.append('conv2')
            channels.append(out_ch)
            level_strides.append(total_stride)
        self._setup_levels(channels, level_strides)

    def stem_modules(self):
        return [self.conv1]

    def level_blocks(self, index: int):
        module = getattr(self, self.layer_names[index])
        return list(module) if isinstance(module, nn.Sequential) else [module]

    def level_modules(self, index: int):
        return [getattr(self, self.layer_names[index])]


# ------------------------------------------------------------------------------ V2
@MODELS.register_module()
class MobileNetV2(_MobileNet):
    """MobileNet V2; levels ``layer1``..``layer7`` and the last 1x1 conv ``conv2``.

    Arguments of mmdet's and mmseg's ``MobileNetV2`` keep their meaning:

    Args:
        widen_factor: width multiplier; channels rounded to multiples of 8 (0.35 - 1.4).
        out_indices: levels to return: ``i`` is ``layer{i+1}``, ``7`` is ``conv2`` (mmdet's
            indices). ``None``: OpenMMLab's default of the scope the model is built in (mmseg:
            ``(1, 2, 4, 6)``; otherwise mmdet's ``(1, 2, 4, 7)``, strides 4/8/16/32).
        frozen_stages: ``-1`` nothing, ``0`` the stem ``conv1``, ``k`` it and ``layer1..k``.
        conv_cfg, norm_cfg, act_cfg: mmcv configs (mmdet's YOLOv3 uses LeakyReLU).
        norm_eval, with_cp, pretrained, init_cfg: see :class:`BaseBackbone`.
        strides, dilations: mmseg's: the stride of each layer's first block and the dilation
            of its depthwise conv (mmseg dilates only the first block of a layer, kept here).
        with_last_conv: build ``conv2`` (1280 channels, ``1280 * widen_factor`` above 1.0) as
            level 7. ``None``: as OpenMMLab in the scope the model is built in (mmdet always
            builds it; mmseg's MobileNetV2 has none).
        deepen_factor: depth multiplier: each layer gets ``ceil(blocks * deepen_factor)`` blocks
            (timm's ``mobilenetv2_110d`` / ``120d``).
        fix_stem_head: keep the stem at 32 and ``conv2`` at 1280 channels and the first and
            last layers at one block whatever the multipliers (timm's ``fix_stem_head``).
        drop_path_rate: stochastic depth of the residual blocks, linear from 0.
    """
    # per layer: (expand ratio, output channels, blocks, stride of the first block)
    arch_settings = {'v2': ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
                            (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))}

    def __init__(self, widen_factor: float = 1.0, out_indices: Optional[Sequence[int]] = None,
                 frozen_stages: int = -1, conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = OPENMMLAB_NORM, act_cfg: dict = dict(type='ReLU6'),
                 norm_eval: bool = False, with_cp: bool = False, pretrained=None,
                 init_cfg=None, strides: Sequence[int] = (1, 2, 2, 2, 1, 2, 1),
                 dilations: Sequence[int] = (1, 1, 1, 1, 1, 1, 1),
                 with_last_conv: Optional[bool] = None, deepen_factor: float = 1.0,
                 fix_stem_head: bool = False, drop_path_rate: float = 0.0,
                 in_channels: int = 3):
        mmseg = _scope() == 'mmseg'
        if out_indices is None:
            out_indices = (1, 2, 4, 6) if mmseg else (1, 2, 4, 7)
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        settings = self.arch_settings['v2']
        self.widen_factor = self._check_width('widen_factor', widen_factor)
        self.deepen_factor = self._check_width('deepen_factor', deepen_factor)
        strides = int_tuple('strides', strides, 7, per='layer (7 layers)')
        dilations = int_tuple('dilations', dilations, 7, per='layer (7 layers)')
        if with_last_conv is None:
            with_last_conv = not mmseg
        depths = [blocks if fix_stem_head and index in (0, 6)
                  else int(math.ceil(blocks * self.deepen_factor))
                  for index, (_, _, blocks, _) in enumerate(settings)]
        rates = drop_path_rates(drop_path_rate, depths)
        stem = 32 if fix_stem_head else make_divisible_mobilenet(32 * self.widen_factor, 8)
        self.conv1 = ConvNormAct(in_channels, stem, 3, 2, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                 act_cfg=act_cfg)
        in_ch, total_stride = stem, 2
        channels, level_strides = [], []
        self.layer_names = []
        for index, (expand_ratio, width, _, _) in enumerate(settings):
            out_ch = make_divisible_mobilenet(width * self.widen_factor, 8)
            blocks = []
            for i in range(depths[index]):
                blocks.append(InvertedResidual(
                    in_ch, out_ch, int(round(in_ch * expand_ratio)), 3,
                    stride=strides[index] if i == 0 else 1,
                    dilation=dilations[index] if i == 0 else 1, conv_cfg=conv_cfg,
                    norm_cfg=norm_cfg, act_cfg=act_cfg, drop_path_rate=rates[index][i]))
                in_ch = out_ch
            self.add_module(f'layer{index + 1}', nn.Sequential(*blocks))
            self.layer_names.append(f'layer{index + 1}')
            total_stride *= strides[index]
            channels.append(out_ch)
            level_strides.append(total_stride)
        if with_last_conv:
            # mmdet's rule; timm's max(1280, make_divisible_mobilenet(1280 * w)) is the same for
            # every w
            out_ch = 1280 if fix_stem_head or self.widen_factor <= 1.0 else int(
                1280 * self.widen_factor)
            self.conv2 = ConvNormAct(in_ch, out_ch, 1, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                     act_cfg=act_cfg)
            self.layer_names.append('conv2')
            channels.append(out_ch)
            level_strides.append(total_stride)
        self._setup_levels(channels, level_strides)

    stem_modules = MobileNetV1.stem_modules
    level_blocks = MobileNetV1.level_blocks
    level_modules = MobileNetV1.level_modules


# ------------------------------------------------------------------------------ V3
@MODELS.register_module()
class MobileNetV3(_MobileNet):
    """MobileNet V3 small / large; one level per layer: ``layer0`` (the stem) to the last 1x1
    conv (``layer12`` small, ``layer16`` large).

    Arguments of mmseg's ``MobileNetV3`` keep their meaning, and so do its defaults:
    TensorFlow 'SAME' padding of the strided convs (``padding='same'``; at stride 1 it is the
    symmetric padding) and -- in mmseg's scope -- output stride 8 (its backbone is always the
    dilated segmentation version). timm's, torchvision's and mmpretrain's MobileNetV3 pad
    symmetrically (``padding='symmetric'``); timm's ``tf_`` models pad as mmseg and use
    BatchNorm ``eps=1e-3`` (so does torchvision). Every one of them squeezes to a quarter of
    the expanded channels, rounded to a multiple of 8.

    Args:
        arch: ``'small'`` or ``'large'``.
        conv_cfg, norm_cfg: mmcv configs of the convs and norms.
        out_indices: layers to return (see the level table of this module). mmseg's default
            ``(0, 1, 12)``; detection: ``(3, 8, 12)`` small, ``(6, 12, 16)`` large.
        frozen_stages: ``-1`` nothing, ``0`` the stem ``layer0``, ``k`` it and ``layer1..k-1``
            (levels count as in every backbone here; mmseg's MobileNetV3 freezes one layer
            more, ``layer0..k``).
        reduction_factor: mmseg's: divide the channels of the last stage's blocks (LR-ASPP's
            reduced tail), the final 1x1 conv keeps its width.
        norm_eval, with_cp, pretrained, init_cfg: see :class:`BaseBackbone`.
        widen_factor: width multiplier (timm's 0.5 / 0.75 / 1.0 models).
        output_stride: 8, 16 or 32: later strides become dilations (the block that would
            stride and those after it are dilated, as mmseg and torchvision). ``None``: 8 in
            mmseg's scope (mmseg's MobileNetV3), else 32.
        padding: ``'same'`` (TensorFlow's, mmseg's) or ``'symmetric'`` (PyTorch's) for every
            conv; they differ in the strided ones.
        drop_path_rate: stochastic depth of the residual blocks, linear from 0.
    """
    # per block: (kernel, expand ratio, output channels, squeeze-excite, activation, stride)
    arch_settings = {
        'small': ((3, 1, 16, True, 'ReLU', 2),
                  (3, 4.5, 24, False, 'ReLU', 2), (3, 3.67, 24, False, 'ReLU', 1),
                  (5, 4, 40, True, 'HSwish', 2), (5, 6, 40, True, 'HSwish', 1),
                  (5, 6, 40, True, 'HSwish', 1),
                  (5, 3, 48, True, 'HSwish', 1), (5, 3, 48, True, 'HSwish', 1),
                  (5, 6, 96, True, 'HSwish', 2), (5, 6, 96, True, 'HSwish', 1),
                  (5, 6, 96, True, 'HSwish', 1)),
        'large': ((3, 1, 16, False, 'ReLU', 1),
                  (3, 4, 24, False, 'ReLU', 2), (3, 3, 24, False, 'ReLU', 1),
                  (5, 3, 40, True, 'ReLU', 2), (5, 3, 40, True, 'ReLU', 1),
                  (5, 3, 40, True, 'ReLU', 1),
                  (3, 6, 80, False, 'HSwish', 2), (3, 2.5, 80, False, 'HSwish', 1),
                  (3, 2.3, 80, False, 'HSwish', 1), (3, 2.3, 80, False, 'HSwish', 1),
                  (3, 6, 112, True, 'HSwish', 1), (3, 6, 112, True, 'HSwish', 1),
                  (5, 6, 160, True, 'HSwish', 2), (5, 6, 160, True, 'HSwish', 1),
                  (5, 6, 160, True, 'HSwish', 1)),
    }
    last_channels = {'small': 576, 'large': 960}
    last_stage_start = {'small': 8, 'large': 12}  # first block of the last stage

    def __init__(self, arch: str = 'small', conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = OPENMMLAB_NORM, out_indices: Sequence[int] = (0, 1, 12),
                 frozen_stages: int = -1, reduction_factor: int = 1, norm_eval: bool = False,
                 with_cp: bool = False, pretrained=None, init_cfg=None,
                 widen_factor: float = 1.0, output_stride: Optional[int] = None,
                 padding: str = 'same', drop_path_rate: float = 0.0,
                 in_channels: int = 3):
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        settings = self.resolve_arch(arch)
        self.arch = arch
        self.widen_factor = self._check_width('widen_factor', widen_factor)
        if isinstance(reduction_factor, bool) or not isinstance(reduction_factor, int) \
                or reduction_factor < 1:
            raise ValueError(f'reduction_factor={reduction_factor!r}; valid values are ints >= 1')
        if output_stride is None:
            output_stride = 8 if _scope() == 'mmseg' else 32
        check_choice('output_stride', output_stride, (8, 16, 32))
        check_choice('padding', padding, PADDING_MODES)
        self.output_stride = output_stride
        rates = drop_path_rates(drop_path_rate, [len(settings)])[0]

        # timm keeps the 16-filter stem below width 0.75 (its mobilenetv3_small_050)
        stem = (16 if self.widen_factor < 0.75
                else make_divisible_mobilenet(16 * self.widen_factor, 8))
        self.layer0 = ConvNormAct(in_channels, stem, 3, 2, padding=padding,
                                  conv_cfg=conv_cfg, norm_cfg=norm_cfg,
                                  act_cfg=dict(type='HSwish'))
        channels, level_strides = [stem], [2]
        # channels before mmseg's reduction_factor (which divides the last stage's blocks)
        in_full = in_ch = stem
        total_stride, dilation = 2, 1
        for index, (kernel, expand, width, with_se, act, stride) in enumerate(settings):
            out_full = make_divisible_mobilenet(width * self.widen_factor, 8)
            mid = make_divisible_mobilenet(in_full * expand, 8)
            out_ch = out_full
            if index >= self.last_stage_start[arch]:
                mid, out_ch = mid // reduction_factor, out_full // reduction_factor
            # a block that strides has no shortcut, also where a dilation replaces its stride
            # (mmseg, torchvision): mmseg-Small's reduced tail would otherwise add one
            with_residual = stride == 1
            if stride > 1 and total_stride * stride > output_stride:
                dilation, stride = dilation * stride, 1
            total_stride *= stride
            se_cfg = None
            if with_se:
                se_cfg = dict(squeeze_channels=make_divisible_mobilenet(mid / 4, 8),
                              act_cfg=dict(type='ReLU'), gate_cfg=dict(type='HSigmoid'))
            self.add_module(f'layer{index + 1}', InvertedResidual(
                in_ch, out_ch, mid, kernel, stride, dilation, se_cfg=se_cfg, conv_cfg=conv_cfg,
                norm_cfg=norm_cfg, act_cfg=dict(type=act), drop_path_rate=rates[index],
                padding=padding, with_residual=with_residual))
            in_full, in_ch = out_full, out_ch
            channels.append(out_ch)
            level_strides.append(total_stride)
        last = make_divisible_mobilenet(self.last_channels[arch] * self.widen_factor, 8)
        self.add_module(f'layer{len(settings) + 1}', ConvNormAct(
            in_ch, last, 1, padding=padding, conv_cfg=conv_cfg, norm_cfg=norm_cfg,
            act_cfg=dict(type='HSwish')))
        channels.append(last)
        level_strides.append(total_stride)
        self._setup_levels(channels, level_strides)

    def stem_modules(self):
        return [self.layer0]

    def level_blocks(self, index: int):
        # level 0 is the stem's output: no blocks of its own
        return [getattr(self, f'layer{index}')] if index > 0 else []

    def level_modules(self, index: int):
        return self.level_blocks(index)


# ---------------------------------------------------------------------------- weights
# Ours: a ConvNormAct is ``conv`` + ``norm``; an inverted residual ``expand_conv`` (absent
# without expansion), ``depthwise_conv``, ``se.conv_reduce`` / ``se.conv_expand``,
# ``project_conv``; V1's block ``depthwise`` + ``pointwise``.
#
# timm names a conv and the norm after it ``conv_*`` / ``bn*`` inside each block (``blocks.s.j``:
# stage s, block j): an inverted residual ``conv_pw bn1 conv_dw bn2 se conv_pwl bn3``, a
# depthwise-separable block ``conv_dw bn1 se conv_pw bn2``, a conv block ``conv bn1``; the stem
# is ``conv_stem bn1``, the last 1x1 conv of V1/V2 ``conv_head bn2`` (V3's ``conv_head`` runs
# after pooling: head). torchvision numbers everything (``features.i``); mmdet/mmseg use mmcv
# ConvModules (``conv`` + ``bn``) under OpenMMLab's layer names.
_TIMM_IR = {'conv_pw': 'expand_conv.conv', 'bn1': 'expand_conv.norm',
            'conv_dw': 'depthwise_conv.conv', 'bn2': 'depthwise_conv.norm',
            'conv_pwl': 'project_conv.conv', 'bn3': 'project_conv.norm', 'se': 'se'}
_TIMM_DS = {'conv_dw': 'depthwise_conv.conv', 'bn1': 'depthwise_conv.norm',
            'conv_pw': 'project_conv.conv', 'bn2': 'project_conv.norm', 'se': 'se'}
_TIMM_V1 = {'conv_dw': 'depthwise.conv', 'bn1': 'depthwise.norm',
            'conv_pw': 'pointwise.conv', 'bn2': 'pointwise.norm'}
_TIMM_CONV = {'conv': 'conv', 'bn1': 'norm'}
_TIMM_BLOCK = re.compile(r'blocks\.(\d+)\.(\d+)\.([a-z_]+\d?)\.(.+)')


def _timm_blocks(state_dict):
    """{(stage, block): {timm child: {rest of key: value}}} and the other keys."""
    blocks, other = {}, {}
    for key, value in state_dict.items():
        match = _TIMM_BLOCK.fullmatch(key)
        if match:
            stage, block, child, rest = match.groups()
            blocks.setdefault((int(stage), int(block)), {}).setdefault(child, {})[rest] = value
        else:
            other[key] = value
    return dict(sorted(blocks.items())), other


def _timm_block_names(children) -> Dict[str, str]:
    if 'conv_pwl' in children:
        return _TIMM_IR
    if 'conv_dw' in children:
        return _TIMM_DS
    return _TIMM_CONV


def _put(out, prefix, children, names):
    for child, params in children.items():
        if child not in names:
            raise KeyError(f'unexpected key {prefix}: {child}.{next(iter(params))}')
        for rest, value in params.items():
            out[f'{prefix}.{names[child]}.{rest}'] = value


def _stem_and_head(other, out, stem, head=None):
    for key, value in other.items():
        if key.startswith(('conv_stem.', 'bn1.')):
            part = 'conv' if key.startswith('conv_stem.') else 'norm'
            out[f'{stem}.{part}.{key.split(".", 1)[1]}'] = value
        elif head and key.startswith(('conv_head.', 'bn2.')):
            part = 'conv' if key.startswith('conv_head.') else 'norm'
            out[f'{head}.{part}.{key.split(".", 1)[1]}'] = value
    return out


def _built_only(state_dict, model):
    """Without the layers ``model`` does not build (``conv2`` where it has none)."""
    return {k: v for k, v in state_dict.items() if hasattr(model, k.split('.', 1)[0])}


def _is_timm(sd) -> bool:
    return 'conv_stem.weight' in sd and any(k.startswith('blocks.0.0.') for k in sd)


def _is_torchvision(sd) -> bool:
    return 'features.0.0.weight' in sd


def _is_mmdet_v2(sd) -> bool:
    return 'conv1.conv.weight' in sd and 'layer1.0.depthwise_conv.conv.weight' in sd


def _is_mmcls_v2(sd) -> bool:
    return 'conv1.conv.weight' in sd and 'layer1.0.conv.0.conv.weight' in sd


def _is_openmmlab_v3(sd) -> bool:
    return 'layer0.conv.weight' in sd and 'layer1.depthwise_conv.conv.weight' in sd


@register_converter(MobileNetV1, 'timm', detect=_is_timm)
def convert_timm_v1(state_dict, model):
    blocks, other = _timm_blocks(state_dict)
    out = _stem_and_head(other, {}, 'conv1', 'conv2')
    for (stage, block), children in blocks.items():
        _put(out, f'layer{stage + 1}.{block}', children, _TIMM_V1)
    return _built_only(out, model)


@register_converter(MobileNetV2, 'timm', detect=_is_timm)
def convert_timm_v2(state_dict, model):
    blocks, other = _timm_blocks(state_dict)
    out = _stem_and_head(other, {}, 'conv1', 'conv2')
    for (stage, block), children in blocks.items():
        _put(out, f'layer{stage + 1}.{block}', children, _timm_block_names(children))
    return _built_only(out, model)


@register_converter(MobileNetV3, 'timm', detect=_is_timm)
def convert_timm_v3(state_dict, model):
    blocks, other = _timm_blocks(state_dict)
    out = _stem_and_head(other, {}, 'layer0')  # conv_head follows the pooling: head
    for layer, children in enumerate(blocks.values(), start=1):
        _put(out, f'layer{layer}', children, _timm_block_names(children))
    return out


def _torchvision_block(children: Dict[str, Dict[str, torch.Tensor]], prefix: str, out):
    """A torchvision inverted residual's numbered children, in order: [expand], depthwise,
    [squeeze-excite], projection conv (+ its norm, numbered separately in MobileNetV2)."""
    convs, norms, se = [], [], None
    for index in sorted(children, key=int):
        params = children[index]
        if any(k.startswith('fc1.') for k in params):
            se = params
        elif any(k.startswith('0.') for k in params):  # a Conv2dNormActivation
            convs.append({k[2:]: v for k, v in params.items() if k.startswith('0.')})
            norms.append({k[2:]: v for k, v in params.items() if k.startswith('1.')})
        elif 'running_mean' in params:  # MobileNetV2's projection norm after a bare conv
            norms.append(params)
        else:
            convs.append(params)
    names = ['expand_conv', 'depthwise_conv', 'project_conv'][-len(convs):]
    for name, conv, norm in zip(names, convs, norms):
        out.update({f'{prefix}.{name}.conv.{k}': v for k, v in conv.items()})
        out.update({f'{prefix}.{name}.norm.{k}': v for k, v in norm.items()})
    if se is not None:  # torchvision's fc1 / fc2 are 1x1 convs
        for key, value in se.items():
            key = key.replace('fc1.', 'conv_reduce.').replace('fc2.', 'conv_expand.')
            out[f'{prefix}.se.{key}'] = value


def _torchvision_features(state_dict):
    """{feature index: {child index: {rest: value}}} of ``features.*`` (the classifier is
    dropped); a ConvNormAct feature keeps its children as '0.' / '1.' prefixed keys."""
    features = {}
    for key, value in state_dict.items():
        match = re.fullmatch(r'features\.(\d+)\.(?:conv|block)\.(\d+)\.(.+)', key)
        if match:
            index, child, rest = match.groups()
            features.setdefault(int(index), {}).setdefault(child, {})[rest] = value
            continue
        match = re.fullmatch(r'features\.(\d+)\.(.+)', key)
        if match:
            features.setdefault(int(match.group(1)), {}).setdefault('', {})[match.group(2)] = value
    return dict(sorted(features.items()))


def _torchvision_conv(params, prefix, out):
    for rest, value in params[''].items():
        part, name = rest.split('.', 1)
        out[f'{prefix}.{"conv" if part == "0" else "norm"}.{name}'] = value


@register_converter(MobileNetV2, 'torchvision', detect=_is_torchvision)
def convert_torchvision_v2(state_dict, model):
    features = _torchvision_features(state_dict)
    out = {}
    last = max(features)
    block_names = [f'{name}.{j}' for name in model.layer_names if name != 'conv2'
                   for j in range(len(getattr(model, name)))]
    for index, children in features.items():
        if index == 0:
            _torchvision_conv(children, 'conv1', out)
        elif index == last and '' in children:
            _torchvision_conv(children, 'conv2', out)
        else:
            _torchvision_block(children, block_names[index - 1], out)
    return _built_only(out, model)


@register_converter(MobileNetV3, 'torchvision', detect=_is_torchvision)
def convert_torchvision_v3(state_dict, model):
    out = {}
    for index, children in _torchvision_features(state_dict).items():
        if '' in children:  # the stem and the last 1x1 conv
            _torchvision_conv(children, f'layer{index}', out)
        else:
            _torchvision_block(children, f'layer{index}', out)
    return out


def _mmcv(key: str) -> str:
    """mmcv ConvModule's ``bn`` (or ``gn``...) -> our ``norm``."""
    return re.sub(r'\.(bn|gn|ln|in|norm_layer)\.', '.norm.', key)


@register_converter(MobileNetV2, 'mmdet', detect=_is_mmdet_v2)
def convert_mmdet_v2(state_dict, model):
    return _built_only({_mmcv(k).replace('.linear_conv.', '.project_conv.'): v
                        for k, v in state_dict.items()}, model)


@register_converter(MobileNetV2, 'mmseg', detect=_is_mmcls_v2)
def convert_mmseg_v2(state_dict, model):
    """mmseg's (and mmcls / mmpretrain's) blocks number their ConvModules ``conv.0..2``."""
    out = {}
    for key, value in state_dict.items():
        match = re.fullmatch(r'(layer\d+\.\d+)\.conv\.(\d)\.(.+)', key)
        if match:
            prefix, index, rest = match.groups()
            expands = f'{prefix}.conv.2.conv.weight' in state_dict
            names = ('expand_conv', 'depthwise_conv', 'project_conv') if expands else \
                ('depthwise_conv', 'project_conv')
            key = f'{prefix}.{names[int(index)]}.{rest}'
        out[_mmcv(key)] = value
    return _built_only(out, model)


register_converter(MobileNetV2, 'mmpretrain', detect=_is_mmcls_v2)(convert_mmseg_v2)


@register_converter(MobileNetV3, 'mmseg', detect=_is_openmmlab_v3)
def convert_openmmlab_v3(state_dict, model):
    out = {}
    for key, value in state_dict.items():
        key = key.replace('.linear_conv.', '.project_conv.')
        key = re.sub(r'\.se\.conv1\.conv\.', '.se.conv_reduce.', key)
        key = re.sub(r'\.se\.conv2\.conv\.', '.se.conv_expand.', key)
        out[_mmcv(key)] = value
    return out


register_converter(MobileNetV3, 'mmpretrain', detect=_is_openmmlab_v3)(convert_openmmlab_v3)


# ------------------------------------------------------------------------- references
def _timm_effnet_levels(model, x):
    """timm's EfficientNet class (its MobileNet V1 / V2): every stage, then ``conv_head``."""
    x = model.bn1(model.conv_stem(x))
    levels = []
    for stage in model.blocks:
        x = run_timm_stage(model, stage, x)
        levels.append(x)
    levels.append(model.bn2(model.conv_head(x)))
    return levels


reference_levels(MobileNetV1, 'timm')(_timm_effnet_levels)
reference_levels(MobileNetV2, 'timm')(_timm_effnet_levels)


@reference_levels(MobileNetV3, 'timm')
def _timm_v3_levels(model, x):
    """Every block of timm's MobileNetV3 (the stem's output first)."""
    x = model.bn1(model.conv_stem(x))
    levels = [x]
    for stage in model.blocks:
        for block in stage:
            x = run_timm_stage(model, nn.Sequential(block), x)
            levels.append(x)
    return levels


@reference_levels(MobileNetV2, 'torchvision')
def _torchvision_v2_levels(model, x):
    features = list(model.features)
    x = features[0](x)
    levels, start = [], 1
    for blocks in (1, 2, 3, 4, 3, 3, 1):
        for block in features[start:start + blocks]:
            x = block(x)
        start += blocks
        levels.append(x)
    levels.append(features[start](x))
    return levels


@reference_levels(MobileNetV3, 'torchvision')
def _torchvision_v3_levels(model, x):
    levels = []
    for feature in model.features:
        x = feature(x)
        levels.append(x)
    return levels


# ----------------------------------------------------------------------------------- zoo
_V1_PAPER = 'Howard et al. 2017, arXiv 1704.04861'
_V2_PAPER = 'Sandler et al. 2018, arXiv 1801.04381'
_V3_PAPER = 'Howard et al. 2019, arXiv 1905.02244'
_INPUT = (128, 160)
_PARITY_SIZES = ((128, 160), (97, 131))  # one odd: checks padding/ceil behaviour
# The default test run covers each code path once (V1; V2 with timm, torchvision and mmdet;
# V3 with SE and h-swish); the other rows run with `-m slow`.
_DEFAULT_RUN = {'mobilenetv1_100', 'mobilenetv2_100', 'mobilenetv3_large_100'}
# timm's / torchvision's MobileNetV3: PyTorch's symmetric padding
_TIMM_V3 = dict(padding='symmetric', output_stride=32)
_TF_V3 = dict(padding='same', output_stride=32,
              norm_cfg=dict(type='BN', eps=1e-3))
_DETECTION = {'small': (3, 8, 12), 'large': (6, 12, 16)}


def _row(name, family, cfg, params, paper, refs=None):
    return Variant(name=name, family=family, cfg=cfg,
                   refs=refs if refs is not None else {'timm': name}, params=params,
                   paper=paper, test_input=_INPUT, parity_sizes=_PARITY_SIZES,
                   slow=name not in _DEFAULT_RUN)


def _v2(name, widen, params, torchvision=None, mmdet=True, mmpretrain=False, **cfg):
    refs = {'timm': name}
    if torchvision:
        refs['torchvision'] = torchvision
    if mmdet:
        refs['mmdet'] = dict(type='MobileNetV2', widen_factor=widen)
    if mmpretrain:  # mmdet's network in mmcls's layout (mmseg's mmcls://mobilenet_v2 weights)
        refs['mmpretrain'] = dict(type='MobileNetV2', widen_factor=widen)
    return _row(name, 'MobileNetV2', dict(widen_factor=widen, out_indices=(2, 4, 7), **cfg),
                params, _V2_PAPER, refs)


def _v3(name, arch, widen, params, extra, refs=None):
    return _row(name, 'MobileNetV3', dict(arch=arch, widen_factor=widen,
                                          out_indices=_DETECTION[arch], **extra),
                params, _V3_PAPER, refs)


register_variants([
    _row('mobilenetv1_100', 'MobileNetV1', dict(widen_factor=1.0), 3206976, _V1_PAPER),
    _row('mobilenetv1_100h', 'MobileNetV1', dict(widen_factor=1.0, with_last_conv=True,
                                                 out_indices=(2, 3, 5)), 4257600, _V1_PAPER),
    _row('mobilenetv1_125', 'MobileNetV1', dict(widen_factor=1.25), 4989840, _V1_PAPER),
    _v2('mobilenetv2_035', 0.35, 396128),
    _v2('mobilenetv2_050', 0.5, 687680),
    _v2('mobilenetv2_075', 0.75, 1355424),
    _v2('mobilenetv2_100', 1.0, 2223872, torchvision='mobilenet_v2', mmpretrain=True),
    _v2('mobilenetv2_140', 1.4, 4315776),
    _v2('mobilenetv2_110d', 1.1, 3235520, mmdet=False, deepen_factor=1.2, fix_stem_head=True),
    _v2('mobilenetv2_120d', 1.2, 4550144, mmdet=False, deepen_factor=1.4, fix_stem_head=True),
    _v3('mobilenetv3_small_050', 'small', 0.5, 272288, _TIMM_V3),
    _v3('mobilenetv3_small_075', 'small', 0.75, 573480, _TIMM_V3),
    _v3('mobilenetv3_small_100', 'small', 1.0, 927008, _TIMM_V3),
    _v3('mobilenetv3_large_075', 'large', 0.75, 1789648, _TIMM_V3),
    _v3('mobilenetv3_large_100', 'large', 1.0, 2971952, _TIMM_V3),
    _v3('tf_mobilenetv3_small_075', 'small', 0.75, 573480, _TF_V3),
    _v3('tf_mobilenetv3_small_100', 'small', 1.0, 927008, _TF_V3),
    _v3('tf_mobilenetv3_large_075', 'large', 0.75, 1789648, _TF_V3),
    _v3('tf_mobilenetv3_large_100', 'large', 1.0, 2971952, _TF_V3),
    # torchvision's (BatchNorm eps 1e-3, symmetric padding): timm's network but for the eps
    _v3('mobilenet_v3_small', 'small', 1.0, 927008,
        dict(_TIMM_V3, norm_cfg=dict(type='BN', eps=1e-3)), {'torchvision': 'mobilenet_v3_small'}),
    _v3('mobilenet_v3_large', 'large', 1.0, 2971952,
        dict(_TIMM_V3, norm_cfg=dict(type='BN', eps=1e-3)), {'torchvision': 'mobilenet_v3_large'}),
    # mmseg's MobileNetV3 (TensorFlow's padding, BatchNorm eps 1e-5), the network of its
    # LR-ASPP configs and their open-mmlab://contrib/mobilenet_v3_large weights
    _v3('mobilenetv3_large_mmseg', 'large', 1.0, 2971952, {},
        {'mmseg': dict(type='MobileNetV3', arch='large')}),
    _v3('mobilenetv3_small_mmseg', 'small', 1.0, 927008, {},
        {'mmseg': dict(type='MobileNetV3', arch='small')}),
])
