"""ViTDet: a plain Vision Transformer as a detection backbone (Li et al., "Exploring Plain
Vision Transformer Backbones for Object Detection", ECCV 2022, arXiv 2203.16527).

A plain, non-hierarchical ViT, one stride-16 map from the patch embedding to the last block,
made affordable at detection resolution (1024x1024: a 64x64 map) by two changes to the
pretrained ViT:

* most blocks attend inside non-overlapping 14x14 windows (no shifting); a few, evenly spaced,
  attend globally and carry information across windows (ViT-B: blocks 2, 5, 8, 11 of 12,
  ViT-L 5, 11, 17, 23, ViT-H 7, 15, 23, 31);
* a decomposed relative position bias (from MViTv2): one table along the height and one along
  the width, each looked up by the relative offset and multiplied by the query, added to the
  attention logits. Windowed blocks have tables for the window, global blocks for the map at
  ``img_size``; another map size resizes the table linearly.

The absolute position table of pretraining (MAE at 224: 14x14 positions and the class token's
slot, unused) is resized bicubically to the map of every input. The multi-scale pyramid is the
neck :class:`~mmbackbones.models.necks.SimpleFPN` (deconvolutions up, pooling down).

Levels are the blocks: level ``i`` is the output of block ``i`` (stride 16, ``embed_dim``
channels), so ``out_indices`` picks blocks (default: the last one, the map ViTDet's pyramid is
built from), ``frozen_stages=k`` freezes the patch embedding, the position table and the first
``k`` blocks, and layer-wise decay numbers the blocks 1 to ``depth`` (the patch embedding 0), as
ViTDet's layer decay does.

Any input size works. The input is zero-padded at the bottom / right to a multiple of the
patch (detectron2, mmdet's ``projects/ViTDet`` and timm drop the remainder instead: the same
where the input is a multiple of 16, as ViTDet's padded 1024x1024 batches are); windowed blocks
pad their input to a multiple of the window with zeros after the norm, as every reference does.

SAM's image encoder (Kirillov et al. 2023, arXiv 2304.02643; timm's ``samvit_*``) is this
trunk with its position table learned at 1024 (64x64, no class token) and resized with
antialiased bicubic interpolation (``pos_embed_antialias=True``); the zoo's ``samvit_*`` rows
are those networks, checked against timm; ``vitdet_*`` rows are ViTDet's, MAE-initialised.
"""
import functools
from typing import Optional, Sequence, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model.weight_init import trunc_normal_

from mmbackbones.references import (reference_backbone_parameters, reference_levels,
                                    timm_create_kwargs)
from mmbackbones.registry import MODELS
from mmbackbones.weights.convert import register_converter
from mmbackbones.zoo import Variant, register_variants

from ..layers import (DropPath, Mlp, drop_path_rates, freeze_layer_norms,
                      init_transformer_weights, int_pair, layer_norm_factory, merge_windows,
                      partition_windows)
from .base import BaseBackbone

__all__ = ['ViTDet']


@functools.lru_cache(maxsize=64)
def _relative_offsets(size: int, device: torch.device) -> torch.Tensor:
    """(size, size) index of the offset ``i - j`` into a table of ``2 * size - 1`` rows.
    Always a normal tensor: the cache outlives inference mode, and training indexes with it."""
    with torch.inference_mode(False):
        coords = torch.arange(size, device=device)
        return coords[:, None] - coords[None, :] + size - 1


def relative_embeddings(size: int, table: torch.Tensor) -> torch.Tensor:
    """The (size, size, head_dim) embeddings of every query / key pair along one axis; a table
    learned for another size is first resized linearly to ``2 * size - 1`` rows."""
    length = 2 * size - 1
    if table.shape[0] != length:
        table = F.interpolate(table.t()[None], size=length, mode='linear')[0].t()
    return table[_relative_offsets(size, table.device)]


class RelPosAttention(nn.Module):
    """Multi-head self-attention over a (B, H, W, C) map, optionally with the decomposed
    relative position bias: ``q . R_h[i_h - j_h] + q . R_w[i_w - j_w]`` added to the logits
    of query ``i`` and key ``j`` (the unscaled query, as in MViTv2 and ViTDet)."""

    def __init__(self, dim: int, num_heads: int, qkv_bias: bool, use_rel_pos: bool,
                 rel_pos_size: Tuple[int, int]):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'embed_dim={dim} is not divisible by num_heads={num_heads}')
        self.num_heads = num_heads
        head_dim = dim // num_heads
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.use_rel_pos = use_rel_pos
        if use_rel_pos:
            self.rel_pos_h = nn.Parameter(torch.zeros(2 * rel_pos_size[0] - 1, head_dim))
            self.rel_pos_w = nn.Parameter(torch.zeros(2 * rel_pos_size[1] - 1, head_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        heads = self.num_heads
        qkv = self.qkv(x).reshape(b, h * w, 3, heads, c // heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)  # each (B, heads, N, head_dim)
        bias = None
        if self.use_rel_pos:
            grid_q = q.reshape(b, heads, h, w, -1)
            rel_h = torch.einsum('bnhwc,hkc->bnhwk', grid_q, relative_embeddings(h, self.rel_pos_h))
            rel_w = torch.einsum('bnhwc,wkc->bnhwk', grid_q, relative_embeddings(w, self.rel_pos_w))
            bias = (rel_h[..., :, None] + rel_w[..., None, :]).reshape(b, heads, h * w, h * w)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(b, h, w, c))


class ViTDetBlock(nn.Module):
    """Pre-norm transformer block on a (B, H, W, C) map; ``window_size > 0`` attends inside
    non-overlapping windows (the normalised map zero-padded to a multiple of the window),
    ``0`` globally."""

    def __init__(self, dim: int, num_heads: int, mlp_ratio: float, qkv_bias: bool,
                 drop_path: float, norm_layer, use_rel_pos: bool, window_size: int,
                 input_size: Tuple[int, int]):
        super().__init__()
        self.window_size = window_size
        self.norm1 = norm_layer(dim)
        self.attn = RelPosAttention(dim, num_heads, qkv_bias, use_rel_pos,
                                    (window_size, window_size) if window_size else input_size)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))

    def _windowed_attention(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        size = (self.window_size, self.window_size)
        pad_h, pad_w = (-h) % size[0], (-w) % size[1]
        if pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        padded = (h + pad_h, w + pad_w)
        windows = partition_windows(x, size).reshape(-1, *size, c)  # (B * nW, wh, ww, C)
        out = self.attn(windows).reshape(b, -1, size[0] * size[1], c)
        out = merge_windows(out, size, padded)
        return out[:, :h, :w] if pad_h or pad_w else out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.norm1(x)
        y = self._windowed_attention(y) if self.window_size else self.attn(y)
        x = x + self.drop_path(y)
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection, NCHW -> NHWC; pads the input to a multiple of the
    patch so that the map has ceil(H / patch) x ceil(W / patch) positions."""

    def __init__(self, in_channels: int, embed_dim: int, patch_size: int):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dim, patch_size, stride=patch_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = (-x.shape[2]) % self.patch_size, (-x.shape[3]) % self.patch_size
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return self.proj(x).permute(0, 2, 3, 1)


def global_block_indexes(depth: int) -> Tuple[int, ...]:
    """ViTDet's global blocks: the last block of each quarter of the network."""
    return tuple(sorted({(k + 1) * depth // 4 - 1 for k in range(4)}))


@MODELS.register_module()
class ViTDet(BaseBackbone):
    """ViTDet backbone, with the arguments and meanings of mmdet's ``projects/ViTDet`` ``ViT``
    (whose dicts build here with ``type='mmbackbones.ViTDet'``), plus ``arch``, the contract's
    ``out_indices`` / ``frozen_stages`` / ``norm_eval`` / ``with_cp`` and
    ``pos_embed_antialias``.

    Args:
        arch: ``'base'``, ``'large'``, ``'huge'`` (ViT-B/L/H: width, depth, heads, and
            ViTDet's global blocks), or ``None`` (default): ``embed_dim`` / ``depth`` /
            ``num_heads`` given one by one (defaults: ViT-B's). Give one style, not both.
        img_size: the detection input size the global blocks' relative tables are sized for
            (``img_size // patch_size`` positions per side); int or (H, W).
        patch_size: side of the patch embedding (the output stride).
        in_chans: input channels.
        embed_dim, depth, num_heads, mlp_ratio, qkv_bias: the transformer.
        drop_path_rate: stochastic depth, rising linearly from 0 to this rate over the blocks.
        norm_cfg: only ``dict(type='LN')`` (optional ``eps``, ``requires_grad``); ViTDet's eps
            is 1e-6.
        act_cfg: only ``dict(type='GELU')``.
        use_abs_pos: add the pretrained absolute position table, resized to the map.
        use_rel_pos: the decomposed relative position bias in every block.
        rel_pos_zero_init: start the relative tables at zero (ViTDet's choice: pretrained
            weights have none, and loading MAE's weights supplies these zeros); ``False``
            draws them from a truncated normal (std 0.02), and MAE's weights then leave them
            missing (ViT-B: 24 of 171 tensors, which loading refuses as too little).
        window_size: window side of the windowed blocks (ViTDet: 14). mmdet's ``ViT``
            defaults to 0 and ``use_rel_pos=False`` (a plain ViT); this class defaults to
            ViTDet's settings, which mmdet's ViTDet configs spell out.
        window_block_indexes: the blocks that attend in windows; ``None``: all but ViTDet's
            global blocks (the last of each quarter; ViT-B: 2, 5, 8, 11).
        pretrain_img_size: input size of pretraining; sizes the position table
            (``(pretrain_img_size // patch_size) ** 2`` positions).
        pretrain_use_cls_token: the position table has the class token's slot first (MAE's,
            unused here).
        pos_embed_antialias: resize the position table with PyTorch's antialiased bicubic
            kernel, as timm's SAM ViT does; ``False`` (default): plain bicubic, as detectron2's
            and mmdet's ViTDet. The two kernels differ even when upsampling. torch's ONNX
            exporter has no antialiased bicubic: such a model does not export.
        out_indices: the blocks whose outputs are returned (default: the last).
        frozen_stages: ``-1`` nothing; ``0`` the patch embedding and position table; ``k`` also
            blocks ``0..k-1``.
        norm_eval, with_cp, init_cfg, pretrained: see :class:`BaseBackbone`.
    """

    arch_settings = {
        'base': dict(embed_dim=768, depth=12, num_heads=12),
        'large': dict(embed_dim=1024, depth=24, num_heads=16),
        'huge': dict(embed_dim=1280, depth=32, num_heads=16),
    }
    arch_keys = ('embed_dim', 'depth', 'num_heads')
    onnx_static_family_reason = ('the input is padded to a multiple of the patch and of the '
                                 'window, and the position tables are resized, by sizes '
                                 'computed in Python from each input')

    def __init__(self, arch=None, img_size=1024, patch_size: int = 16, in_chans: int = 3,
                 embed_dim: Optional[int] = None, depth: Optional[int] = None,
                 num_heads: Optional[int] = None, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_path_rate: float = 0.0,
                 norm_cfg=dict(type='LN', eps=1e-6), act_cfg=dict(type='GELU'),
                 use_abs_pos: bool = True, use_rel_pos: bool = True,
                 rel_pos_zero_init: bool = True, window_size: int = 14,
                 window_block_indexes: Optional[Sequence[int]] = None,
                 pretrain_img_size=224, pretrain_use_cls_token: bool = True,
                 pos_embed_antialias: bool = False, out_indices=-1, frozen_stages: int = -1,
                 norm_eval: bool = False, with_cp: bool = False, pretrained=None,
                 init_cfg=None):
        super().__init__(out_indices, frozen_stages, norm_eval, with_cp, init_cfg, pretrained)
        explicit = dict(embed_dim=embed_dim, depth=depth, num_heads=num_heads)
        given = sorted(k for k, v in explicit.items() if v is not None)
        if arch is None:
            settings = dict(self.arch_settings['base'])
            settings.update({k: explicit[k] for k in given})
        elif given:
            raise ValueError(f'arch={arch!r} and {", ".join(given)} were both given; describe '
                             'the model one way: arch, or embed_dim/depth/num_heads as in mmdet')
        else:
            settings = self.resolve_arch(arch)
        embed_dim, depth, num_heads = (settings[k] for k in self.arch_keys)
        for name, value in (('embed_dim', embed_dim), ('depth', depth),
                            ('num_heads', num_heads), ('patch_size', patch_size),
                            ('in_chans', in_chans)):
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f'{name}={value!r}; valid values are positive ints')
        if not isinstance(window_size, int) or window_size < 0:
            raise ValueError(f'window_size={window_size!r}; valid values are 0 (global '
                             'attention everywhere) or a positive int')
        if window_block_indexes is None:
            global_blocks = set(global_block_indexes(depth))
            window_block_indexes = [i for i in range(depth) if i not in global_blocks]
        if not isinstance(window_block_indexes, (list, tuple)) or not all(
                isinstance(i, int) and 0 <= i < depth for i in window_block_indexes):
            raise ValueError(f'window_block_indexes={window_block_indexes!r}; valid values are '
                             f'block indexes 0..{depth - 1}, or None for ViTDet\'s')
        norm_layer = layer_norm_factory(norm_cfg)
        if act_cfg is not None and dict(act_cfg) != dict(type='GELU'):
            raise ValueError(f"act_cfg={act_cfg!r}; only dict(type='GELU') is implemented")
        grid = tuple(s // patch_size for s in int_pair('img_size', img_size))
        pretrain_grid = tuple(s // patch_size for s in int_pair('pretrain_img_size',
                                                             pretrain_img_size))
        self.in_channels = in_chans
        self.depth, self.embed_dim = depth, embed_dim
        self.window_size = window_size
        self.window_block_indexes = tuple(sorted(set(window_block_indexes)))
        self.rel_pos_zero_init = bool(rel_pos_zero_init)
        self.pretrain_grid = pretrain_grid
        self.pretrain_use_cls_token = bool(pretrain_use_cls_token)
        self.pos_embed_antialias = bool(pos_embed_antialias)

        self.patch_embed = PatchEmbed(in_chans, embed_dim, patch_size)
        if use_abs_pos:
            positions = pretrain_grid[0] * pretrain_grid[1] + self.pretrain_use_cls_token
            self.pos_embed = nn.Parameter(torch.zeros(1, positions, embed_dim))
        else:
            self.pos_embed = None
        rates = drop_path_rates(drop_path_rate, [depth])[0]
        self.blocks = nn.ModuleList([
            ViTDetBlock(embed_dim, num_heads, mlp_ratio, qkv_bias, rates[i], norm_layer,
                        use_rel_pos, window_size if i in self.window_block_indexes else 0, grid)
            for i in range(depth)
        ])
        freeze_layer_norms(self, norm_cfg)
        self._setup_levels([embed_dim] * depth, [patch_size] * depth)

    # ------------------------------------------------------------------- init
    def _init_default_weights(self):
        def relative_tables(module):
            if isinstance(module, RelPosAttention) and module.use_rel_pos:
                for table in (module.rel_pos_h, module.rel_pos_w):
                    if self.rel_pos_zero_init:
                        nn.init.zeros_(table)
                    else:
                        trunc_normal_(table, std=0.02)

        init_transformer_weights(self, relative_tables)
        if self.pos_embed is not None:
            trunc_normal_(self.pos_embed, std=0.02)

    # ---------------------------------------------------------------- forward
    def resized_pos_embed(self, hw: Tuple[int, int]) -> torch.Tensor:
        """The position table on an (H, W) map, (1, H, W, C)."""
        table = self.pos_embed[:, 1:] if self.pretrain_use_cls_token else self.pos_embed
        table = table.reshape(1, *self.pretrain_grid, -1)
        if tuple(hw) == self.pretrain_grid:
            return table
        table = F.interpolate(table.permute(0, 3, 1, 2), size=tuple(hw), mode='bicubic',
                              align_corners=False, antialias=self.pos_embed_antialias)
        return table.permute(0, 2, 3, 1)

    def forward(self, x: torch.Tensor):
        x = self.patch_embed(x)
        if self.pos_embed is not None:
            x = x + self.resized_pos_embed(x.shape[1:3])
        outs = []
        for index, block in enumerate(self.blocks):
            x = self.run_blocks([block], x)
            if index in self.out_indices:
                outs.append(x.permute(0, 3, 1, 2).contiguous())
            if index == self.out_indices[-1]:
                break
        return tuple(outs)

    # --------------------------------------------------------------- contract
    def stem_modules(self):
        return [self.patch_embed]

    def stem_parameters(self):
        return [self.pos_embed] if self.pos_embed is not None else []

    def level_blocks(self, index: int):
        return [self.blocks[index]]


# ---------------------------------------------------------------------------- weights
# Our layout is mmdet's projects/ViTDet ``ViT`` (and detectron2's, less its ``net.`` prefix):
# ``patch_embed.proj``, ``pos_embed`` (1, [1 +] gh * gw, C), ``blocks.{i}.{norm1, attn.qkv,
# attn.proj, attn.rel_pos_h, attn.rel_pos_w, norm2, mlp.fc1, mlp.fc2}``; an mmdet ViTDet
# checkpoint loads as it is (``backbone.`` is stripped). Converters: timm's SAM ViT (its 4-D
# position table flattened, the neck dropped) and the ViT layout of MAE's release and timm's
# ``vit_*`` (class token and final norms dropped).

def _is_sam(sd):
    """timm's SAM ViT: a (1, H, W, C) position table, or its conv neck."""
    if 'blocks.0.attn.qkv.weight' not in sd:
        return False
    return getattr(sd.get('pos_embed'), 'ndim', None) == 4 or 'neck.0.weight' in sd


def _is_vit(sd):
    return 'cls_token' in sd and 'blocks.0.attn.qkv.weight' in sd


def _fit_pos_embed(value: torch.Tensor, model) -> torch.Tensor:
    """A (1, H, W, C) or (1, [1 +] N, C) table -> ours: the class token's slot added (zeros,
    unused) or dropped as the model has it; a table of another grid is left for the loader to
    refuse."""
    if value.ndim == 4:
        value = value.flatten(1, 2)
    grid = model.pretrain_grid[0] * model.pretrain_grid[1]
    if value.shape[1] == grid + 1 and not model.pretrain_use_cls_token:
        value = value[:, 1:]
    elif value.shape[1] == grid and model.pretrain_use_cls_token:
        value = torch.cat([value.new_zeros(1, 1, value.shape[2]), value], dim=1)
    return value


_NOT_BACKBONE = ('head.', 'neck.', 'norm.', 'fc_norm.', 'decoder', 'mask_token', 'cls_token')


def _convert(state_dict, model):
    out = {k: v for k, v in state_dict.items() if not k.startswith(_NOT_BACKBONE)}
    if 'pos_embed' in out and model.pos_embed is not None:
        out['pos_embed'] = _fit_pos_embed(out['pos_embed'], model)
    if model.rel_pos_zero_init:
        # Plain-ViT weights (MAE) have no relative tables: ViTDet starts them at zero
        # (rel_pos_zero_init), which these zeros are, in every block the weights fill.
        for name, value in model.state_dict().items():
            block = name.split('.attn.rel_pos_')[0]
            if block != name and name not in out and f'{block}.attn.qkv.weight' in out:
                out[name] = torch.zeros(value.shape, dtype=value.dtype)
    return out


register_converter(ViTDet, 'timm', detect=lambda sd: _is_sam(sd) or _is_vit(sd))(_convert)
# MAE's released checkpoints (the ones ViTDet starts from) have timm's ViT keys.
register_converter(ViTDet, 'official', detect=_is_vit)(_convert)


# ------------------------------------------------------------------------- references
@timm_create_kwargs(ViTDet)
def _timm_sam_at_its_own_size(size):
    # timm's SAM ViT resizes its tables to any input; built at the input size its table
    # shapes would change, so it is built at its default size
    return {}


@reference_levels(ViTDet, 'timm')
def _timm_levels(model, x):
    """timm's SAM ViT: the output of every block, before its neck."""
    return model.forward_intermediates(x, indices=len(model.blocks), intermediates_only=True)


@reference_backbone_parameters(ViTDet, 'timm')
def _timm_trunk_parameters(model):
    # SAM's neck (1x1 + 3x3 convs to 256 channels) is not the backbone's: ViTDet's pyramid
    # is the SimpleFPN neck
    return [p for name, p in model.named_parameters() if not name.startswith(('neck.', 'head.'))]


# ----------------------------------------------------------------------------------- zoo
_PAPER = 'Li et al. 2022, arXiv 2203.16527'
_SAM_PAPER = 'Kirillov et al. 2023, arXiv 2304.02643 (ViTDet trunk)'
_MAE = 'https://dl.fbaipublicfiles.com/mae/pretrain/mae_pretrain_vit_{}.pth'


def _sam(arch: str, params: int) -> Variant:
    """SAM's image encoder: position table at 1024, antialiased resizing (timm)."""
    return Variant(
        name=f'samvit_{arch}_patch16', family='ViTDet',
        cfg=dict(arch=arch, pretrain_img_size=1024, pretrain_use_cls_token=False,
                 pos_embed_antialias=True),
        refs=dict(timm=f'samvit_{arch}_patch16'), params=params, paper=_SAM_PAPER,
        # the second size is not a multiple of 32 and pads the 11x15 map to 14x28 windows;
        # all slow: the default run checks the same code against timm on a small SAM ViT
        # (tests/test_vitdet.py) and runs the battery on vitdet_base_patch16
        test_input=(160, 160), parity_sizes=((224, 224), (176, 240)), slow=True)


def _vitdet(arch: str, params: int) -> Variant:
    """ViTDet as in the paper: MAE's 224 position table (with the class token's slot)."""
    return Variant(name=f'vitdet_{arch}_patch16', family='ViTDet', cfg=dict(arch=arch),
                   params=params, paper=_PAPER, weights=dict(official=_MAE.format(arch)),
                   test_input=(160, 160), slow=arch != 'base')  # small inputs: a short run


# params: timm's samvit_* (img_size 1024) without its neck; vitdet_*: the same less the 1024
# position table (64 * 64 positions) plus MAE's 224 one (14 * 14 + 1), tests/test_vitdet.py.
register_variants([
    _sam('base', 88883456), _sam('large', 307425280), _sam('huge', 636107520),
    _vitdet('base', 88883456 - (4096 - 197) * 768),
    _vitdet('large', 307425280 - (4096 - 197) * 1024),
])
