"""Vision Transformer (Dosovitskiy et al., 2021, arXiv 2010.11929), and DeiT's training of it
(Touvron et al., 2021, arXiv 2012.12877).

The image is cut into non-overlapping ``patch_size`` patches, each embedded by one strided
conv (a "word"); a learned class token is prepended, a learned absolute position table is
added, and a plain pre-norm transformer encoder runs at that one resolution throughout. Every
block is a level here (``out_indices`` index blocks, as in mmseg and mmpretrain), all at
stride ``patch_size`` with ``embed_dims`` channels; the class token is dropped from the maps.

Input sizes. Any height and width work. The position table, learned for ``img_size``, is
resized to the input's patch grid (bicubic by default, as timm, mmseg and mmpretrain do;
timm also antialiases, which changes the values even when enlarging: ``interpolate_antialias``).
Where a side is not a multiple of the patch, the input is padded at
the bottom / right to a multiple of it, as mmseg's and mmpretrain's ``'corner'`` adaptive
padding and timm's ``dynamic_img_pad=True`` do (timm refuses such inputs otherwise), so that
every level has ``ceil(H / patch_size)`` x ``ceil(W / patch_size)`` positions, the rule of this
project's contract. With ``patch_pad=0`` (mmseg's argument) the strided conv floors instead:
the last ``H % patch_size`` rows and ``W % patch_size`` columns are dropped.
"""
from typing import Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_

from mmbackbones.references import reference_levels, timm_create_kwargs
from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import register_converter, rename_keys
from mmbackbones.zoo import Variant, register_variants

from ..layers import (DropPath, Mlp, drop_path_rates, freeze_layer_norms,
                      init_transformer_weights, int_pair, layer_norm_factory, openmmlab_scope)
from .base import BaseBackbone

__all__ = ['VisionTransformer', 'resize_pos_embed']

INTERPOLATE_MODES = ('bicubic', 'bilinear')


def resize_pos_embed(pos_embed: torch.Tensor, src_grid: Tuple[int, int],
                     dst_grid: Tuple[int, int], num_extra_tokens: int, mode: str = 'bicubic',
                     antialias: bool = False) -> torch.Tensor:
    """(1, extra + Hs*Ws, C) position table -> (1, extra + Hd*Wd, C): the grid part resized
    (``align_corners=False``, in float32 as the references), the extra tokens' positions kept."""
    if tuple(src_grid) == tuple(dst_grid):
        return pos_embed
    extra, grid = pos_embed[:, :num_extra_tokens], pos_embed[:, num_extra_tokens:]
    grid = grid.reshape(1, *src_grid, -1).permute(0, 3, 1, 2)
    grid = F.interpolate(grid.float(), size=tuple(dst_grid), mode=mode, align_corners=False,
                         antialias=antialias).to(pos_embed.dtype)
    return torch.cat([extra, grid.flatten(2).transpose(1, 2)], dim=1)


class PatchEmbed(nn.Module):
    """Strided conv over non-overlapping patches (+ optional layer norm): NCHW -> (B, N, C)
    and the patch grid. ``pad=True`` pads the bottom / right to a multiple of the patch
    (mmseg's ``'corner'``); otherwise the conv floors."""

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int, bias: bool,
                 pad: bool, norm_layer=None):
        super().__init__()
        self.patch_size = patch_size
        self.pad = pad
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, patch_size, bias=bias)
        self.norm = norm_layer(embed_dims) if norm_layer is not None else nn.Identity()

    def forward(self, x: torch.Tensor):
        if self.pad:
            pad_h, pad_w = (-x.shape[2]) % self.patch_size, (-x.shape[3]) % self.patch_size
            if pad_h or pad_w:
                x = F.pad(x, (0, pad_w, 0, pad_h))
        x = self.proj(x)
        hw = (x.shape[2], x.shape[3])
        return self.norm(x.flatten(2).transpose(1, 2)), hw


class Attention(nn.Module):
    """Multi-head self-attention: one packed ``qkv`` projection (q, k, v: mmseg's and
    torchvision's ``in_proj`` layout), ``scaled_dot_product_attention``, an output projection."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool = True, proj_bias: bool = True,
                 attn_drop: float = 0.0, proj_drop: float = 0.0):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'embed_dims={dim} is not divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        self.attn_drop = attn_drop
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.proj_drop = nn.Dropout(proj_drop) if proj_drop > 0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, c = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.num_heads, c // self.num_heads).permute(
            2, 0, 3, 1, 4).unbind(0)
        x = F.scaled_dot_product_attention(q, k, v,
                                           dropout_p=self.attn_drop if self.training else 0.0)
        return self.proj_drop(self.proj(x.transpose(1, 2).reshape(b, n, c)))


class ViTBlock(nn.Module):
    """Attention and a two-layer MLP, each in a pre-norm residual branch."""

    def __init__(self, dim: int, num_heads: int, hidden: int, qkv_bias: bool, proj_bias: bool,
                 drop_rate: float, attn_drop_rate: float, drop_path: float, norm_layer):
        super().__init__()
        self.norm1 = norm_layer(dim)
        self.attn = Attention(dim, num_heads, qkv_bias, proj_bias, attn_drop_rate, drop_rate)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, hidden, drop=drop_rate)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


_GELU = dict(type='GELU')


@MODELS.register_module()
class VisionTransformer(BaseBackbone):
    """Plain ViT backbone with mmseg's and mmpretrain's ``VisionTransformer`` arguments.

    The two OpenMMLab classes differ in how they name a size and in several defaults; which
    one a dict means is told by ``arch``: mmpretrain's class always has one (default
    ``'base'``), mmseg's none. So a dict with ``arch`` (or built under mmpretrain's default
    scope) has mmpretrain's defaults and meanings, one without has mmseg's:

    ==================  =======================  ==========================================
    argument            mmseg (no ``arch``)      mmpretrain (``arch``)
    ==================  =======================  ==========================================
    size                ``embed_dims``,          ``arch``: ``'deit-tiny'``, ``'deit-small'``,
                        ``num_layers``,          ``'base'``, ``'large'``, ``'huge'``, ... or a
                        ``num_heads``,           dict with ``embed_dims``, ``num_layers``,
                        ``mlp_ratio``            ``num_heads``, ``feedforward_channels``
    ``norm_cfg``        ``dict(type='LN')``      ``dict(type='LN', eps=1e-6)``
    ``final_norm``      False                    True
    ``patch_bias``      False                    True (False with ``pre_norm``)
    ``with_cls_token``  False: the token and     False: no class token at all
                        its position exist,
                        dropped before the
                        blocks
    ``qkv_bias=False``  also no output-          only the qkv projection
                        projection bias          loses its bias
    ==================  =======================  ==========================================

    Args:
        arch: mmpretrain's size names (``'s'``/``'small'`` is the ViT paper's 8-layer
            768-wide model, not timm's ViT-S, which is ``'deit-small'``).
        img_size: pretraining input size (int or (H, W)): the position table has
            ``img_size // patch_size`` rows and columns.
        patch_size: side of the patches (the stride of every level).
        patch_pad: ``'corner'`` (default, mmseg's and mmpretrain's): pad the input at the
            bottom / right to a multiple of the patch, every level ``ceil(H / patch_size)``
            high; ``0``: the conv floors (drops the last ``H % patch_size`` rows and columns),
            as mmseg's ``patch_pad=0``.
        in_channels: input channels.
        embed_dims, num_layers, num_heads, mlp_ratio: mmseg's size (defaults ViT-B/16's).
        out_indices: blocks whose outputs are returned (default ``-1``, the last).
        qkv_bias: biases of the query/key/value projection (see the table).
        drop_rate, attn_drop_rate: dropout after the position table, projections and the MLP /
            on the attention weights.
        drop_path_rate: stochastic depth, rising linearly from 0 to this over the blocks.
        with_cls_token: prepend the class token (see the table).
        output_cls_token: mmseg's DPT form: each output is ``[map, class token (B, C)]``
            instead of the map alone.
        norm_cfg: only ``dict(type='LN')`` (optional ``eps``, ``requires_grad``).
        act_cfg: only ``dict(type='GELU')``.
        patch_norm: layer-normalise the patch embeddings (mmseg).
        patch_bias: bias of the patch conv (see the table).
        pre_norm: a layer norm before the blocks (CLIP's ``norm_pre``).
        final_norm: layer-normalise the last block's output (the last level only, as in
            mmseg, mmpretrain and timm's ``forward_features``).
        interpolate_mode: ``'bicubic'`` or ``'bilinear'``, for resizing the position table.
        interpolate_antialias: antialias that resizing, as timm does (its models' rows set it).
        num_fcs: only 2 (the MLP's two linear layers).
        out_type: only ``'featmap'`` (mmpretrain's ``'cls_token'``, ``'avg_featmap'`` and
            ``'raw'`` are a classifier's outputs, not a backbone's NCHW levels).
        frozen_exclude: mmseg's; only its default ``['all']`` (nothing frozen); freeze with
            ``frozen_stages``.
        layer_scale_init_value, patch_cfg, layer_cfgs: mmpretrain's; only their defaults.
        out_origin: mmseg's; only False.
        out_indices, frozen_stages, norm_eval, with_cp, init_cfg, pretrained: see
            :class:`BaseBackbone`. The stem is the patch embedding, the class token and the
            position table (``frozen_stages=0`` freezes them; mmpretrain's 0 freezes nothing);
            the final norm belongs to the last level. Layer depths: stem 0, block ``i`` ``i+1``,
            the final norm ``num_layers + 1``, as mmpretrain's ``get_layer_depth``.
    """

    arch_settings = {
        **dict.fromkeys(['s', 'small'], dict(embed_dims=768, num_layers=8, num_heads=8,
                                             feedforward_channels=768 * 3)),
        **dict.fromkeys(['b', 'base', 'deit-b', 'deit-base'],
                        dict(embed_dims=768, num_layers=12, num_heads=12,
                             feedforward_channels=3072)),
        **dict.fromkeys(['l', 'large'], dict(embed_dims=1024, num_layers=24, num_heads=16,
                                             feedforward_channels=4096)),
        **dict.fromkeys(['h', 'huge'], dict(embed_dims=1280, num_layers=32, num_heads=16,
                                            feedforward_channels=5120)),
        **dict.fromkeys(['deit-t', 'deit-tiny'], dict(embed_dims=192, num_layers=12,
                                                      num_heads=3, feedforward_channels=768)),
        **dict.fromkeys(['deit-s', 'deit-small'], dict(embed_dims=384, num_layers=12,
                                                       num_heads=6, feedforward_channels=1536)),
    }
    arch_keys = ('embed_dims', 'num_layers', 'num_heads', 'feedforward_channels')
    onnx_static_family_reason = ('the position table is resized in Python to the patch grid of '
                                 'the input, so the exported graph is valid for the traced '
                                 'height and width only')

    def __init__(self, arch=None, img_size=224, patch_size: int = 16, patch_pad='corner',
                 in_channels: int = 3, embed_dims: Optional[int] = None,
                 num_layers: Optional[int] = None, num_heads: Optional[int] = None,
                 mlp_ratio=None, out_origin: bool = False, out_indices=-1,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.0, with_cls_token: bool = True,
                 output_cls_token: bool = False, norm_cfg=None, act_cfg=None,
                 patch_norm: bool = False, patch_bias: Optional[bool] = None,
                 pre_norm: bool = False, final_norm: Optional[bool] = None,
                 interpolate_mode: str = 'bicubic', interpolate_antialias: bool = False,
                 num_fcs: int = 2, norm_eval: bool = False, with_cp: bool = False,
                 frozen_exclude=('all', ), frozen_stages: int = -1, out_type=None,
                 layer_scale_init_value: float = 0.0, patch_cfg=None, layer_cfgs=None,
                 pretrained=None, init_cfg=None):
        super().__init__(out_indices, frozen_stages, norm_eval, with_cp, init_cfg, pretrained)
        mmpretrain = arch is not None or openmmlab_scope() == 'mmpretrain'
        size = self._resolve_size(arch, mmpretrain, embed_dims, num_layers, num_heads, mlp_ratio)
        self._refuse_unsupported(out_origin, act_cfg, num_fcs, out_type, frozen_exclude,
                                 layer_scale_init_value, patch_cfg, layer_cfgs, output_cls_token,
                                 with_cls_token, interpolate_mode, drop_path_rate)
        if norm_cfg is None:
            norm_cfg = dict(type='LN', eps=1e-6) if mmpretrain else dict(type='LN')
        norm_layer = self._norm_layer(norm_cfg)
        if final_norm is None:
            final_norm = mmpretrain
        if patch_bias is None:
            patch_bias = not pre_norm if mmpretrain else False
        if patch_pad not in ('corner', 0) or isinstance(patch_pad, bool):
            raise ValueError(f"patch_pad={patch_pad!r}; valid values are 'corner' (pad to a "
                             'multiple of the patch) and 0 (floor)')
        if not isinstance(patch_size, int) or patch_size < 1:
            raise ValueError(f'patch_size={patch_size!r}; valid values are positive ints')
        self.img_size = int_pair('img_size', img_size)
        self.patch_size = patch_size
        self.pos_grid = (self.img_size[0] // patch_size, self.img_size[1] // patch_size)
        if min(self.pos_grid) < 1:
            raise ValueError(f'img_size={img_size!r} is smaller than patch_size={patch_size}')
        self.interpolate_mode = interpolate_mode
        self.interpolate_antialias = bool(interpolate_antialias)
        self.with_cls_token = bool(with_cls_token)
        self.output_cls_token = bool(output_cls_token)
        dims, depth = size['embed_dims'], size['num_layers']

        self.patch_embed = PatchEmbed(in_channels, dims, patch_size, bool(patch_bias),
                                      patch_pad == 'corner', norm_layer if patch_norm else None)
        # mmseg keeps the class token and its position even without with_cls_token (it
        # drops the token after adding positions); mmpretrain and timm then have neither.
        has_token = self.with_cls_token or not mmpretrain
        self.num_extra_tokens = int(has_token)
        self.cls_token = nn.Parameter(torch.zeros(1, 1, dims)) if has_token else None
        self.pos_embed = nn.Parameter(
            torch.zeros(1, self.num_extra_tokens + self.pos_grid[0] * self.pos_grid[1], dims))
        self.pos_drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()
        self.norm_pre = norm_layer(dims) if pre_norm else nn.Identity()
        rates = drop_path_rates(drop_path_rate, [depth])[0]
        # nn.MultiheadAttention (mmseg) drops both biases with bias=False; mmpretrain and timm
        # only the qkv bias.
        proj_bias = bool(qkv_bias) or mmpretrain
        self.blocks = nn.ModuleList(
            ViTBlock(dims, size['num_heads'], int(size['feedforward_channels']), bool(qkv_bias),
                     proj_bias, drop_rate, attn_drop_rate, rates[i], norm_layer)
            for i in range(depth))
        self.norm = norm_layer(dims) if final_norm else nn.Identity()
        freeze_layer_norms(self, norm_cfg)
        self.embed_dims = dims
        self._setup_levels([dims] * depth, [patch_size] * depth)

    # ------------------------------------------------------------- arguments
    @classmethod
    def _resolve_size(cls, arch, mmpretrain, embed_dims, num_layers, num_heads, mlp_ratio):
        explicit = dict(embed_dims=embed_dims, num_layers=num_layers, num_heads=num_heads,
                        mlp_ratio=mlp_ratio)
        given = sorted(k for k, v in explicit.items() if v is not None)
        if mmpretrain:
            if given:
                raise ValueError(f'arch={arch!r} and {", ".join(given)} were both given; '
                                 "describe the model one way: mmpretrain's arch, or mmseg's "
                                 'embed_dims/num_layers/num_heads/mlp_ratio')
            size = dict(cls.resolve_arch('base' if arch is None else arch))
        else:
            size = dict(embed_dims=768 if embed_dims is None else embed_dims,
                        num_layers=12 if num_layers is None else num_layers,
                        num_heads=12 if num_heads is None else num_heads)
            ratio = 4 if mlp_ratio is None else mlp_ratio
            if not isinstance(ratio, (int, float)) or isinstance(ratio, bool) or ratio <= 0:
                raise ValueError(f'mlp_ratio={mlp_ratio!r}; valid values are positive numbers')
            size['feedforward_channels'] = int(ratio * size['embed_dims'])
        for key in cls.arch_keys:
            value = size[key]
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f'{key}={value!r}; valid values are positive ints')
        return size

    @staticmethod
    def _refuse_unsupported(out_origin, act_cfg, num_fcs, out_type, frozen_exclude,
                            layer_scale_init_value, patch_cfg, layer_cfgs, output_cls_token,
                            with_cls_token, interpolate_mode, drop_path_rate):
        if out_origin:
            raise ValueError('out_origin=True (the embedded input as an extra output) is not '
                             'implemented; valid value: False')
        if act_cfg is not None and dict(act_cfg) != _GELU:
            raise ValueError(f'act_cfg={act_cfg!r}; only {_GELU} is implemented')
        if num_fcs != 2:
            raise ValueError(f'num_fcs={num_fcs!r}; only 2 (the MLP of ViT) is implemented')
        if out_type not in (None, 'featmap'):
            raise ValueError(f"out_type={out_type!r}; valid value: 'featmap' (a backbone here "
                             "returns NCHW maps; 'cls_token', 'avg_featmap' and 'raw' are "
                             "mmpretrain's classification outputs)")
        if not isinstance(frozen_exclude, (list, tuple)) or 'all' not in frozen_exclude:
            raise ValueError(f"frozen_exclude={frozen_exclude!r}; only mmseg's default ['all'] "
                             '(nothing frozen) is implemented; freeze with frozen_stages')
        if layer_scale_init_value:
            raise ValueError(f'layer_scale_init_value={layer_scale_init_value!r}; only 0 (no '
                             'layer scale) is implemented')
        for name, value in (('patch_cfg', patch_cfg), ('layer_cfgs', layer_cfgs)):
            if value not in (None, {}, []):
                raise ValueError(f'{name}={value!r}; only the default (empty) is implemented')
        if output_cls_token and not with_cls_token:
            raise ValueError('output_cls_token=True needs with_cls_token=True')
        if interpolate_mode not in INTERPOLATE_MODES:
            raise ValueError(f'interpolate_mode={interpolate_mode!r}; valid values are '
                             f'{list(INTERPOLATE_MODES)}')
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'drop_path_rate={drop_path_rate}; valid values are in [0, 1)')

    @staticmethod
    def _norm_layer(norm_cfg):
        return layer_norm_factory(norm_cfg)

    # ------------------------------------------------------------------- init
    def _init_default_weights(self):
        init_transformer_weights(self)
        trunc_normal_(self.pos_embed, std=0.02)
        if self.cls_token is not None:
            nn.init.normal_(self.cls_token, std=1e-6)

    # ---------------------------------------------------------------- forward
    def resized_pos_embed(self, grid: Tuple[int, int]) -> torch.Tensor:
        """The position table for a ``grid`` of patches."""
        return resize_pos_embed(self.pos_embed, self.pos_grid, grid, self.num_extra_tokens,
                                self.interpolate_mode, self.interpolate_antialias)

    def set_input_size(self, img_size) -> None:
        """Resize the position table once to the patch grid of ``img_size`` (H, W) and keep it
        (timm's ``set_input_size``): at that size the model computes what it computed before,
        and resizes nothing per forward. ``tools/export.py`` does this for a fixed-size export:
        torch's ONNX exporter has no antialiased bicubic resize."""
        h, w = int_pair('img_size', img_size)
        p = self.patch_size
        grid = (-(-h // p), -(-w // p)) if self.patch_embed.pad else (h // p, w // p)
        with torch.no_grad():
            table = self.resized_pos_embed(grid).clone()
        self.pos_embed = nn.Parameter(table, requires_grad=self.pos_embed.requires_grad)
        self.img_size, self.pos_grid = (h, w), grid

    def forward(self, x: torch.Tensor):
        tokens, hw = self.patch_embed(x)
        if self.cls_token is not None:
            tokens = torch.cat([self.cls_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
        tokens = self.pos_drop(tokens + self.resized_pos_embed(hw))
        if self.cls_token is not None and not self.with_cls_token:
            tokens = tokens[:, 1:]  # mmseg: the token only carried its position
        tokens = self.norm_pre(tokens)
        extra = int(self.with_cls_token)
        outs = []
        for i, block in enumerate(self.blocks):
            tokens = self.run_blocks([block], tokens)
            if i == len(self.blocks) - 1:
                tokens = self.norm(tokens)
            if i in self.out_indices:
                level = tokens[:, extra:].transpose(1, 2).reshape(
                    tokens.shape[0], -1, *hw).contiguous()
                outs.append([level, tokens[:, 0]] if self.output_cls_token else level)
            if i == self.out_indices[-1]:
                break
        return tuple(outs)

    # --------------------------------------------------------------- contract
    def stem_modules(self):
        return [self.patch_embed, self.pos_drop, self.norm_pre]

    def stem_parameters(self):
        return [p for p in (self.cls_token, self.pos_embed) if p is not None]

    def level_blocks(self, index: int):
        return [self.blocks[index]]

    def level_modules(self, index: int):
        # the final norm runs on the last block's output: frozen with the last level
        last = index == len(self.blocks) - 1
        return [self.blocks[index]] + ([self.norm] if last else [])


# ---------------------------------------------------------------------------- weights
# Our layout (timm's): ``patch_embed.proj``, ``patch_embed.norm`` (patch_norm), ``cls_token``
# (1, 1, C), ``pos_embed`` (1, extra + H*W, C), ``norm_pre``, ``blocks.{i}.{norm1, attn.qkv,
# attn.proj, norm2, mlp.fc1, mlp.fc2}``, ``norm``. Converters: timm (DeiT included),
# torchvision, mmseg, mmpretrain. Every one fits the position table to the model's grid.

def refuse_distillation_token(state_dict):
    """DeiT's distilled weights carry a second prefix token, which this backbone does not have:
    loaded without it, every position would be shifted by one, so they are refused."""
    if 'dist_token' in state_dict:
        from mmbackbones.weights.convert import PretrainedMismatchError
        raise PretrainedMismatchError(
            "the checkpoint has a 'dist_token' (DeiT's distillation token: timm's "
            "deit_*_distilled_patch16_* or mmpretrain's DistilledVisionTransformer), which "
            'VisionTransformer here does not have (a class token only). Supported: DeiT without '
            "distillation (timm's deit_*_patch16_224, mmpretrain's VisionTransformer with arch "
            "'deit-tiny' / 'deit-small' / 'deit-base') and the other ViT layouts.")


def fit_pos_embed(state_dict, model):
    """Resize a checkpoint's position table to the model's grid (a checkpoint trained at 224
    loaded into ``img_size=512``), with the model's own interpolation, as mmseg and
    mmpretrain do when loading; a class-token position the model lacks is dropped."""
    refuse_distillation_token(state_dict)  # every converter ends here
    value = state_dict.get('pos_embed')
    if (not isinstance(value, torch.Tensor) or value.ndim != 3
            or not isinstance(model, VisionTransformer)):
        return state_dict
    extra = model.num_extra_tokens
    if value.shape[1] == model.pos_embed.shape[1] + 1 and extra == 0:
        value = value[:, 1:]
    if value.shape[1:] != model.pos_embed.shape[1:] and value.shape[2] == model.embed_dims:
        side = int(round((value.shape[1] - extra)**0.5))
        if side * side == value.shape[1] - extra:
            value = resize_pos_embed(value, (side, side), model.pos_grid, extra,
                                     model.interpolate_mode, model.interpolate_antialias)
    return dict(state_dict, pos_embed=value)


def _is_timm(sd):
    return 'patch_embed.proj.weight' in sd and 'blocks.0.attn.qkv.weight' in sd


def _is_torchvision(sd):
    return 'conv_proj.weight' in sd and 'encoder.pos_embedding' in sd


def _is_mmseg(sd):
    return 'patch_embed.projection.weight' in sd and 'layers.0.attn.attn.in_proj_weight' in sd


def _is_mmpretrain(sd):
    return 'patch_embed.projection.weight' in sd and 'layers.0.attn.qkv.weight' in sd


@register_converter(VisionTransformer, 'timm', detect=_is_timm)
def convert_timm(state_dict, model):
    return fit_pos_embed(rename_keys(state_dict, [], drop=('head.', 'fc_norm.')), model)


@register_converter(VisionTransformer, 'torchvision', detect=_is_torchvision)
def convert_torchvision(state_dict, model):
    return fit_pos_embed(rename_keys(state_dict, [
        (r'^conv_proj\.', 'patch_embed.proj.'),
        (r'^class_token$', 'cls_token'),
        (r'^encoder\.pos_embedding$', 'pos_embed'),
        (r'^encoder\.ln\.', 'norm.'),
        (r'^encoder\.layers\.encoder_layer_(\d+)\.', r'blocks.\1.'),
        (r'\.ln_1\.', '.norm1.'), (r'\.ln_2\.', '.norm2.'),
        (r'\.self_attention\.in_proj_(weight|bias)$', r'.attn.qkv.\1'),
        (r'\.self_attention\.out_proj\.', '.attn.proj.'),
        (r'\.mlp\.(0|linear_1)\.', '.mlp.fc1.'), (r'\.mlp\.(3|linear_2)\.', '.mlp.fc2.'),
    ], drop=('heads.', )), model)


_OPENMMLAB_RULES = [
    (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
    (r'^layers\.(\d+)\.ln1\.', r'blocks.\1.norm1.'),
    (r'^layers\.(\d+)\.ln2\.', r'blocks.\1.norm2.'),
    (r'^layers\.(\d+)\.ffn\.layers\.0\.0\.', r'blocks.\1.mlp.fc1.'),
    (r'^layers\.(\d+)\.ffn\.layers\.1\.', r'blocks.\1.mlp.fc2.'),
    (r'^layers\.(\d+)\.attn\.attn\.in_proj_(weight|bias)$', r'blocks.\1.attn.qkv.\2'),
    (r'^layers\.(\d+)\.attn\.attn\.out_proj\.', r'blocks.\1.attn.proj.'),
    (r'^layers\.(\d+)\.attn\.', r'blocks.\1.attn.'),  # mmpretrain's qkv / proj
    (r'^ln1\.', 'norm.'),
    (r'^(pre_ln|pre_norm)\.', 'norm_pre.'),
]


@register_converter(VisionTransformer, 'mmseg', detect=_is_mmseg)
def convert_mmseg(state_dict, model):
    return fit_pos_embed(rename_keys(state_dict, _OPENMMLAB_RULES), model)


@register_converter(VisionTransformer, 'mmpretrain', detect=_is_mmpretrain)
def convert_mmpretrain(state_dict, model):
    # ln2 normalises mmpretrain's pooled 'avg_featmap' output, which a backbone here lacks
    return fit_pos_embed(rename_keys(state_dict, _OPENMMLAB_RULES, drop=('ln2.', )), model)


# ------------------------------------------------------------------------- references
@timm_create_kwargs(VisionTransformer)
def _timm_kwargs(size):
    # timm's own resizing of its position table for any input, padding as ours does
    return dict(dynamic_img_size=True, dynamic_img_pad=True)


def _with_final_norm(levels, norm):
    last = norm(levels[-1].permute(0, 2, 3, 1)).permute(0, 3, 1, 2).contiguous()
    return list(levels[:-1]) + [last]


@reference_levels(VisionTransformer, 'timm')
def _timm_levels(model, x):
    levels = model.forward_intermediates(x, indices=len(model.blocks), norm=False,
                                         output_fmt='NCHW', intermediates_only=True)
    return _with_final_norm(levels, model.norm)


@reference_levels(VisionTransformer, 'torchvision')
def _torchvision_levels(model, x):
    """torchvision's ViT accepts its ``image_size`` only; for other sizes its position table is
    resized by timm's function (the zoo rows' rule) and the input padded as ours."""
    from timm.layers import resample_abs_pos_embed
    p = model.patch_size
    x = F.pad(x, (0, (-x.shape[3]) % p, 0, (-x.shape[2]) % p))
    x = model.conv_proj(x)
    hw = x.shape[2:]
    tokens = x.flatten(2).transpose(1, 2)
    tokens = torch.cat([model.class_token.expand(tokens.shape[0], -1, -1), tokens], dim=1)
    side = model.image_size // p
    pos = resample_abs_pos_embed(model.encoder.pos_embedding, new_size=list(hw),
                                 old_size=[side, side], num_prefix_tokens=1)
    tokens = model.encoder.dropout(tokens + pos)
    levels = []
    for layer in model.encoder.layers:
        tokens = layer(tokens)
        levels.append(tokens[:, 1:].transpose(1, 2).reshape(tokens.shape[0], -1, *hw))
    return _with_final_norm(levels, model.encoder.ln)


# ----------------------------------------------------------------------------------- zoo
_PAPER = 'Dosovitskiy et al. 2021, arXiv 2010.11929'
_DEIT_PAPER = 'Touvron et al. 2021, arXiv 2012.12877'
# timm antialiases when it resizes its position table (and pads with dynamic_img_pad)
_ROW_CFG = dict(interpolate_antialias=True)


def _vit(name, arch, patch, params, torchvision=None, deit=False, slow=True):
    size = VisionTransformer.arch_settings[arch]
    refs = dict(timm=name)
    if torchvision:
        refs['torchvision'] = torchvision
    if not deit:
        refs['mmseg'] = dict(
            type='VisionTransformer', img_size=224, patch_size=patch,
            embed_dims=size['embed_dims'], num_layers=size['num_layers'],
            num_heads=size['num_heads'], norm_cfg=dict(type='LN', eps=1e-6), final_norm=True,
            patch_bias=True)
        refs['mmpretrain'] = dict(type='VisionTransformer', arch=arch, img_size=224,
                                  patch_size=patch, out_type='featmap')
    return Variant(name=name, family='VisionTransformer',
                   cfg=dict(arch=arch, img_size=224, patch_size=patch, **_ROW_CFG), refs=refs,
                   params=params, paper=_DEIT_PAPER if deit else _PAPER,
                   # the second size enlarges the table and is no multiple of the patch or 32
                   parity_sizes=((224, 224), (240, 343)), slow=slow)


# params: timm's model with num_classes=0 (the final norm kept, the head removed).
register_variants([
    _vit('vit_tiny_patch16_224', 'deit-tiny', 16, 5524416, slow=False),
    _vit('vit_small_patch16_224', 'deit-small', 16, 21665664),
    _vit('vit_base_patch16_224', 'base', 16, 85798656, torchvision='vit_b_16'),
    _vit('vit_large_patch16_224', 'large', 16, 303301632, torchvision='vit_l_16'),
    _vit('vit_huge_patch14_224', 'huge', 14, 630764800, torchvision='vit_h_14'),
    _vit('deit_tiny_patch16_224', 'deit-tiny', 16, 5524416, deit=True),
    _vit('deit_small_patch16_224', 'deit-small', 16, 21665664, deit=True),
    _vit('deit_base_patch16_224', 'deit-base', 16, 85798656, deit=True),
])
