"""ConvNeXt (Liu et al. 2022, arXiv 2201.03545) and ConvNeXt V2 (Woo et al. 2023, arXiv 2301.00808).

A ResNet modernised step by step toward the transformer design: a 4x4 stride-4 "patchify"
stem, separate 2x2 stride-2 downsampling layers between stages, and inverted-bottleneck blocks
of a 7x7 depthwise conv, one LayerNorm, a pointwise MLP (4x wider) with one GELU, a learned
per-channel layer scale and stochastic depth. V2 drops the layer scale and adds Global
Response Normalisation (GRN) after the GELU.

Arguments, defaults and parameter names are mmpretrain's ``ConvNeXt`` (``downsample_layers``,
``stages.{i}.{j}.{depthwise_conv,norm,pointwise_conv1,grn,pointwise_conv2,gamma}``, one output
norm ``norm{i}`` per returned level), so that the ``type='mmpretrain.ConvNeXt'`` dicts of mmdet's
and mmseg's configs build the same network here, and mmdet's / mmseg's
``LearningRateDecayOptimizerConstructor``, which reads those names, works on it unchanged.

Layout: with ``linear_pw_conv=True`` (the default) a block permutes its depthwise-conv output to
channel-last once, runs the norm and both pointwise layers as ``nn.Linear`` there, and permutes
back; the residual sum keeps that memory layout, so from the first block on every tensor is
channels-last in memory and the permutes (and the channel-first LayerNorms of the
downsampling layers and the outputs) are free views.

Input sizes: every reference floors a level's size (``H // s``). Here, as everywhere in
mmbackbones, a level of stride ``s`` has ``ceil(H / s)`` rows: an input that is not a multiple
of 32 is zero-padded to one at the bottom and right (as mmdet's and mmseg's pipelines pad a
batch) and each returned level is cropped to ``ceil(H / s)``. At multiples of 32 nothing
changes.
"""
import math
import re
from typing import Dict, List

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_

from mmbackbones.references import reference_levels
from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import register_converter, rename_keys
from mmbackbones.zoo import Variant, register_variants

from ..layers import (DropPath, LayerNorm2d, build_act, drop_path_rates, freeze_layer_norms,
                      init_transformer_weights, layer_norm_factory)
from .base import BaseBackbone

__all__ = ['ConvNeXt']

_DEFAULT_NORM = dict(type='LN2d', eps=1e-6)
_DEFAULT_ACT = dict(type='GELU')


class GlobalResponseNorm(nn.Module):
    """ConvNeXt V2's GRN: each channel's spatial L2 norm, divided by its mean over channels,
    rescales the features: ``x + beta + gamma * x * n``. ``gamma`` / ``beta`` start at zero."""

    def __init__(self, channels: int, eps: float = 1e-6, channels_last: bool = True):
        super().__init__()
        self.eps = eps
        self.channels_last = channels_last
        self.gamma = nn.Parameter(torch.zeros(channels))
        self.beta = nn.Parameter(torch.zeros(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.channels_last:  # (N, H, W, C)
            spatial, channel, shape = (1, 2), -1, (-1, )
        else:  # (N, C, H, W)
            spatial, channel, shape = (2, 3), 1, (-1, 1, 1)
        norm = torch.linalg.vector_norm(x, dim=spatial, keepdim=True)
        norm = norm / (norm.mean(dim=channel, keepdim=True) + self.eps)
        return x + torch.addcmul(self.beta.view(shape), self.gamma.view(shape), x * norm)


class ConvNeXtBlock(nn.Module):
    """7x7 depthwise conv, LayerNorm, pointwise MLP (GELU, optional GRN), layer scale, residual."""

    def __init__(self, channels: int, mlp_ratio: float = 4.0, linear_pw_conv: bool = True,
                 use_grn: bool = False, layer_scale_init_value: float = 1e-6,
                 drop_path: float = 0.0, norm_eps: float = 1e-6, act_cfg=_DEFAULT_ACT):
        super().__init__()
        hidden = int(mlp_ratio * channels)
        self.linear_pw_conv = linear_pw_conv
        self.depthwise_conv = nn.Conv2d(channels, channels, 7, padding=3, groups=channels)
        if linear_pw_conv:
            self.norm = nn.LayerNorm(channels, eps=norm_eps)
            self.pointwise_conv1 = nn.Linear(channels, hidden)
            self.pointwise_conv2 = nn.Linear(hidden, channels)
        else:  # 1x1 convs in NCHW (timm's conv_mlp): the same function
            self.norm = LayerNorm2d(channels, eps=norm_eps)
            self.pointwise_conv1 = nn.Conv2d(channels, hidden, 1)
            self.pointwise_conv2 = nn.Conv2d(hidden, channels, 1)
        self.act = build_act(act_cfg)
        self.grn = GlobalResponseNorm(hidden, channels_last=linear_pw_conv) if use_grn else None
        self.gamma = (nn.Parameter(torch.full((channels, ), float(layer_scale_init_value)))
                      if layer_scale_init_value > 0 else None)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shortcut = x
        x = self.depthwise_conv(x)
        if self.linear_pw_conv:
            x = x.permute(0, 2, 3, 1)  # the one layout change (a view on channels-last input)
        x = self.act(self.pointwise_conv1(self.norm(x)))
        if self.grn is not None:
            x = self.grn(x)
        x = self.pointwise_conv2(x)
        if self.gamma is not None:
            x = x * (self.gamma if self.linear_pw_conv else self.gamma.view(-1, 1, 1))
        if self.linear_pw_conv:
            x = x.permute(0, 3, 1, 2)
        if self.drop_path is not None:
            x = self.drop_path(x)
        # in place: the branch ends in a product or a linear layer, whose backward does not
        # need its output
        return x.add_(shortcut)


@MODELS.register_module()
class ConvNeXt(BaseBackbone):
    """ConvNeXt backbone (V1 and, with ``use_grn=True, layer_scale_init_value=0``, V2).

    mmpretrain's ``ConvNeXt`` arguments, defaults and meanings:

    Args:
        arch: ``'atto'``, ``'femto'``, ``'pico'``, ``'nano'``, ``'tiny'``, ``'small'``,
            ``'base'``, ``'large'``, ``'xlarge'``, ``'xxlarge'``, ``'huge'`` or a dict with
            ``depths`` and ``channels``.
        in_channels: input channels.
        stem_patch_size: side (and stride) of the patchify stem conv.
        norm_cfg: ``dict(type='LN2d', eps=1e-6)``; only LayerNorm (``'LN2d'`` or ``'LN'``,
            optional ``eps``, ``requires_grad``) exists in ConvNeXt.
        act_cfg: the MLP's activation (mmcv config), GELU by default.
        linear_pw_conv: pointwise layers as ``nn.Linear`` on channel-last tensors (default)
            or as 1x1 convs; the same function, the same weights.
        use_grn: ConvNeXt V2's Global Response Normalisation after the activation.
        drop_path_rate: stochastic depth, rising linearly from 0 to this rate over the blocks.
        layer_scale_init_value: initial per-channel layer scale; ``0`` builds none (V2).
        out_indices: levels to return (default ``-1``: the last, as mmpretrain); each gets an
            output norm ``norm{i}``.
        frozen_stages: mmpretrain's meaning: ``k`` freezes the stem and the first ``k`` stages
            with their downsampling layers; ``0`` (default) and ``-1`` freeze nothing. The stem
            belongs to stage 0 here, so no value freezes the stem alone.
        gap_before_final_norm: mmpretrain's classification output: each returned level is
            average-pooled and then normalised, giving ``(N, C)`` vectors instead of feature
            maps. Its default is mmpretrain's (``True``); detection and segmentation configs
            set ``False``, and the zoo rows do.
        with_cp, init_cfg, pretrained: see :class:`BaseBackbone`.
        norm_eval: accepted for the common contract; ConvNeXt has no BatchNorm.
    """
    # ONNX: a traced graph holds the padding and the crops of one input size
    onnx_static_family_reason = ('inputs are padded to a multiple of 32 and the levels cropped to '
                                 'ceil(H / stride), sizes computed in Python')


    arch_settings = {
        'atto': dict(depths=(2, 2, 6, 2), channels=(40, 80, 160, 320)),
        'femto': dict(depths=(2, 2, 6, 2), channels=(48, 96, 192, 384)),
        'pico': dict(depths=(2, 2, 6, 2), channels=(64, 128, 256, 512)),
        'nano': dict(depths=(2, 2, 8, 2), channels=(80, 160, 320, 640)),
        'tiny': dict(depths=(3, 3, 9, 3), channels=(96, 192, 384, 768)),
        'small': dict(depths=(3, 3, 27, 3), channels=(96, 192, 384, 768)),
        'base': dict(depths=(3, 3, 27, 3), channels=(128, 256, 512, 1024)),
        'large': dict(depths=(3, 3, 27, 3), channels=(192, 384, 768, 1536)),
        'xlarge': dict(depths=(3, 3, 27, 3), channels=(256, 512, 1024, 2048)),
        'xxlarge': dict(depths=(3, 4, 30, 3), channels=(384, 768, 1536, 3072)),
        'huge': dict(depths=(3, 3, 27, 3), channels=(352, 704, 1408, 2816)),
    }
    arch_keys = ('depths', 'channels')

    def __init__(self, arch='tiny', in_channels: int = 3, stem_patch_size: int = 4,
                 norm_cfg=_DEFAULT_NORM, act_cfg=_DEFAULT_ACT, linear_pw_conv: bool = True,
                 use_grn: bool = False, drop_path_rate: float = 0.0,
                 layer_scale_init_value: float = 1e-6, out_indices=-1, frozen_stages: int = 0,
                 gap_before_final_norm: bool = True, with_cp: bool = False, init_cfg=None,
                 norm_eval: bool = False, pretrained=None):
        settings = self.resolve_arch(arch)
        depths, channels = tuple(settings['depths']), tuple(settings['channels'])
        if len(depths) != len(channels) or not all(
                isinstance(v, int) and v > 0 for v in depths + channels):
            raise ValueError(f'arch={arch!r}: depths and channels must be positive ints, one '
                             'of each per stage')
        if not isinstance(frozen_stages, int):
            raise TypeError(f'frozen_stages must be an int, got {frozen_stages!r}')
        if not -1 <= frozen_stages <= len(depths):
            raise ValueError(f'frozen_stages={frozen_stages} of ConvNeXt: valid values are -1 or '
                             f'0 (nothing frozen) to {len(depths)} (the stem and the first '
                             'frozen_stages stages), as in mmpretrain')
        # mmpretrain's 0 freezes nothing: the base's -1 (its levels already hold the stem).
        super().__init__(out_indices, max(frozen_stages, 0) or -1, norm_eval, with_cp, init_cfg,
                         pretrained)
        if not isinstance(stem_patch_size, int) or stem_patch_size < 1:
            raise ValueError(f'stem_patch_size={stem_patch_size!r}; it must be a positive int')
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'drop_path_rate={drop_path_rate}; valid values are in [0, 1)')
        if not isinstance(layer_scale_init_value, (int, float)) or layer_scale_init_value < 0:
            raise ValueError(f'layer_scale_init_value={layer_scale_init_value!r}; valid values '
                             'are numbers >= 0 (0: no layer scale)')
        for name, value in (('linear_pw_conv', linear_pw_conv), ('use_grn', use_grn),
                            ('gap_before_final_norm', gap_before_final_norm)):
            if not isinstance(value, bool):
                raise TypeError(f'{name}={value!r}; valid values are True, False')
        norm_layer = layer_norm_factory(norm_cfg, channels_first=True, default_eps=1e-6)
        eps = norm_layer.keywords['eps']  # the blocks' norm, channel-last with linear_pw_conv
        self.depths, self.channels = depths, channels
        self.gap_before_final_norm = gap_before_final_norm
        self.pad_multiple = stem_patch_size * 2**(len(depths) - 1)

        self.downsample_layers = nn.ModuleList([nn.Sequential(
            nn.Conv2d(in_channels, channels[0], stem_patch_size, stride=stem_patch_size),
            norm_layer(channels[0]))])
        for i in range(1, len(depths)):
            self.downsample_layers.append(nn.Sequential(
                norm_layer(channels[i - 1]),
                nn.Conv2d(channels[i - 1], channels[i], 2, stride=2)))
        rates = drop_path_rates(drop_path_rate, depths)
        self.stages = nn.ModuleList([
            nn.Sequential(*[
                ConvNeXtBlock(channels[i], linear_pw_conv=linear_pw_conv, use_grn=use_grn,
                              layer_scale_init_value=layer_scale_init_value,
                              drop_path=rates[i][j], norm_eps=eps, act_cfg=act_cfg)
                for j in range(depths[i])
            ]) for i in range(len(depths))
        ])
        # Output norms for the returned levels only (mmpretrain's keys: norm{i}).
        for index in self._requested_out_indices:
            if -len(depths) <= index < len(depths):
                index %= len(depths)
                self.add_module(f'norm{index}', norm_layer(channels[index]))
        freeze_layer_norms(self, norm_cfg)
        self._setup_levels(channels, [stem_patch_size * 2**i for i in range(len(depths))])

    # ------------------------------------------------------------------ init
    def _init_default_weights(self):
        """mmpretrain's: truncated normal (std 0.02) convs and linears with zero bias, unit
        LayerNorms; layer scales and GRN keep their constructor values."""
        def init_conv(module):
            if isinstance(module, nn.Conv2d):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

        init_transformer_weights(self, other=init_conv)

    # --------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor):
        height, width = x.shape[-2:]
        pad_h, pad_w = (-height) % self.pad_multiple, (-width) % self.pad_multiple
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        outs = []
        for i, stage in enumerate(self.stages):
            x = self.run_blocks(stage, self.downsample_layers[i](x))
            if i in self.out_indices:
                norm = getattr(self, f'norm{i}')
                stride = self.level_strides[i]
                level = x[..., :-(-height // stride), :-(-width // stride)]  # without padding
                if self.gap_before_final_norm:
                    outs.append(norm(level.mean((-2, -1), keepdim=True)).flatten(1))
                else:
                    outs.append(norm(level))
            if i == self.out_indices[-1]:
                break
        return tuple(outs)

    # -------------------------------------------------------------- contract
    def stem_modules(self):
        return []  # mmpretrain's stem (downsample_layers.0) is part of stage 0

    def level_blocks(self, index: int):
        return list(self.stages[index])

    def level_modules(self, index: int):
        # as mmpretrain freezes: the stage and the downsampling layer in front of it
        return [self.downsample_layers[index], self.stages[index]]

    def layer_decay_ids(self) -> List[List[int]]:
        """Layer id of every block, per stage: the ConvNeXt authors' layer-wise decay (their
        detection / segmentation code, mmpretrain's ``get_layer_depth``, mmdet's and mmseg's
        ``LearningRateDecayOptimizerConstructor``): stages 0 and 1 are one layer each, stage 2
        one layer per three blocks, the last stage one layer (ConvNeXt-T: 1, 2, 3..5, 6;
        -S/-B/-L: up to 12). mmpretrain fixes the last id at 6 or 12, which leaves id 5 unused
        for the 6-block stage 2 of atto/femto/pico; here it is 5."""
        if len(self.depths) != 4:  # a custom architecture: one layer per stage
            return [[i + 1] * depth for i, depth in enumerate(self.depths)]
        d0, d1, d2, d3 = self.depths
        last = 3 + math.ceil(d2 / 3)
        return [[1] * d0, [2] * d1, [3 + j // 3 for j in range(d2)], [last] * d3]

    def _layer_depths(self) -> Dict[str, int]:
        """The stem is layer 0, a downsampling layer shares the id of the stage it starts,
        the output norms come after the last stage (``num_layers - 1``)."""
        table = self.__dict__.get('_layer_depth_table')
        if table is not None:
            return table
        ids = self.layer_decay_ids()
        table = {}
        for name, _ in self.named_parameters():
            parts = name.split('.')
            if parts[0] == 'downsample_layers':
                stage = int(parts[1])
                table[name] = 0 if stage == 0 else ids[stage][0]
            elif parts[0] == 'stages':
                table[name] = ids[int(parts[1])][int(parts[2])]
        self.__dict__['_layer_depth_table'] = table
        return table

    def get_stage_depth(self, param_name: str, prefix: str = ''):
        """The authors' stage-wise rule (their detection / segmentation code, mmdet's and
        mmseg's constructor): every downsampling layer, the stem's included, is stage 0, stage
        ``i`` is ``i + 1``, the output norms ``num_stages + 1``."""
        if prefix and param_name.startswith(prefix):
            param_name = param_name[len(prefix):]
        parts = param_name.split('.')
        num = len(self.depths) + 2
        if parts[0] == 'downsample_layers':
            return 0, num
        if parts[0] == 'stages' and len(parts) > 1:
            return int(parts[1]) + 1, num
        return num - 1, num


# ---------------------------------------------------------------------------- weights
# Our layout is mmpretrain's. Converters: timm (``stem``, ``stages.{i}.downsample``,
# ``stages.{i}.blocks.{j}.{conv_dw,norm,mlp.fc1,mlp.grn,mlp.fc2,gamma}``, ``head.norm``),
# torchvision (``features.{k}``, ``classifier.0``), the official repositories
# (``downsample_layers``, ``stages.{i}.{j}.{dwconv,pwconv1,pwconv2,grn}``, ``norm``) and
# mmpretrain (whose layout mmdet's and mmseg's ConvNeXt checkpoints also use).
_HEADS = ('head.', 'classifier.', 'fc.')


def _fit_pointwise_shapes(state_dict, model):
    """Pointwise layers stored as 1x1 convs or linears, layer scales as (C,) or (C, 1, 1) and
    GRN parameters as (C,) or (1, 1, 1, C): reshape to the model's form. The same numbers,
    so only tensors with the model's element count are reshaped; others stay and are
    refused by the loader as a size mismatch."""
    own = {k: v.shape for k, v in model.state_dict().items()}
    out = {}
    for key, value in state_dict.items():
        shape = own.get(key)
        if (shape is not None and value.shape != shape and value.numel() == math.prod(shape)
                and re.search(r'(pointwise_conv\d\.weight|\.gamma|\.grn\.\w+)$', key)):
            value = value.reshape(shape)
        out[key] = value
    return out


def _final_norm(state_dict, model, name):
    """A classifier's single final norm -> the output norm of the last level."""
    last = len(model.depths) - 1
    for suffix in ('weight', 'bias'):
        if f'{name}.{suffix}' in state_dict:
            state_dict[f'norm{last}.{suffix}'] = state_dict.pop(f'{name}.{suffix}')
    return state_dict


def _without_head(state_dict):
    return {k: v for k, v in state_dict.items() if not k.startswith(_HEADS)}


def _is_timm(sd):
    return 'stem.0.weight' in sd and 'stages.0.blocks.0.conv_dw.weight' in sd


def _is_torchvision(sd):
    return 'features.0.0.weight' in sd and 'features.1.0.block.0.weight' in sd


def _is_official(sd):
    return 'downsample_layers.0.0.weight' in sd and 'stages.0.0.dwconv.weight' in sd


def _is_mmpretrain(sd):
    return 'downsample_layers.0.0.weight' in sd and 'stages.0.0.depthwise_conv.weight' in sd


@register_converter(ConvNeXt, 'timm', detect=_is_timm)
def convert_timm(state_dict, model):
    head_norm = {k.replace('head.norm.', 'final_norm.'): v for k, v in state_dict.items()
                 if k.startswith('head.norm.')}
    state_dict = rename_keys(_without_head(state_dict), [
        (r'^stem\.', 'downsample_layers.0.'),
        (r'^stages\.(\d+)\.downsample\.', r'downsample_layers.\1.'),
        (r'^stages\.(\d+)\.blocks\.(\d+)\.', r'stages.\1.\2.'),
        (r'\.conv_dw\.', '.depthwise_conv.'),
        (r'\.mlp\.fc1\.', '.pointwise_conv1.'),
        (r'\.mlp\.fc2\.', '.pointwise_conv2.'),
        (r'\.mlp\.grn\.weight$', '.grn.gamma'),
        (r'\.mlp\.grn\.bias$', '.grn.beta'),
    ])
    state_dict.update(head_norm)
    return _fit_pointwise_shapes(_final_norm(state_dict, model, 'final_norm'), model)


@register_converter(ConvNeXt, 'torchvision', detect=_is_torchvision)
def convert_torchvision(state_dict, model):
    out = {}
    for key, value in state_dict.items():
        if key.startswith('classifier.0.'):  # the LayerNorm2d before the classifier
            out[key.replace('classifier.0.', 'final_norm.')] = value
            continue
        match = re.match(r'^features\.(\d+)\.(.*)$', key)
        if match is None:
            continue  # the classifier's linear layer
        index, rest = int(match.group(1)), match.group(2)
        if index % 2 == 0:  # stem (conv, norm) or downsampling (norm, conv)
            out[f'downsample_layers.{index // 2}.{rest}'] = value
            continue
        block, rest = rest.split('.', 1)
        rest = {'layer_scale': 'gamma'}.get(rest, rest)
        rest = re.sub(r'^block\.(\d+)\.', lambda m: {
            '0': 'depthwise_conv.', '2': 'norm.', '3': 'pointwise_conv1.',
            '5': 'pointwise_conv2.'}[m.group(1)], rest)
        out[f'stages.{index // 2}.{block}.{rest}'] = value
    return _fit_pointwise_shapes(_final_norm(out, model, 'final_norm'), model)


@register_converter(ConvNeXt, 'official', detect=_is_official)
def convert_official(state_dict, model):
    state_dict = rename_keys(_without_head(state_dict), [
        (r'\.dwconv\.', '.depthwise_conv.'),
        (r'\.pwconv1\.', '.pointwise_conv1.'),
        (r'\.pwconv2\.', '.pointwise_conv2.'),
    ])
    # classification checkpoints end in one `norm`; detection ones carry norm0..norm3
    return _fit_pointwise_shapes(_final_norm(state_dict, model, 'norm'), model)


@register_converter(ConvNeXt, 'mmpretrain', detect=_is_mmpretrain)
def convert_mmpretrain(state_dict, model):
    return _fit_pointwise_shapes(_without_head(state_dict), model)


# ------------------------------------------------------------------------- references
def _padded(x: torch.Tensor, multiple: int) -> torch.Tensor:
    pad_h, pad_w = (-x.shape[-2]) % multiple, (-x.shape[-1]) % multiple
    return F.pad(x, (0, pad_w, 0, pad_h)) if pad_h or pad_w else x


def _reference_levels(stage_outputs, final_norm, size):
    """Stage outputs of a reference run on the zero-padded input -> our levels: cropped to
    ``ceil(H / s)``, the reference's final norm on the last, our fresh output norms (a plain
    layer norm) on the others."""
    height, width = size
    levels = []
    for index, x in enumerate(stage_outputs):
        stride = 4 * 2**index
        x = x[..., :-(-height // stride), :-(-width // stride)]
        if index == len(stage_outputs) - 1:
            levels.append(final_norm(x))
        else:
            levels.append(F.layer_norm(x.permute(0, 2, 3, 1), x.shape[1:2], eps=final_norm.eps)
                          .permute(0, 3, 1, 2))
    return levels


@reference_levels(ConvNeXt, 'timm')
def _timm_levels(model, x):
    size = x.shape[-2:]
    x = model.stem(_padded(x, 32))
    outputs = []
    for stage in model.stages:
        x = stage(x)
        outputs.append(x)
    return _reference_levels(outputs, model.head.norm, size)


@reference_levels(ConvNeXt, 'torchvision')
def _torchvision_levels(model, x):
    size = x.shape[-2:]
    x = _padded(x, 32)
    outputs = []
    for index, module in enumerate(model.features):
        x = module(x)
        if index % 2 == 1:  # features = [stem, stage, downsample, stage, ...]
            outputs.append(x)
    return _reference_levels(outputs, model.classifier[0], size)


@reference_levels(ConvNeXt, 'mmpretrain')
def _mmpretrain_levels(model, x):
    """mmpretrain's ConvNeXt returns its normed levels; on the zero-padded input, cropped."""
    height, width = x.shape[-2:]
    levels = model(_padded(x, 32))
    return [level[..., :-(-height // s), :-(-width // s)]
            for level, s in zip(levels, (4, 8, 16, 32))]


# ----------------------------------------------------------------------------------- zoo
_V1_PAPER = 'Liu et al. 2022, arXiv 2201.03545'
_V2_PAPER = 'Woo et al. 2023, arXiv 2301.00808'


def _convnext(name, arch, params, v2=False, torchvision=None, mmpretrain=True, slow=True,
              eps=None):
    cfg = dict(arch=arch, out_indices=(0, 1, 2, 3), gap_before_final_norm=False)
    if v2:
        cfg.update(use_grn=True, layer_scale_init_value=0.0)
    if eps is not None:
        cfg['norm_cfg'] = dict(type='LN2d', eps=eps)
    refs = dict(timm=name)
    if torchvision:
        refs['torchvision'] = torchvision
    if mmpretrain:
        refs['mmpretrain'] = dict(type='ConvNeXt', **cfg)
    return Variant(name=name, family='ConvNeXt', cfg=cfg, refs=refs, params=params,
                   paper=_V2_PAPER if v2 else _V1_PAPER,
                   # square; and non-square, neither side a multiple of 32 (zero-padded)
                   parity_sizes=((224, 224), (100, 147)), slow=slow)


# params: timm's model with num_classes=0 (its final norm kept), equal to ours built with
# out_indices=(3,).
register_variants([
    _convnext('convnext_atto', 'atto', 3374520, slow=False),
    _convnext('convnext_femto', 'femto', 4832784),
    _convnext('convnext_pico', 'pico', 8532672),
    _convnext('convnext_nano', 'nano', 14952560),
    _convnext('convnext_tiny', 'tiny', 27820128, torchvision='convnext_tiny'),
    _convnext('convnext_small', 'small', 49454688, torchvision='convnext_small'),
    _convnext('convnext_base', 'base', 87566464, torchvision='convnext_base'),
    _convnext('convnext_large', 'large', 196230336, torchvision='convnext_large'),
    _convnext('convnext_xlarge', 'xlarge', 348147968),
    _convnext('convnext_xxlarge', 'xxlarge', 843398016, mmpretrain=False, eps=1e-5),
    _convnext('convnextv2_atto', 'atto', 3387400, v2=True, slow=False),
    _convnext('convnextv2_femto', 'femto', 4848240, v2=True),
    _convnext('convnextv2_pico', 'pico', 8553280, v2=True),
    _convnext('convnextv2_nano', 'nano', 14982800, v2=True),
    _convnext('convnextv2_tiny', 'tiny', 27866496, v2=True),
    _convnext('convnextv2_small', 'small', 49549440, v2=True),
    _convnext('convnextv2_base', 'base', 87692800, v2=True),
    _convnext('convnextv2_large', 'large', 196419840, v2=True),
    _convnext('convnextv2_huge', 'huge', 657472640, v2=True),
])
