"""The CSP-Darknet of YOLOv5 and YOLOX, scaled by ``deepen_factor`` / ``widen_factor``.

A stem, then four (P5) or five (P6) stages, each a stride-2 3x3 conv and a CSP layer
(YOLOv5's C3, ``layers/yolo.py``), the last with spatial pyramid pooling:

* :class:`CSPDarknet`, mmdet's ``CSPDarknet`` (YOLOX, Ge et al. 2021, arXiv 2107.08430;
  YOLOv5 before v6): Focus stem (space-to-depth, then a 3x3 conv), SPP (5, 9, 13) before the
  last CSP layer, whose blocks have no shortcut; ``use_depthwise`` (YOLOX-Nano) makes the
  stride-2 convs and the blocks' 3x3 convs depthwise-separable. Widths ``int(c * widen)``.
* :class:`YOLOXCSPDarknet`, mmyolo's name for the same network: widths rounded up to
  multiples of 8 and, with ``use_depthwise``, only the stride-2 convs depthwise (as mmyolo).
* :class:`YOLOv5CSPDarknet`, mmyolo's YOLOv5 v6.x backbone (Jocher et al., ultralytics/yolov5
  v6.0): a 6x6 stride-2 conv stem instead of Focus, shortcuts in every CSP layer, SPPF after
  the last one.

Levels, as OpenMMLab indexes them in ``out_indices`` and ``frozen_stages``: 0 is the stem's
output (stride 2), 1..4 (P6: 1..5) the stages (strides 4..32 / 64). ``frozen_stages=k``
freezes the stem and stages 1..k, as in mmdet and mmyolo.

Odd input sizes: the Focus stem and the 6x6 stem zero-pad an odd height or width by one row /
column at the bottom / right (mmdet's and mmyolo's Focus raise on odd sizes, and their 6x6
stem drops the last row), so a level of stride ``s`` has ``ceil(H / s)`` rows. Even sizes
compute exactly what mmdet and mmyolo compute.
"""
from typing import List, Optional, Sequence

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import has_key_prefixes, register_converter
from mmbackbones.zoo import Variant, register_variants

from ..layers.divisible import make_divisible_yolov5
from ..layers.yolo import (YOLO_ACT, YOLO_NORM, DarknetConv, CSPLayer, Focus, SPPBottleneck,
                           conv_unit, make_round, pad_to_even)
from .base import StemStagesBackbone
from .darknet import openmmlab_norm_names

__all__ = ['CSPDarknet', 'YOLOXCSPDarknet', 'YOLOv5CSPDarknet']

# Per stage: in_channels, out_channels, num_blocks, add_identity, use_spp (before scaling).
YOLOX_P5 = ((64, 128, 3, True, False), (128, 256, 9, True, False),
            (256, 512, 9, True, False), (512, 1024, 3, False, True))
YOLOX_P6 = ((64, 128, 3, True, False), (128, 256, 9, True, False),
            (256, 512, 9, True, False), (512, 768, 3, True, False),
            (768, 1024, 3, False, True))
YOLOV5_P5 = ((64, 128, 3, True, False), (128, 256, 6, True, False),
             (256, 512, 9, True, False), (512, 1024, 3, True, True))
YOLOV5_P6 = ((64, 128, 3, True, False), (128, 256, 6, True, False),
             (256, 512, 9, True, False), (512, 768, 3, True, False),
             (768, 1024, 3, True, True))


class EvenPaddedConv(DarknetConv):
    """YOLOv5 v6's 6x6 stride-2 stem conv (padding 2) on an input padded to even sides."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return super().forward(pad_to_even(x))


def _check_arch(arch_setting) -> List[tuple]:
    rows = []
    for row in arch_setting:
        if (not isinstance(row, (list, tuple)) or len(row) != 5
                or not all(isinstance(v, int) and v > 0 for v in row[:3])):
            raise ValueError(f'arch_ovewrite={arch_setting!r}; valid values are lists of '
                             '[in_channels, out_channels, num_blocks, add_identity, use_spp] '
                             'per stage')
        rows.append(tuple(row))
    if not rows:
        raise ValueError('arch_ovewrite=[]; give at least one stage')
    return rows


@MODELS.register_module()
class CSPDarknet(StemStagesBackbone):
    """mmdet's ``CSPDarknet`` (YOLOX): Focus stem, stages of a stride-2 conv, [SPP,] CSP layer.

    Arguments of mmdet's ``CSPDarknet`` keep their meaning:

    Args:
        arch: ``'P5'`` (4 stages, strides up to 32) or ``'P6'`` (5 stages, up to 64).
        deepen_factor: blocks per CSP layer multiplied by this (rounded, at least 1).
        widen_factor: channels multiplied by this.
        out_indices: levels to return; 0 is the stem, 1.. the stages. Default (2, 3, 4).
        frozen_stages: ``-1`` nothing; ``k`` the stem and stages 1..k.
        use_depthwise: depthwise-separable stride-2 convs and block 3x3 convs (YOLOX-Nano).
        arch_ovewrite: replaces the arch table (mmdet's spelling): per stage
            ``[in_channels, out_channels, num_blocks, add_identity, use_spp]``.
        spp_kernal_sizes: max-pool sizes of the SPP (mmdet's spelling).
        conv_cfg, norm_cfg, act_cfg: mmcv configs of every conv unit.
        norm_eval, with_cp, pretrained, init_cfg: see :class:`BaseBackbone` (``init_cfg=None``
            is PyTorch's conv init, which is mmdet's default Kaiming-uniform init).
    """
    # ONNX: a traced graph holds the stem's padding decision of one input size
    onnx_static_family_reason = ('the Focus / 6x6 stem pads an odd side by one row or column, '
                                 'decided in Python from the input size')

    arch_settings = {'P5': YOLOX_P5, 'P6': YOLOX_P6}
    frozen_stages_offset = 1
    spp_before_csp = True  # YOLOX: conv, SPP, CSP; YOLOv5 v6: conv, CSP, SPPF
    depthwise_blocks = True  # use_depthwise also reaches the CSP blocks (mmdet)

    def __init__(self, arch: str = 'P5', deepen_factor: float = 1.0,
                 widen_factor: float = 1.0, out_indices: Sequence[int] = (2, 3, 4),
                 frozen_stages: int = -1, use_depthwise: bool = False, arch_ovewrite=None,
                 spp_kernal_sizes: Sequence[int] = (5, 9, 13), conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = YOLO_NORM, act_cfg: dict = dict(type='Swish'),
                 norm_eval: bool = False, with_cp: bool = False,
                 pretrained: Optional[str] = None, init_cfg=None, input_channels: int = 3,
                 plugins=None):
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        self._check_yolo_args(plugins, deepen_factor, widen_factor)
        setting = self.resolve_arch(arch)
        if arch_ovewrite:
            setting = _check_arch(arch_ovewrite)
        self.arch = arch
        self.use_depthwise = bool(use_depthwise)
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        stem_channels = self.scale_channels(setting[0][0])
        self.stem = self.build_stem(input_channels, stem_channels, cfg)
        channels, strides = [stem_channels], [2]
        for in_ch, out_ch, blocks, add_identity, use_spp in setting:
            in_ch, out_ch = self.scale_channels(in_ch), self.scale_channels(out_ch)
            stage = [conv_unit(self.use_depthwise)(in_ch, out_ch, 3, 2, **cfg)]
            csp = CSPLayer(out_ch, out_ch, num_blocks=self.scale_blocks(blocks),
                           add_identity=add_identity,
                           use_depthwise=self.use_depthwise and self.depthwise_blocks, **cfg)
            spp = [SPPBottleneck(out_ch, out_ch, self.spp_kernels(spp_kernal_sizes), **cfg)
                   ] if use_spp else []
            stage += spp + [csp] if self.spp_before_csp else [csp] + spp
            self._add_stage(*stage)
            channels.append(out_ch)
            strides.append(strides[-1] * 2)
        self._setup_levels(channels, strides)

    # ------------------------------------------------------ what the variants change
    def scale_channels(self, channels: int) -> int:
        return int(channels * self.widen_factor)

    def scale_blocks(self, num_blocks: int) -> int:
        return max(round(num_blocks * self.deepen_factor), 1)

    def build_stem(self, in_channels: int, out_channels: int, cfg: dict) -> nn.Module:
        return Focus(in_channels, out_channels, 3, **cfg)

    def spp_kernels(self, spp_kernal_sizes):
        return tuple(spp_kernal_sizes)

    # --------------------------------------------------------------- forward, contract


@MODELS.register_module()
class YOLOXCSPDarknet(CSPDarknet):
    """mmyolo's ``YOLOXCSPDarknet``: :class:`CSPDarknet` with mmyolo's arguments and defaults
    (SiLU; ``input_channels``; ``plugins`` must be None), channels rounded up to multiples of
    8, and ``use_depthwise`` only in the stride-2 convs, as mmyolo builds them."""
    arch_settings = {'P5': YOLOX_P5}
    depthwise_blocks = False

    def __init__(self, arch: str = 'P5', plugins=None, deepen_factor: float = 1.0,
                 widen_factor: float = 1.0, input_channels: int = 3,
                 out_indices: Sequence[int] = (2, 3, 4), frozen_stages: int = -1,
                 use_depthwise: bool = False, spp_kernal_sizes: Sequence[int] = (5, 9, 13),
                 norm_cfg: dict = YOLO_NORM, act_cfg: dict = YOLO_ACT, norm_eval: bool = False,
                 init_cfg=None, **kwargs):
        super().__init__(arch=arch, deepen_factor=deepen_factor, widen_factor=widen_factor,
                         out_indices=out_indices, frozen_stages=frozen_stages,
                         use_depthwise=use_depthwise, spp_kernal_sizes=spp_kernal_sizes,
                         norm_cfg=norm_cfg, act_cfg=act_cfg, norm_eval=norm_eval,
                         init_cfg=init_cfg, input_channels=input_channels, plugins=plugins,
                         **kwargs)

    def scale_channels(self, channels: int) -> int:
        return make_divisible_yolov5(channels, self.widen_factor)

    def scale_blocks(self, num_blocks: int) -> int:
        return make_round(num_blocks, self.deepen_factor)


@MODELS.register_module()
class YOLOv5CSPDarknet(YOLOXCSPDarknet):
    """mmyolo's ``YOLOv5CSPDarknet`` (YOLOv5 v6.x): 6x6 stride-2 stem conv, CSP layers with
    shortcuts, SPPF (three 5x5 max-pools in series) after the last one. mmyolo's arguments:
    ``arch`` 'P5' / 'P6', ``deepen_factor``, ``widen_factor``, ``input_channels``,
    ``out_indices``, ``frozen_stages``, ``norm_cfg``, ``act_cfg``, ``norm_eval``,
    ``init_cfg`` (``plugins`` must be None)."""
    arch_settings = {'P5': YOLOV5_P5, 'P6': YOLOV5_P6}
    spp_before_csp = False

    def __init__(self, arch: str = 'P5', plugins=None, deepen_factor: float = 1.0,
                 widen_factor: float = 1.0, input_channels: int = 3,
                 out_indices: Sequence[int] = (2, 3, 4), frozen_stages: int = -1,
                 norm_cfg: dict = YOLO_NORM, act_cfg: dict = YOLO_ACT, norm_eval: bool = False,
                 init_cfg=None, **kwargs):
        super().__init__(arch=arch, plugins=plugins, deepen_factor=deepen_factor,
                         widen_factor=widen_factor, input_channels=input_channels,
                         out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_cfg=norm_cfg, act_cfg=act_cfg, norm_eval=norm_eval,
                         init_cfg=init_cfg, **kwargs)

    def build_stem(self, in_channels: int, out_channels: int, cfg: dict) -> nn.Module:
        return EvenPaddedConv(in_channels, out_channels, 6, 2, 2, **cfg)

    def spp_kernels(self, spp_kernal_sizes):
        return 5  # SPPF


# ---------------------------------------------------------------------------- weights
# Our keys are mmdet's and mmyolo's (mmcv ConvModule: conv / bn).
def _is_openmmlab_layout(sd) -> bool:
    return has_key_prefixes(sd, 'stem.', 'stage1.0.')


@register_converter(CSPDarknet, 'mmdet', detect=_is_openmmlab_layout)
def convert_openmmlab(state_dict, model):
    return openmmlab_norm_names(state_dict)


register_converter(CSPDarknet, 'mmyolo', detect=_is_openmmlab_layout)(convert_openmmlab)


# ----------------------------------------------------------------------------------- zoo
_YOLOX = 'Ge et al. 2021 (YOLOX), arXiv 2107.08430'
_YOLOV5 = 'Jocher et al., ultralytics/yolov5 v6.0 (2021); mmyolo YOLOv5CSPDarknet'
_SIZES = ((128, 160), (96, 136))  # the second: no side a multiple of 32
_INPUT = (128, 160)
_DEFAULT_RUN = {'cspdarknet_tiny', 'cspdarknet_nano', 'yolov5csp_n'}

# (deepen_factor, widen_factor) of the published sizes (mmdet / mmyolo configs).
_YOLOX_SIZES = {'nano': (0.33, 0.25), 'tiny': (0.33, 0.375), 's': (0.33, 0.5),
                'm': (0.67, 0.75), 'l': (1.0, 1.0), 'x': (1.33, 1.25)}
_YOLOV5_SIZES = {'n': (0.33, 0.25), 's': (0.33, 0.5), 'm': (0.67, 0.75), 'l': (1.0, 1.0),
                 'x': (1.33, 1.25)}
# Parameters (backbone, every level): YOLOX from mmdet's CSPDarknet = mmyolo's
# YOLOXCSPDarknet, YOLOv5 from mmyolo's YOLOv5CSPDarknet.
_YOLOX_PARAMS = {'nano': 459968, 'tiny': 2372304, 's': 4212672, 'm': 12352992, 'l': 27075968,
                 'x': 50301600}
_YOLOV5_PARAMS = {'n': 1046368, 's': 4171456, 'm': 12167904, 'l': 26582912, 'x': 49275040}
_YOLOV5_P6_PARAMS = {'n': 1582432, 's': 6312640, 'm': 17813856, 'l': 38093696,
                     'x': 69563680}


def _yolox_row(size):
    deepen, widen = _YOLOX_SIZES[size]
    factors = dict(deepen_factor=deepen, widen_factor=widen)
    if size == 'nano':
        factors['use_depthwise'] = True
    refs = dict(mmdet=dict(type='CSPDarknet', **factors))
    if size != 'nano':  # mmyolo's nano keeps the blocks' 3x3 convs dense: another network
        refs['mmyolo'] = dict(type='YOLOXCSPDarknet', **factors)
    name = f'cspdarknet_{size}'
    return Variant(name=name, family='CSPDarknet', cfg=factors, refs=refs,
                   params=_YOLOX_PARAMS[size], paper=_YOLOX, test_input=_INPUT,
                   parity_sizes=_SIZES, slow=name not in _DEFAULT_RUN)


def _yolov5_row(size, arch='P5'):
    deepen, widen = _YOLOV5_SIZES[size]
    factors = dict(deepen_factor=deepen, widen_factor=widen)
    cfg = factors
    if arch == 'P6':  # returns the stride-64 level too, as mmyolo's P6 configs
        factors = dict(arch='P6', **factors)
        cfg = dict(factors, out_indices=(2, 3, 4, 5))
    name = f'yolov5csp_{size}' + ('6' if arch == 'P6' else '')
    params = (_YOLOV5_PARAMS if arch == 'P5' else _YOLOV5_P6_PARAMS)[size]
    return Variant(name=name, family='YOLOv5CSPDarknet', cfg=cfg,
                   refs=dict(mmyolo=dict(type='YOLOv5CSPDarknet', **factors)), params=params,
                   paper=_YOLOV5, test_input=_INPUT, parity_sizes=_SIZES,
                   slow=name not in _DEFAULT_RUN)


register_variants([_yolox_row(size) for size in _YOLOX_SIZES]
                  + [_yolov5_row(size) for size in _YOLOV5_SIZES]
                  + [_yolov5_row(size, 'P6') for size in _YOLOV5_SIZES])
