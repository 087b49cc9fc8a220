"""PP-YOLOE's neck, CSPRepResPAN (Xu et al. 2022, "PP-YOLOE: An evolved version of YOLO",
arXiv 2203.16250, Sec. 2.2 "Scalable backbone and neck"): PANet's path aggregation
(YOLOv5's layout, :class:`~mmbackbones.models.necks.yolo.YOLOv5PAFPN`'s forward) whose fusion
blocks are CSPRepResStages (stride 1, RepResBlocks without the shortcut, no ESE); the deepest
input first runs through one, with an SPP after its middle block (``use_spp``, as
PaddleDetection's CustomCSPPAN).

This project's implementation of mmyolo's ``PPYOLOECSPPAFPN``: same arguments, parameter names
and outputs. ``switch_to_deploy()`` (every YOLO PAFPN's) fuses the RepVGG blocks into single
convs and folds the BatchNorms after convs.
"""
from typing import List, Optional

import torch.nn as nn
from mmengine.model import BaseModule

from mmbackbones.registry import MODELS

from ..layers.ppyoloe import PPYOLOE_ACT, PPYOLOE_NORM, CSPRepResStage, check_type
from ..layers.yolo import DarknetConv
from .yolo import YOLOv5PAFPN

__all__ = ['PPYOLOECSPPAFPN']


@MODELS.register_module()
class PPYOLOECSPPAFPN(YOLOv5PAFPN):
    """mmyolo's ``PPYOLOECSPPAFPN``.

    Args (mmyolo's):
        in_channels, out_channels: unscaled widths per level, highest resolution first,
            multiplied by ``widen_factor`` (``int``).
        deepen_factor: RepResBlocks per stage ``round(num_blocks_per_layer * deepen_factor)``.
        widen_factor: see above.
        freeze_all: freeze the whole neck (BatchNorms in eval mode, no gradients).
        num_csplayer: CSPRepResStages in series at each fusion point.
        num_blocks_per_layer: RepResBlocks per stage, before ``deepen_factor``.
        block_cfg: ``dict(type='PPYOLOEBasicBlock', shortcut=..., use_alpha=...)``.
        norm_cfg, act_cfg: of every conv (BN momentum 0.1 / eps 1e-5, SiLU).
        drop_block_cfg: a module (e.g. ``dict(type='mmdet.DropBlock', ...)``) appended after
            each group of stages, or None.
        init_cfg: mmengine's.
        use_spp: an SPP in the deepest input's stage (True in mmyolo's PP-YOLOE configs).

    After construction ``out_channels`` is the tuple of real output channels.
    """

    def __init__(self, in_channels: List[int] = [256, 512, 1024],
                 out_channels: List[int] = [256, 512, 1024], deepen_factor: float = 1.0,
                 widen_factor: float = 1.0, freeze_all: bool = False, num_csplayer: int = 1,
                 num_blocks_per_layer: int = 3,
                 block_cfg: dict = dict(type='PPYOLOEBasicBlock', shortcut=False,
                                        use_alpha=False),
                 norm_cfg: dict = PPYOLOE_NORM, act_cfg: dict = PPYOLOE_ACT,
                 drop_block_cfg: Optional[dict] = None, init_cfg=None, use_spp: bool = False):
        BaseModule.__init__(self, init_cfg)
        if not (isinstance(in_channels, (list, tuple)) and len(in_channels) >= 2
                and isinstance(out_channels, (list, tuple))
                and len(out_channels) == len(in_channels)):
            raise ValueError(f'in_channels={in_channels!r}, out_channels={out_channels!r}; '
                             'valid values are two or more ints each, as many outputs as '
                             'inputs, highest resolution first')
        check_type('block_cfg', block_cfg, 'PPYOLOEBasicBlock')
        if drop_block_cfg is not None and not isinstance(drop_block_cfg, dict):
            raise TypeError(f'drop_block_cfg={drop_block_cfg!r}; valid values are None or a '
                            'module config dict')
        if not isinstance(num_csplayer, int) or num_csplayer < 1:
            raise ValueError(f'num_csplayer={num_csplayer!r}; valid values are ints >= 1')
        self.in_channels = list(in_channels)
        self.deepen_factor, self.widen_factor = deepen_factor, widen_factor
        self.freeze_all = freeze_all
        c_in = [int(c * widen_factor) for c in in_channels]
        c_out = [int(c * widen_factor) for c in out_channels]
        num_blocks = round(num_blocks_per_layer * deepen_factor)
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        last = len(c_in) - 1

        def stages(in_ch, out_ch, spp=False):
            # num_csplayer stages in series (only the first changes the width), then the
            # optional DropBlock
            layers = [CSPRepResStage(in_ch if i == 0 else out_ch, out_ch, num_blocks, block_cfg,
                                     attention_cfg=None, use_spp=spp, **cfg)
                      for i in range(num_csplayer)]
            if drop_block_cfg:
                layers.append(MODELS.build(dict(drop_block_cfg)))
            return nn.Sequential(*layers)

        self.reduce_layers = nn.ModuleList(
            stages(c_in[i], c_out[i], use_spp) if i == last else nn.Identity()
            for i in range(len(c_in)))
        # top-down, from the lowest resolution: a 1x1 conv halves the width, nearest 2x
        # upsampling, concatenation with the next input, stages
        self.upsample_layers = nn.ModuleList(
            nn.Sequential(DarknetConv(c_out[i], c_out[i] // 2, 1, **cfg),
                          nn.Upsample(scale_factor=2, mode='nearest'))
            for i in range(last, 0, -1))
        self.top_down_layers = nn.ModuleList(
            stages(c_in[i - 1] + c_out[i] // 2, c_out[i - 1]) for i in range(last, 0, -1))
        # bottom-up: stride-2 3x3 conv, concatenation with the top-down output, stages
        self.downsample_layers = nn.ModuleList(
            DarknetConv(c_out[i], c_out[i], 3, 2, **cfg) for i in range(last))
        self.bottom_up_layers = nn.ModuleList(
            stages(c_out[i + 1] + c_out[i], c_out[i + 1]) for i in range(last))
        self.out_layers = nn.ModuleList(nn.Identity() for _ in c_out)
        self.out_channels = tuple(c_out)
        self.input_channels = tuple(c_in)
