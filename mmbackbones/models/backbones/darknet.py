"""Darknet-19 (YOLO9000), Darknet-53 (YOLOv3) and CSPDarknet53 (CSPNet / YOLOv4).

* Darknet-19 (Redmon & Farhadi 2017, arXiv 1612.08242, Table 6): 3x3 convolutions with 1x1
  bottlenecks between them, each followed by BatchNorm and LeakyReLU(0.1), five 2x2 max-pools.
* Darknet-53 (Redmon & Farhadi 2018, arXiv 1804.02767, Table 1): residual blocks of a 1x1
  then a 3x3 convolution; stride-2 3x3 convolutions instead of pooling.
* CSPDarknet53 (Wang et al. 2020, CSPNet, arXiv 1911.11929; the YOLOv4 backbone, Bochkovskiy
  et al. 2020, arXiv 2004.10934, Sec. 3.4): each Darknet-53 stage becomes a cross-stage
  partial stage (CSPNet Sec. 3.1, with partial transition layers): a 1x1 conv expands, half
  of the channels go through the residual blocks and a 1x1 transition, the other half skips
  them, and a 1x1 conv fuses the concatenation.

:class:`Darknet` is mmdet's ``Darknet`` (its argument names and levels: ``out_indices`` 0 is the
stride-1 stem conv, 1..5 the stages at strides 2..32), extended with ``depth=19``.
:class:`CSPDarkNet` is mmpretrain's ``CSPDarkNet`` (levels 0..4 are the five CSP stages), which
is timm's ``cspdarknet53``. The YOLOv5 / YOLOX CSP-Darknet is in ``csp_darknet.py``.

Parameter names are mmdet's / mmpretrain's; the converters at the end map timm's.
"""
import re
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmbackbones.references import reference_levels
from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import register_converter, rename_keys
from mmbackbones.zoo import Variant, register_variants

from ..layers import DEFAULT_NORM, openmmlab_norm_eval
from ..layers.yolo import DarknetConv, DarknetBottleneck
from .base import BaseBackbone, StemStagesBackbone

__all__ = ['Darknet', 'CSPDarkNet']

DARKNET_ACT = dict(type='LeakyReLU', negative_slope=0.1)
# mmdet's Darknet default init (init_cfg=None and pretrained=None).
OPENMMLAB_INIT = [dict(type='Kaiming', layer='Conv2d'),
                  dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm'])]
# Darknet-19 (YOLO9000 Table 6) after the first conv: per stage, a 2x2 max-pool, then
# (kernel, filters) convolutions.
DARKNET19_STAGES = (
    ((3, 64), ),
    ((3, 128), (1, 64), (3, 128)),
    ((3, 256), (1, 128), (3, 256)),
    ((3, 512), (1, 256), (3, 512), (1, 256), (3, 512)),
    ((3, 1024), (1, 512), (3, 1024), (1, 512), (3, 1024)),
)


def _init_openmmlab(module: nn.Module, init_cfg) -> None:
    from mmengine.model.weight_init import initialize
    initialize(module, init_cfg)


@MODELS.register_module()
class Darknet(StemStagesBackbone):
    """Darknet-53 (mmdet's ``Darknet``) and Darknet-19; six levels at strides 1, 2, 4, 8, 16,
    32 with 32, 64, 128, 256, 512 and 1024 channels.

    Arguments of mmdet's ``Darknet`` keep their meaning:

    Args:
        depth: 53 (residual stages of 1, 2, 8, 8, 4 blocks) or 19 (max-pools and plain convs).
        out_indices: levels to return; 0 is the stride-1 stem conv (``conv1``), 1..5 the
            stages. Default (3, 4, 5): strides 8, 16, 32, as YOLOv3 uses them.
        frozen_stages: ``k >= 1`` freezes ``conv1`` and the first ``k - 1`` stages, as mmdet
            counts them (``conv1`` is its stage 0); ``0`` freezes ``conv1`` (mmdet: nothing).
        conv_cfg, norm_cfg, act_cfg: mmcv configs of every conv unit (LeakyReLU 0.1 as Darknet).
        norm_eval: BatchNorm in eval mode while training. ``None`` (default): OpenMMLab's
            default of the scope the model is built in (mmdet's Darknet: ``True``; else
            ``False``), as for ResNet.
        with_cp: activation checkpointing per block.
        pretrained, init_cfg: see :class:`BaseBackbone`; ``None``: mmdet's Kaiming init.
    """
    stem_name = 'conv1'  # mmdet's name
    arch_settings = {53: (1, 2, 8, 8, 4), 19: DARKNET19_STAGES}
    channels = (32, 64, 128, 256, 512, 1024)

    def __init__(self, depth: int = 53, out_indices: Sequence[int] = (3, 4, 5),
                 frozen_stages: int = -1, conv_cfg: Optional[dict] = None,
                 norm_cfg: dict = DEFAULT_NORM, act_cfg: Optional[dict] = DARKNET_ACT,
                 norm_eval: Optional[bool] = None, with_cp: bool = False,
                 pretrained: Optional[str] = None, init_cfg=None):
        if norm_eval is None:
            norm_eval = openmmlab_norm_eval()
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        stages = self.resolve_arch(depth, 'depth')
        self.depth = depth
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = DarknetConv(3, self.channels[0], 3, **cfg)
        self.stage_names: List[str] = []
        for index, spec in enumerate(stages):
            in_ch, out_ch = self.channels[index], self.channels[index + 1]
            if depth == 19:
                name, stage = f'conv_block{index + 1}', self._plain_stage(in_ch, spec, cfg)
            else:
                name, stage = f'conv_res_block{index + 1}', self._residual_stage(
                    in_ch, out_ch, spec, cfg)
            self.add_module(name, stage)
            self.stage_names.append(name)
        self._setup_levels(self.channels, (1, 2, 4, 8, 16, 32))

    @staticmethod
    def _residual_stage(in_ch, out_ch, num_blocks, cfg) -> nn.Sequential:
        """A stride-2 3x3 conv, then residual blocks (YOLOv3 Table 1); mmdet's keys."""
        stage = nn.Sequential()
        stage.add_module('conv', DarknetConv(in_ch, out_ch, 3, 2, **cfg))
        for index in range(num_blocks):
            stage.add_module(f'res{index}', DarknetBottleneck(out_ch, out_ch, 0.5, True, **cfg))
        return stage

    @staticmethod
    def _plain_stage(in_ch, convs, cfg) -> nn.Sequential:
        """A 2x2 max-pool, then 3x3 / 1x1 conv units (YOLO9000 Table 6). ``ceil_mode``: an odd
        map keeps its last row, so that level ``s`` has ``ceil(H / s)`` rows."""
        stage = nn.Sequential()
        stage.add_module('pool', nn.MaxPool2d(2, 2, ceil_mode=True))
        for index, (kernel, filters) in enumerate(convs):
            stage.add_module(f'conv{index}', DarknetConv(in_ch, filters, kernel, **cfg))
            in_ch = filters
        return stage

    def _init_default_weights(self) -> None:
        _init_openmmlab(self, OPENMMLAB_INIT)



class CSPStage(nn.Module):
    """One stage of CSPDarknet53 (CSPNet Sec. 3.1, partial transition): stride-2 3x3 conv,
    1x1 expansion, the second half of the channels through the residual blocks and a 1x1
    transition, concatenated with the first half, fused by a 1x1 conv. mmpretrain's keys
    (``atfer_blocks_conv`` spelled right)."""

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int,
                 expand_ratio: float, block_expansion: float, cfg: dict):
        super().__init__()
        self.downsample_conv = DarknetConv(in_channels, out_channels, 3, 2, **cfg)
        expanded = int(out_channels * expand_ratio)
        half = expanded // 2
        self.expand_conv = DarknetConv(out_channels, expanded, 1, **cfg)
        self.blocks = nn.Sequential(*[DarknetBottleneck(half, half, block_expansion, True, **cfg)
                                      for _ in range(num_blocks)])
        self.after_blocks_conv = DarknetConv(half, half, 1, **cfg)
        self.final_conv = DarknetConv(2 * half, out_channels, 1, **cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.expand_conv(self.downsample_conv(x))
        skip, part = x.chunk(2, dim=1)
        part = self.after_blocks_conv(self.blocks(part))
        return self.final_conv(torch.cat((skip, part), dim=1))


@MODELS.register_module()
class CSPDarkNet(BaseBackbone):
    """CSPDarknet53 (mmpretrain's ``CSPDarkNet``, timm's ``cspdarknet53``); five levels, the
    CSP stages at strides 2-32 with 64..1024 channels, after a stride-1 3x3 stem conv.

    Arguments of mmpretrain's ``CSPDarkNet`` keep their meaning (also ``frozen_stages``: ``k``
    freezes the stem and stages ``0..k``):

    Args:
        depth: 53.
        in_channels: input image channels.
        out_indices: stages to return (mmpretrain's default: the last, ``(4,)``).
        frozen_stages: ``-1`` nothing; ``k`` the stem and stages ``0..k`` (as mmpretrain).
        conv_cfg, norm_cfg, act_cfg: mmcv configs (BN eps 1e-5; LeakyReLU with PyTorch's
            slope 0.01, as mmpretrain and timm).
        norm_eval, with_cp, pretrained, init_cfg: see :class:`BaseBackbone`.
    """
    # (blocks, expand_ratio, block expansion) per stage; the first stage is the wide one
    arch_settings = {53: ((1, 2.0, 0.5), (2, 1.0, 1.0), (8, 1.0, 1.0), (8, 1.0, 1.0),
                          (4, 1.0, 1.0))}
    channels = (32, 64, 128, 256, 512, 1024)
    frozen_stages_offset = 1

    def __init__(self, depth: int = 53, in_channels: int = 3,
                 out_indices: Sequence[int] = (4, ), frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = dict(type='BN', eps=1e-5),
                 act_cfg: Optional[dict] = dict(type='LeakyReLU', inplace=True),
                 norm_eval: bool = False, with_cp: bool = False,
                 pretrained: Optional[str] = None, init_cfg=None):
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        stages = self.resolve_arch(depth, 'depth')
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.stem = DarknetConv(in_channels, self.channels[0], 3, **cfg)
        self.stages = nn.Sequential(*[
            CSPStage(self.channels[i], self.channels[i + 1], blocks, expand, expansion, cfg)
            for i, (blocks, expand, expansion) in enumerate(stages)])
        self._setup_levels(self.channels[1:], (2, 4, 8, 16, 32))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.stem(x)
        outs = []
        for index, stage in enumerate(self.stages):
            x = self.run_blocks([stage], x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def stem_modules(self):
        return [self.stem]

    def level_blocks(self, index: int):
        return [self.stages[index]]


# ---------------------------------------------------------------------------- weights
# mmcv's ConvModule names a norm after its type (bn, gn, ...); ours are all `bn`.
_MMCV_NORM_NAME = re.compile(r'\.(?:gn|ln|in|norm_layer)\.')


def openmmlab_norm_names(state_dict, model=None):
    """OpenMMLab's keys (mmdet, mmyolo, mmpretrain) with every norm named ``bn``: the
    converter of the families whose keys are otherwise OpenMMLab's."""
    return {_MMCV_NORM_NAME.sub('.bn.', k): v for k, v in state_dict.items()}


def _without_head(state_dict):
    return {k: v for k, v in state_dict.items() if not k.startswith(('head.', 'fc.'))}


def _is_timm_darknet(sd) -> bool:
    return 'stem.conv1.conv.weight' in sd and 'stages.0.conv_down.conv.weight' in sd


def _is_mmdet_darknet(sd) -> bool:
    return 'conv1.conv.weight' in sd and any(k.startswith(('conv_res_block1.', 'conv_block1.'))
                                             for k in sd)


@register_converter(Darknet, 'timm', detect=lambda sd: _is_timm_darknet(sd)
                    and 'stages.0.conv_exp.conv.weight' not in sd)
def convert_timm_darknet(state_dict, model):
    """timm's ``darknet53``: ``stem.conv1`` -> ``conv1``, ``stages.i.conv_down`` ->
    ``conv_res_block{i+1}.conv``, ``stages.i.blocks.j`` -> ``conv_res_block{i+1}.res{j}``."""
    def stage(match):
        return f'conv_res_block{int(match.group(1)) + 1}.'
    out = {}
    for key, value in _without_head(state_dict).items():
        key = key.replace('stem.conv1.', 'conv1.', 1)
        key = re.sub(r'^stages\.(\d+)\.conv_down\.', lambda m: stage(m) + 'conv.', key)
        key = re.sub(r'^stages\.(\d+)\.blocks\.(\d+)\.',
                     lambda m: f'{stage(m)}res{m.group(2)}.', key)
        out[key] = value
    return out


register_converter(Darknet, 'mmdet', detect=_is_mmdet_darknet)(openmmlab_norm_names)


@register_converter(CSPDarkNet, 'timm', detect=lambda sd: _is_timm_darknet(sd)
                    and 'stages.0.conv_exp.conv.weight' in sd)
def convert_timm_cspdarknet(state_dict, model):
    return rename_keys(_without_head(state_dict), [
        (r'^stem\.conv1\.', 'stem.'), (r'\.conv_down\.', '.downsample_conv.'),
        (r'\.conv_exp\.', '.expand_conv.'), (r'\.conv_transition_b\.', '.after_blocks_conv.'),
        (r'\.conv_transition\.', '.final_conv.')])


@register_converter(CSPDarkNet, 'mmpretrain',
                    detect=lambda sd: 'stages.0.atfer_blocks_conv.conv.weight' in sd)
def convert_mmpretrain_cspdarknet(state_dict, model):
    state_dict = openmmlab_norm_names(_without_head(state_dict))
    return rename_keys(state_dict, [(r'\.atfer_blocks_conv\.', '.after_blocks_conv.')])


# ------------------------------------------------------------------------- references
@reference_levels(Darknet, 'timm')
def _timm_darknet_levels(model, x):
    # timm's feature 0 is the stem (stride 1), 1..5 the stages
    return model.forward_intermediates(x, indices=[0, 1, 2, 3, 4, 5], intermediates_only=True)


@reference_levels(CSPDarkNet, 'timm')
def _timm_cspdarknet_levels(model, x):
    return model.forward_intermediates(x, indices=[1, 2, 3, 4, 5], intermediates_only=True)


# ----------------------------------------------------------------------------------- zoo
_YOLO9000 = 'Redmon & Farhadi 2017 (YOLO9000), arXiv 1612.08242, Table 6'
_YOLOV3 = 'Redmon & Farhadi 2018 (YOLOv3), arXiv 1804.02767, Table 1'
_CSPNET = 'Wang et al. 2020 (CSPNet), arXiv 1911.11929; YOLOv4, arXiv 2004.10934'
_SIZES = ((128, 160), (96, 136))  # the second: no side a multiple of 32

register_variants([
    # 18 conv units of Table 6 before the 1x1 classifier: 19,817,376 parameters.
    Variant(name='darknet19', family='Darknet', cfg=dict(depth=19), params=19817376,
            paper=_YOLO9000, test_input=(128, 160), parity_sizes=_SIZES),
    # timm's darknet53 uses PyTorch's LeakyReLU slope (0.01), mmdet's Darknet Darknet's 0.1;
    # the row is timm's network, ours built from the mmdet dict is mmdet's (same parameters).
    Variant(name='darknet53', family='Darknet',
            cfg=dict(depth=53, act_cfg=dict(type='LeakyReLU', negative_slope=0.01)),
            refs=dict(timm='darknet53', mmdet=dict(type='Darknet', depth=53)),
            params=40584928, paper=_YOLOV3, test_input=(128, 160), parity_sizes=_SIZES,
            slow=True),
    Variant(name='cspdarknet53', family='CSPDarkNet', cfg=dict(depth=53),
            refs=dict(timm='cspdarknet53', mmpretrain=dict(type='CSPDarkNet', depth=53)),
            params=26617184, paper=_CSPNET, test_input=(128, 160), parity_sizes=_SIZES,
            slow=True),
])
