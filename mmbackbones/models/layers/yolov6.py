"""YOLOv6's stage blocks (Li et al. 2022, "YOLOv6: A Single-Stage Object Detection Framework
for Industrial Applications", arXiv 2209.02976, Sec. 2.1): the RepBlock (RepVGG blocks in
series), its CSP form CSPStackRep (BepC3) of BottleRep units, and the ``block_cfg`` blocks they
are made of (the RepVGG block, or mmyolo's ``ConvWrapper``). Shared by the EfficientRep / CSPBep
backbones (``backbones/efficient_rep.py``) and the Rep-PAN / CSP-Rep-PAN necks
(``necks/yolov6.py``). Keys are mmyolo's.
"""
from typing import Optional

import torch
import torch.nn as nn

from .args import check_choice
from .repvgg import RepVGGBlock
from .yolo import DarknetConv

__all__ = ['ConvWrapper', 'build_block', 'BottleRep', 'RepStageBlock', 'BepC3StageBlock']


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
