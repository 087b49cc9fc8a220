"""YOLOv6's necks (Li et al. 2022, arXiv 2209.02976, Sec. 2.1 "Neck"): YOLOv5's
path-aggregation layout (:class:`~mmbackbones.models.necks.yolo.YOLOv5PAFPN`'s forward) with
a transposed conv for the 2x upsampling, and as fusion blocks

* RepBlocks (stages of RepVGG blocks): Rep-PAN, mmyolo's ``YOLOv6RepPAFPN`` (YOLOv6-n/t/s);
* CSPStackRep blocks (BepC3): CSP-Rep-PAN, mmyolo's ``YOLOv6CSPRepPAFPN`` (YOLOv6-m/l).

This project's implementations of mmyolo's classes: same arguments, parameter names and
outputs. ``switch_to_deploy()`` (every YOLO PAFPN's, :class:`YOLOv5PAFPN`) fuses their
RepVGG blocks into single convs and folds the BatchNorms after convs.
"""
from typing import List

import torch.nn as nn
from mmengine.model import BaseModule

from mmbackbones.registry import MODELS

from ..layers.args import check_factor
from ..layers.yolo import YOLO_NORM, DarknetConv, make_round
from ..layers.yolov6 import BepC3StageBlock, RepStageBlock
from .yolo import YOLOv5PAFPN

__all__ = ['YOLOv6RepPAFPN', 'YOLOv6CSPRepPAFPN']


@MODELS.register_module()
class YOLOv6RepPAFPN(YOLOv5PAFPN):
    """mmyolo's ``YOLOv6RepPAFPN`` (three levels). ``in_channels`` / ``out_channels`` are the
    unscaled widths, highest resolution first, multiplied by ``widen_factor`` (``int``);
    ``num_csp_blocks`` RepVGG blocks per RepBlock, scaled by ``deepen_factor``; ``block_cfg``
    as the backbone's; ``freeze_all`` freezes the whole neck. After construction
    ``out_channels`` is the tuple of real output channels.

    Subclasses choose the fusion block with :meth:`build_fuse_block`."""

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
        self.num_csp_blocks = make_round(num_csp_blocks, deepen_factor)
        self.block_cfg, self.norm_cfg = dict(block_cfg), norm_cfg
        c_in = [int(c * widen_factor) for c in in_channels]
        c_out = [int(c * widen_factor) for c in out_channels]
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        fuse_block = self.build_fuse_block

        self.reduce_layers = nn.ModuleList(
            [nn.Identity(), nn.Identity(), DarknetConv(c_in[2], c_out[1], 1, **cfg)])
        self.upsample_layers = nn.ModuleList(
            nn.ConvTranspose2d(c_out[i], c_out[i], 2, 2) for i in (1, 0))
        self.top_down_layers = nn.ModuleList([
            nn.Sequential(fuse_block(int((out_channels[1] + in_channels[1]) * widen_factor),
                                    c_out[1]),
                          DarknetConv(c_out[1], c_out[0], 1, **cfg)),
            fuse_block(int((out_channels[0] + in_channels[0]) * widen_factor), c_out[0])])
        self.downsample_layers = nn.ModuleList(DarknetConv(c_out[i], c_out[i], 3, 2, **cfg)
                                               for i in (0, 1))
        self.bottom_up_layers = nn.ModuleList(
            fuse_block(int(out_channels[i] * 2 * widen_factor), c_out[i + 1]) for i in (0, 1))
        self.out_layers = nn.ModuleList(nn.Identity() for _ in range(3))
        self.out_channels = tuple(c_out)
        self.input_channels = tuple(c_in)

    def build_fuse_block(self, in_channels: int, out_channels: int) -> nn.Module:
        """The block after each concatenation: a RepBlock of ``num_csp_blocks`` blocks."""
        return RepStageBlock(in_channels, out_channels, self.num_csp_blocks, self.block_cfg)


@MODELS.register_module()
class YOLOv6CSPRepPAFPN(YOLOv6RepPAFPN):
    """mmyolo's ``YOLOv6CSPRepPAFPN`` (CSP-Rep-PAN of YOLOv6-m/l): :class:`YOLOv6RepPAFPN`
    whose fusion blocks are CSPStackRep blocks (BepC3, as the CSPBep backbone's stages):
    ``hidden_ratio`` sets their split width, ``block_act_cfg`` the activation of their 1x1
    convs; ``num_csp_blocks`` (scaled) blocks of ``block_cfg`` run in BottleRep pairs.
    ``act_cfg`` is that of the reduce, 1x1 and downsampling convs."""

    def __init__(self, in_channels: List[int], out_channels: List[int],
                 deepen_factor: float = 1.0, widen_factor: float = 1.0,
                 hidden_ratio: float = 0.5, num_csp_blocks: int = 12, freeze_all: bool = False,
                 norm_cfg: dict = YOLO_NORM, act_cfg: dict = dict(type='ReLU', inplace=True),
                 block_act_cfg: dict = dict(type='SiLU', inplace=True),
                 block_cfg: dict = dict(type='RepVGGBlock'), init_cfg=None):
        self.hidden_ratio = check_factor('hidden_ratio', hidden_ratio)
        self.block_act_cfg = block_act_cfg
        super().__init__(in_channels, out_channels, deepen_factor=deepen_factor,
                         widen_factor=widen_factor, num_csp_blocks=num_csp_blocks,
                         freeze_all=freeze_all, norm_cfg=norm_cfg, act_cfg=act_cfg,
                         block_cfg=block_cfg, init_cfg=init_cfg)

    def build_fuse_block(self, in_channels: int, out_channels: int) -> nn.Module:
        return BepC3StageBlock(in_channels, out_channels, self.num_csp_blocks,
                               self.hidden_ratio, self.block_cfg, self.norm_cfg,
                               self.block_act_cfg)
