"""YOLOv7's backbones (Wang et al. 2022, arXiv 2207.02696): stages of ELAN blocks (Fig. 2 (c)),
E-ELAN for YOLOv7-E6E (Fig. 2 (d)); blocks in ``layers/elan.py``.

* ``'Tiny'``: two stride-2 3x3 convs (stride 4), then tiny ELANs, with 2x2 max-pools between
  them.
* ``'L'``, ``'X'``: three 3x3 convs (stride 2); stage 1 a stride-2 conv, stages 2..4 the
  max-pool / stride-conv "MP" block, each followed by an ELAN.
* ``'W'``, ``'E'``, ``'D'``, ``'E2E'`` (the P6 models W6 / E6 / D6 / E6E): a Focus stem, five
  stages (down to stride 64) of a stride-2 conv (W) or an MP block, then an ELAN (E-ELAN for
  E2E).

Levels: 0 the stem, 1.. the stages; ``frozen_stages=k`` freezes the stem and stages 1..k, as
mmyolo. Keys are mmyolo's ``YOLOv7Backbone``'s.

Odd sizes: the max-pools keep the last row / column (``ceil_mode``), so that a level of stride
``s`` has ``ceil(H / s)`` rows; mmyolo's floor, and its MP blocks then cannot concatenate their
halves: parity with mmyolo holds at every size mmyolo runs (multiples of the largest stride).
"""
from typing import Optional, Sequence

import torch.nn as nn

from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import has_key_prefixes, register_converter
from mmbackbones.zoo import Variant, register_variants

from ..layers.elan import (EELANBlock, ELANBlock, MaxPoolAndStrideConv, TinyELANBlock,
                           halving_maxpool)
from ..layers.yolo import YOLO_ACT, YOLO_NORM, DarknetConv, Focus, conv_module_init
from .base import StemStagesBackbone
from .darknet import openmmlab_norm_names

__all__ = ['YOLOv7Backbone']


def _elan(middle_ratio, num_blocks, num_elan_block=None):
    """An ELAN (or, with ``num_elan_block``, an E-ELAN) stage block: 2 convs per group."""
    cfg = dict(middle_ratio=middle_ratio, block_ratio=middle_ratio, num_blocks=num_blocks,
               num_convs_in_block=2)
    if num_elan_block:
        return EELANBlock, dict(num_elan_block=num_elan_block, **cfg)
    return ELANBlock, cfg


_TINY_1, _TINY = (TinyELANBlock, dict(middle_ratio=0.5)), (TinyELANBlock, dict(middle_ratio=1.0))
# Per stage: in_channels, out_channels, (block class, its arguments), as mmyolo's table
# (from the official YOLOv7 configs).
ARCHS = {
    'Tiny': ((64, 64, _TINY_1), (64, 128, _TINY), (128, 256, _TINY), (256, 512, _TINY)),
    'L': ((64, 256, _elan(0.5, 2)), (256, 512, _elan(0.5, 2)), (512, 1024, _elan(0.5, 2)),
          (1024, 1024, _elan(0.25, 2))),
    'X': ((80, 320, _elan(0.4, 3)), (320, 640, _elan(0.4, 3)), (640, 1280, _elan(0.4, 3)),
          (1280, 1280, _elan(0.2, 3))),
    'W': tuple((i, o, _elan(0.5, 2)) for i, o in
               ((64, 128), (128, 256), (256, 512), (512, 768), (768, 1024))),
    'E': tuple((i, o, _elan(0.4, 3)) for i, o in
               ((80, 160), (160, 320), (320, 640), (640, 960), (960, 1280))),
    'D': tuple((i, o, _elan(1 / 3, 4)) for i, o in
               ((96, 192), (192, 384), (384, 768), (768, 1152), (1152, 1536))),
    'E2E': tuple((i, o, _elan(0.4, 3, num_elan_block=2)) for i, o in
                 ((80, 160), (160, 320), (320, 640), (640, 960), (960, 1280))),
}
P6_ARCHS = ('W', 'E', 'D', 'E2E')


@MODELS.register_module()
class YOLOv7Backbone(StemStagesBackbone):
    """mmyolo's ``YOLOv7Backbone``.

    Args (mmyolo's):
        arch: ``'Tiny'``, ``'L'``, ``'X'`` (P5) or ``'W'``, ``'E'``, ``'D'``, ``'E2E'`` (P6).
        deepen_factor: unused by the architecture (as in mmyolo); a number > 0.
        widen_factor: channels ``int(c * widen_factor)``.
        input_channels: must be 3 (mmyolo's stem hard-codes 3).
        out_indices: levels to return; 0 the stem, 1.. the stages. Default (2, 3, 4).
        frozen_stages: ``-1`` nothing; ``k`` the stem and stages 1..k.
        plugins: must be None.
        norm_cfg, act_cfg: of every conv (YOLOv7-tiny's configs pass LeakyReLU(0.1)).
        norm_eval, with_cp, init_cfg, pretrained: see :class:`BaseBackbone`.
    """
    arch_settings = ARCHS
    frozen_stages_offset = 1

    def _init_default_weights(self) -> None:
        # mmyolo's YOLOv7Backbone keeps mmcv ConvModule's Kaiming fan-out init (it resets nothing)
        conv_module_init(self)

    def __init__(self, arch: str = 'L', deepen_factor: float = 1.0,
                 widen_factor: float = 1.0, input_channels: int = 3,
                 out_indices: Sequence[int] = (2, 3, 4), frozen_stages: int = -1,
                 plugins=None, norm_cfg: dict = YOLO_NORM, act_cfg: dict = YOLO_ACT,
                 norm_eval: bool = False, init_cfg=None, with_cp: bool = False,
                 pretrained: Optional[str] = None):
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        self._check_yolo_args(plugins, deepen_factor, widen_factor)
        if input_channels != 3:
            raise ValueError(f'input_channels={input_channels!r}; valid values: 3 (as '
                             "mmyolo's YOLOv7Backbone)")
        setting = self.resolve_arch(arch)
        self.arch = arch
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        stem_channels = int(setting[0][0] * self.widen_factor)
        half = int(setting[0][0] * self.widen_factor // 2)
        if arch in ('L', 'X'):
            self.stem = nn.Sequential(DarknetConv(3, half, 3, **cfg),
                                      DarknetConv(half, stem_channels, 3, 2, **cfg),
                                      DarknetConv(stem_channels, stem_channels, 3, **cfg))
            strides = [2]
        elif arch == 'Tiny':
            self.stem = nn.Sequential(DarknetConv(3, half, 3, 2, **cfg),
                                      DarknetConv(half, stem_channels, 3, 2, **cfg))
            strides = [4]
        else:
            self.stem = Focus(3, stem_channels, 3, **cfg)
            strides = [2]
        channels = [stem_channels]
        for index, (in_ch, out_ch, (block, block_args)) in enumerate(setting):
            in_ch, out_ch = int(in_ch * self.widen_factor), int(out_ch * self.widen_factor)
            down, block_in = self._downsample(index, in_ch, out_ch, cfg)
            stage = ([down] if down is not None else []) + [
                block(in_channels=block_in, out_channels=out_ch, **block_args, **cfg)]
            self._add_stage(*stage)
            channels.append(out_ch)
            strides.append(strides[-1] * (1 if down is None else 2))
        self._setup_levels(channels, strides)

    def _downsample(self, index: int, in_ch: int, out_ch: int, cfg: dict):
        """The stage's down-sampling layer (None: the stage keeps the stride) and the input
        width of its block."""
        if self.arch == 'Tiny':
            return (None if index == 0 else halving_maxpool()), in_ch
        if self.arch in ('L', 'X'):
            if index == 0:
                return DarknetConv(in_ch, out_ch // 2, 3, 2, **cfg), out_ch // 2
            return MaxPoolAndStrideConv(in_ch, in_ch, **cfg), in_ch
        if self.arch == 'W':
            return DarknetConv(in_ch, out_ch, 3, 2, **cfg), out_ch
        return MaxPoolAndStrideConv(in_ch, out_ch, use_in_channels_of_middle=True, **cfg), out_ch


# ---------------------------------------------------------------------------- weights
@register_converter(YOLOv7Backbone, 'mmyolo',
                    detect=lambda sd: has_key_prefixes(sd, 'stem.', 'stage1.0.'))
def convert_mmyolo(state_dict, model):
    return openmmlab_norm_names(state_dict)


# ----------------------------------------------------------------------------------- zoo
_PAPER = 'Wang et al. 2022 (YOLOv7), arXiv 2207.02696; mmyolo YOLOv7Backbone'
_P5_SIZES = ((128, 160), (96, 224))  # mmyolo's MP blocks need multiples of 32 ...
_P6_SIZES = ((128, 192), (192, 128))  # ... and of 64 for P6
_DEFAULT_RUN = {'yolov7_tiny'}
# mmyolo's YOLOv7Backbone (training form) at its configs' out_indices.
_PARAMS = {'Tiny': 2464416, 'L': 13371808, 'X': 20275272, 'W': 35988608, 'E': 47510208,
           'D': 64954752, 'E2E': 82974976}


def _row(arch):
    p6 = arch in P6_ARCHS
    ref = dict(type='YOLOv7Backbone', arch=arch)
    if arch == 'Tiny':  # YOLOv7-tiny's configs
        ref['act_cfg'] = dict(type='LeakyReLU', negative_slope=0.1)
    cfg = {k: v for k, v in ref.items() if k != 'type'}
    if p6:  # mmyolo's P6 configs return four levels
        cfg['out_indices'] = (2, 3, 4, 5)
    name = f'yolov7_{arch.lower()}'
    return Variant(name=name, family='YOLOv7Backbone', cfg=cfg,
                   refs=dict(mmyolo=ref), params=_PARAMS[arch],
                   paper=_PAPER, test_input=(128, 192) if p6 else (128, 160),
                   parity_sizes=_P6_SIZES if p6 else _P5_SIZES,
                   slow=name not in _DEFAULT_RUN)


register_variants([_row(arch) for arch in ARCHS])
