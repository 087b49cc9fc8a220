"""YOLOv6's re-parameterisable backbones, EfficientRep and CSPBep (Li et al. 2022, "YOLOv6: A
Single-Stage Object Detection Framework for Industrial Applications", arXiv 2209.02976,
Sec. 2.1 "Network Design"), scaled by ``deepen_factor`` / ``widen_factor``.

A stem block (stride 2), then four stages, each a stride-2 block and a stage of blocks, the
last followed by SPPF:

* :class:`YOLOv6EfficientRep` (the small models n / t / s): stages of RepVGG blocks
  (``layers/repvgg.py``; "RepBlock" in the paper), fused into single 3x3 convs for inference.
* :class:`YOLOv6CSPBep` (m / l): the stages are CSP blocks ("CSPStackRep", BepC3) whose
  main path runs pairs of blocks with a learned-weight shortcut (``BottleRep``).

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
from mmbackbones.weights.convert import register_converter
from mmbackbones.zoo import Variant, register_variants

from ..layers.args import check_choice
from ..layers.repvgg import RepVGGBlock
from ..layers.yolo import YOLO_NORM, DarknetConv, SPPBottleneck, make_round, spatial_pyramid
from .base import StemStagesBackbone
from .csp_darknet import _check_factor
from .darknet import _openmmlab_norms

__all__ = ['YOLOv6EfficientRep', 'YOLOv6CSPBep']

# Per stage: in_channels, out_channels, num_blocks, use_spp (before scaling), as mmyolo.
YOLOV6_P5 = ((64, 128, 6, False), (128, 256, 12, False), (256, 512, 18, False),
             (512, 1024, 6, True))


class ConvWrapper(nn.Module):
    """mmyolo's ``ConvWrapper``: conv (bias by default, also before a norm), optional norm,
    activation (SiLU by default); the block of YOLOv6-l's CSPBep. Keys ``block.conv``,
    ``block.bn``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, groups: int = 1, bias: bool = True,
                 norm_cfg: Optional[dict] = None, act_cfg: Optional[dict] = dict(type='SiLU')):
        super().__init__()
        self.block = DarknetConv(in_channels, out_channels, kernel_size, stride,
                                 groups=groups, norm_cfg=norm_cfg, act_cfg=act_cfg)
        if bias and norm_cfg is not None:  # DarknetConv drops the bias before a norm
            self.block.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                                        kernel_size // 2, groups=groups, bias=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.block(x)


BLOCKS = {'RepVGGBlock': RepVGGBlock, 'ConvWrapper': ConvWrapper}


def build_block(block_cfg: dict, in_channels: int, out_channels: int, **kwargs) -> nn.Module:
    """The block ``block_cfg`` names (mmyolo's ``block_cfg`` dicts, with or without our
    scope prefix)."""
    if not isinstance(block_cfg, dict) or 'type' not in block_cfg:
        raise TypeError(f'block_cfg={block_cfg!r}; valid values are dicts with a type in '
                        f'{sorted(BLOCKS)}')
    cfg = dict(block_cfg)
    block_type = str(cfg.pop('type')).split('.')[-1]
    check_choice('block_cfg type', block_type, BLOCKS)
    cfg.update(kwargs)
    return BLOCKS[block_type](in_channels=in_channels, out_channels=out_channels, **cfg)


class BottleRep(nn.Module):
    """Two blocks and a shortcut weighted by a learned scalar ``alpha`` (YOLOv6's BottleRep,
    the unit of the CSPStackRep block, Sec. 2.1)."""

    def __init__(self, in_channels: int, out_channels: int, block_cfg: dict,
                 adaptive_weight: bool = True):
        super().__init__()
        self.conv1 = build_block(block_cfg, in_channels, out_channels)
        self.conv2 = build_block(block_cfg, out_channels, out_channels)
        self.shortcut = in_channels == out_channels
        self.alpha = nn.Parameter(torch.ones(1)) if adaptive_weight else 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + self.alpha * x if self.shortcut else out


class RepStageBlock(nn.Module):
    """``num_blocks`` blocks in series ("RepBlock", Sec. 2.1); with ``bottle_rep`` they are
    paired into ``num_blocks // 2`` :class:`BottleRep` units. Keys as mmyolo: ``conv1``, the
    first unit, then ``block``, the others (absent when there are none)."""

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int, block_cfg: dict,
                 bottle_rep: bool = False):
        super().__init__()
        if bottle_rep:
            def unit(cin):
                return BottleRep(cin, out_channels, block_cfg)
            num_units = num_blocks // 2
        else:
            def unit(cin):
                return build_block(block_cfg, cin, out_channels)
            num_units = num_blocks
        self.conv1 = unit(in_channels)
        self.block = nn.Sequential(*[unit(out_channels) for _ in range(num_units - 1)]
                                   ) if num_units > 1 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.conv1(x)
        return x if self.block is None else self.block(x)


class BepC3StageBlock(nn.Module):
    """YOLOv6's CSPStackRep block (BepC3, Sec. 2.1): two 1x1 convs split the input; one path
    runs a :class:`RepStageBlock` of BottleReps, a 1x1 conv fuses the concatenation (CSPNet's
    partial stage, like YOLOv5's C3). Keys as mmyolo: ``conv1``..``conv3``, ``block``."""

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int,
                 hidden_ratio: float, block_cfg: dict, norm_cfg: dict, act_cfg: dict):
        super().__init__()
        hidden = int(out_channels * hidden_ratio)
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = DarknetConv(in_channels, hidden, 1, **cfg)
        self.conv2 = DarknetConv(in_channels, hidden, 1, **cfg)
        self.conv3 = DarknetConv(2 * hidden, out_channels, 1, **cfg)
        self.block = RepStageBlock(hidden, hidden, num_blocks, block_cfg, bottle_rep=True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv3(torch.cat((self.block(self.conv1(x)), self.conv2(x)), dim=1))


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
        if plugins:
            raise ValueError(f'plugins={plugins!r}: stage plugins are not supported; valid '
                             'values: None')
        setting = self.resolve_arch(arch)
        self.arch = arch
        self.deepen_factor = _check_factor('deepen_factor', deepen_factor)
        self.widen_factor = _check_factor('widen_factor', widen_factor)
        self.block_cfg = dict(block_cfg)
        self.norm_cfg, self.act_cfg = norm_cfg, act_cfg
        stem_channels = int(setting[0][0] * self.widen_factor)
        self.stem = build_block(self.block_cfg, input_channels, stem_channels, kernel_size=3,
                                stride=2)
        channels, strides = [stem_channels], [2]
        self.stage_names = []
        for index, (in_ch, out_ch, num_blocks, use_spp) in enumerate(setting):
            in_ch, out_ch = int(in_ch * self.widen_factor), int(out_ch * self.widen_factor)
            down = build_block(self.block_cfg, in_ch, out_ch, kernel_size=3, stride=2)
            stage = [nn.Sequential(down, self.build_stage_block(
                out_ch, make_round(num_blocks, self.deepen_factor)))]
            if use_spp:
                spp = CSPSPPF if use_cspsppf else SPPBottleneck
                stage.append(spp(out_ch, out_ch, 5, norm_cfg=norm_cfg, act_cfg=act_cfg))
            name = f'stage{index + 1}'
            self.add_module(name, nn.Sequential(*stage))
            self.stage_names.append(name)
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
        self.hidden_ratio = _check_factor('hidden_ratio', hidden_ratio)
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
def _is_mmyolo_layout(sd) -> bool:
    return any(k.startswith('stem.') for k in sd) and any(k.startswith('stage1.0.0.')
                                                          for k in sd)


@register_converter(YOLOv6EfficientRep, 'mmyolo', detect=_is_mmyolo_layout)
def convert_mmyolo(state_dict, model):
    return _openmmlab_norms(state_dict)


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
