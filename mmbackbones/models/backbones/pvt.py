"""Pyramid Vision Transformer, v1 (Wang et al., 2021, arXiv 2102.12122) and v2 (Wang et al.,
2022, arXiv 2106.13797).

A transformer made a pyramid for dense prediction: four levels at strides 4, 8, 16 and 32,
each started by a patch embedding that shrinks the map, and spatial-reduction attention (SRA)
whose keys and values come from the map shrunk by ``sr_ratio`` (a strided conv and a layer
norm), so that attention at stride 4 stays affordable. PVTv2 embeds overlapping patches
(kernel 7 / 3 with padding), drops the absolute position tables for a 3x3 depthwise conv in
the feed-forward network and, in its ``linear`` variant (``b2_li``), pools keys and values to a
fixed 7x7 grid (linear complexity in the input size).

Tokens stay channel-last (B, H, W, C) between blocks; outputs are NCHW. Any input size works:
every level has ceil(H / stride) x ceil(W / stride) positions. PVTv2's overlapping embeddings
give that by themselves, so its features equal timm's and mmdet's at every size. PVTv1's
non-overlapping embeddings (kernel = stride, no padding) are padded at the bottom / right to a
multiple of their stride; mmdet's floors instead (drops the last rows and columns), so the two
agree where the input is a multiple of 32. v1's position tables are resized bilinearly to
each level's grid, as mmdet does.
"""
import functools
import re
from typing import Dict, Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_

from mmbackbones.references import reference_levels
from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import register_converter
from mmbackbones.zoo import Variant, register_variants

from ..layers import (DropPath, Mlp, drop_path_rates, freeze_layer_norms,
                      init_transformer_weights, int_pair, layer_norm_factory)
from .base import BaseBackbone

__all__ = ['PyramidVisionTransformer', 'PyramidVisionTransformerV2']


class PatchEmbed(nn.Module):
    """Conv patch embedding + layer norm (+ v1's absolute position table), NCHW -> NHWC.

    Where the conv would floor the output size (kernel = stride, no padding), the input is
    padded at the bottom / right so that the output has ceil(H / stride) rows and columns.
    """

    def __init__(self, in_channels: int, embed_dims: int, kernel_size: int, stride: int,
                 padding: int, norm_layer, pos_grid: Optional[Tuple[int, int]] = None,
                 drop_rate: float = 0.0):
        super().__init__()
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.proj = nn.Conv2d(in_channels, embed_dims, kernel_size, stride, padding)
        self.norm = norm_layer(embed_dims)
        self.pos_grid = pos_grid
        if pos_grid is not None:
            self.pos_embed = nn.Parameter(torch.zeros(1, pos_grid[0] * pos_grid[1], embed_dims))
            self.pos_drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()

    def _pad_to_ceil(self, x: torch.Tensor) -> torch.Tensor:
        pads = []
        for size in (x.shape[3], x.shape[2]):  # F.pad order: last dim first
            wanted = -(-size // self.stride)
            covered = (wanted - 1) * self.stride + self.kernel_size - 2 * self.padding
            pads += [0, max(covered - size, 0)]
        return F.pad(x, pads) if any(pads) else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.norm(self.proj(self._pad_to_ceil(x)).permute(0, 2, 3, 1))
        if self.pos_grid is not None:
            x = self.pos_drop(x + self._resized_pos_embed(x.shape[1:3]))
        return x

    def _resized_pos_embed(self, hw) -> torch.Tensor:
        table = self.pos_embed.reshape(1, *self.pos_grid, -1).permute(0, 3, 1, 2)
        if tuple(hw) != tuple(self.pos_grid):
            table = F.interpolate(table, size=tuple(hw), mode='bilinear', align_corners=False)
        return table.permute(0, 2, 3, 1)


class SpatialReductionAttention(nn.Module):
    """Multi-head attention whose keys and values come from a reduced map: a strided
    ``sr_ratio`` conv and a layer norm (v1, v2), or v2-li's 7x7 average pool, 1x1 conv,
    layer norm and GELU. Queries stay at full resolution.

    The query, key and value projections are one ``qkv`` linear layer (3C x C, q then k then
    v, mmdet's ``in_proj`` layout), its first third applied to the tokens and the rest to the
    reduced tokens (timm's ``q`` and ``kv`` are its two parts)."""

    def __init__(self, dim: int, num_heads: int, sr_ratio: int, linear: bool = False,
                 qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0,
                 norm_layer=nn.LayerNorm):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'embedding width {dim} is not divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.linear = linear
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop) if proj_drop > 0 else nn.Identity()
        if linear:
            self.pool = nn.AdaptiveAvgPool2d(7)
            self.sr = nn.Conv2d(dim, dim, 1)
            self.norm = norm_layer(dim)
            self.act = nn.GELU()
        elif sr_ratio > 1:
            self.sr = nn.Conv2d(dim, dim, sr_ratio, stride=sr_ratio)
            self.norm = norm_layer(dim)

    def _reduced(self, x: torch.Tensor) -> torch.Tensor:
        """(B, H, W, C) -> (B, M, C) tokens that keys and values are computed from."""
        if not hasattr(self, 'sr'):
            return x.flatten(1, 2)
        y = x.permute(0, 3, 1, 2)
        if self.linear:
            y = self.pool(y)
        y = self.norm(self.sr(y).flatten(2).transpose(1, 2))
        return self.act(y) if self.linear else y

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        heads = self.num_heads
        weight, bias = self.qkv.weight, self.qkv.bias
        q = F.linear(x, weight[:c], None if bias is None else bias[:c])
        q = q.reshape(b, h * w, heads, c // heads).transpose(1, 2)
        kv = F.linear(self._reduced(x), weight[c:], None if bias is None else bias[c:])
        kv = kv.reshape(b, -1, 2, heads, c // heads).permute(2, 0, 3, 1, 4)
        out = F.scaled_dot_product_attention(q, kv[0], kv[1],
                                             dropout_p=self.attn_drop if self.training else 0.0)
        out = out.transpose(1, 2).reshape(b, h, w, c)
        return self.proj_drop(self.proj(out))


class DepthwiseConvMlp(Mlp):
    """PVTv2's feed-forward network: fc1, a 3x3 depthwise conv over the map (positional
    information without position tables), the activation, fc2; v2-li adds a ReLU before the
    depthwise conv."""

    def __init__(self, in_features: int, hidden_features: int, drop: float = 0.0,
                 extra_relu: bool = False):
        super().__init__(in_features, hidden_features, drop=drop)
        self.relu = nn.ReLU() if extra_relu else nn.Identity()
        self.dwconv = nn.Conv2d(hidden_features, hidden_features, 3, padding=1,
                                groups=hidden_features)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, H, W, C)
        # One statement per step, so that each wide hidden map is freed as soon as the next
        # exists: at most two of them live at once (as in timm), not three.
        x = self.fc1(x)
        x = self.dwconv(self.relu(x).permute(0, 3, 1, 2))
        x = self.act(x.permute(0, 2, 3, 1))
        return self.drop(self.fc2(self.drop(x)))


class PVTBlock(nn.Module):
    """Spatial-reduction attention and a feed-forward network, each in a pre-norm residual
    branch; on (B, H, W, C) tokens."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, sr_ratio: int,
                 linear: bool, use_conv_ffn: bool, qkv_bias: bool, drop_rate: float,
                 attn_drop_rate: float, drop_path: float, norm_layer, reduction_norm_layer):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = SpatialReductionAttention(dim, num_heads, sr_ratio, linear, qkv_bias,
                                              attn_drop_rate, drop_rate, reduction_norm_layer)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        hidden = int(dim * mlp_ratio)
        self.mlp = (DepthwiseConvMlp(dim, hidden, drop_rate, extra_relu=linear) if use_conv_ffn
                    else Mlp(dim, hidden, drop=drop_rate))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PVTStage(nn.Module):
    """A patch embedding, the blocks and an output norm (identity in v1); the backbone runs
    them (:meth:`PyramidVisionTransformer.forward`) so that ``with_cp`` follows the base's rule."""

    def __init__(self, downsample: nn.Module, blocks: Sequence[nn.Module], norm: nn.Module):
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.ModuleList(blocks)
        self.norm = norm


_OPENMMLAB_ACT = dict(type='GELU')


def _per_stage(name: str, values, num_stages: int, kind=int) -> Tuple:
    if isinstance(values, (int, float)) and not isinstance(values, bool):
        values = (values, ) * num_stages
    if not isinstance(values, (list, tuple)) or len(values) != num_stages or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0 for v in values):
        raise ValueError(f'{name}={values!r}; valid values are {num_stages} positive numbers '
                         f'(one per stage, num_stages={num_stages})')
    return tuple(kind(v) for v in values)


@MODELS.register_module()
class PyramidVisionTransformer(BaseBackbone):
    """PVT (v1) backbone, with mmdet's ``PyramidVisionTransformer`` arguments and meanings.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'medium'``, ``'large'`` (PVTv2: ``'b0'`` to ``'b5'``,
            ``'b2_li'``), or ``None`` (default): OpenMMLab's style, the top-level
            ``embed_dims`` / ``num_layers`` / ``num_heads`` / ``mlp_ratios`` (defaults:
            PVT-Small's).
            Give one style, not both.
        pretrain_img_size: input size of pretraining (int or (H, W)); sizes v1's position tables.
        in_channels: input channels.
        embed_dims: base width; level ``i`` has ``embed_dims * num_heads[i]`` channels.
        num_stages: number of levels (4).
        num_layers, num_heads, mlp_ratios, sr_ratios: per level: blocks, attention heads,
            feed-forward expansion, spatial reduction of keys and values.
        patch_sizes, strides, paddings: per level, the patch embedding's conv.
        qkv_bias: biases of the query and key/value projections.
        drop_rate, attn_drop_rate: dropout after projections / on attention weights.
        drop_path_rate: stochastic depth, increasing linearly to this rate over the blocks.
        use_abs_pos_embed: v1's learned position table per level.
        norm_after_stage: layer-normalise each level's output (v2).
        use_conv_ffn: depthwise 3x3 conv in the feed-forward network (v2).
        linear: v2-li's pooled attention (timm's ``linear``; mmdet has no such variant).
        act_cfg: only ``dict(type='GELU')``.
        norm_cfg: only ``dict(type='LN')`` (optional ``eps``, ``requires_grad``); every layer
            norm uses it, except as ``embed_norm_eps`` says.
        embed_norm_eps: eps of the patch-embedding and key/value-reduction norms; ``None``:
            ``norm_cfg``'s. timm's PVTv2 uses 1e-5 there and 1e-6 elsewhere, mmdet 1e-6
            everywhere, so :class:`PyramidVisionTransformerV2` named by ``arch`` (timm's
            models) defaults to 1e-5 and one given OpenMMLab's way to ``norm_cfg``'s.
        convert_weights: accepted and not needed: checkpoints are converted from any supported
            layout (official, timm, mmdet) by their keys.
        out_indices, frozen_stages, norm_eval, with_cp, init_cfg, pretrained: see
            :class:`BaseBackbone` (as in mmdet, ``init_cfg=dict(checkpoint=...)`` without a
            type means ``Pretrained``). Level ``i`` (frozen with ``frozen_stages > i``)
            includes its output norm and the next level's patch embedding, as in Swin.
    """

    arch_settings = {
        'tiny': dict(embed_dims=64, num_layers=(2, 2, 2, 2)),
        'small': dict(embed_dims=64, num_layers=(3, 4, 6, 3)),
        'medium': dict(embed_dims=64, num_layers=(3, 4, 18, 3)),
        'large': dict(embed_dims=64, num_layers=(3, 8, 27, 3)),
    }
    arch_keys = ('embed_dims', 'num_layers')
    # v1 only: its patch embeddings pad sides that are not a multiple of their stride, and
    # resize the position tables to each patch grid, by sizes computed in Python
    onnx_static_family_reason = ('the patch embeddings pad each side to a multiple of their '
                                 'stride and resize the position tables to the patch grid, by '
                                 'sizes computed in Python from each input')
    _defaults = dict(embed_dims=64, num_layers=(3, 4, 6, 3), num_heads=(1, 2, 5, 8),
                     mlp_ratios=(8, 8, 4, 4))

    def __init__(self, arch=None, pretrain_img_size=224, in_channels: int = 3,
                 embed_dims: Optional[int] = None, num_stages: int = 4, num_layers=None,
                 num_heads=None, patch_sizes=(4, 2, 2, 2), strides=(4, 2, 2, 2),
                 paddings=(0, 0, 0, 0), sr_ratios=(8, 4, 2, 1), out_indices=(0, 1, 2, 3),
                 mlp_ratios=None, qkv_bias: bool = True, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path_rate: float = 0.1,
                 use_abs_pos_embed: bool = True, norm_after_stage: bool = False,
                 use_conv_ffn: bool = False, linear: bool = False, act_cfg=None,
                 norm_cfg=dict(type='LN', eps=1e-6), frozen_stages: int = -1,
                 norm_eval: bool = False, with_cp: bool = False, pretrained=None,
                 convert_weights: bool = True, init_cfg=None,
                 embed_norm_eps: Optional[float] = None):
        if isinstance(init_cfg, dict) and 'type' not in init_cfg and 'checkpoint' in init_cfg:
            # mmdet's PVT configs give dict(checkpoint=...) alone, which mmdet loads
            init_cfg = dict(init_cfg, type='Pretrained')
        super().__init__(out_indices, frozen_stages, norm_eval, with_cp, init_cfg, pretrained)
        settings = self._resolve_settings(arch, embed_dims=embed_dims, num_layers=num_layers,
                                          num_heads=num_heads, mlp_ratios=mlp_ratios)
        if not isinstance(num_stages, int) or num_stages < 1:
            raise ValueError(f'num_stages={num_stages!r}; valid values are positive ints')
        embed_dims = settings['embed_dims']
        if not isinstance(embed_dims, int) or embed_dims < 1:
            raise ValueError(f'embed_dims={embed_dims!r}; valid values are positive ints')
        num_layers = _per_stage('num_layers', settings['num_layers'], num_stages)
        num_heads = _per_stage('num_heads', settings['num_heads'], num_stages)
        mlp_ratios = _per_stage('mlp_ratios', settings['mlp_ratios'], num_stages, float)
        sr_ratios = _per_stage('sr_ratios', sr_ratios, num_stages)
        patch_sizes = _per_stage('patch_sizes', patch_sizes, num_stages)
        strides = _per_stage('strides', strides, num_stages)
        if not isinstance(paddings, (list, tuple)) or len(paddings) != num_stages or not all(
                isinstance(p, int) and p >= 0 for p in paddings):
            raise ValueError(f'paddings={paddings!r}; valid values are {num_stages} ints >= 0')
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'drop_path_rate={drop_path_rate}; valid values are in [0, 1)')
        if act_cfg is not None and dict(act_cfg) != _OPENMMLAB_ACT:
            raise ValueError(f'act_cfg={act_cfg!r}; only {_OPENMMLAB_ACT} is implemented')
        if not isinstance(convert_weights, bool):
            raise TypeError(f'convert_weights={convert_weights!r}; valid values are True, False '
                            '(both load any supported layout: it is detected from the keys)')
        if linear and not use_conv_ffn:
            raise ValueError('linear=True (PVTv2-li) needs use_conv_ffn=True, as in PVTv2')
        norm_layer = self._norm_layer(norm_cfg)
        if embed_norm_eps is None:
            embed_norm = norm_layer
        elif isinstance(embed_norm_eps, float) and embed_norm_eps > 0:
            embed_norm = functools.partial(norm_layer, eps=embed_norm_eps)
        else:
            raise ValueError(f'embed_norm_eps={embed_norm_eps!r}; valid values are None or a '
                             'positive float')
        img_size = int_pair('pretrain_img_size', pretrain_img_size)
        self.use_abs_pos_embed = bool(use_abs_pos_embed)
        channels = [embed_dims * heads for heads in num_heads]
        rates = drop_path_rates(drop_path_rate, num_layers)
        stages = []
        total_stride = 1
        for i in range(num_stages):
            total_stride *= strides[i]
            grid = (img_size[0] // total_stride, img_size[1] // total_stride)
            embed = PatchEmbed(channels[i - 1] if i else in_channels, channels[i], patch_sizes[i],
                               strides[i], paddings[i], embed_norm,
                               grid if use_abs_pos_embed else None, drop_rate)
            blocks = [PVTBlock(channels[i], num_heads[i], mlp_ratios[i], sr_ratios[i], linear,
                               use_conv_ffn, qkv_bias, drop_rate, attn_drop_rate, rates[i][j],
                               norm_layer, embed_norm) for j in range(num_layers[i])]
            norm = norm_layer(channels[i]) if norm_after_stage else nn.Identity()
            if i == 0:  # timm's key: the first embedding is the network's ``patch_embed``
                self.patch_embed = embed
                embed = nn.Identity()
            stages.append(PVTStage(embed, blocks, norm))
        self.stages = nn.ModuleList(stages)
        freeze_layer_norms(self, norm_cfg)
        level_strides, total = [], 1
        for stride in strides:
            total *= stride
            level_strides.append(total)
        self._setup_levels(channels, level_strides)

    @classmethod
    def _resolve_settings(cls, arch, **explicit) -> Dict:
        given = sorted(k for k, v in explicit.items() if v is not None)
        if arch is None:
            settings = dict(cls._defaults)
            settings.update({k: explicit[k] for k in given})
            return settings
        if given:
            raise ValueError(f'arch={arch!r} and {", ".join(given)} were both given; describe '
                             'the model one way: arch, or embed_dims/num_layers/... as in mmdet')
        return dict(cls._defaults, **cls.resolve_arch(arch))

    @staticmethod
    def _norm_layer(norm_cfg):
        if norm_cfg is None:
            return functools.partial(nn.LayerNorm, eps=1e-6)
        return layer_norm_factory(norm_cfg)

    # ------------------------------------------------------------------- init
    def _init_default_weights(self):
        def convs_and_position_tables(module):
            if isinstance(module, nn.Conv2d):
                fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels
                nn.init.normal_(module.weight, 0, (2.0 / (fan_out // module.groups))**0.5)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, PatchEmbed) and module.pos_grid is not None:
                trunc_normal_(module.pos_embed, std=0.02)

        init_transformer_weights(self, convs_and_position_tables)

    # ---------------------------------------------------------------- forward
    def forward(self, x: torch.Tensor):
        outs = []
        for i, stage in enumerate(self.stages):
            x = self.patch_embed(x) if i == 0 else stage.downsample(x)
            x = stage.norm(self.run_blocks(stage.blocks, x)).permute(0, 3, 1, 2)
            if i in self.out_indices:
                outs.append(x.contiguous())
            if i == self.out_indices[-1]:
                break
        return tuple(outs)

    # --------------------------------------------------------------- contract
    def stem_modules(self):
        return [self.patch_embed]

    def level_blocks(self, index: int):
        return list(self.stages[index].blocks)

    def transition_modules(self, index: int):
        # The level's output norm, then the next level's patch embedding (it runs on this
        # level's output): frozen with this level, at the depth of its last block.
        modules = [self.stages[index].norm]
        if index + 1 < len(self.stages):
            modules.append(self.stages[index + 1].downsample)
        return modules


@MODELS.register_module()
class PyramidVisionTransformerV2(PyramidVisionTransformer):
    """PVTv2 backbone, with mmdet's ``PyramidVisionTransformerV2`` arguments: those of
    :class:`PyramidVisionTransformer` less the ones PVTv2 fixes (overlapping patch embeddings
    7/3/3/3 with padding 3/1/1/1, no position tables, per-level output norms, depthwise-conv
    feed-forward), plus ``linear`` for the b2_li variant. Defaults as mmdet's (PVTv2-b1's
    shape with PVT-Small's depths)."""

    onnx_static_family_reason = ''  # overlapping embeddings: no padding, no table
    arch_settings = {
        'b0': dict(embed_dims=32, num_layers=(2, 2, 2, 2)),
        'b1': dict(embed_dims=64, num_layers=(2, 2, 2, 2)),
        'b2': dict(embed_dims=64, num_layers=(3, 4, 6, 3)),
        'b2_li': dict(embed_dims=64, num_layers=(3, 4, 6, 3), linear=True),
        'b3': dict(embed_dims=64, num_layers=(3, 4, 18, 3)),
        'b4': dict(embed_dims=64, num_layers=(3, 8, 27, 3)),
        'b5': dict(embed_dims=64, num_layers=(3, 6, 40, 3), mlp_ratios=(4, 4, 4, 4)),
    }

    def __init__(self, arch=None, pretrain_img_size=224, in_channels: int = 3,
                 embed_dims: Optional[int] = None, num_stages: int = 4, num_layers=None,
                 num_heads=None, strides=(4, 2, 2, 2), sr_ratios=(8, 4, 2, 1),
                 out_indices=(0, 1, 2, 3), mlp_ratios=None, qkv_bias: bool = True,
                 drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.1, linear: Optional[bool] = None, act_cfg=None,
                 norm_cfg=dict(type='LN', eps=1e-6), frozen_stages: int = -1,
                 norm_eval: bool = False, with_cp: bool = False, pretrained=None,
                 convert_weights: bool = True, init_cfg=None,
                 embed_norm_eps: Optional[float] = None):
        arch_linear = False
        if arch is not None:
            settings = dict(self.resolve_arch(arch))
            arch_linear = bool(settings.pop('linear', False))
            arch = settings
            if linear is not None and bool(linear) != arch_linear:
                raise ValueError(f'linear={linear!r} contradicts arch (linear={arch_linear})')
            if embed_norm_eps is None:
                embed_norm_eps = 1e-5  # timm's nn.LayerNorm default there
        super().__init__(
            arch, pretrain_img_size, in_channels, embed_dims, num_stages, num_layers,
            num_heads, patch_sizes=(7, 3, 3, 3), strides=strides, paddings=(3, 1, 1, 1),
            sr_ratios=sr_ratios, out_indices=out_indices, mlp_ratios=mlp_ratios,
            qkv_bias=qkv_bias, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
            drop_path_rate=drop_path_rate, use_abs_pos_embed=False, norm_after_stage=True,
            use_conv_ffn=True, linear=arch_linear if linear is None else bool(linear),
            act_cfg=act_cfg, norm_cfg=norm_cfg, frozen_stages=frozen_stages,
            norm_eval=norm_eval, with_cp=with_cp, pretrained=pretrained,
            convert_weights=convert_weights, init_cfg=init_cfg, embed_norm_eps=embed_norm_eps)


# ---------------------------------------------------------------------------- weights
# Our layout (timm's PVTv2 layout): ``patch_embed.{proj,norm[,pos_embed]}``,
# ``stages.{i}.downsample.{proj,norm[,pos_embed]}`` (i >= 1), ``stages.{i}.blocks.{j}.{norm1,
# attn.{qkv,sr,norm,proj},norm2,mlp.{fc1,dwconv,fc2}}``, ``stages.{i}.norm`` (v2); ``qkv`` is
# timm's and the official ``q`` and ``kv`` concatenated (mmdet's ``in_proj``).
# Converters: timm (PVTv2), the official whai362/PVT code, mmdet.

def _is_timm(sd):
    return 'patch_embed.proj.weight' in sd and any(k.startswith('stages.') for k in sd)


def _is_official(sd):
    return 'patch_embed1.proj.weight' in sd


def _is_mmdet(sd):
    return 'layers.0.0.projection.weight' in sd


def _fuse_q_kv(state_dict):
    """``attn.q`` and ``attn.kv`` (timm, official) -> our ``attn.qkv``."""
    out = {}
    for key, value in state_dict.items():
        if '.attn.kv.' in key:
            continue
        if '.attn.q.' in key:
            kv = state_dict[key.replace('.attn.q.', '.attn.kv.')]
            key, value = key.replace('.attn.q.', '.attn.qkv.'), torch.cat([value, kv])
        out[key] = value
    return out


@register_converter(PyramidVisionTransformer, 'timm', detect=_is_timm)
def convert_timm(state_dict, model):
    return _fuse_q_kv({k: v for k, v in state_dict.items() if not k.startswith('head.')})


@register_converter(PyramidVisionTransformer, 'official', detect=_is_official)
def convert_official(state_dict, model):
    """whai362/PVT's layout (the checkpoints mmdet's PVT configs load). v1's classification
    models carry a class token in the last level; as mmdet, it and its position are dropped."""
    out = {}
    for key, value in state_dict.items():
        if key.startswith(('head.', 'cls_token')) or key == 'norm.weight' or key == 'norm.bias':
            continue
        match = re.match(r'^(patch_embed|pos_embed|block|norm)(\d)(.*)$', key)
        if match is None:
            out[key] = value
            continue
        kind, stage, rest = match.group(1), int(match.group(2)) - 1, match.group(3)
        embed = 'patch_embed' if stage == 0 else f'stages.{stage}.downsample'
        if kind == 'patch_embed':
            out[f'{embed}{rest}'] = value
        elif kind == 'pos_embed':
            embed_module = model.patch_embed if stage == 0 else model.stages[stage].downsample
            grid = embed_module.pos_grid
            if grid is not None and value.shape[1] == grid[0] * grid[1] + 1:
                value = value[:, 1:]  # the class token's position
            out[f'{embed}.pos_embed'] = value
        elif kind == 'block':
            out[f'stages.{stage}.blocks{rest.replace("dwconv.dwconv", "dwconv")}'] = value
        else:
            out[f'stages.{stage}.norm{rest}'] = value
    return _fuse_q_kv(out)


@register_converter(PyramidVisionTransformer, 'mmdet', detect=_is_mmdet)
def convert_mmdet(state_dict, model):
    has_pos = any(re.match(r'^layers\.\d+\.1\.0\.pos_embed$', k) for k in state_dict)
    conv_ffn = any(re.search(r'\.ffn\.layers\.4\.', k) for k in state_dict)
    out = {}
    for key, value in state_dict.items():
        match = re.match(r'^layers\.(\d+)\.(\d)\.(.*)$', key)
        if match is None:
            out[key] = value
            continue
        stage, part, rest = int(match.group(1)), match.group(2), match.group(3)
        embed = 'patch_embed' if stage == 0 else f'stages.{stage}.downsample'
        if part == '0':
            out[f'{embed}.{rest.replace("projection.", "proj.")}'] = value
            continue
        if part == '2':
            out[f'stages.{stage}.norm.{rest}'] = value
            continue
        index, rest = rest.split('.', 1)
        index = int(index)
        if has_pos and index == 0:
            out[f'{embed}.pos_embed'] = value
            continue
        prefix = f'stages.{stage}.blocks.{index - has_pos}.'
        rest = rest.replace('attn.attn.in_proj_', 'attn.qkv.')
        rest = rest.replace('attn.attn.out_proj.', 'attn.proj.')
        ffn = re.match(r'^ffn\.layers\.(\d)\.(.*)$', rest)
        if ffn is not None:
            name = {'0': 'fc1', '1': 'dwconv', '4' if conv_ffn else '3': 'fc2'}[ffn.group(1)]
            if name != 'dwconv' and value.ndim == 4:
                value = value.flatten(1)  # 1x1 conv -> linear
            rest = f'mlp.{name}.{ffn.group(2)}'
        out[prefix + rest] = value
    return out


# ------------------------------------------------------------------------- references
@reference_levels(PyramidVisionTransformer, 'timm')
def _timm_levels(model, x):
    x = model.patch_embed(x)
    levels = []
    for stage in model.stages:
        x = stage(x)
        levels.append(x)
    return levels


# ----------------------------------------------------------------------------------- zoo
_V1_PAPER = 'Wang et al. 2021, arXiv 2102.12122'
_V2_PAPER = 'Wang et al. 2022, arXiv 2106.13797'
_OFFICIAL = 'https://github.com/whai362/PVT/releases/download/v2/'  # mmdet's configs load these


def _v1(arch, params):
    layers = PyramidVisionTransformer.arch_settings[arch]['num_layers']
    return Variant(
        name=f'pvt_{arch}', family='PyramidVisionTransformer', cfg=dict(arch=arch),
        refs=dict(mmdet=dict(type='PyramidVisionTransformer', num_layers=list(layers))),
        params=params, paper=_V1_PAPER, weights=dict(official=f'{_OFFICIAL}pvt_{arch}.pth'),
        # mmdet floors the non-overlapping embeddings where we pad: equal at multiples of 32
        # (the second size resizes the position tables).
        parity_sizes=((224, 224), (96, 160)), slow=arch != 'tiny')


def _v2(arch, params):
    settings = PyramidVisionTransformerV2.arch_settings[arch]
    refs = dict(timm=f'pvt_v2_{arch}')
    if arch != 'b2_li':  # mmdet has no linear variant
        mmdet = dict(type='PyramidVisionTransformerV2', embed_dims=settings['embed_dims'],
                     num_layers=list(settings['num_layers']))
        if 'mlp_ratios' in settings:
            mmdet['mlp_ratios'] = list(settings['mlp_ratios'])
        refs['mmdet'] = mmdet
    return Variant(name=f'pvt_v2_{arch}', family='PyramidVisionTransformerV2',
                   cfg=dict(arch=arch), refs=refs, params=params, paper=_V2_PAPER,
                   weights=dict(official=f'{_OFFICIAL}pvt_v2_{arch}.pth'), slow=arch != 'b0')


# params: timm's model with num_classes=0 (PVTv2), mmdet's backbone (PVTv1, which timm lacks).
register_variants([
    _v1('tiny', 12714240), _v1('small', 23970816), _v1('medium', 43693056),
    _v1('large', 60854272),
    _v2('b0', 3409760), _v2('b1', 13496000), _v2('b2', 24849856), _v2('b2_li', 22040512),
    _v2('b3', 44725696), _v2('b4', 62043072), _v2('b5', 81443008),
])
