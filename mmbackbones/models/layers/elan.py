"""YOLOv7's aggregation blocks (Wang et al. 2022, "YOLOv7: Trainable bag-of-freebies sets new
state-of-the-art for real-time object detectors", arXiv 2207.02696, Fig. 2 (c) ELAN and
(d) E-ELAN), its down-sampling blocks and the SPPCSPC block of its neck. Shared by the YOLOv7
backbone and neck.

Keys are mmyolo's (``ELANBlock``: ``main_conv``, ``short_conv``, ``blocks``, ``final_conv``;
``EELANBlock``: ``e_elan_blocks``; ``MaxPoolAndStrideConvBlock``: ``maxpool_branches``,
``stride_conv_branches``; ``TinyDownSampleBlock``: ``short_conv``, ``main_convs``,
``final_conv``; ``SPPFCSPBlock``: ``main_layers``, ``poolings``, ``fuse_layers``,
``short_layer``, ``final_conv``), so mmyolo checkpoints load unchanged.
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn

from .yolo import YOLO_ACT, YOLO_NORM, DarknetConv, build_poolings, spatial_pyramid

__all__ = ['ELANBlock', 'EELANBlock', 'MaxPoolAndStrideConv', 'TinyELANBlock', 'SPPFCSPBlock']


class ELANBlock(nn.Module):
    """Efficient layer aggregation (Fig. 2 (c)): two 1x1 convs (main, shortcut); the main
    path runs ``num_blocks`` groups of ``num_convs_in_block`` 3x3 convs in series, and the
    output of every group, the main and the shortcut path are concatenated (the last group
    first) and fused by a 1x1 conv: the gradient paths range from the shortest (the
    shortcut) to the longest (through every group), which lets deep stacks keep learning."""

    def __init__(self, in_channels: int, out_channels: int, middle_ratio: float,
                 block_ratio: float, num_blocks: int = 2, num_convs_in_block: int = 1,
                 conv_cfg=None, norm_cfg: Optional[dict] = YOLO_NORM,
                 act_cfg: Optional[dict] = YOLO_ACT, init_cfg=None):
        super().__init__()
        if num_blocks < 1 or num_convs_in_block < 1:
            raise ValueError(f'num_blocks={num_blocks}, num_convs_in_block='
                             f'{num_convs_in_block}; valid values are ints >= 1')
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        middle = int(in_channels * middle_ratio)
        block = int(in_channels * block_ratio)
        self.main_conv = DarknetConv(in_channels, middle, 1, **cfg)
        self.short_conv = DarknetConv(in_channels, middle, 1, **cfg)
        self.blocks = nn.ModuleList()
        channels = middle
        for _ in range(num_blocks):
            convs = []
            for _ in range(num_convs_in_block):
                convs.append(DarknetConv(channels, block, 3, **cfg))
                channels = block
            self.blocks.append(convs[0] if num_convs_in_block == 1 else nn.Sequential(*convs))
        self.final_conv = DarknetConv(num_blocks * block + 2 * middle, out_channels, 1, **cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.main_conv(x)
        outs = [self.short_conv(x), main]
        y = main
        for block in self.blocks:
            y = block(y)
            outs.append(y)
        return self.final_conv(torch.cat(outs[::-1], dim=1))


class EELANBlock(nn.Module):
    """Extended ELAN (Fig. 2 (d)): ``num_elan_block`` ELAN branches of the same input whose
    outputs are added; the sum of parallel branches is the "expand cardinality, shuffle,
    merge" of the figure written without group convolutions (as the official YOLOv7-E6E
    config and mmyolo build it)."""

    def __init__(self, num_elan_block: int, **kwargs):
        super().__init__()
        if num_elan_block < 1:
            raise ValueError(f'num_elan_block={num_elan_block}; valid values are ints >= 1')
        self.e_elan_blocks = nn.ModuleList(ELANBlock(**kwargs) for _ in range(num_elan_block))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.e_elan_blocks[0](x)
        for block in self.e_elan_blocks[1:]:
            out = out + block(x)
        return out


def halving_maxpool() -> nn.MaxPool2d:
    """2x2 stride-2 max-pool that keeps the last row / column of an odd-sized map
    (``ceil_mode``), so that it has the ``ceil(H / 2)`` rows of a padded stride-2 conv beside
    it (mmyolo's floors and cannot concatenate the two on odd sizes; even sizes: the same)."""
    return nn.MaxPool2d(2, 2, ceil_mode=True)


class MaxPoolAndStrideConv(nn.Module):
    """YOLOv7's down-sampling (its "MP" block, Sec. 3 / Fig. 2's transition): a 2x2 max-pool
    then a 1x1 conv, beside a 1x1 conv then a stride-2 3x3 conv; the two halves are
    concatenated (conv half first)."""

    def __init__(self, in_channels: int, out_channels: int, maxpool_kernel_sizes: int = 2,
                 use_in_channels_of_middle: bool = False, conv_cfg=None,
                 norm_cfg: Optional[dict] = YOLO_NORM, act_cfg: Optional[dict] = YOLO_ACT,
                 init_cfg=None):
        super().__init__()
        if maxpool_kernel_sizes != 2:
            raise ValueError(f'maxpool_kernel_sizes={maxpool_kernel_sizes!r}; valid values: 2')
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        middle = in_channels if use_in_channels_of_middle else out_channels // 2
        self.maxpool_branches = nn.Sequential(
            halving_maxpool(), DarknetConv(in_channels, out_channels // 2, 1, **cfg))
        self.stride_conv_branches = nn.Sequential(
            DarknetConv(in_channels, middle, 1, **cfg),
            DarknetConv(middle, out_channels // 2, 3, 2, **cfg))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat((self.stride_conv_branches(x), self.maxpool_branches(x)), dim=1)


class TinyELANBlock(nn.Module):
    """YOLOv7-tiny's ELAN (mmyolo's ``TinyDownSampleBlock``): a 1x1 shortcut conv beside a
    1x1 conv and two 3x3 convs in series; all four outputs concatenated (the last first) and
    fused by a 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int, middle_ratio: float = 1.0,
                 kernel_sizes: int = 3, conv_cfg=None, norm_cfg: Optional[dict] = YOLO_NORM,
                 act_cfg: Optional[dict] = dict(type='LeakyReLU', negative_slope=0.1),
                 init_cfg=None):
        super().__init__()
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        middle = int(in_channels * middle_ratio)
        self.short_conv = DarknetConv(in_channels, middle, 1, **cfg)
        self.main_convs = nn.ModuleList([
            DarknetConv(in_channels, middle, 1, **cfg),
            DarknetConv(middle, middle, kernel_sizes, **cfg),
            DarknetConv(middle, middle, kernel_sizes, **cfg)])
        self.final_conv = DarknetConv(middle * 4, out_channels, 1, **cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        outs = [self.short_conv(x)]
        for conv in self.main_convs:
            x = conv(x)
            outs.append(x)
        return self.final_conv(torch.cat(outs[::-1], dim=1))


class SPPFCSPBlock(nn.Module):
    """YOLOv7's SPPCSPC (the first block of its neck): spatial pyramid pooling (He et al.
    2015) inside a cross-stage-partial split (CSPNet, Wang et al. 2020, Sec. 3.1). The main
    path runs ``1x1, 3x3, 1x1`` convs, the max-pool pyramid (:func:`~.yolo.spatial_pyramid`:
    SPPF's serial pools for an int ``kernel_sizes``, as mmyolo's configs use) and ``1x1,
    3x3`` convs; a 1x1 shortcut conv runs beside it and a 1x1 conv fuses the two. Both paths
    have ``int(2 * out_channels * expand_ratio)`` channels.

    ``is_tiny_version`` (YOLOv7-tiny's SPPCSPC): one 1x1 conv before and after the pools,
    and the pyramid concatenated largest receptive field first.
    """

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float = 0.5,
                 kernel_sizes: Union[int, Sequence[int]] = 5, is_tiny_version: bool = False,
                 conv_cfg=None, norm_cfg: Optional[dict] = YOLO_NORM,
                 act_cfg: Optional[dict] = YOLO_ACT, init_cfg=None):
        super().__init__()
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        mid = int(2 * out_channels * expand_ratio)
        self.is_tiny_version = is_tiny_version
        self.poolings = build_poolings(kernel_sizes)
        branches = 4 if isinstance(kernel_sizes, int) else len(kernel_sizes) + 1
        if is_tiny_version:
            self.main_layers = DarknetConv(in_channels, mid, 1, **cfg)
            self.fuse_layers = DarknetConv(branches * mid, mid, 1, **cfg)
        else:
            self.main_layers = nn.Sequential(DarknetConv(in_channels, mid, 1, **cfg),
                                             DarknetConv(mid, mid, 3, **cfg),
                                             DarknetConv(mid, mid, 1, **cfg))
            self.fuse_layers = nn.Sequential(DarknetConv(branches * mid, mid, 1, **cfg),
                                             DarknetConv(mid, mid, 3, **cfg))
        self.short_layer = DarknetConv(in_channels, mid, 1, **cfg)
        self.final_conv = DarknetConv(2 * mid, out_channels, 1, **cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pyramid = spatial_pyramid(self.main_layers(x), self.poolings)
        if self.is_tiny_version:
            pyramid = pyramid[::-1]
        main = self.fuse_layers(torch.cat(pyramid, dim=1))
        return self.final_conv(torch.cat((main, self.short_layer(x)), dim=1))
