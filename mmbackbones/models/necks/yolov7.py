"""YOLOv7's neck (Wang et al. 2022, arXiv 2207.02696; the head-side "neck" of its official
configs): an SPPCSPC block on the lowest-resolution input, then YOLOv5's path aggregation
(:class:`~mmbackbones.models.necks.yolo.YOLOv5PAFPN`'s forward) with ELAN blocks (Fig. 2 (c);
E-ELAN, Fig. 2 (d), for YOLOv7-E6E) as the fusing blocks, YOLOv7's max-pool-and-stride-conv
"MP" down-sampling and RepVGG 3x3 output convs (Sec. 4.1, "planned re-parameterized
convolution": RepConv without its identity branch, as it is not followed by a residual).
Blocks in ``layers/elan.py`` and ``layers/repvgg.py``.

This project's implementation of mmyolo's ``YOLOv7PAFPN``: same arguments, defaults and
parameter names, so that mmyolo's neck dicts (YOLOv7-tiny, -L, -X and the P6 models) build with
only ``type`` changed and mmyolo checkpoints load unchanged; ``switch_to_deploy()`` fuses the
RepVGG output convs and folds every BatchNorm.
"""
from typing import List

import torch.nn as nn
from mmengine.model import BaseModule

from mmbackbones.registry import MODELS

from ..layers.args import check_choice
from ..layers.elan import EELANBlock, ELANBlock, MaxPoolAndStrideConv, SPPFCSPBlock, TinyELANBlock
from ..layers.repvgg import RepVGGBlock
from ..layers.yolo import YOLO_ACT, YOLO_NORM, DarknetConv, conv_module_init
from .yolo import YOLOv5PAFPN

__all__ = ['YOLOv7PAFPN']

# The fusing blocks ``block_cfg`` may name, by mmyolo's registry names.
BLOCKS = {'ELANBlock': ELANBlock, 'EELANBlock': EELANBlock, 'TinyDownSampleBlock': TinyELANBlock}


@MODELS.register_module()
class YOLOv7PAFPN(YOLOv5PAFPN):
    """mmyolo's ``YOLOv7PAFPN``.

    Args (mmyolo's, same defaults):
        in_channels: input channels per level, highest resolution first (3 levels; 4 for the
            P6 models), scaled ``int(c * widen_factor)``.
        out_channels: widths of the path-aggregation levels, scaled alike; with three levels
            the outputs have twice these channels (the 3x3 output convs), with four these.
        block_cfg: the fusing block, ``dict(type='ELANBlock' | 'EELANBlock' |
            'TinyDownSampleBlock', **its arguments)`` (``in_channels`` / ``out_channels`` are
            set per level; ``norm_cfg`` / ``act_cfg`` default to the neck's).
        deepen_factor: unused by the architecture (as in mmyolo).
        widen_factor: channel multiplier.
        spp_expand_ratio: ``expand_ratio`` of the SPPCSPC block.
        is_tiny_version: YOLOv7-tiny: the tiny SPPCSPC and stride-2 3x3 down-sampling convs.
        use_maxpool_in_downsample: the MP block for down-sampling (else a stride-2 3x3 conv).
        use_in_channels_in_downsample: the MP block's middle width is its input's.
        use_repconv_outs: RepVGG output convs (else plain 3x3 convs); three levels only.
        upsample_feats_cat_first: concatenate the upsampled map before the lateral one.
        freeze_all: freeze the whole neck.
        norm_cfg, act_cfg, init_cfg: of every conv.

    After construction ``out_channels`` is the tuple of real output channels and
    ``input_channels`` that of real input channels.
    """

    def __init__(self, in_channels: List[int], out_channels: List[int],
                 block_cfg: dict = dict(type='ELANBlock', middle_ratio=0.5, block_ratio=0.25,
                                        num_blocks=4, num_convs_in_block=1),
                 deepen_factor: float = 1.0, widen_factor: float = 1.0,
                 spp_expand_ratio: float = 0.5, is_tiny_version: bool = False,
                 use_maxpool_in_downsample: bool = True,
                 use_in_channels_in_downsample: bool = False, use_repconv_outs: bool = True,
                 upsample_feats_cat_first: bool = False, freeze_all: bool = False,
                 norm_cfg: dict = YOLO_NORM, act_cfg: dict = YOLO_ACT, init_cfg=None):
        BaseModule.__init__(self, init_cfg)
        if not (isinstance(in_channels, (list, tuple)) and isinstance(out_channels, (list, tuple))
                and len(in_channels) == len(out_channels) >= 2):
            raise ValueError(f'in_channels={in_channels!r}, out_channels={out_channels!r}; valid '
                             'values are two lists of as many ints (3 levels, 4 for P6), highest '
                             'resolution first')
        if not isinstance(block_cfg, dict) or 'type' not in block_cfg:
            raise TypeError(f'block_cfg={block_cfg!r}; valid values are dicts with a type in '
                            f'{sorted(BLOCKS)}')
        block_type = str(block_cfg['type']).split('.')[-1]
        check_choice('block_cfg type', block_type, BLOCKS)
        self.in_channels = list(in_channels)
        self.deepen_factor, self.widen_factor = deepen_factor, widen_factor
        self.is_tiny_version = is_tiny_version
        self.upsample_feats_cat_first = upsample_feats_cat_first
        self.freeze_all = freeze_all
        c_in = [int(c * widen_factor) for c in in_channels]
        width = [int(c * widen_factor) for c in out_channels]
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        block_args = {k: v for k, v in block_cfg.items() if k != 'type'}
        block_args.setdefault('norm_cfg', norm_cfg)
        block_args.setdefault('act_cfg', act_cfg)
        last = len(in_channels) - 1

        def fuse(channels):  # the fusing block of a level: twice its width in, its width out
            return BLOCKS[block_type](in_channels=2 * channels, out_channels=channels,
                                      **block_args)

        self.reduce_layers = nn.ModuleList(
            DarknetConv(c_in[i], width[i], 1, **cfg) for i in range(last))
        self.reduce_layers.append(SPPFCSPBlock(c_in[last], width[last], spp_expand_ratio,
                                               kernel_sizes=5, is_tiny_version=is_tiny_version,
                                               **cfg))
        self.upsample_layers = nn.ModuleList(
            nn.Sequential(DarknetConv(width[i], width[i - 1], 1, **cfg),
                          nn.Upsample(scale_factor=2, mode='nearest'))
            for i in range(last, 0, -1))
        self.top_down_layers = nn.ModuleList(fuse(width[i - 1]) for i in range(last, 0, -1))
        if use_maxpool_in_downsample and not is_tiny_version:
            self.downsample_layers = nn.ModuleList(
                MaxPoolAndStrideConv(width[i], width[i + 1],
                                     use_in_channels_of_middle=use_in_channels_in_downsample,
                                     **cfg) for i in range(last))
        else:
            self.downsample_layers = nn.ModuleList(
                DarknetConv(width[i], width[i + 1], 3, 2, **cfg) for i in range(last))
        self.bottom_up_layers = nn.ModuleList(fuse(width[i + 1]) for i in range(last))
        if len(in_channels) == 4:  # P6: the head has its own output convs (as mmyolo)
            self.out_layers = nn.ModuleList(nn.Identity() for _ in width)
            self.out_channels = tuple(width)
        else:
            out_conv = (lambda c: RepVGGBlock(c, 2 * c, **cfg)) if use_repconv_outs else \
                (lambda c: DarknetConv(c, 2 * c, 3, **cfg))
            self.out_layers = nn.ModuleList(out_conv(c) for c in width)
            self.out_channels = tuple(2 * c for c in width)
        self.input_channels = tuple(c_in)

    def init_weights(self):
        """Without ``init_cfg``: mmcv ``ConvModule``'s initialisation, which mmyolo's
        ``YOLOv7PAFPN`` keeps (its YOLOv5 / YOLOv6 necks reset to PyTorch's, as ours keep)."""
        if self.init_cfg is None:
            conv_module_init(self)
            self._is_init = True
        else:
            super().init_weights()
