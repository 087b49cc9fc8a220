"""ViTDet's simple feature pyramid (Li et al. 2022, arXiv 2203.16527, Sec. 3 "Simple feature
pyramid"): the pyramid built from the last map of a plain ViT alone, without the top-down and
lateral fusion of an FPN. From the stride-16 map of ``C`` channels:

* stride 4: two 2x2 stride-2 deconvolutions (C -> C/2 -> C/4), a norm and a GELU between them;
* stride 8: one deconvolution (C -> C/2);
* stride 16: the map itself;
* stride 32: 2x2 max pooling;

then on every level a 1x1 conv to ``out_channels`` and a 3x3 conv, each followed by the norm
(ViTDet: LayerNorm over channels, ``dict(type='mmbackbones.LN2d')``), and, for a fifth output,
a stride-2 subsampling of the last (1x1 max pooling, detectron2's ``LastLevelMaxPool``).

mmdet's ``projects/ViTDet`` ``SimpleFPN``: the same arguments, parameter names and outputs, so
that its configs (and detector checkpoints) work with ``type='mmbackbones.SimpleFPN'``; it also
takes the one-map tuple every mmbackbones backbone returns.
"""
from typing import List, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModule

from mmbackbones.registry import MODELS

from ..layers import build_norm

__all__ = ['SimpleFPN']


@MODELS.register_module()
class SimpleFPN(BaseModule):
    """Simple feature pyramid of ViTDet.

    Args:
        backbone_channel: channels ``C`` of the backbone's stride-16 map.
        in_channels: the channels of the four levels before their convs, which the structure
            fixes: ``[C // 4, C // 2, C, C]`` (mmdet's configs list them).
        out_channels: channels of every output.
        num_outs: outputs; 4 (strides 4-32) or more, each further one subsampled by 2 from
            the one before (ViTDet's Mask R-CNN: 5).
        conv_cfg, norm_cfg, act_cfg: of the 1x1 and 3x3 convs (mmcv ``ConvModule``);
            ``norm_cfg`` is also the norm between the two stride-4 deconvolutions.
        init_cfg: mmengine init config.

    After construction ``out_channels`` is the tuple of the channels of every output.
    """

    def __init__(self, backbone_channel: int, in_channels: List[int], out_channels: int,
                 num_outs: int, conv_cfg=None, norm_cfg=None, act_cfg=None, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        from mmcv.cnn import ConvModule
        if not isinstance(backbone_channel, int) or backbone_channel < 4 or backbone_channel % 4:
            raise ValueError(f'backbone_channel={backbone_channel!r}; valid values are positive '
                             'multiples of 4 (the stride-4 level has backbone_channel // 4)')
        levels = [backbone_channel // 4, backbone_channel // 2, backbone_channel,
                  backbone_channel]
        if not isinstance(in_channels, (list, tuple)) or list(in_channels) != levels:
            raise ValueError(f'in_channels={in_channels!r} with backbone_channel='
                             f'{backbone_channel}: the pyramid makes levels of {levels} '
                             'channels (deconvolutions halve them), so in_channels must be '
                             f'{levels}')
        if not isinstance(out_channels, int) or out_channels < 1:
            raise ValueError(f'out_channels={out_channels!r}; valid values are positive ints')
        if not isinstance(num_outs, int) or num_outs < len(levels):
            raise ValueError(f'num_outs={num_outs!r}; valid values are ints >= {len(levels)} '
                             '(strides 4, 8, 16, 32, then one more stride-2 level each)')
        self.backbone_channel = backbone_channel
        self.in_channels = list(in_channels)
        self.num_ins = len(levels)
        self.num_outs = num_outs
        half, quarter = backbone_channel // 2, backbone_channel // 4
        self.fpn1 = nn.Sequential(
            nn.ConvTranspose2d(backbone_channel, half, 2, 2), build_norm(norm_cfg, half),
            nn.GELU(), nn.ConvTranspose2d(half, quarter, 2, 2))
        self.fpn2 = nn.Sequential(nn.ConvTranspose2d(backbone_channel, half, 2, 2))
        self.fpn3 = nn.Sequential(nn.Identity())
        self.fpn4 = nn.Sequential(nn.MaxPool2d(kernel_size=2, stride=2))
        conv = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg, inplace=False)
        self.lateral_convs = nn.ModuleList(ConvModule(c, out_channels, 1, **conv) for c in levels)
        self.fpn_convs = nn.ModuleList(
            ConvModule(out_channels, out_channels, 3, padding=1, **conv) for _ in levels)
        self.out_channels = (out_channels, ) * num_outs

    def forward(self, inputs: Union[torch.Tensor, Sequence[torch.Tensor]]):
        """The backbone's map (a tensor, or a sequence holding only it) -> ``num_outs`` maps,
        highest resolution first."""
        if not isinstance(inputs, torch.Tensor):
            if not isinstance(inputs, (list, tuple)) or len(inputs) != 1:
                got = len(inputs) if isinstance(inputs, (list, tuple)) else type(inputs).__name__
                raise ValueError(f'SimpleFPN builds its pyramid from one map; got {got} inputs '
                                 '(set the backbone\'s out_indices to its last level)')
            inputs = inputs[0]
        levels = [fpn(inputs) for fpn in (self.fpn1, self.fpn2, self.fpn3, self.fpn4)]
        outs = [out_conv(lateral(x)) for x, lateral, out_conv in
                zip(levels, self.lateral_convs, self.fpn_convs)]
        for _ in range(self.num_outs - self.num_ins):
            outs.append(F.max_pool2d(outs[-1], 1, stride=2))
        return tuple(outs)
