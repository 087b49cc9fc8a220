"""Building blocks of the Darknet / YOLO backbones and necks.

Shared by the Darknet and CSP-Darknet families (``backbones/darknet.py``,
``backbones/csp_darknet.py``), the YOLO necks (``necks/``) and the re-parameterisable YOLO
families that build on the same units. Parameter names are OpenMMLab's (mmcv's ``ConvModule``:
``conv``, ``bn``; mmdet's ``CSPLayer``: ``main_conv``, ``short_conv``, ``final_conv``,
``blocks``; ``SPPBottleneck``: ``conv1``, ``poolings``, ``conv2``), so that mmdet and mmyolo
checkpoints load with few renames.
"""
from typing import Optional, Sequence, Union

import torch
import torch.nn as nn
import torch.nn.functional as F

from .conv_plugin import build_conv
from .norm_act import build_act, build_norm

__all__ = ['DarknetConv', 'DepthwiseSeparableConv', 'DarknetBottleneck', 'CSPLayer',
           'SPPBottleneck', 'Focus', 'make_round', 'pad_to_even',
           'build_poolings', 'spatial_pyramid', 'conv_module_init', 'YOLO_NORM', 'YOLO_ACT']

# The norm and activation of YOLOv5 / YOLOX (mmdet's CSPDarknet, mmyolo): BN with PyTorch
# momentum 0.03 (Darknet's 0.97 decay) and eps 1e-3, SiLU (= Swish).
YOLO_NORM = dict(type='BN', momentum=0.03, eps=0.001)
YOLO_ACT = dict(type='SiLU', inplace=True)


def make_round(num_blocks: int, deepen_factor: float = 1.0) -> int:
    """``num_blocks * deepen_factor`` rounded, at least 1 (YOLOv5's depth rule; a single
    block is never scaled)."""
    return max(round(num_blocks * deepen_factor), 1) if num_blocks > 1 else num_blocks


def pad_to_even(x: torch.Tensor) -> torch.Tensor:
    """Zero-pad one row / column at the bottom / right of an odd-sized map, so that a
    stride-2 space-to-depth or 6x6 stem gives ``ceil(H / 2)`` rows like a padded 3x3 conv."""
    pad_h, pad_w = x.shape[-2] % 2, x.shape[-1] % 2
    return F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x


class DarknetConv(nn.Module):
    """Conv, norm, activation: the Darknet convolutional unit (YOLO9000, Table 6; every conv
    of YOLOv3-v5 and YOLOX). Keys as mmcv's ``ConvModule``: ``conv``, ``bn``; the conv has a
    bias only without a norm."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 stride: int = 1, padding: Optional[int] = None, groups: int = 1,
                 conv_cfg=None, norm_cfg: Optional[dict] = YOLO_NORM,
                 act_cfg: Optional[dict] = YOLO_ACT):
        super().__init__()
        if padding is None:
            padding = kernel_size // 2
        self.conv = build_conv(conv_cfg, in_channels, out_channels, kernel_size, stride,
                               padding=padding, groups=groups, bias=norm_cfg is None)
        self.bn = build_norm(norm_cfg, out_channels)
        self.activate = build_act(act_cfg)
        if act_cfg is not None and 'inplace' not in act_cfg and hasattr(self.activate, 'inplace'):
            # In place unless the config says otherwise, as mmcv's ConvModule (inplace=True):
            # the activation overwrites the norm's (or conv's) output, which their backward does
            # not need; keeping both held 13% more training memory on Darknet-53.
            self.activate.inplace = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.activate(self.bn(self.conv(x)))


def conv_module_init(model: nn.Module) -> None:
    """mmcv ``ConvModule``'s initialisation, which OpenMMLab models built of it get at
    construction unless they reset it: the conv of every :class:`DarknetConv` and RepVGG
    branch (a ``ConvModule`` without activation there) Kaiming-normal, fan-out, with the
    LeakyReLU slope of its unit where it has one (else ReLU's gain), bias 0."""
    from .repvgg import ConvBN
    for module in model.modules():
        if not isinstance(module, (DarknetConv, ConvBN)) or hasattr(module.conv, 'init_weights'):
            continue  # (a conv with its own initialisation keeps it, as in mmcv)
        act = getattr(module, 'activate', None)
        if isinstance(act, nn.LeakyReLU):
            nn.init.kaiming_normal_(module.conv.weight, a=act.negative_slope, mode='fan_out',
                                    nonlinearity='leaky_relu')
        else:
            nn.init.kaiming_normal_(module.conv.weight, mode='fan_out', nonlinearity='relu')
        if module.conv.bias is not None:
            nn.init.zeros_(module.conv.bias)


class DepthwiseSeparableConv(nn.Module):
    """Depthwise conv + norm + act, then pointwise conv + norm + act (MobileNet; YOLOX-Nano).
    Keys as mmcv's ``DepthwiseSeparableConvModule``."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 3,
                 stride: int = 1, padding: Optional[int] = None, conv_cfg=None,
                 norm_cfg: Optional[dict] = YOLO_NORM, act_cfg: Optional[dict] = YOLO_ACT):
        super().__init__()
        self.depthwise_conv = DarknetConv(in_channels, in_channels, kernel_size, stride,
                                          padding, groups=in_channels, conv_cfg=conv_cfg,
                                          norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.pointwise_conv = DarknetConv(in_channels, out_channels, 1, conv_cfg=conv_cfg,
                                          norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise_conv(self.depthwise_conv(x))


def conv_unit(use_depthwise: bool):
    """The 3x3 conv unit: depthwise-separable (YOLOX-Nano) or plain."""
    return DepthwiseSeparableConv if use_depthwise else DarknetConv


class DarknetBottleneck(nn.Module):
    """1x1 conv to ``out_channels * expansion``, 3x3 conv back, plus the input: the Darknet-53
    residual block (YOLOv3, Table 1) and the block inside CSP stages (CSPNet Sec. 3.1, YOLOv5's
    C3). ``add_identity`` only applies where the channels match (as mmdet)."""

    def __init__(self, in_channels: int, out_channels: int, expansion: float = 0.5,
                 add_identity: bool = True, use_depthwise: bool = False, conv_cfg=None,
                 norm_cfg=YOLO_NORM, act_cfg=YOLO_ACT):
        super().__init__()
        hidden = int(out_channels * expansion)
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.conv1 = DarknetConv(in_channels, hidden, 1, **cfg)
        self.conv2 = conv_unit(use_depthwise)(hidden, out_channels, 3, 1, **cfg)
        self.add_identity = add_identity and in_channels == out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.conv2(self.conv1(x))
        return out + x if self.add_identity else out


class CSPLayer(nn.Module):
    """Cross Stage Partial layer in YOLOv5's form (C3; the cross-stage partial idea of CSPNet,
    Wang et al. 2020, arXiv 1911.11929, Sec. 3.1, with the fusion after the concatenation):
    two 1x1 convs split the input into a main path, which runs ``num_blocks`` Darknet
    bottlenecks, and a shortcut path; a 1x1 conv fuses their concatenation. Half the channels
    skip the blocks, which cuts computation at equal accuracy."""

    def __init__(self, in_channels: int, out_channels: int, expand_ratio: float = 0.5,
                 num_blocks: int = 1, add_identity: bool = True, use_depthwise: bool = False,
                 conv_cfg=None, norm_cfg=YOLO_NORM, act_cfg=YOLO_ACT):
        super().__init__()
        mid = int(out_channels * expand_ratio)
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        self.main_conv = DarknetConv(in_channels, mid, 1, **cfg)
        self.short_conv = DarknetConv(in_channels, mid, 1, **cfg)
        self.final_conv = DarknetConv(2 * mid, out_channels, 1, **cfg)
        self.blocks = nn.Sequential(*[
            DarknetBottleneck(mid, mid, 1.0, add_identity, use_depthwise, **cfg)
            for _ in range(num_blocks)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.blocks(self.main_conv(x))
        return self.final_conv(torch.cat((main, self.short_conv(x)), dim=1))


def build_poolings(kernel_sizes: Union[int, Sequence[int]]) -> nn.Module:
    """The stride-1 max-pools of a spatial pyramid: one ``k x k`` pool for an int ``k`` (SPPF,
    applied three times in series), parallel pools of the sizes of a sequence (SPP)."""
    if isinstance(kernel_sizes, int) and kernel_sizes % 2:
        return nn.MaxPool2d(kernel_sizes, 1, kernel_sizes // 2)
    if (isinstance(kernel_sizes, (list, tuple)) and kernel_sizes
            and all(isinstance(k, int) and k % 2 for k in kernel_sizes)):
        return nn.ModuleList(nn.MaxPool2d(k, 1, k // 2) for k in kernel_sizes)
    raise ValueError(f'kernel_sizes={kernel_sizes!r}; valid values are an odd int (SPPF) or a '
                     'sequence of odd ints (SPP)')


def spatial_pyramid(x: torch.Tensor, poolings: nn.Module) -> list:
    """``x`` and its max-pooled copies (:func:`build_poolings`): SPP's parallel pools, or
    SPPF's one pool three times in series (receptive fields 5, 9, 13 for ``k = 5``, as SPP's
    parallel 5, 9, 13 pools, for fewer operations)."""
    if isinstance(poolings, nn.ModuleList):
        return [x] + [pool(x) for pool in poolings]
    pyramid = [x]
    for _ in range(3):
        pyramid.append(poolings(pyramid[-1]))
    return pyramid


class SPPBottleneck(nn.Module):
    """Spatial pyramid pooling between two 1x1 convs.

    ``kernel_sizes`` a tuple: parallel max-pools of those sizes (SPP of YOLOv3-SPP / YOLOv4,
    He et al. 2015's pyramid at stride 1; YOLOX: 5, 9, 13). An int ``k``: SPPF of YOLOv5 v6,
    three ``k x k`` pools in series, the same receptive fields as SPP (5, 9, 13 for k=5) for
    fewer operations. ``use_conv_first=False`` pools the input itself, without the first conv
    (``conv1`` is None; PP-YOLOE's neck). Keys as mmdet's ``SPPBottleneck`` / mmyolo's
    ``SPPFBottleneck``.
    """

    def __init__(self, in_channels: int, out_channels: int,
                 kernel_sizes: Union[int, Sequence[int]] = (5, 9, 13), conv_cfg=None,
                 norm_cfg=YOLO_NORM, act_cfg=YOLO_ACT, mid_channels_scale: float = 0.5,
                 use_conv_first: bool = True):
        super().__init__()
        cfg = dict(conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)
        if use_conv_first:
            mid = int(in_channels * mid_channels_scale)
            self.conv1 = DarknetConv(in_channels, mid, 1, **cfg)
        else:
            mid, self.conv1 = in_channels, None
        self.poolings = build_poolings(kernel_sizes)
        branches = 4 if isinstance(kernel_sizes, int) else len(kernel_sizes) + 1
        self.conv2 = DarknetConv(mid * branches, out_channels, 1, **cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.conv1 is not None:
            x = self.conv1(x)
        return self.conv2(torch.cat(spatial_pyramid(x, self.poolings), dim=1))


class Focus(nn.Module):
    """Space-to-depth stem of YOLOv5 (before v6) and YOLOX: the four interleaved
    half-resolution slices (top-left, bottom-left, top-right, bottom-right, mmdet's order) are
    stacked to ``4 * in_channels`` channels, then a conv.

    An odd height or width is zero-padded by one row / column at the bottom / right first, so
    that the output has ``ceil(H / 2) x ceil(W / 2)`` positions (mmdet's and mmyolo's Focus
    cannot concatenate the slices of an odd-sized input and raise).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 stride: int = 1, conv_cfg=None, norm_cfg=YOLO_NORM, act_cfg=YOLO_ACT):
        super().__init__()
        self.conv = DarknetConv(in_channels * 4, out_channels, kernel_size, stride,
                                conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = pad_to_even(x)
        x = torch.cat((x[..., ::2, ::2], x[..., 1::2, ::2], x[..., ::2, 1::2],
                       x[..., 1::2, 1::2]), dim=1)
        return self.conv(x)
