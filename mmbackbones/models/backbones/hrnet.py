"""HRNet (Sun et al. 2019, arXiv 1902.09212; Wang et al. 2020, arXiv 1908.07919).

A high-resolution branch runs from the stem to the end; each stage adds one lower-resolution
branch (strides 4, 8, 16, 32 with C, 2C, 4C, 8C channels) and every *HR module* runs its
branches side by side, then fuses them: each output branch sums every input branch, brought
to its resolution by strided 3x3 convs (from higher resolutions) or a 1x1 conv and upsampling
(from lower ones). Stage 1 is one branch of bottlenecks (``layer1``); stages 2-4 have 1, 4
and 3 HR modules of basic blocks in the standard widths (W18 ... W64).

Three output forms, one switch (``output_form``) away:

* ``'branches'`` (default): the four branches (levels 0-3, strides 4-32) that ``out_indices``
  selects. What mmdet's / mmseg's ``HRNet`` return, what the V2p neck (:func:`HRFPN`) and
  mmseg's ``resize_concat`` heads take.
* ``'v1'`` (HRNetV1, pose): branch 0 only; the last HR module fuses into branch 0 only
  (mmdet's ``multiscale_output=False``).
* ``'v2'`` (HRNetV2, segmentation): one map, every branch upsampled (bilinear) to branch 0
  and concatenated: 15C channels at stride 4.

HRNetV2p (detection) is ``'branches'`` followed by the registered neck ``mmbackbones.HRFPN``.

Upsampling in the fusions follows the reference whose dict is pasted, since the two
OpenMMLab libraries differ: ``upsample_mode='nearest'`` (timm, mmdet, mmpretrain, the official
code) upsamples by the scale factor; ``'bilinear'`` (mmseg) upsamples bilinearly by the scale
factor and then resizes bilinearly to the target size. ``None`` picks mmseg's under mmseg's
default scope and nearest elsewhere. Where an input is not a multiple of 32 a branch can be
one pixel short of twice the next one; mmseg's two-step resize handles that; timm, mmdet and
mmpretrain raise a size mismatch there, and nearest mode here crops the upsampled map to the
target (the pixels it keeps are exactly those a matching size would give).

Parameter names are timm's and OpenMMLab's (they agree: ``conv1``, ``bn1``, ``layer1``,
``transition1``, ``stage2.0.branches.0.0.conv1``, ``stage2.0.fuse_layers.1.0.0.0``, ...);
the converters drop timm's classification extras (``incre_modules``, ``downsamp_modules``,
``final_layer``, ``classifier``).
"""
import copy
import functools
from typing import List, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmbackbones.references import reference_backbone_parameters, reference_levels
from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import register_converter
from mmbackbones.zoo import Variant, register_variants

from ..layers import (DEFAULT_NORM, build_act, build_conv, build_norm, check_choice,
                      openmmlab_norm_eval, projection_shortcut)
from .base import BaseBackbone
from .resnet import _MMCV_NORM_NAME, OPENMMLAB_INIT, BasicBlock, Bottleneck

__all__ = ['HRNet', 'HRModule', 'HRFPN']

BLOCKS = {'BASIC': BasicBlock, 'BOTTLENECK': Bottleneck}
STAGE_KEYS = ('num_modules', 'num_branches', 'block', 'num_blocks', 'num_channels')
OUTPUT_FORMS = ('branches', 'v1', 'v2')
UPSAMPLE_MODES = ('nearest', 'bilinear')
STEM_CHANNELS = 64  # fixed in every HRNet (official, timm, OpenMMLab)
_RELU = dict(type='ReLU', inplace=True)


def _stage(num_modules, block, num_blocks, num_channels):
    return dict(num_modules=num_modules, num_branches=len(num_blocks), block=block,
                num_blocks=tuple(num_blocks), num_channels=tuple(num_channels))


def _standard(width: int) -> dict:
    """W18 ... W64: stages of 1/1/4/3 modules, four blocks per branch, widths C..8C."""
    c = width
    return dict(stage1=_stage(1, 'BOTTLENECK', (4, ), (64, )),
                stage2=_stage(1, 'BASIC', (4, 4), (c, 2 * c)),
                stage3=_stage(4, 'BASIC', (4, 4, 4), (c, 2 * c, 4 * c)),
                stage4=_stage(3, 'BASIC', (4, 4, 4, 4), (c, 2 * c, 4 * c, 8 * c)))


# The small ones, as in the official HRNet repositories and timm.
_W18_SMALL = dict(stage1=_stage(1, 'BOTTLENECK', (1, ), (32, )),
                  stage2=_stage(1, 'BASIC', (2, 2), (16, 32)),
                  stage3=_stage(1, 'BASIC', (2, 2, 2), (16, 32, 64)),
                  stage4=_stage(1, 'BASIC', (2, 2, 2, 2), (16, 32, 64, 128)))
_W18_SMALL_V2 = dict(stage1=_stage(1, 'BOTTLENECK', (2, ), (64, )),
                     stage2=_stage(1, 'BASIC', (2, 2), (18, 36)),
                     stage3=_stage(3, 'BASIC', (2, 2, 2), (18, 36, 72)),
                     stage4=_stage(2, 'BASIC', (2, 2, 2, 2), (18, 36, 72, 144)))


def upsample_to(x: torch.Tensor, factor: int, size, mode: str) -> torch.Tensor:
    """``x`` upsampled ``factor`` times and brought to ``size`` as the references do.

    ``'nearest'``: scale-factor upsampling (timm, mmdet, mmpretrain), cropped where the target
    is smaller (an input that is not a multiple of 32; the references raise there).
    ``'bilinear'``: mmseg's ``Upsample(scale_factor)`` (bilinear to ``factor`` times the size),
    then its ``resize`` to the target size where they differ.
    """
    if mode == 'nearest':
        out = F.interpolate(x, scale_factor=factor, mode='nearest')
        if tuple(out.shape[-2:]) != tuple(size):
            out = out[..., :size[0], :size[1]]
        return out
    scaled = [int(t * factor) for t in x.shape[-2:]]
    out = F.interpolate(x, size=scaled, mode='bilinear', align_corners=False)
    if scaled != list(size):
        out = F.interpolate(out, size=tuple(size), mode='bilinear', align_corners=False)
    return out


def _conv_norm(in_ch, out_ch, kernel, stride, conv_cfg, norm_cfg, act=False):
    layers = [build_conv(conv_cfg, in_ch, out_ch, kernel, stride, padding=kernel // 2,
                         bias=False), build_norm(norm_cfg, out_ch)]
    if act:
        layers.append(build_act(dict(type='ReLU', inplace=False)))
    return nn.Sequential(*layers)


def make_blocks(block, in_ch: int, planes: int, num_blocks: int, conv_cfg, norm_cfg):
    """A run of residual blocks (ResNet's), projected by a 1x1 conv where the width changes."""
    out_ch = planes * block.expansion
    downsample = (projection_shortcut(in_ch, out_ch, 1, False, norm_cfg, conv_cfg)
                  if in_ch != out_ch else None)
    blocks = []
    for index in range(num_blocks):
        blocks.append(block(in_ch if index == 0 else out_ch, planes, planes,
                            downsample=downsample if index == 0 else None,
                            conv_cfg=conv_cfg, norm_cfg=norm_cfg))
    return nn.Sequential(*blocks)


class HRModule(nn.Module):
    """Parallel branches of residual blocks, then a fusion into ``num_outputs`` branches.

    ``fuse_layers[i][j]`` brings branch ``j`` to branch ``i``: identity for ``j == i``, a 1x1
    conv + norm then upsampling for ``j > i``, ``i - j`` strided 3x3 convs (ReLU between them)
    for ``j < i``. Each output is ``relu(sum over j)``, summed in branch order.
    """

    def __init__(self, block, num_blocks: Sequence[int], in_channels: Sequence[int],
                 planes: Sequence[int], num_outputs: int, upsample_mode: str, conv_cfg=None,
                 norm_cfg=DEFAULT_NORM):
        super().__init__()
        self.upsample_mode = upsample_mode
        self.branches = nn.ModuleList(
            make_blocks(block, in_ch, p, n, conv_cfg, norm_cfg)
            for in_ch, p, n in zip(in_channels, planes, num_blocks))
        channels = [p * block.expansion for p in planes]
        self.fuse_layers = None
        if len(channels) > 1:
            self.fuse_layers = nn.ModuleList(
                nn.ModuleList(self._fuse(channels, i, j, conv_cfg, norm_cfg)
                              for j in range(len(channels)))
                for i in range(num_outputs))
            self.relu = nn.ReLU(inplace=False)

    @staticmethod
    def _fuse(channels, i, j, conv_cfg, norm_cfg):
        if j == i:
            return nn.Identity()
        if j > i:
            return _conv_norm(channels[j], channels[i], 1, 1, conv_cfg, norm_cfg)
        steps = [_conv_norm(channels[j], channels[j], 3, 2, conv_cfg, norm_cfg, act=True)
                 for _ in range(i - j - 1)]
        steps.append(_conv_norm(channels[j], channels[i], 3, 2, conv_cfg, norm_cfg))
        return nn.Sequential(*steps)

    def forward(self, xs: List[torch.Tensor]) -> List[torch.Tensor]:
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        if self.fuse_layers is None:
            return xs
        outs = []
        for i, fuse in enumerate(self.fuse_layers):
            size = xs[i].shape[-2:]
            terms = []
            for j, layer in enumerate(fuse):
                if j == i:
                    terms.append(xs[j])
                elif j > i:
                    terms.append(upsample_to(layer(xs[j]), 2**(j - i), size, self.upsample_mode))
                else:
                    terms.append(layer(xs[j]))
            y = terms[0] + terms[1]  # summed in branch order, as the references
            for term in terms[2:]:
                y += term  # y is ours: in place
            outs.append(self.relu(y))
        return outs


@MODELS.register_module()
class HRNet(BaseBackbone):
    """HRNet backbone: four parallel branches at strides 4, 8, 16, 32.

    Takes mmdet's / mmseg's ``HRNet`` arguments (and mmpretrain's ``arch``) with their
    meanings, so their dicts build here with only ``type`` changed.

    Args:
        extra: OpenMMLab's description of the four stages, ``stage1``..``stage4``, each a dict
            with ``num_modules``, ``num_branches`` (stage ``k`` has ``k``), ``block``
            (``'BASIC'`` or ``'BOTTLENECK'``), ``num_blocks`` and ``num_channels`` (one per
            branch). Give ``extra`` or ``arch``.
        arch: a named width, shorthand for its ``extra``: ``'w18_small'``, ``'w18_small_v2'``,
            ``'w18'``, ``'w30'``, ``'w32'``, ``'w40'``, ``'w44'``, ``'w48'``, ``'w64'``.
            Neither given: ``'w32'`` (mmpretrain's default).
        in_channels: input image channels.
        conv_cfg, norm_cfg: mmcv conv / norm configs of every conv and norm.
        norm_eval: BatchNorm in eval mode while training. ``None`` (default): the default of
            the scope the model is built in (mmdet: ``True``; mmseg, mmpretrain: ``False``).
        with_cp: activation checkpointing per residual block of ``layer1`` and per HR module
            (branches and fusion together: less memory than mmdet's per-block checkpointing,
            same outputs and gradients).
        frozen_stages: mmseg's meaning: ``0`` the stem, ``k >= 1`` also the stages ``1..k``
            with the transition that follows each (``layer1`` + ``transition1``, ``stage2`` +
            ``transition2``, ``stage3`` + ``transition3``, ``stage4``).
        zero_init_residual: with the default init, zero each block's last norm (mmpretrain
            does; mmdet's and mmseg's accept the argument and never apply it).
        multiscale_output: ``False`` is ``output_form='v1'`` (mmdet's meaning: the last module
            returns branch 0 only).
        out_indices: branches to return in the ``'branches'`` form (default all four); the
            ``'v1'`` and ``'v2'`` forms return one map and take ``None``, or ``(0,)`` for v1.
        output_form: ``'branches'``, ``'v1'`` or ``'v2'`` (module docstring).
        upsample_mode: ``'nearest'``, ``'bilinear'`` or ``None`` (module docstring).
        pretrained, init_cfg: see :class:`BaseBackbone`.

    Levels (``level_channels``, ``level_strides``) are the four branches of stage 4. For
    ``frozen_stages`` and layer-wise decay, level ``i`` is stage ``i + 1``: its blocks are
    ``layer1``'s bottlenecks (level 0) or the stage's HR modules (levels 1-3), and the
    transition after it belongs to it.
    """
    # ONNX: a traced graph holds the fusion sizes of one input size
    onnx_static_family_reason = ('each fusion resizes or crops a branch to the size of the branch '
                                 'it joins, sizes computed in Python')

    arch_settings = {'w18_small': _W18_SMALL, 'w18_small_v2': _W18_SMALL_V2,
                     **{f'w{w}': _standard(w) for w in (18, 30, 32, 40, 44, 48, 64)}}

    def __init__(self, extra: Optional[dict] = None, in_channels: int = 3,
                 conv_cfg: Optional[dict] = None, norm_cfg: dict = DEFAULT_NORM,
                 norm_eval: Optional[bool] = None, with_cp: bool = False,
                 frozen_stages: int = -1, zero_init_residual: bool = False,
                 multiscale_output: bool = True, pretrained: Optional[str] = None,
                 init_cfg=None, arch: Optional[str] = None,
                 out_indices: Optional[Sequence[int]] = None,
                 output_form: str = 'branches', upsample_mode: Optional[str] = None):
        check_choice('output_form', output_form, OUTPUT_FORMS)
        if not multiscale_output:
            if output_form == 'v2':
                raise ValueError("multiscale_output=False (branch 0 only) contradicts "
                                 "output_form='v2'; give one of them")
            output_form = 'v1'
        out_indices = self._form_out_indices(output_form, out_indices)
        if norm_eval is None:
            norm_eval = openmmlab_norm_eval()
        super().__init__(out_indices=out_indices, frozen_stages=frozen_stages,
                         norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        if upsample_mode is None:
            upsample_mode = 'bilinear' if _default_scope() == 'mmseg' else 'nearest'
        check_choice('upsample_mode', upsample_mode, UPSAMPLE_MODES)
        self.extra = self._resolve_extra(extra, arch)
        self.output_form = output_form
        self.upsample_mode = upsample_mode
        self.zero_init_residual = bool(zero_init_residual)

        self.conv1 = build_conv(conv_cfg, in_channels, STEM_CHANNELS, 3, 2, padding=1,
                                bias=False)
        self.bn1 = build_norm(norm_cfg, STEM_CHANNELS)
        self.conv2 = build_conv(conv_cfg, STEM_CHANNELS, STEM_CHANNELS, 3, 2, padding=1,
                                bias=False)
        self.bn2 = build_norm(norm_cfg, STEM_CHANNELS)
        self.relu = build_act(_RELU)

        stage1 = self.extra['stage1']
        block = BLOCKS[stage1['block']]
        self.layer1 = make_blocks(block, STEM_CHANNELS, stage1['num_channels'][0],
                                  stage1['num_blocks'][0], conv_cfg, norm_cfg)
        channels = [stage1['num_channels'][0] * block.expansion]
        for index in (2, 3, 4):
            cfg = self.extra[f'stage{index}']
            block = BLOCKS[cfg['block']]
            wanted = [c * block.expansion for c in cfg['num_channels']]
            self.add_module(f'transition{index - 1}',
                            self._transition(channels, wanted, conv_cfg, norm_cfg))
            modules = []
            for module_index in range(cfg['num_modules']):
                last = index == 4 and module_index == cfg['num_modules'] - 1
                num_outputs = 1 if last and output_form == 'v1' else len(wanted)
                modules.append(HRModule(block, cfg['num_blocks'], wanted, cfg['num_channels'],
                                        num_outputs, upsample_mode, conv_cfg, norm_cfg))
            self.add_module(f'stage{index}', nn.Sequential(*modules))
            channels = wanted
        self._setup_levels(channels, (4, 8, 16, 32))

    # ------------------------------------------------------------- arguments
    @staticmethod
    def _form_out_indices(output_form, out_indices):
        if output_form == 'branches':
            return (0, 1, 2, 3) if out_indices is None else out_indices
        allowed = {'v1': [(0, ), 0], 'v2': [(0, 1, 2, 3)]}[output_form]
        given = tuple(out_indices) if isinstance(out_indices, list) else out_indices
        if out_indices is not None and given not in allowed:
            raise ValueError(f"out_indices={out_indices!r} with output_form={output_form!r}, "
                             f"which returns one map; valid values: None"
                             f"{' or (0,)' if output_form == 'v1' else ''}")
        return (0, )

    @classmethod
    def _resolve_extra(cls, extra, arch) -> dict:
        if extra is None:
            return copy.deepcopy(cls.resolve_arch('w32' if arch is None else arch))
        if not isinstance(extra, dict):
            raise TypeError(f'extra={extra!r}; valid values are None or a dict with stage1.. '
                            f'stage4, each with {list(STAGE_KEYS)}')
        checked = {}
        for index in (1, 2, 3, 4):
            name = f'stage{index}'
            stage = extra.get(name)
            if not isinstance(stage, dict):
                raise ValueError(f'extra lacks {name}: valid extra dicts have stage1..stage4, '
                                 f'each a dict with {list(STAGE_KEYS)}')
            keys = set(stage)
            if keys != set(STAGE_KEYS):
                raise ValueError(f'extra.{name} has keys {sorted(keys)}; valid keys are '
                                 f'{list(STAGE_KEYS)}')
            check_choice(f'extra.{name}.block', stage['block'], tuple(BLOCKS))
            if stage['num_branches'] != index:
                raise ValueError(f"extra.{name}.num_branches={stage['num_branches']!r}; stage "
                                 f'{index} of HRNet has {index} branches')
            for key in ('num_blocks', 'num_channels'):
                values = stage[key]
                if (not isinstance(values, (list, tuple)) or len(values) != index
                        or not all(isinstance(v, int) and v >= 1 for v in values)):
                    raise ValueError(f'extra.{name}.{key}={values!r}; valid values are {index} '
                                     'ints >= 1, one per branch')
            if not isinstance(stage['num_modules'], int) or stage['num_modules'] < 1:
                raise ValueError(f"extra.{name}.num_modules={stage['num_modules']!r}; valid "
                                 'values are ints >= 1')
            if index == 1 and stage['num_modules'] != 1:
                raise ValueError(f"extra.stage1.num_modules={stage['num_modules']}; stage 1 is "
                                 'one run of blocks (layer1): valid value 1')
            checked[name] = _stage(stage['num_modules'], stage['block'], stage['num_blocks'],
                                   stage['num_channels'])
        unknown = set(extra) - set(checked)
        if unknown:
            raise ValueError(f'extra has keys {sorted(unknown)}; valid keys are stage1..stage4')
        if arch is not None and checked != cls.resolve_arch(arch):
            raise ValueError(f'arch={arch!r} and an extra dict of another network were both '
                             'given; give one of them')
        return checked

    @staticmethod
    def _transition(channels, wanted, conv_cfg, norm_cfg) -> nn.ModuleList:
        """Existing branches change width by a 3x3 conv where needed; each new branch comes
        from the lowest-resolution one by strided 3x3 convs."""
        layers = []
        for i, out_ch in enumerate(wanted):
            if i < len(channels):
                layers.append(nn.Identity() if channels[i] == out_ch else nn.Sequential(
                    build_conv(conv_cfg, channels[i], out_ch, 3, 1, padding=1, bias=False),
                    build_norm(norm_cfg, out_ch), build_act(_RELU)))
                continue
            steps = []
            for step in range(i + 1 - len(channels)):
                in_ch = channels[-1]
                step_out = out_ch if step == i - len(channels) else in_ch
                steps.append(nn.Sequential(
                    build_conv(conv_cfg, in_ch, step_out, 3, 2, padding=1, bias=False),
                    build_norm(norm_cfg, step_out), build_act(_RELU)))
            layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)

    # ----------------------------------------------------------------- output
    @property
    def out_channels(self):
        if self.output_form == 'v2':
            return (sum(self.level_channels), )
        return super().out_channels

    def stages(self):
        return [self.stage2, self.stage3, self.stage4]

    def forward(self, x: torch.Tensor):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        xs = [self.run_blocks(self.layer1, x)]
        for index, stage in enumerate(self.stages()):
            transition = getattr(self, f'transition{index + 1}')
            xs = [layer(xs[min(i, len(xs) - 1)]) for i, layer in enumerate(transition)]
            xs = self.run_blocks(stage, xs)
        if self.output_form == 'v2':
            size = xs[0].shape[-2:]
            return (torch.cat([xs[0]] + [
                F.interpolate(x, size=size, mode='bilinear', align_corners=False)
                for x in xs[1:]], dim=1), )
        return tuple(xs[i] for i in self.out_indices)

    # ------------------------------------------------------------------- init
    def _init_default_weights(self) -> None:
        """mmseg's / mmpretrain's default: Kaiming convs, norms 1/0; then, with
        ``zero_init_residual``, each block's last norm 0."""
        from mmengine.model.weight_init import initialize
        initialize(self, copy.deepcopy(OPENMMLAB_INIT))
        if self.zero_init_residual:
            for module in self.modules():
                if isinstance(module, (BasicBlock, Bottleneck)):
                    norm = module.last_norm()
                    if getattr(norm, 'weight', None) is not None:
                        nn.init.zeros_(norm.weight)
                        nn.init.zeros_(norm.bias)

    # --------------------------------------------------------------- contract
    def stem_modules(self):
        return [self.conv1, self.bn1, self.conv2, self.bn2]

    def level_blocks(self, index: int):
        return list(self.layer1) if index == 0 else list(self.stages()[index - 1])

    def transition_modules(self, index: int):
        return [getattr(self, f'transition{index + 1}')] if index < 3 else []

    def level_modules(self, index: int):
        # the containers too, so that a frozen stage reports training=False
        stage = self.layer1 if index == 0 else self.stages()[index - 1]
        return [stage] + self.transition_modules(index)


def _default_scope() -> Optional[str]:
    from mmengine.registry import DefaultScope
    scope = DefaultScope.get_current_instance()
    return None if scope is None else scope.scope_name


# ------------------------------------------------------------------------------ neck
@functools.lru_cache(maxsize=None)
def _hrfpn_class():
    """mmdet's HRFPN with the contract of this project: the per-level ``out_channels`` and
    ``out_strides``, and any input size. Defined on first use: mmdet is imported then."""
    from mmdet.models.necks import HRFPN as MMDetHRFPN

    class HRFPN(MMDetHRFPN):
        __doc__ = HRFPN_DOC

        def __init__(self, in_channels, out_channels, num_outs=5, stride=1, **kwargs):
            super().__init__(in_channels, out_channels, num_outs=num_outs, stride=stride,
                             **kwargs)
            self.channels = out_channels  # mmdet's int
            self.out_channels = (out_channels, ) * num_outs
            self.out_strides = tuple(4 * stride * 2**i for i in range(num_outs))

        def forward(self, inputs):
            if len(inputs) != self.num_ins:
                raise ValueError(f'HRFPN has in_channels for {self.num_ins} branches and got '
                                 f'{len(inputs)} maps')
            size = inputs[0].shape[-2:]
            # to branch 0's size, not by the scale factor (which mmdet uses and which
            # cannot concatenate where an input is not a multiple of 32); equal otherwise
            out = torch.cat([inputs[0]] + [
                F.interpolate(x, size=size, mode='bilinear', align_corners=False)
                for x in inputs[1:]], dim=1)
            if out.requires_grad and self.with_cp:
                from torch.utils.checkpoint import checkpoint
                out = checkpoint(self.reduction_conv, out, use_reentrant=False)
            else:
                out = self.reduction_conv(out)
            outs = [out]
            for i in range(1, self.num_outs):  # floor-sized pooling, as mmdet
                outs.append(self.pooling(out, kernel_size=2**i, stride=2**i))
            results = []
            for i in range(self.num_outs):
                if outs[i].requires_grad and self.with_cp:
                    from torch.utils.checkpoint import checkpoint
                    results.append(checkpoint(self.fpn_convs[i], outs[i], use_reentrant=False))
                else:
                    results.append(self.fpn_convs[i](outs[i]))
            return tuple(results)

    HRFPN.__qualname__ = HRFPN.__name__ = 'HRFPN'
    HRFPN.__module__ = __name__
    return HRFPN


HRFPN_DOC = """HRNetV2p's pyramid neck: mmdet's ``HRFPN``, subclassed.

    The branches are upsampled bilinearly to branch 0 and concatenated, reduced by a 1x1 conv
    to ``out_channels``, average-pooled (``pooling_type``) to ``num_outs`` levels (strides 4,
    8, 16, 32, 64 with ``stride=1``) and each level goes through a 3x3 conv. mmdet's
    arguments, parameters and initialisation; two differences: the upsampling goes to branch
    0's size instead of by the scale factor (the same where the input is a multiple of 32,
    and defined where it is not), and ``out_channels`` / ``out_strides`` are per output
    level, as a backbone's here (mmdet's integer ``out_channels`` is ``channels``). Level
    ``i`` is branch 0 average-pooled ``2**i`` times without ceil mode, as in mmdet: its size
    is ``floor(ceil(H / 4) / 2**i)``.
    """


def HRFPN(**kwargs):  # noqa: N802  (registered under the class's name)
    return _hrfpn_class()(**kwargs)


HRFPN.__doc__ = HRFPN_DOC
MODELS.register_module(name='HRFPN', module=HRFPN)


# ---------------------------------------------------------------------------- weights
# timm and OpenMMLab name everything alike; timm adds its classification extras, OpenMMLab
# names norms after their type (gn1 for GroupNorm) and mmdet/mmseg keep `None` slots
# (no parameters) where we keep identities.
_TIMM_EXTRAS = ('incre_modules.', 'downsamp_modules.', 'final_layer.', 'classifier.',
                'head.', 'fc.')


def _keep_built(state_dict, model):
    """Without timm's classification extras, and without the fusions into branches 1-3 of
    the last module where ``model`` fuses into branch 0 only (the v1 form)."""
    own = model.state_dict()
    last = f"stage4.{model.extra['stage4']['num_modules'] - 1}.fuse_layers."

    def keep(key):
        if key.startswith(_TIMM_EXTRAS):
            return False
        return not (key.startswith(last) and key not in own)

    return {k: v for k, v in state_dict.items() if keep(k)}


def _is_hrnet_layout(state_dict) -> bool:
    return 'layer1.0.conv1.weight' in state_dict and any(
        k.startswith('stage2.0.branches.') for k in state_dict)


@register_converter(HRNet, 'timm', detect=_is_hrnet_layout)
def convert_timm(state_dict, model):
    return _keep_built(state_dict, model)


@register_converter(HRNet, 'mmdet', detect=_is_hrnet_layout)
def convert_openmmlab(state_dict, model):
    renamed = {_MMCV_NORM_NAME.sub(r'\1bn\2.', k): v for k, v in state_dict.items()}
    return _keep_built(renamed, model)


register_converter(HRNet, 'mmseg', detect=_is_hrnet_layout)(convert_openmmlab)
register_converter(HRNet, 'mmpretrain', detect=_is_hrnet_layout)(convert_openmmlab)


# ------------------------------------------------------------------------- references
@reference_levels(HRNet, 'timm')
def _timm_levels(model, x):
    # timm's `stages` returns the four branches of stage 4; so does its features_only model
    # with feature_location='' (indices 1-4; 0 is the stem), while its default
    # feature_location='incre' returns them through the classification `incre_modules`
    x = model.act1(model.bn1(model.conv1(x)))
    x = model.act2(model.bn2(model.conv2(x)))
    return model.stages(x)


@reference_backbone_parameters(HRNet, 'timm')
def _timm_backbone_parameters(model):
    # the backbone is what mmdet's / mmseg's / mmpretrain's HRNet have: not timm's
    # classification extras, which even num_classes=0 keeps
    return [p for name, p in model.named_parameters() if not name.startswith(_TIMM_EXTRAS)]


# ----------------------------------------------------------------------------------- zoo
_SUN = 'Sun et al. 2019, arXiv 1902.09212; Wang et al. 2020, arXiv 1908.07919'
_INPUT = (128, 160)
# Not multiples of 32, yet branch 0 (ceil(H/4)) a multiple of 8, so that timm, mmdet and
# mmpretrain (scale-factor upsampling) run; mismatched branch sizes are checked against mmseg
# in tests/test_hrnet.py.
_PARITY_SIZES = ((128, 160), (125, 157))
_DEFAULT_RUN = {'hrnet_w18_small'}
# (timm name, arch, params, also in mmpretrain)
_ROWS = [
    ('hrnet_w18_small', 'w18_small', 1_477_920, False),
    ('hrnet_w18_small_v2', 'w18_small_v2', 3_860_720, False),
    ('hrnet_w18', 'w18', 9_562_260, True),
    ('hrnet_w30', 'w30', 25_812_276, True),
    ('hrnet_w32', 'w32', 29_305_536, True),
    ('hrnet_w40', 'w40', 45_521_216, True),
    ('hrnet_w44', 'w44', 54_974_640, True),
    ('hrnet_w48', 'w48', 65_325_120, True),
    ('hrnet_w64', 'w64', 115_697_600, True),
]


def _refs(name, arch, mmpretrain):
    extra = copy.deepcopy(HRNet.arch_settings[arch])
    refs = {'timm': name, 'mmdet': dict(type='HRNet', extra=extra),
            'mmseg': dict(type='HRNet', extra=copy.deepcopy(extra))}
    # mmpretrain names the standard widths; the small ones it builds from the same dict
    refs['mmpretrain'] = (dict(type='HRNet', arch=arch) if mmpretrain
                          else dict(type='HRNet', extra=copy.deepcopy(extra)))
    return refs


register_variants([
    Variant(name=name, family='HRNet', cfg=dict(arch=arch), refs=_refs(name, arch, mmpre),
            params=params, paper=_SUN, test_input=_INPUT, parity_sizes=_PARITY_SIZES,
            slow=name not in _DEFAULT_RUN)
    for name, arch, params, mmpre in _ROWS
])
