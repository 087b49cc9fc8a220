"""PP-YOLOE's blocks (Xu et al. 2022, "PP-YOLOE: An evolved version of YOLO", arXiv 2203.16250,
Sec. 2.2 "Scalable backbone and neck"): the RepResBlock, the effective
squeeze-excitation and the CSPRepResStage built of them. Shared by the CSPRepResNet backbone
(``backbones/csp_resnet.py``, stride-2 stages with ESE) and the CSPRepResPAN neck
(``necks/ppyoloe.py``, stride-1 stages without ESE, an SPP in the deepest one).

Keys are mmyolo's (``PPYOLOEBasicBlock``, ``EffectiveSELayer``, ``CSPResLayer``,
``SPPFBottleneck``), so mmyolo checkpoints load unchanged.
"""
from collections import OrderedDict
from typing import Optional

import torch
import torch.nn as nn

from .norm_act import build_act
from .repvgg import RepVGGBlock
from .yolo import DarknetConv, SPPBottleneck

__all__ = ['PPYOLOE_NORM', 'PPYOLOE_ACT', 'RepResBlock', 'EffectiveSE', 'CSPRepResStage',
           'check_type']

# PP-YOLOE's norm and activation (PaddleDetection's defaults): BN momentum 0.1 / eps 1e-5, SiLU.
PPYOLOE_NORM = dict(type='BN', momentum=0.1, eps=1e-5)
PPYOLOE_ACT = dict(type='SiLU', inplace=True)


def check_type(name: str, cfg, valid: str) -> None:
    """``cfg`` must be a dict whose ``type`` is ``valid`` (with or without a scope prefix)."""
    if not isinstance(cfg, dict) or str(cfg.get('type', '')).split('.')[-1] != valid:
        raise ValueError(f'{name}={cfg!r}; valid values are dicts with type={valid!r}')


class RepResBlock(nn.Module):
    """PP-YOLOE's RepResBlock (Sec. 2.2; mmyolo's ``PPYOLOEBasicBlock``): a 3x3
    conv, a RepVGG block without the identity branch (its 1x1 branch scaled by a learned
    ``alpha`` with ``use_alpha``), plus the input with ``shortcut``. Keys ``conv1``,
    ``conv2``."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict = PPYOLOE_NORM,
                 act_cfg: Optional[dict] = PPYOLOE_ACT, shortcut: bool = True,
                 use_alpha: bool = False):
        super().__init__()
        self.conv1 = DarknetConv(in_channels, out_channels, 3, norm_cfg=norm_cfg,
                                 act_cfg=act_cfg)
        self.conv2 = RepVGGBlock(out_channels, out_channels, norm_cfg=norm_cfg, act_cfg=act_cfg,
                                 use_alpha=use_alpha, use_bn_first=False)
        self.shortcut = shortcut

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv2(self.conv1(x))
        return x + y if self.shortcut else y


class EffectiveSE(nn.Module):
    """Effective squeeze-excitation (Lee & Park 2020, CenterMask, arXiv 1911.06667,
    Sec. 3.2): global average pool, one 1x1 conv (no channel reduction), a hard sigmoid gate.
    Keys as mmyolo's ``EffectiveSELayer``: ``fc.conv``."""

    def __init__(self, channels: int, act_cfg: dict = dict(type='HSigmoid')):
        super().__init__()
        self.fc = DarknetConv(channels, channels, 1, norm_cfg=None, act_cfg=None)
        self.activate = build_act(act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.activate(self.fc(x.mean((2, 3), keepdim=True)))


class CSPRepResStage(nn.Module):
    """One CSPRepResStage (Sec. 2.2): the CSP split into ``conv1`` (shortcut) and
    ``conv2`` -> RepResBlocks, ESE over the concatenation (``attention_cfg``), ``conv3`` to
    the output width. Keys as mmyolo's ``CSPResLayer``.

    ``stride=2`` (the backbone's stages) first runs a stride-2 3x3 conv (``conv_down``) to the
    mean of the input and output widths, and splits that; ``stride=1`` (the neck's) splits the
    input into two halves of the output width. ``use_spp`` (the neck's deepest stage) puts
    an SPP (parallel 5, 9, 13 max-pools, then a 1x1 conv; no conv before them) after the
    middle block, as ``blocks.spp``.
    """

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int, block_cfg: dict,
                 norm_cfg: dict = PPYOLOE_NORM, act_cfg: Optional[dict] = PPYOLOE_ACT,
                 attention_cfg: Optional[dict] = None, stride: int = 1,
                 use_spp: bool = False):
        super().__init__()
        if stride not in (1, 2):
            raise ValueError(f'stride={stride!r}; valid values: 1 (neck), 2 (backbone)')
        cfg = dict(norm_cfg=norm_cfg, act_cfg=act_cfg)
        if stride == 2:
            split = fuse = (in_channels + out_channels) // 2
            self.conv_down = DarknetConv(in_channels, split, 3, 2, **cfg)
        else:
            split, fuse = in_channels, out_channels
            self.conv_down = None
        half = split // 2 if stride == 2 else out_channels // 2
        self.conv1 = DarknetConv(split, half, 1, **cfg)
        self.conv2 = DarknetConv(split, half, 1, **cfg)
        block_cfg = dict(block_cfg)
        block_cfg.pop('type')
        block_cfg.setdefault('norm_cfg', norm_cfg)
        block_cfg.setdefault('act_cfg', act_cfg)
        blocks = OrderedDict()
        for index in range(num_blocks):
            blocks[str(index)] = RepResBlock(half, half, **block_cfg)
            if use_spp and index == (num_blocks - 1) // 2:
                blocks['spp'] = SPPBottleneck(half, half, (5, 9, 13), use_conv_first=False,
                                              **cfg)
        self.blocks = nn.Sequential(blocks)
        self.attn = EffectiveSE(2 * half, **{k: v for k, v in attention_cfg.items()
                                             if k != 'type'}) if attention_cfg else None
        self.conv3 = DarknetConv(fuse, out_channels, 1, **cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv_down is not None:
            x = self.conv_down(x)
        y = torch.cat((self.conv1(x), self.blocks(self.conv2(x))), dim=1)
        if self.attn is not None:
            y = self.attn(y)
        return self.conv3(y)
