"""mmseg's ``MultiLevelNeck``: the multi-level rearrangement that gives a plain ViT's
single-resolution outputs (all at stride 16) the pyramid that UperNet expects.

Each input goes through a 1x1 lateral conv to ``out_channels``, is resized bilinearly by its
entry of ``scales`` (mmseg's ViT + UperNet configs: ``[4, 2, 1, 0.5]``, strides 4, 8, 16, 32)
and through a 3x3 conv. A single input is shared by every scale. Same arguments, parameter
names (``lateral_convs.{i}.conv``, ``convs.{i}.conv``) and outputs as mmseg's, so its weights
load unchanged; ``out_channels`` is the tuple of every output's channels, as our backbones'.
"""
from typing import List, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from mmengine.model.weight_init import xavier_init

from mmbackbones.registry import MODELS

__all__ = ['MultiLevelNeck']


@MODELS.register_module()
class MultiLevelNeck(BaseModule):
    """Args (mmseg's):
        in_channels: channels of each input (a list, one per backbone output).
        out_channels: channels of every output (an int).
        scales: resize factor of each output; as many outputs as scales.
        norm_cfg, act_cfg: of the convs (``None``: plain convs with bias, mmseg's default).
    """

    def __init__(self, in_channels: List[int], out_channels: int,
                 scales: Sequence[float] = (0.5, 1, 2, 4), norm_cfg=None, act_cfg=None,
                 init_cfg=None):
        super().__init__(init_cfg)
        if (not isinstance(in_channels, (list, tuple)) or not in_channels or not all(
                isinstance(c, int) and c > 0 for c in in_channels)):
            raise ValueError(f'in_channels={in_channels!r}; valid values are a non-empty list '
                             'of positive ints, one per input')
        if not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f'out_channels={out_channels!r}; valid values are positive ints '
                             '(the channels of every output)')
        if (not isinstance(scales, (list, tuple)) or not scales or not all(
                isinstance(s, (int, float)) and s > 0 for s in scales)):
            raise ValueError(f'scales={scales!r}; valid values are a non-empty list of positive '
                             'numbers, one per output')
        if len(in_channels) not in (1, len(scales)):
            raise ValueError(f'in_channels={in_channels!r} and scales={scales!r}: give one input '
                             'or one per scale')
        self.in_channels = list(in_channels)
        self.scales = list(scales)
        self.num_outs = len(scales)
        self.out_channels = (out_channels, ) * self.num_outs
        self.lateral_convs = nn.ModuleList(
            ConvModule(c, out_channels, 1, norm_cfg=norm_cfg, act_cfg=act_cfg)
            for c in in_channels)
        self.convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg,
                       act_cfg=act_cfg) for _ in scales)

    def init_weights(self):
        if self.init_cfg is not None:
            return super().init_weights()
        for module in self.modules():  # mmseg's initialisation
            if isinstance(module, nn.Conv2d):
                xavier_init(module, distribution='uniform')

    def forward(self, inputs: Sequence[torch.Tensor]):
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'{type(self).__name__} got {len(inputs)} inputs; in_channels '
                             f'{self.in_channels} says {len(self.in_channels)}')
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, inputs)]
        if len(laterals) == 1:
            laterals = laterals * self.num_outs
        return tuple(
            conv(F.interpolate(x, scale_factor=scale, mode='bilinear', align_corners=False))
            for conv, x, scale in zip(self.convs, laterals, self.scales))
