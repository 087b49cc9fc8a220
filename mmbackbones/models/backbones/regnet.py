"""RegNetX and RegNetY ("Designing Network Design Spaces", Radosavovic et al., arXiv 2003.13678).

A RegNet is not a list of channels but five numbers: the initial width ``w0``, the slope ``wa``,
the multiplier ``wm``, the group width ``group_w`` and the depth (number of blocks). Block ``j``
wants the width ``u_j = w0 + wa * j``; that width is snapped to the nearest power of ``wm``
times ``w0`` (``w0 * wm ** round(log(u_j / w0) / log(wm))``) and rounded to a multiple of 8.
Consecutive blocks of equal width form a stage (four for every published model). Each stage's
width is then made a multiple of its group width (the group width is capped at the stage width
first), with the bottleneck ratio 1 of the paper's models. :func:`regnet_stages` computes this;
the networks of timm, torchvision, pycls, mmdet and mmpretrain all follow from it.

The block is a ResNeXt bottleneck at expansion 1 (1x1, grouped 3x3 with the stride, 1x1; a
projection shortcut where the width or the resolution changes). RegNetY adds squeeze-excitation
after the 3x3 conv, squeezing to ``se_ratio`` (0.25) times the block's *input* width. The stem is
one 3x3 stride-2 conv of 32 channels, with no pooling, so the four levels have strides 4 to 32.

The class takes mmdet's ``RegNet`` arguments with their meaning (mmdet and mmpretrain share
them): ``arch`` is one of mmdet's names (``'regnetx_3.2gf'``; here also the pycls sizes mmdet
lacks, ``'regnetx_200mf'`` ... ``'regnetx_32gf'``, and RegNetY, ``'regnety_200mf'`` ...
``'regnety_32gf'``) or its dict ``dict(w0=, wa=, wm=, group_w=, depth=, bot_mul=)`` (here with
an optional ``se_ratio``), and ``strides``, ``dilations``, ``style``, ``avg_down``, ``dcn`` /
``stage_with_dcn``, ``plugins``, ``conv_cfg``, ``norm_cfg``, ``frozen_stages``, ``norm_eval``,
``zero_init_residual``, ``with_cp``, ``pretrained`` / ``init_cfg`` work as in mmdet. Parameter
names are mmdet's (``conv1``, ``bn1``, ``layer1.0.conv1``, ..., ``layer1.0.downsample.0``), so
mmdet's and mmpretrain's checkpoints load as they are.

Weights convert from timm (``regnetx_002`` ... ``regnety_320``, the pycls weights with the first
conv turned from BGR to RGB), torchvision (``regnet_x_*``, ``regnet_y_*``), mmdet and
mmpretrain (pycls weights in mmdet's keys, BGR). torchvision computes the same design but rounds a
stage's bottleneck width to a multiple of the group width half up and never more than 10% down
(pycls: to the nearest multiple, ties to even). Three of its models therefore differ from pycls:
``regnet_x_400mf`` (last stage 400 wide instead of 384: 5.50M parameters against 5.16M),
``regnet_y_800mf`` (widths 144 / 784 instead of 128 / 768: 6.43M against 6.26M) and
``regnet_y_8gf`` (first stage 224 wide instead of 168); ``regnet_y_128gf`` is a size pycls never
had. The other eleven (``regnet_x_800mf``, ``_1_6gf``, ``_3_2gf``, ``_8gf``, ``_16gf``,
``_32gf``, ``regnet_y_400mf``, ``_1_6gf``, ``_3_2gf``, ``_16gf``, ``_32gf``) are the pycls
network exactly (their weights are torchvision's own trainings, and SWAG for the Y-16GF / 32GF
tags), and are listed as references of the zoo rows; the three that differ are not.
"""
import math
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from mmbackbones.references import reference_levels
from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import register_converter, rename_keys
from mmbackbones.zoo import Variant, register_variants

from ..layers import (DEFAULT_ACT, DEFAULT_NORM, SqueezeExcite, add_residual, build_act,
                      build_conv, build_norm, check_choice, check_dcn, drop_path_rates, int_tuple,
                      openmmlab_norm_eval, stage_plugins)
from .base import BaseBackbone
from .resnet import STYLES, Bottleneck, ResNet, convert_openmmlab

__all__ = ['RegNet', 'RegNetBottleneck', 'regnet_stages']

WIDTH_QUANTUM = 8  # block widths are multiples of 8 (the paper's q)


def regnet_stages(w0: float, wa: float, wm: float, depth: int, group_w: int,
                  bot_mul: float = 1.0) -> Tuple[List[int], List[int], List[int]]:
    """(stage widths, blocks per stage, group width per stage) of a RegNet, as the paper.

    ``u_j = w0 + wa * j`` for the blocks ``j = 0 .. depth - 1``; ``s_j = log(u_j / w0) / log(wm)``
    rounded to an integer; block width ``w0 * wm ** s_j`` rounded to a multiple of 8. A stage is
    a run of blocks of the same width. Then the group width becomes ``min(group_w, bottleneck
    width)`` and the bottleneck width (``width * bot_mul``) the nearest multiple of it, ties to
    even (Python's and numpy's ``round``, which pycls uses), which gives the stage width back.
    """
    if not (isinstance(depth, int) and depth >= 1 and w0 > 0 and w0 % WIDTH_QUANTUM == 0
            and wa >= 0 and wm > 1 and group_w >= 1 and bot_mul > 0):
        raise ValueError(
            f'RegNet arch w0={w0}, wa={wa}, wm={wm}, depth={depth}, group_w={group_w}, '
            f'bot_mul={bot_mul}; valid values: w0 a positive multiple of {WIDTH_QUANTUM}, '
            'wa >= 0, wm > 1, depth >= 1 (int), group_w >= 1, bot_mul > 0')
    widths = []
    for j in range(depth):
        exponent = round(math.log((w0 + wa * j) / w0) / math.log(wm))
        widths.append(int(round(w0 * wm**exponent / WIDTH_QUANTUM) * WIDTH_QUANTUM))
    stage_widths, stage_depths = [], []
    for width in widths:
        if stage_widths and stage_widths[-1] == width:
            stage_depths[-1] += 1
        else:
            stage_widths.append(width)
            stage_depths.append(1)
    bottlenecks = [int(w * bot_mul) for w in stage_widths]
    group_widths = [min(group_w, b) for b in bottlenecks]
    bottlenecks = [int(round(b / g) * g) for b, g in zip(bottlenecks, group_widths)]
    stage_widths = [int(b / bot_mul) for b in bottlenecks]
    return stage_widths, stage_depths, group_widths


class RegNetBottleneck(Bottleneck):
    """ResNeXt bottleneck at expansion 1 (``planes`` in and out of the residual branch), with
    RegNetY's squeeze-excitation after the 3x3 conv when ``se_channels > 0``.

    ``se_channels`` is ``round(se_ratio * in_channels)``: the paper defines the SE ratio on the
    block's input width, not on its bottleneck width.
    """
    expansion = 1

    def __init__(self, in_channels: int, planes: int, width: int, se_channels: int = 0,
                 act_cfg=DEFAULT_ACT, **kwargs):
        super().__init__(in_channels, planes, width, act_cfg=act_cfg, **kwargs)
        self.se = SqueezeExcite(width, se_channels, act_cfg=act_cfg) if se_channels else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self._run_plugins('after_conv1', self.act1(self.bn1(self.conv1(x))))
        out = self.act2(self.bn2(self.conv2(out)))
        if self.se is not None:
            out = self.se(out)
        out = self._run_plugins('after_conv2', out)
        out = self._run_plugins('after_conv3', self.bn3(self.conv3(out)))
        return add_residual(out, shortcut, self.drop_path, self.act3)


def _x(w0, wa, wm, group_w, depth):
    return dict(w0=w0, wa=wa, wm=wm, group_w=group_w, depth=depth, bot_mul=1.0)


def _y(w0, wa, wm, group_w, depth):
    return dict(_x(w0, wa, wm, group_w, depth), se_ratio=0.25)


# The paper's models (its Figs. 15 and 16, pycls's model zoo): (w0, wa, wm, group width, depth).
# mmdet's names, which mmdet has for RegNetX 400MF to 12GF, extended to every pycls size.
PYCLS_ARCHS = {
    'regnetx_200mf': _x(24, 36.44, 2.49, 8, 13),
    'regnetx_400mf': _x(24, 24.48, 2.54, 16, 22),
    'regnetx_600mf': _x(48, 36.97, 2.24, 24, 16),
    'regnetx_800mf': _x(56, 35.73, 2.28, 16, 16),
    'regnetx_1.6gf': _x(80, 34.01, 2.25, 24, 18),
    'regnetx_3.2gf': _x(88, 26.31, 2.25, 48, 25),
    'regnetx_4.0gf': _x(96, 38.65, 2.43, 40, 23),
    'regnetx_6.4gf': _x(184, 60.83, 2.07, 56, 17),
    'regnetx_8.0gf': _x(80, 49.56, 2.88, 120, 23),
    'regnetx_12gf': _x(168, 73.36, 2.37, 112, 19),
    'regnetx_16gf': _x(216, 55.59, 2.1, 128, 22),
    'regnetx_32gf': _x(320, 69.86, 2.0, 168, 23),
    'regnety_200mf': _y(24, 36.44, 2.49, 8, 13),
    'regnety_400mf': _y(48, 27.89, 2.09, 8, 16),
    'regnety_600mf': _y(48, 32.54, 2.32, 16, 15),
    'regnety_800mf': _y(56, 38.84, 2.4, 16, 14),
    'regnety_1.6gf': _y(48, 20.71, 2.65, 24, 27),
    'regnety_3.2gf': _y(80, 42.63, 2.66, 24, 21),
    'regnety_4.0gf': _y(96, 31.41, 2.24, 64, 22),
    'regnety_6.4gf': _y(112, 33.22, 2.27, 72, 25),
    'regnety_8.0gf': _y(192, 76.82, 2.19, 56, 17),
    'regnety_12gf': _y(168, 73.36, 2.37, 112, 19),
    'regnety_16gf': _y(200, 106.23, 2.48, 112, 18),
    'regnety_32gf': _y(232, 115.89, 2.53, 232, 20),
}
ARCH_KEYS = ('w0', 'wa', 'wm', 'group_w', 'depth')
OPTIONAL_ARCH_KEYS = {'bot_mul': 1.0, 'se_ratio': 0.0}


@MODELS.register_module()
class RegNet(ResNet):
    """RegNetX / RegNetY; four levels (``layer1``..``layer4``) at strides 4 to 32 by default.

    Arguments of mmdet's (and mmpretrain's) ``RegNet`` keep their meaning:

    Args:
        arch: a name of :attr:`arch_settings` (mmdet's ``'regnetx_400mf'`` ... ``'regnetx_12gf'``,
            and every other pycls size of RegNetX and RegNetY: ``'regnetx_200mf'``,
            ``'regnety_3.2gf'``, ...), or mmdet's dict ``dict(w0=, wa=, wm=, group_w=, depth=,
            bot_mul=1.0)``, here with an optional ``se_ratio`` (0: RegNetX, 0.25: RegNetY).
        in_channels: input image channels.
        stem_channels: output channels of the 3x3 stride-2 stem conv (32 in every RegNet).
        base_channels: unused by mmdet's RegNet (the widths come from ``arch``); only its
            default, 32, is accepted.
        strides, dilations: stride of the first block and dilation of the 3x3 convs of each
            stage (one per stage: as many as ``arch`` has stages).
        out_indices: stages to return; stages after the last of them are not built.
        style: ``'pytorch'`` (3x3 conv strided) or ``'caffe'`` (first 1x1 conv strided).
        deep_stem: only ``False``: RegNet's stem is one conv (mmdet ignores ``True``).
        avg_down: average-pool in the projection shortcut instead of a strided 1x1 conv.
        frozen_stages: ``-1`` nothing, ``0`` the stem, ``k`` the stem and the first ``k`` stages.
        conv_cfg, norm_cfg, act_cfg: mmcv conv, norm and activation configs.
        norm_eval: BatchNorm in eval mode while training. ``None`` (default): mmdet's ``True``
            inside the mmdet scope, else ``False`` (mmpretrain's default).
        dcn, stage_with_dcn: deformable 3x3 convs in the stages marked (mmcv ``DCN``).
        plugins: mmdet's block plugins (``after_conv1`` / ``after_conv2`` / ``after_conv3``;
            RegNetY's squeeze-excitation runs before the ``after_conv2`` plugins).
        with_cp: activation checkpointing per block.
        zero_init_residual: with the default init, zero each block's last norm (as mmdet).
        pretrained, init_cfg: see :class:`~mmbackbones.models.backbones.base.BaseBackbone`.
        drop_path_rate: stochastic depth, linear from 0 over the blocks.

    Attributes:
        stage_widths, stage_depths, group_widths: the computed design, one entry per stage.
    """
    arch_settings: Dict[str, dict] = PYCLS_ARCHS
    arch_keys = ARCH_KEYS
    supports_plugins = True
    supports_dcn = True

    def __init__(self, arch, in_channels: int = 3, stem_channels: int = 32,
                 base_channels: int = 32, strides: Sequence[int] = (2, 2, 2, 2),
                 dilations: Sequence[int] = (1, 1, 1, 1),
                 out_indices: Sequence[int] = (0, 1, 2, 3), style: str = 'pytorch',
                 deep_stem: bool = False, avg_down: bool = False, frozen_stages: int = -1,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = DEFAULT_NORM,
                 norm_eval: Optional[bool] = None, dcn: Optional[dict] = None,
                 stage_with_dcn: Sequence[bool] = (False, False, False, False),
                 plugins: Optional[List[dict]] = None, with_cp: bool = False,
                 zero_init_residual: bool = True, pretrained: Optional[str] = None,
                 init_cfg=None, act_cfg: Optional[dict] = DEFAULT_ACT,
                 drop_path_rate: float = 0.0):
        if norm_eval is None:
            norm_eval = openmmlab_norm_eval()
        # ResNet's constructor builds a depth-indexed network: RegNet builds its own.
        BaseBackbone.__init__(self, out_indices=out_indices, frozen_stages=frozen_stages,
                              norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                              pretrained=pretrained)
        self.arch = self._resolve_regnet_arch(arch)
        widths, depths, group_widths = regnet_stages(
            self.arch['w0'], self.arch['wa'], self.arch['wm'], self.arch['depth'],
            self.arch['group_w'], self.arch['bot_mul'])
        num_stages = len(widths)
        if num_stages > 4:
            raise ValueError(f'arch={arch!r} has {num_stages} stages (widths {widths}); '
                             'valid: an arch with 1 to 4 stages, as mmdet')
        check_choice('style', style, STYLES)
        if deep_stem:
            raise ValueError(f'deep_stem={deep_stem!r}: RegNet has a single-conv stem (mmdet '
                             'ignores deep_stem, mmpretrain refuses it); valid values: False')
        if base_channels != 32:
            raise ValueError(f'base_channels={base_channels!r} has no effect on a RegNet (its '
                             'widths come from arch; mmdet stores and ignores it); valid '
                             'values: 32')
        strides = int_tuple('strides', strides, num_stages)
        dilations = int_tuple('dilations', dilations, num_stages)
        dcn = check_dcn(dcn, conv_cfg)
        if dcn is not None and len(stage_with_dcn) != num_stages:
            raise ValueError(f'stage_with_dcn={tuple(stage_with_dcn)}; valid values are '
                             f'{num_stages} bools, one per stage')
        if dcn is None and any(stage_with_dcn):
            raise ValueError(f'stage_with_dcn={tuple(stage_with_dcn)} needs dcn=dict(type=...); '
                             'valid values with dcn=None: all False')

        self.stage_widths, self.stage_depths = tuple(widths), tuple(depths)
        self.group_widths = tuple(group_widths)
        self.num_stages = num_stages
        self.deep_stem = False
        self.zero_init_residual = bool(zero_init_residual)
        built = self._built_stages(num_stages)
        self.stage_blocks = self.stage_depths[:built]

        self.conv1 = build_conv(conv_cfg, in_channels, stem_channels, 3, 2, padding=1,
                                bias=False)
        self.bn1 = build_norm(norm_cfg, stem_channels)
        self.act1 = build_act(act_cfg)

        block_rates = drop_path_rates(drop_path_rate, self.stage_blocks)
        in_ch, stride_so_far = stem_channels, 2
        level_strides = []
        for index in range(num_stages):
            stride_so_far *= strides[index]
            level_strides.append(stride_so_far)
            if index >= built:
                continue
            out_ch = widths[index]
            # mmdet: the 3x3 conv has (width // group_w) groups of group_w channels
            groups = int(round(out_ch * self.arch['bot_mul'])) // group_widths[index]
            width = groups * group_widths[index]
            downsample = None
            if strides[index] != 1 or in_ch != out_ch:
                downsample = self._shortcut(in_ch, out_ch, strides[index], avg_down, norm_cfg,
                                            conv_cfg)
            blocks = []
            for block_index in range(depths[index]):
                block_in = in_ch if block_index == 0 else out_ch
                blocks.append(RegNetBottleneck(
                    block_in, out_ch, width,
                    se_channels=int(round(self.arch['se_ratio'] * block_in)),
                    stride=strides[index] if block_index == 0 else 1,
                    dilation=dilations[index],
                    downsample=downsample if block_index == 0 else None, style=style,
                    groups=groups, conv_cfg=conv_cfg, norm_cfg=norm_cfg, act_cfg=act_cfg,
                    drop_path=block_rates[index][block_index],
                    dcn=dcn if dcn is not None and stage_with_dcn[index] else None,
                    plugins=stage_plugins(plugins, index, num_stages)))
            self.add_module(f'layer{index + 1}', nn.Sequential(*blocks))
            in_ch = out_ch
        self._setup_levels(widths, level_strides)

    @classmethod
    def _resolve_regnet_arch(cls, arch) -> dict:
        """The arch dict with every key; unknown keys are refused (not silently ignored)."""
        if not isinstance(arch, (str, dict)) and not hasattr(arch, 'keys'):
            raise TypeError(f'arch={arch!r}; valid values are one of '
                            f'{sorted(cls.arch_settings)} or a dict with {list(ARCH_KEYS)}')
        resolved = dict(cls.resolve_arch(arch))
        unknown = set(resolved) - set(ARCH_KEYS) - set(OPTIONAL_ARCH_KEYS)
        if unknown:
            raise ValueError(f'arch dict has unknown keys {sorted(unknown)}; valid keys are '
                             f'{list(ARCH_KEYS) + list(OPTIONAL_ARCH_KEYS)}')
        for key, default in OPTIONAL_ARCH_KEYS.items():
            resolved.setdefault(key, default)
        if not 0 <= resolved['se_ratio'] < 1:
            raise ValueError(f"arch se_ratio={resolved['se_ratio']!r}; valid values are 0 "
                             '(RegNetX) to below 1 (RegNetY: 0.25)')
        return resolved

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = self.act1(self.bn1(self.conv1(x)))
        outs = []
        for index, layer in enumerate(self.built_layers()):
            x = self.run_blocks(layer, x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)


# ---------------------------------------------------------------------------- weights
def _is_openmmlab_layout(state_dict) -> bool:
    return 'conv1.weight' in state_dict and 'layer1.0.conv1.weight' in state_dict


@register_converter(RegNet, 'mmdet', detect=_is_openmmlab_layout)
def convert_openmmlab_regnet(state_dict, model):
    """mmdet's and mmpretrain's keys are ours: ResNet's OpenMMLab converter drops the classifier
    and the stages the model does not build, and renames type-named norms (``gn1`` -> ``bn1``)."""
    return convert_openmmlab(state_dict, model)


register_converter(RegNet, 'mmpretrain', detect=_is_openmmlab_layout)(convert_openmmlab_regnet)


def _stage_block(match) -> str:
    return f'layer{match.group(1)}.{int(match.group(2)) - 1}.'


def _is_timm_layout(state_dict) -> bool:
    return 'stem.conv.weight' in state_dict and 's1.b1.conv1.conv.weight' in state_dict


@register_converter(RegNet, 'timm', detect=_is_timm_layout)
def convert_timm(state_dict, model):
    """timm: ``stem.conv``, ``s1.b1.conv1.conv`` / ``.bn``, ``se.fc1`` / ``fc2``,
    ``downsample.conv`` / ``.bn``, ``head.fc``."""
    state_dict = {k: v for k, v in state_dict.items()
                  if not k.startswith(('head.', 'final_conv.'))}
    state_dict = rename_keys(state_dict, [
        (r'^stem\.conv\.', 'conv1.'), (r'^stem\.bn\.', 'bn1.'),
        (r'^s(\d)\.b(\d+)\.', _stage_block),
        (r'\.conv(\d)\.conv\.', r'.conv\1.'), (r'\.conv(\d)\.bn\.', r'.bn\1.'),
        (r'\.se\.fc1\.', '.se.conv_reduce.'), (r'\.se\.fc2\.', '.se.conv_expand.'),
        (r'\.downsample\.conv\.', '.downsample.0.'), (r'\.downsample\.bn\.', '.downsample.1.'),
    ])
    return convert_openmmlab(state_dict, model)  # drops the stages the model does not build


def _is_torchvision_layout(state_dict) -> bool:
    return 'stem.0.weight' in state_dict and any(
        k.startswith('trunk_output.block1.') for k in state_dict)


_TORCHVISION_PARTS = {'a': 1, 'b': 2, 'c': 3}


@register_converter(RegNet, 'torchvision', detect=_is_torchvision_layout)
def convert_torchvision(state_dict, model):
    """torchvision: ``stem.0`` / ``.1``, ``trunk_output.block1.block1-0.f.a.0`` (conv) /
    ``.f.a.1`` (norm), ``f.b``, ``f.se.fc1`` / ``fc2``, ``f.c``, ``proj.0`` / ``.1``, ``fc``."""
    state_dict = rename_keys(state_dict, [
        (r'^stem\.0\.', 'conv1.'), (r'^stem\.1\.', 'bn1.'),
        (r'^trunk_output\.block(\d)\.block\d-(\d+)\.', r'layer\1.\2.'),
        (r'\.proj\.', '.downsample.'),
        (r'\.f\.([abc])\.0\.', lambda m: f'.conv{_TORCHVISION_PARTS[m.group(1)]}.'),
        (r'\.f\.([abc])\.1\.', lambda m: f'.bn{_TORCHVISION_PARTS[m.group(1)]}.'),
        (r'\.f\.se\.fc1\.', '.se.conv_reduce.'), (r'\.f\.se\.fc2\.', '.se.conv_expand.'),
    ])
    return convert_openmmlab(state_dict, model)


# ------------------------------------------------------------------------- references
@reference_levels(RegNet, 'timm')
def _timm_levels(model, x):
    x = model.stem(x)
    levels = []
    for stage in (model.s1, model.s2, model.s3, model.s4):
        x = stage(x)
        levels.append(x)
    return levels


@reference_levels(RegNet, 'torchvision')
def _torchvision_levels(model, x):
    x = model.stem(x)
    levels = []
    for stage in model.trunk_output:
        x = stage(x)
        levels.append(x)
    return levels


# ----------------------------------------------------------------------------------- zoo
_PAPER = 'Radosavovic et al. 2020, arXiv 2003.13678'
_INPUT = (128, 160)
_PARITY_SIZES = ((128, 160), (97, 131))  # one odd: checks padding/ceil behaviour
# One row per code path in the default run: RegNetX with the timm, mmdet (custom arch dict) and
# mmpretrain references; RegNetY (squeeze-excitation) with timm and torchvision.
_DEFAULT_RUN = {'regnetx_002', 'regnety_004'}
# timm's name -> our (mmdet-style) arch name, for every pycls size
_SIZES = {'002': '200mf', '004': '400mf', '006': '600mf', '008': '800mf', '016': '1.6gf',
          '032': '3.2gf', '040': '4.0gf', '064': '6.4gf', '080': '8.0gf', '120': '12gf',
          '160': '16gf', '320': '32gf'}
# torchvision's models that are exactly the pycls network (see the module docstring)
_TORCHVISION = {'regnetx_008': 'regnet_x_800mf', 'regnetx_016': 'regnet_x_1_6gf',
                'regnetx_032': 'regnet_x_3_2gf', 'regnetx_080': 'regnet_x_8gf',
                'regnetx_160': 'regnet_x_16gf', 'regnetx_320': 'regnet_x_32gf',
                'regnety_004': 'regnet_y_400mf', 'regnety_016': 'regnet_y_1_6gf',
                'regnety_032': 'regnet_y_3_2gf', 'regnety_160': 'regnet_y_16gf',
                'regnety_320': 'regnet_y_32gf'}
# mmdet's (and mmpretrain's) names: RegNetX 400MF to 12GF; other sizes by mmdet's arch dict
_MMDET_NAMED = {'400mf', '800mf', '1.6gf', '3.2gf', '4.0gf', '6.4gf', '8.0gf', '12gf'}
# exact backbone parameters (timm's, classifier head excluded)
_PARAMS = {
    'regnetx_002': 2315792, 'regnetx_004': 4772512, 'regnetx_006': 5667040,
    'regnetx_008': 6586656, 'regnetx_016': 8277136, 'regnetx_032': 14287552,
    'regnetx_040': 20757248, 'regnetx_064': 24584256, 'regnetx_080': 37651648,
    'regnetx_120': 43865056, 'regnetx_160': 52229536, 'regnetx_320': 105290560,
    'regnety_002': 2793996, 'regnety_004': 3903144, 'regnety_006': 5446160,
    'regnety_008': 5494168, 'regnety_016': 10313430, 'regnety_032': 17923338,
    'regnety_040': 19557656, 'regnety_064': 29286252, 'regnety_080': 37163068,
    'regnety_120': 49581544, 'regnety_160': 80565140, 'regnety_320': 141333770,
}


def _row(name: str) -> Variant:
    form, size = name[len('regnet')], _SIZES[name[-3:]]
    arch = f'regnet{form}_{size}'
    refs = {'timm': name}
    if name in _TORCHVISION:
        refs['torchvision'] = _TORCHVISION[name]
    if form == 'x':  # mmdet and mmpretrain have no squeeze-excitation: RegNetX only
        spec = arch if size in _MMDET_NAMED else dict(PYCLS_ARCHS[arch])
        refs['mmdet'] = dict(type='RegNet', arch=spec)
        refs['mmpretrain'] = dict(type='RegNet', arch=spec)
    return Variant(name=name, family='RegNet', cfg=dict(arch=arch), refs=refs,
                   params=_PARAMS[name], paper=_PAPER, test_input=_INPUT,
                   parity_sizes=_PARITY_SIZES, slow=name not in _DEFAULT_RUN)


register_variants([_row(f'regnet{form}_{code}') for form in 'xy' for code in _SIZES])
