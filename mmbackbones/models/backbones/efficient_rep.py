"""YOLOv6's re-parameterisable backbones, EfficientRep and CSPBep (Li et al. 2022, "YOLOv6: A
Single-Stage Object Detection Framework for Industrial Applications", arXiv 2209.02976,
Sec. 2.1 "Network Design"), scaled by ``deepen_factor`` / ``widen_factor``.

A stem block (stride 2), then four stages, each a stride-2 block and a stage of blocks, the
last followed by SPPF:

* :class:`YOLOv6EfficientRep` (the small models n / t / s): stages of RepVGG blocks
  (``layers/repvgg.py``; "RepBlock" in the paper), fused into single 3x3 convs for inference.
* :class:`YOLOv6CSPBep` (m / l): the stages are CSP blocks ("CSPStackRep", BepC3) whose
  main path runs pairs of blocks with a learned-weight shortcut (``BottleRep``).

The stage blocks live in ``layers/yolov6.py``, shared with YOLOv6's necks.

``block_cfg`` chooses the block, as in mmyolo: ``dict(type='RepVGGBlock', ...)`` or
``dict(type='ConvWrapper', ...)`` (a plain conv with bias, optional norm, SiLU; YOLOv6-l).
Keys are mmyolo's, so mmyolo checkpoints convert only by norm names, in training and in
deploy form. Levels: 0 the stem (stride 2), 1..4 the stages (strides 4..32); ``frozen_stages=k``
freezes the stem and stages 1..k, as mmyolo.
"""
from typing import Optional, Sequence

import torch
import torch.nn as nn

from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import has_key_prefixes, register_converter
from mmbackbones.zoo import Variant, register_variants

from ..layers.args import check_factor
from ..layers.yolo import YOLO_NORM, DarknetConv, SPPBottleneck, make_round, spatial_pyramid
from ..layers.yolov6 import BepC3StageBlock, RepStageBlock, build_block
from .base import StemStagesBackbone
from .darknet import openmmlab_norm_names

__all__ = ['YOLOv6EfficientRep', 'YOLOv6CSPBep']

# Per stage: in_channels, out_channels, num_blocks, use_spp (before scaling), as mmyolo.
YOLOV6_P5 = ((64, 128, 6, False), (128, 256, 12, False), (256, 512, 18, False),
             (512, 1024, 6, True))


class CSPSPPF(nn.Module):
    """YOLOv6 3.0's CSP form of SPPF (SimCSPSPPF; Li et al. 2023, arXiv 2301.05586,
    Sec. 2.1): a 1x1 shortcut path beside ``1x1, 3x3, 1x1 -> SPPF pools -> 1x1, 3x3``, and a
    1x1 conv over their concatenation. Keys as mmyolo's ``CSPSPPFBottleneck``
    (``conv1``..``conv7``)."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 5,
                 norm_cfg: dict = YOLO_NORM, act_cfg: dict = dict(type='SiLU', inplace=True)):
        super().__init__()
        mid = in_channels // 2
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = DarknetConv(in_channels, mid, 1, **cfg)
        self.conv3 = DarknetConv(mid, mid, 3, **cfg)
        self.conv4 = DarknetConv(mid, mid, 1, **cfg)
        self.conv2 = DarknetConv(in_channels, mid, 1, **cfg)  # the shortcut path
        self.poolings = nn.MaxPool2d(kernel_size, 1, kernel_size // 2)
        self.conv5 = DarknetConv(4 * mid, mid, 1, **cfg)
        self.conv6 = DarknetConv(mid, mid, 3, **cfg)
        self.conv7 = DarknetConv(2 * mid, out_channels, 1, **cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x0 = self.conv4(self.conv3(self.conv1(x)))
        pooled = self.conv6(self.conv5(torch.cat(spatial_pyramid(x0, self.poolings), dim=1)))
        return self.conv7(torch.cat((self.conv2(x), pooled), dim=1))


@MODELS.register_module()
class YOLOv6EfficientRep(StemStagesBackbone):
    """mmyolo's ``YOLOv6EfficientRep``: RepVGG-block stem and stages, SPPF at the end.

    Args (mmyolo's):
        arch: ``'P5'``.
        plugins: must be None (stage plugins are not supported).
        deepen_factor, widen_factor: scale blocks (rounded, at least 1) and channels
            (``int(c * widen_factor)``).
        input_channels: image channels.
        out_indices: levels to return; 0 the stem, 1..4 the stages. Default (2, 3, 4).
        frozen_stages: ``-1`` nothing; ``k`` the stem and stages 1..k.
        use_cspsppf: YOLOv6 3.0's CSP form of the SPPF (:class:`CSPSPPF`).
        norm_cfg, act_cfg: norm and activation of the SPPF (and of CSPBep's 1x1 convs); the
            blocks take theirs from ``block_cfg`` (RepVGGBlock: BN, ReLU).
        norm_eval, with_cp, init_cfg, pretrained: see :class:`BaseBackbone`.
        block_cfg: ``dict(type='RepVGGBlock' | 'ConvWrapper', **its arguments)``.

    The deploy form: ``switch_to_deploy()`` of each RepVGG block fuses it into one conv.
    """
    arch_settings = {'P5': YOLOV6_P5}
    frozen_stages_offset = 1

    def __init__(self, arch: str = 'P5', plugins=None, deepen_factor: float = 1.0,
                 widen_factor: float = 1.0, input_channels: int = 3,
                 out_indices: Sequence[int] = (2, 3, 4), frozen_stages: int = -1,
                 use_cspsppf: bool = False, norm_cfg: dict = YOLO_NORM,
                 act_cfg: dict = dict(type='ReLU', inplace=True), norm_eval: bool = False,
                 block_cfg: dict = dict(type='RepVGGBlock'), init_cfg=None,
                 with_cp: bool = False, pretrained: Optional[str] = None):
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        self._check_yolo_args(plugins, deepen_factor, widen_factor)
        setting = self.resolve_arch(arch)
        self.arch = arch
        self.block_cfg = dict(block_cfg)
        self.norm_cfg, self.act_cfg = norm_cfg, act_cfg
        stem_channels = int(setting[0][0] * self.widen_factor)
        self.stem = build_block(self.block_cfg, input_channels, stem_channels, kernel_size=3,
                                stride=2)
        channels, strides = [stem_channels], [2]
        for in_ch, out_ch, num_blocks, use_spp in setting:
            in_ch, out_ch = int(in_ch * self.widen_factor), int(out_ch * self.widen_factor)
            down = build_block(self.block_cfg, in_ch, out_ch, kernel_size=3, stride=2)
            stage = [nn.Sequential(down, self.build_stage_block(
                out_ch, make_round(num_blocks, self.deepen_factor)))]
            if use_spp:
                spp = CSPSPPF if use_cspsppf else SPPBottleneck
                stage.append(spp(out_ch, out_ch, 5, norm_cfg=norm_cfg, act_cfg=act_cfg))
            self._add_stage(*stage)
            channels.append(out_ch)
            strides.append(strides[-1] * 2)
        self._setup_levels(channels, strides)

    def build_stage_block(self, channels: int, num_blocks: int) -> nn.Module:
        return RepStageBlock(channels, channels, num_blocks, self.block_cfg)


@MODELS.register_module()
class YOLOv6CSPBep(YOLOv6EfficientRep):
    """mmyolo's ``YOLOv6CSPBep``: :class:`YOLOv6EfficientRep` with CSPStackRep (BepC3)
    stages; ``hidden_ratio`` sets their split width. mmyolo's defaults: SiLU,
    ``block_cfg=dict(type='ConvWrapper')``."""

    def __init__(self, arch: str = 'P5', plugins=None, deepen_factor: float = 1.0,
                 widen_factor: float = 1.0, input_channels: int = 3,
                 hidden_ratio: float = 0.5, out_indices: Sequence[int] = (2, 3, 4),
                 frozen_stages: int = -1, use_cspsppf: bool = False,
                 norm_cfg: dict = YOLO_NORM, act_cfg: dict = dict(type='SiLU', inplace=True),
                 norm_eval: bool = False, block_cfg: dict = dict(type='ConvWrapper'),
                 init_cfg=None, **kwargs):
        self.hidden_ratio = check_factor('hidden_ratio', hidden_ratio)
        super().__init__(arch=arch, plugins=plugins, deepen_factor=deepen_factor,
                         widen_factor=widen_factor, input_channels=input_channels,
                         out_indices=out_indices, frozen_stages=frozen_stages,
                         use_cspsppf=use_cspsppf, norm_cfg=norm_cfg, act_cfg=act_cfg,
                         norm_eval=norm_eval, block_cfg=block_cfg, init_cfg=init_cfg,
                         **kwargs)

    def build_stage_block(self, channels: int, num_blocks: int) -> nn.Module:
        return BepC3StageBlock(channels, channels, num_blocks, self.hidden_ratio,
                               self.block_cfg, self.norm_cfg, self.act_cfg)


# ---------------------------------------------------------------------------- weights
# Our keys are mmyolo's, in both forms (RepVGG blocks: rbr_* before, rbr_reparam after).
@register_converter(YOLOv6EfficientRep, 'mmyolo',
                    detect=lambda sd: has_key_prefixes(sd, 'stem.', 'stage1.0.0.'))
def convert_mmyolo(state_dict, model):
    return openmmlab_norm_names(state_dict)


# ----------------------------------------------------------------------------------- zoo
_PAPER = 'Li et al. 2022 (YOLOv6), arXiv 2209.02976; mmyolo '
_SIZES = ((128, 160), (96, 136))  # the second: no side a multiple of 32
_INPUT = (128, 160)
_DEFAULT_RUN = {'efficientrep_n'}
_BN = dict(type='BN', momentum=0.03, eps=0.001)

# mmyolo's YOLOv6 configs (deepen_factor, widen_factor, extra backbone arguments) and the
# parameter counts of mmyolo's classes built from them (training form). YOLOv6-m's config
# uses RepVGG blocks and -l's ConvWrapper with BN; with the class-default block_cfg
# (ConvWrapper, no norm) the same factors give 23,473,708 / 38,460,949 parameters
# (tests/test_efficient_rep.py checks both against mmyolo).
_ROWS = {
    'efficientrep_n': ('YOLOv6EfficientRep', dict(deepen_factor=0.33, widen_factor=0.25),
                       3089952),
    'efficientrep_t': ('YOLOv6EfficientRep', dict(deepen_factor=0.33, widen_factor=0.375),
                       6942768),
    'efficientrep_s': ('YOLOv6EfficientRep', dict(deepen_factor=0.33, widen_factor=0.5),
                       12334144),
    'cspbep_m': ('YOLOv6CSPBep', dict(deepen_factor=0.6, widen_factor=0.75,
                                      hidden_ratio=2. / 3, block_cfg=dict(type='RepVGGBlock'),
                                      act_cfg=dict(type='ReLU', inplace=True)), 25716780),
    'cspbep_l': ('YOLOv6CSPBep', dict(deepen_factor=1.0, widen_factor=1.0, hidden_ratio=0.5,
                                      block_cfg=dict(type='ConvWrapper', norm_cfg=_BN),
                                      act_cfg=dict(type='SiLU', inplace=True)), 38484117),
}


def _row(name):
    family, cfg, params = _ROWS[name]
    return Variant(name=name, family=family, cfg=cfg, refs=dict(mmyolo=dict(type=family, **cfg)),
                   params=params, paper=_PAPER + family, test_input=_INPUT,
                   parity_sizes=_SIZES, slow=name not in _DEFAULT_RUN)


register_variants([_row(name) for name in _ROWS])
