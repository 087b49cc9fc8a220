"""YOLOv6's Rep-PAN neck (Li et al. 2022, arXiv 2209.02976, Sec. 2.1 "Neck"): YOLOv5's
path-aggregation layout (:class:`~mmbackbones.models.necks.yolo.YOLOv5PAFPN`'s forward) with
RepBlocks (stages of RepVGG blocks) instead of C3 blocks and a transposed conv for the 2x
upsampling. This project's implementation of mmyolo's ``YOLOv6RepPAFPN``: same arguments,
parameter names and outputs; ``switch_to_deploy()`` fuses its RepVGG blocks and folds its
BatchNorms.
"""
from typing import List

import torch.nn as nn
from mmengine.model import BaseModule

from mmbackbones.registry import MODELS

from ..backbones.efficient_rep import RepStageBlock
from ..layers.yolo import YOLO_NORM, DarknetConv, make_round
from .yolo import YOLOv5PAFPN

__all__ = ['YOLOv6RepPAFPN']


@MODELS.register_module()
class YOLOv6RepPAFPN(YOLOv5PAFPN):
    """mmyolo's ``YOLOv6RepPAFPN`` (three levels). ``in_channels`` / ``out_channels`` are the
    unscaled widths, highest resolution first, multiplied by ``widen_factor`` (``int``);
    ``num_csp_blocks`` RepVGG blocks per RepBlock, scaled by ``deepen_factor``; ``block_cfg``
    as the backbone's; ``freeze_all`` freezes the whole neck. After construction
    ``out_channels`` is the tuple of real output channels."""

    def __init__(self, in_channels: List[int], out_channels: List[int],
                 deepen_factor: float = 1.0, widen_factor: float = 1.0,
                 num_csp_blocks: int = 12, freeze_all: bool = False,
                 norm_cfg: dict = YOLO_NORM, act_cfg: dict = dict(type='ReLU', inplace=True),
                 block_cfg: dict = dict(type='RepVGGBlock'), init_cfg=None):
        BaseModule.__init__(self, init_cfg)
        if not (isinstance(in_channels, (list, tuple)) and len(in_channels) == 3
                and isinstance(out_channels, (list, tuple)) and len(out_channels) == 3):
            raise ValueError(f'in_channels={in_channels!r}, out_channels={out_channels!r}; '
                             'valid values are three ints each, highest resolution first')
        self.in_channels = list(in_channels)
        self.deepen_factor, self.widen_factor = deepen_factor, widen_factor
        self.freeze_all = freeze_all
        c_in = [int(c * widen_factor) for c in in_channels]
        c_out = [int(c * widen_factor) for c in out_channels]
        blocks = make_round(num_csp_blocks, deepen_factor)
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)

        def rep_block(cin, cout):
            return RepStageBlock(cin, cout, blocks, dict(block_cfg))

        self.reduce_layers = nn.ModuleList(
            [nn.Identity(), nn.Identity(), DarknetConv(c_in[2], c_out[1], 1, **cfg)])
        self.upsample_layers = nn.ModuleList(
            nn.ConvTranspose2d(c_out[i], c_out[i], 2, 2) for i in (1, 0))
        self.top_down_layers = nn.ModuleList([
            nn.Sequential(rep_block(int((out_channels[1] + in_channels[1]) * widen_factor),
                                    c_out[1]),
                          DarknetConv(c_out[1], c_out[0], 1, **cfg)),
            rep_block(int((out_channels[0] + in_channels[0]) * widen_factor), c_out[0])])
        self.downsample_layers = nn.ModuleList(DarknetConv(c_out[i], c_out[i], 3, 2, **cfg)
                                               for i in (0, 1))
        self.bottom_up_layers = nn.ModuleList(
            rep_block(int(out_channels[i] * 2 * widen_factor), c_out[i + 1]) for i in (0, 1))
        self.out_layers = nn.ModuleList(nn.Identity() for _ in range(3))
        self.out_channels = tuple(c_out)
        self.in_widths = tuple(c_in)
