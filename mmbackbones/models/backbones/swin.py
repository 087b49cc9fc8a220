"""Swin Transformer (Liu et al., 2021, arXiv 2103.14030).

Hierarchical vision transformer: self-attention inside non-overlapping local windows, with
the windows of every second block shifted by half a window so that information crosses window
borders. Four levels at strides 4, 8, 16 and 32, each started by a 2x2 patch merging.

Tokens stay channel-last (B, H, W, C) inside the network; outputs are NCHW. Any input size
works: the input is padded to a multiple of the patch size, every block pads its map to a
multiple of the window, and outputs have ceil(H / stride) x ceil(W / stride) positions.
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
from mmbackbones.weights.convert import register_converter, rename_keys
from mmbackbones.zoo import Variant, register_variants

from ..layers import (DropPath, Mlp, drop_path_rates, freeze_layer_norms,
                      init_transformer_weights, layer_norm_factory)
from ..layers.windows import merge_windows, partition_windows
from .base import BaseBackbone

__all__ = ['SwinTransformer']


@functools.lru_cache(maxsize=64)
def relative_position_index(window: Tuple[int, int], table_window: Tuple[int, int],
                            device: torch.device) -> torch.Tensor:
    """Index into a ``(2*Th-1)*(2*Tw-1)`` bias table for every token pair of ``window``.

    ``window`` may be smaller than the table's window (a map smaller than the window): the
    pairs then use the central part of the same table. Always a normal tensor (never an
    inference-mode one), since the cache outlives the mode and training indexes with it too.
    """
    with torch.inference_mode(False):
        coords = torch.stack(torch.meshgrid(torch.arange(window[0], device=device),
                                            torch.arange(window[1], device=device),
                                            indexing='ij')).flatten(1)  # 2, N
        delta = coords[:, :, None] - coords[:, None, :]  # 2, N, N
        return ((delta[0] + table_window[0] - 1) * (2 * table_window[1] - 1)
                + delta[1] + table_window[1] - 1)


@functools.lru_cache(maxsize=64)
def shifted_window_mask(padded_hw: Tuple[int, int], window: Tuple[int, int],
                        shift: Tuple[int, int], device: torch.device,
                        inference: bool) -> torch.Tensor:
    """Additive mask (num_windows, N, N) that keeps attention inside the regions that were
    contiguous before the cyclic shift. Computed once per shape (``inference`` is part of the
    key because inference-mode tensors cannot enter autograd)."""
    with torch.inference_mode(inference):
        height, width = padded_hw
        region = torch.zeros(height, width, device=device)
        row_edges = (0, height - window[0], height - shift[0], height)
        col_edges = (0, width - window[1], width - shift[1], width)
        label = 0
        for r in range(3):
            for c in range(3):
                region[row_edges[r]:row_edges[r + 1], col_edges[c]:col_edges[c + 1]] = label
                label += 1
        windows = partition_windows(region[None, :, :, None], window).squeeze(-1)[0]  # nW, N
        different = windows[:, :, None] != windows[:, None, :]
        # -100 rather than -inf, as the reference implementations (same softmax result in fp32).
        return torch.zeros(different.shape, device=device).masked_fill_(different, -100.0)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside windows, with a learned relative-position bias."""

    def __init__(self, dim: int, num_heads: int, window_size: Tuple[int, int],
                 qkv_bias: bool = True, attn_drop: float = 0.0, proj_drop: float = 0.0,
                 qk_scale: Optional[float] = None):
        super().__init__()
        self.num_heads = num_heads
        self.window_size = window_size
        self.attn_drop = attn_drop
        self.scale = qk_scale  # None: head_dim ** -0.5, SDPA's default
        self.relative_position_bias_table = nn.Parameter(
            torch.zeros((2 * window_size[0] - 1) * (2 * window_size[1] - 1), num_heads))
        self.qkv = nn.Linear(dim, dim * 3, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.proj_drop = nn.Dropout(proj_drop) if proj_drop > 0 else nn.Identity()
        self._bias_cache: Dict[tuple, torch.Tensor] = {}

    def attention_bias(self, batch: int, window: Tuple[int, int],
                       mask: Optional[torch.Tensor]) -> torch.Tensor:
        """Relative-position bias plus shift mask, laid out (B * nW, nH, N, N).

        Laid out 4-D for the whole batch because CPU attention kernels are several times
        slower with a 3-D mask that they must broadcast. In eval mode it is cached per shape
        and table version; in training it is rebuilt (it needs the table's gradient).
        """
        table = self.relative_position_bias_table
        key = None
        if not self.training:
            key = (batch, window, None if mask is None else id(mask), table._version,
                   table.device, table.dtype, torch.is_inference_mode_enabled(),
                   torch.is_grad_enabled())
            cached = self._bias_cache.get(key)
            if cached is not None:
                return cached
        index = relative_position_index(window, self.window_size, table.device)
        n = window[0] * window[1]
        bias = table[index.view(-1)].view(n, n, -1).permute(2, 0, 1).unsqueeze(0)  # 1, nH, N, N
        if mask is not None:
            bias = bias + mask.to(bias.dtype).unsqueeze(1)  # nW, nH, N, N
        if mask is None:  # one bias for every window: a free stride-0 view
            bias = bias.expand(batch, -1, -1, -1)
        else:
            bias = bias.unsqueeze(0).expand(batch, -1, -1, -1, -1).reshape(-1, self.num_heads, n, n)
        if key is not None:
            if len(self._bias_cache) > 8:
                self._bias_cache.clear()
            self._bias_cache[key] = bias
        return bias

    def forward(self, windows: torch.Tensor, window: Tuple[int, int],
                mask: Optional[torch.Tensor]) -> torch.Tensor:
        """windows: (B, nW, N, C) -> (B, nW, N, C)."""
        b, nw, n, c = windows.shape
        qkv = self.qkv(windows).view(b * nw, n, 3, self.num_heads, c // self.num_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each B*nW, nH, N, d
        bias = self.attention_bias(b if mask is not None else b * nw, window, mask).to(q.dtype)
        out = F.scaled_dot_product_attention(
            q, k, v, attn_mask=bias, dropout_p=self.attn_drop if self.training else 0.0,
            scale=self.scale)
        out = out.transpose(1, 2).reshape(b, nw, n, c)
        return self.proj_drop(self.proj(out))


class SwinBlock(nn.Module):
    """(Shifted-)window attention and an MLP, each in a pre-norm residual branch."""

    def __init__(self, dim: int, num_heads: int, window_size: int, shifted: bool,
                 mlp_ratio: float = 4.0, qkv_bias: bool = True, drop_rate: float = 0.0,
                 attn_drop_rate: float = 0.0, drop_path: float = 0.0,
                 fit_window_to_map: bool = True, qk_scale: Optional[float] = None,
                 norm_layer=nn.LayerNorm):
        super().__init__()
        self.window_size = (window_size, window_size)
        self.shift_size = (window_size // 2, window_size // 2) if shifted else (0, 0)
        self.fit_window_to_map = fit_window_to_map
        self.norm1 = norm_layer(dim)
        self.attn = WindowAttention(dim, num_heads, self.window_size, qkv_bias, attn_drop_rate,
                                    drop_rate, qk_scale)
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()
        self.norm2 = norm_layer(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), drop=drop_rate)

    def _window_and_shift(self, height: int, width: int):
        window, shift = list(self.window_size), list(self.shift_size)
        if self.fit_window_to_map:
            # A side no longer than the window: one window covers it, nothing to shift.
            for dim, size in enumerate((height, width)):
                if size <= window[dim]:
                    window[dim], shift[dim] = size, 0
        return tuple(window), tuple(shift)

    def _attention(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        window, shift = self._window_and_shift(h, w)
        pad_h, pad_w = (-h) % window[0], (-w) % window[1]
        if pad_h or pad_w:
            x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        padded = (h + pad_h, w + pad_w)
        mask = None
        if any(shift):
            x = torch.roll(x, shifts=(-shift[0], -shift[1]), dims=(1, 2))
            mask = shifted_window_mask(padded, window, shift, x.device,
                                       torch.is_inference_mode_enabled())
        x = self.attn(partition_windows(x, window), window, mask)
        x = merge_windows(x, window, padded)
        if any(shift):
            x = torch.roll(x, shifts=shift, dims=(1, 2))
        if pad_h or pad_w:
            x = x[:, :h, :w].contiguous()
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self._attention(self.norm1(x)))
        return x + self.drop_path(self.mlp(self.norm2(x)))


class PatchMerging(nn.Module):
    """Concatenate each 2x2 neighbourhood (official order: (0,0), (1,0), (0,1), (1,1)),
    normalise, and project 4C -> 2C. Odd sides are zero-padded."""

    def __init__(self, dim: int, out_dim: int, norm_layer=nn.LayerNorm):
        super().__init__()
        self.norm = norm_layer(4 * dim)
        self.reduction = nn.Linear(4 * dim, out_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, h, w, c = x.shape
        if h % 2 or w % 2:
            x = F.pad(x, (0, 0, 0, w % 2, 0, h % 2))
            h, w = h + h % 2, w + w % 2
        # (B, H/2, 2, W/2, 2, C) -> (B, H/2, W/2, col, row, C): row offset varies fastest.
        x = x.view(b, h // 2, 2, w // 2, 2, c).permute(0, 1, 3, 4, 2, 5).reshape(b, h // 2, w // 2, 4 * c)
        return self.reduction(self.norm(x))


class PatchEmbed(nn.Module):
    """Non-overlapping patch projection; pads the input to a multiple of the patch size."""

    def __init__(self, in_channels: int, embed_dims: int, patch_size: int, norm_layer=nn.LayerNorm):
        super().__init__()
        self.patch_size = patch_size
        self.proj = nn.Conv2d(in_channels, embed_dims, patch_size, stride=patch_size)
        self.norm = norm_layer(embed_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad_h, pad_w = (-x.shape[2]) % self.patch_size, (-x.shape[3]) % self.patch_size
        if pad_h or pad_w:
            x = F.pad(x, (0, pad_w, 0, pad_h))
        return self.norm(self.proj(x).permute(0, 2, 3, 1))


class SwinStage(nn.Module):
    """A patch merging (from the second stage on), then the blocks; the backbone runs them
    (:meth:`SwinTransformer.forward`) so that ``with_cp`` follows the one rule of the base."""

    def __init__(self, dim: int, out_dim: int, depth: int, num_heads: int, window_size: int,
                 downsample: bool, drop_paths: Sequence[float],
                 merge_norm_layer=nn.LayerNorm, **block_kwargs):
        super().__init__()
        self.downsample = PatchMerging(dim, out_dim, merge_norm_layer) if downsample else nn.Identity()
        self.blocks = nn.ModuleList([
            SwinBlock(out_dim, num_heads, window_size, shifted=index % 2 == 1,
                      drop_path=drop_paths[index], **block_kwargs) for index in range(depth)
        ])


# OpenMMLab's defaults for arguments whose other values we do not implement.
_OPENMMLAB_ACT = dict(type='GELU')


@MODELS.register_module()
class SwinTransformer(BaseBackbone):
    """Swin Transformer backbone.

    Takes mmdet's / mmseg's ``SwinTransformer`` arguments with their meanings, plus ``arch``
    (our zoo's names) and ``fit_window_to_map`` / ``norm_eval``.

    Args:
        arch: ``'tiny'``, ``'small'``, ``'base'``, ``'large'`` or a dict with ``embed_dims``,
            ``depths`` and ``num_heads``. ``None`` (default): OpenMMLab's style, the top-level
            ``embed_dims``, ``depths``, ``num_heads`` (defaults: Swin-T's 96, (2, 2, 6, 2),
            (3, 6, 12, 24)). Give one style, not both.
        window_size: attention window side (7 for 224 pretraining, 12 for 384).
        pretrain_img_size: input size of pretraining, an int or an (H, W) tuple; sizes the
            absolute position table.
        in_channels: input channels.
        patch_size: side of the patch embedding.
        mlp_ratio, qkv_bias: block settings.
        drop_rate, attn_drop_rate: dropout after projections / on attention weights.
        drop_path_rate: stochastic depth, increasing linearly to this rate over the blocks.
        use_abs_pos_embed: add a learned absolute position table after the patch embedding
            (resized bicubically to the input).
        fit_window_to_map: where a map side is no longer than the window, shrink the window
            to it and do not shift along it (the classification rule of Swin, timm and
            torchvision). ``False`` always shifts with padding, as Swin's detection code and
            mmdet/mmseg do; the two differ only on such small maps. ``None`` (default):
            ``True`` when the model is named by ``arch``, ``False`` when it is given
            OpenMMLab's way (a pasted mmdet/mmseg dict then computes what mmdet/mmseg do).
        strides: OpenMMLab's per-stage strides; only ``(patch_size, 2, 2, 2)`` (one entry per
            stage) exists in Swin.
        qk_scale: attention scale; ``None`` is ``head_dim ** -0.5``.
        patch_norm: layer-normalise the patch embedding and the patch mergings.
        act_cfg: only ``dict(type='GELU')``.
        norm_cfg: only ``dict(type='LN')`` (optional ``eps``, ``requires_grad``).
        pretrained: a checkpoint string, the same as
            ``init_cfg=dict(type='Pretrained', checkpoint=pretrained)``.
        convert_weights: accepted and not needed: checkpoints are converted from any
            supported layout (official, timm, torchvision, mmdet/mmseg) by their keys.
        out_indices, frozen_stages, norm_eval, with_cp, init_cfg: see :class:`BaseBackbone`.
            Each returned level is layer-normalised by its own ``norm{i}``. As in OpenMMLab,
            a frozen stage includes the patch merging that follows it.
    """

    arch_settings = {
        'tiny': dict(embed_dims=96, depths=(2, 2, 6, 2), num_heads=(3, 6, 12, 24)),
        'small': dict(embed_dims=96, depths=(2, 2, 18, 2), num_heads=(3, 6, 12, 24)),
        'base': dict(embed_dims=128, depths=(2, 2, 18, 2), num_heads=(4, 8, 16, 32)),
        'large': dict(embed_dims=192, depths=(2, 2, 18, 2), num_heads=(6, 12, 24, 48)),
    }
    arch_keys = ('embed_dims', 'depths', 'num_heads')
    # ONNX (tools/export.py): the window size, shift, padding and shift masks are chosen in
    # Python from each stage's height and width, so a traced graph holds them for one size.
    onnx_static_family_reason = ('the window padding, cyclic shift masks and the window '
                                 'shrinking on maps smaller than a window are computed in Python '
                                 'from the input size, so the exported graph is valid for the '
                                 'traced height and width only')

    def __init__(self, arch=None, window_size: int = 7, pretrain_img_size=224,
                 in_channels: int = 3, patch_size: int = 4, mlp_ratio: float = 4.0,
                 qkv_bias: bool = True, drop_rate: float = 0.0, attn_drop_rate: float = 0.0,
                 drop_path_rate: float = 0.1, use_abs_pos_embed: bool = False,
                 fit_window_to_map: Optional[bool] = None, out_indices=(0, 1, 2, 3),
                 frozen_stages: int = -1, norm_eval: bool = False, with_cp: bool = False,
                 init_cfg=None, *, embed_dims: Optional[int] = None, depths=None,
                 num_heads=None, strides=None, qk_scale: Optional[float] = None,
                 patch_norm: bool = True, act_cfg=None, norm_cfg=None, pretrained=None,
                 convert_weights: bool = True):
        super().__init__(out_indices, frozen_stages, norm_eval, with_cp, init_cfg, pretrained)
        openmmlab_style = arch is None
        settings = self._resolve_arch(arch, embed_dims, depths, num_heads)
        embed_dims, depths, num_heads = settings['embed_dims'], settings['depths'], settings['num_heads']
        if fit_window_to_map is None:
            fit_window_to_map = not openmmlab_style
        if not 0.0 <= drop_path_rate < 1.0:
            raise ValueError(f'drop_path_rate={drop_path_rate}; valid values are in [0, 1)')
        if not isinstance(window_size, int) or window_size < 1:
            raise ValueError(f'window_size={window_size!r}; it must be a positive int')
        if not isinstance(patch_size, int) or patch_size < 1:
            raise ValueError(f'patch_size={patch_size!r}; it must be a positive int')
        grid = self._pretrain_grid(pretrain_img_size, patch_size)
        valid_strides = (patch_size, ) + (2, ) * (len(depths) - 1)
        if strides is not None and tuple(strides) != valid_strides:
            raise ValueError(f'strides={strides!r}; Swin embeds non-overlapping patches and '
                             f'merges 2x2 neighbourhoods, so the only valid value here is '
                             f'{valid_strides} (patch_size, then 2 per stage)')
        if act_cfg is not None and dict(act_cfg) != _OPENMMLAB_ACT:
            raise ValueError(f'act_cfg={act_cfg!r}; only {_OPENMMLAB_ACT} is implemented')
        norm_layer = self._norm_layer(norm_cfg)
        if not isinstance(convert_weights, bool):
            raise TypeError(f'convert_weights={convert_weights!r}; valid values are True, False '
                            '(both load any supported layout: it is detected from the keys)')
        if qk_scale is not None and not (isinstance(qk_scale, (int, float)) and qk_scale > 0):
            raise ValueError(f'qk_scale={qk_scale!r}; valid values are None or a positive number')
        self.depths = tuple(depths)
        self.patch_size = patch_size
        self.use_abs_pos_embed = use_abs_pos_embed
        self.fit_window_to_map = bool(fit_window_to_map)
        merge_norm = norm_layer if patch_norm else (lambda _: nn.Identity())

        self.patch_embed = PatchEmbed(in_channels, embed_dims, patch_size, merge_norm)
        if use_abs_pos_embed:
            self.absolute_pos_embed = nn.Parameter(torch.zeros(1, *grid, embed_dims))
        self.pos_drop = nn.Dropout(drop_rate) if drop_rate > 0 else nn.Identity()

        channels = [embed_dims * 2**i for i in range(len(depths))]
        rates = drop_path_rates(drop_path_rate, depths)
        self.stages = nn.ModuleList()
        for i, depth in enumerate(depths):
            self.stages.append(SwinStage(
                channels[max(i - 1, 0)], channels[i], depth, num_heads[i], window_size,
                downsample=i > 0, drop_paths=rates[i], mlp_ratio=mlp_ratio,
                qkv_bias=qkv_bias, drop_rate=drop_rate, attn_drop_rate=attn_drop_rate,
                fit_window_to_map=self.fit_window_to_map, qk_scale=qk_scale,
                norm_layer=norm_layer, merge_norm_layer=merge_norm))
        strides = [patch_size * 2**i for i in range(len(depths))]
        # Only the levels that are returned get an output norm (so a classification-style
        # out_indices=(3,) has exactly the reference model's single final norm).
        self._setup_out_norms(channels, norm_layer)
        freeze_layer_norms(self, norm_cfg)
        self._setup_levels(channels, strides)

    def _setup_out_norms(self, channels, norm_layer):
        num_levels = len(channels)
        for index in self._requested_out_indices:
            if -num_levels <= index < num_levels:
                self.add_module(f'norm{index % num_levels}', norm_layer(channels[index]))

    @staticmethod
    def _pretrain_grid(pretrain_img_size, patch_size) -> Tuple[int, int]:
        size = pretrain_img_size
        if isinstance(size, int):
            size = (size, size)
        elif isinstance(size, (tuple, list)) and len(size) == 1:
            size = (size[0], size[0])
        if not (isinstance(size, (tuple, list)) and len(size) == 2
                and all(isinstance(s, int) and s > 0 for s in size)):
            raise ValueError(f'pretrain_img_size={pretrain_img_size!r}; valid values are a '
                             'positive int or a tuple of 1 or 2 of them (H, W)')
        return size[0] // patch_size, size[1] // patch_size

    @staticmethod
    def _norm_layer(norm_cfg):
        if norm_cfg is None:
            return nn.LayerNorm
        return layer_norm_factory(norm_cfg)

    @classmethod
    def _resolve_arch(cls, arch, embed_dims=None, depths=None, num_heads=None) -> Dict:
        """``arch``, or OpenMMLab's top-level ``embed_dims``/``depths``/``num_heads`` (their
        defaults are Swin-T's); not both."""
        explicit = dict(embed_dims=embed_dims, depths=depths, num_heads=num_heads)
        given = sorted(k for k, v in explicit.items() if v is not None)
        if arch is None:
            arch = dict(cls.arch_settings['tiny'])
            arch.update({k: explicit[k] for k in given})
        elif given:
            raise ValueError(f'arch={arch!r} and {", ".join(given)} were both given; describe '
                             'the model one way: arch, or embed_dims/depths/num_heads as in mmdet')
        if not isinstance(arch, (str, dict)):
            raise TypeError(f'arch must be a str or a dict, got {type(arch).__name__}')
        settings = cls.resolve_arch(arch)
        if len(settings['depths']) != len(settings['num_heads']):
            raise ValueError(f'depths {tuple(settings["depths"])} and num_heads '
                             f'{tuple(settings["num_heads"])} must have the same length')
        return settings

    # ------------------------------------------------------------------- init
    def init_weights(self):
        """A ``Pretrained`` init_cfg loads through our converters (base class). Any other
        init_cfg (a dict or a list) is applied on top of the family's own initialisation,
        which mmengine would otherwise skip: our layers have no ``init_weights`` of their
        own, so the relative-position tables would stay zero. ``Pretrained`` entries of a
        list are loaded last, as mmengine orders them."""
        cfg = self.init_cfg
        if cfg is None or (isinstance(cfg, dict) and cfg.get('type') == 'Pretrained'):
            return super().init_weights()
        cfgs = [cfg] if isinstance(cfg, dict) else list(cfg)
        if not all(isinstance(c, dict) and 'type' in c for c in cfgs):
            raise TypeError(f'init_cfg={cfg!r}; valid values are None, a dict with a type, or a '
                            'list of them')
        from mmengine.model.weight_init import initialize
        from mmbackbones.weights import load_pretrained
        self._init_default_weights()
        initialize(self, [c for c in cfgs if c['type'] != 'Pretrained'])
        for pre in (c for c in cfgs if c['type'] == 'Pretrained'):
            load_pretrained(self, pre['checkpoint'], source=pre.get('source'))
        self._is_init = True

    def _init_default_weights(self):
        def bias_tables(module):
            if isinstance(module, WindowAttention):
                trunc_normal_(module.relative_position_bias_table, std=0.02)

        init_transformer_weights(self, bias_tables)
        if self.use_abs_pos_embed:
            trunc_normal_(self.absolute_pos_embed, std=0.02)

    # ---------------------------------------------------------------- forward
    def _add_abs_pos_embed(self, x: torch.Tensor) -> torch.Tensor:
        table = self.absolute_pos_embed
        if table.shape[1:3] != x.shape[1:3]:
            table = F.interpolate(table.permute(0, 3, 1, 2), size=x.shape[1:3], mode='bicubic',
                                  align_corners=False).permute(0, 2, 3, 1)
        return x + table

    def forward(self, x: torch.Tensor):
        x = self.patch_embed(x)
        if self.use_abs_pos_embed:
            x = self._add_abs_pos_embed(x)
        x = self.pos_drop(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = self.run_blocks(stage.blocks, stage.downsample(x))
            if i in self.out_indices:
                outs.append(getattr(self, f'norm{i}')(x).permute(0, 3, 1, 2).contiguous())
            if i == self.out_indices[-1]:
                break
        return tuple(outs)

    # --------------------------------------------------------------- contract
    def stem_modules(self):
        return [self.patch_embed, self.pos_drop]

    def stem_parameters(self):
        return [self.absolute_pos_embed] if self.use_abs_pos_embed else []

    def level_blocks(self, index: int):
        return list(self.stages[index].blocks)

    def transition_modules(self, index: int):
        # OpenMMLab's stage i is blocks i plus the patch merging after them (our merging
        # starts stage i + 1): frozen with level i, at the depth of its last block.
        return [self.stages[index + 1].downsample] if index + 1 < len(self.stages) else []

    def level_modules(self, index: int):
        modules = [self.stages[index].blocks] + self.transition_modules(index)
        if hasattr(self, f'norm{index}'):
            modules.append(getattr(self, f'norm{index}'))
        return modules


# ---------------------------------------------------------------------------- weights
# Our layout: ``patch_embed.{proj,norm}``, ``absolute_pos_embed`` (1, H, W, C),
# ``stages.{i}.downsample`` (patch merging at the start of stages 1..3, official 2x2 order),
# ``stages.{i}.blocks.{j}.{norm1,attn.qkv,attn.proj,attn.relative_position_bias_table,norm2,
# mlp.fc1,mlp.fc2}`` and one output norm ``norm{i}`` per returned level (timm's and the
# official final ``norm`` is the last level's). Converters: timm, the official code,
# torchvision, mmdet/mmseg.
# Buffers that some checkpoints store although they are derived from the shape.
_DERIVED = ('relative_position_index', 'attn_mask', 'relative_coords_table')


def _drop_head_and_buffers(state_dict):
    return {k: v for k, v in state_dict.items()
            if not k.startswith('head.') and not k.endswith(_DERIVED)}


def _last_level(model) -> int:
    return len(model.depths) - 1


def _pos_embed_to_grid(value: torch.Tensor, model) -> torch.Tensor:
    """(1, N, C) position table (row-major) -> (1, H, W, C): the model's grid where it has as
    many positions (a non-square ``pretrain_img_size``), else square, as every released model."""
    if value.ndim == 3:
        table = getattr(model, 'absolute_pos_embed', None)
        if table is not None and table.ndim == 4 and table.shape[1] * table.shape[2] == value.shape[1]:
            return value.reshape(1, table.shape[1], table.shape[2], value.shape[2])
        side = int(round(value.shape[1]**0.5))
        value = value.reshape(1, side, side, value.shape[2])
    return value


def _shift_downsample(state_dict):
    """Downsampling stored at the end of stage i -> the start of stage i + 1."""
    return {re.sub(r'^stages\.(\d+)\.downsample\.',
                   lambda m: f'stages.{int(m.group(1)) + 1}.downsample.', k): v
            for k, v in state_dict.items()}


def _finish(state_dict, model):
    state_dict = {k: v for k, v in state_dict.items()}
    if 'absolute_pos_embed' in state_dict:
        state_dict['absolute_pos_embed'] = _pos_embed_to_grid(state_dict['absolute_pos_embed'], model)
    if 'norm.weight' in state_dict:
        last = _last_level(model)
        state_dict[f'norm{last}.weight'] = state_dict.pop('norm.weight')
        state_dict[f'norm{last}.bias'] = state_dict.pop('norm.bias')
    return state_dict


def _is_timm(sd):
    return ('patch_embed.proj.weight' in sd and 'layers.1.downsample.reduction.weight' in sd
            and 'layers.0.downsample.reduction.weight' not in sd)


def _is_official(sd):
    return 'patch_embed.proj.weight' in sd and 'layers.0.downsample.reduction.weight' in sd


def _is_torchvision(sd):
    return 'features.0.0.weight' in sd and 'features.1.0.attn.relative_position_bias_table' in sd


def _is_openmmlab(sd):
    return 'patch_embed.projection.weight' in sd and any('.attn.w_msa.' in k for k in sd)


@register_converter(SwinTransformer, 'timm', detect=_is_timm)
def convert_timm(state_dict, model):
    state_dict = rename_keys(_drop_head_and_buffers(state_dict), [(r'^layers\.', 'stages.')])
    return _finish(state_dict, model)


@register_converter(SwinTransformer, 'official', detect=_is_official)
def convert_official(state_dict, model):
    state_dict = rename_keys(_drop_head_and_buffers(state_dict), [(r'^layers\.', 'stages.')])
    return _finish(_shift_downsample(state_dict), model)


@register_converter(SwinTransformer, 'torchvision', detect=_is_torchvision)
def convert_torchvision(state_dict, model):
    out = {}
    for key, value in _drop_head_and_buffers(state_dict).items():
        match = re.match(r'^features\.(\d+)\.(.*)$', key)
        if match is None:
            out[key] = value  # the final 'norm.*'
            continue
        index, rest = int(match.group(1)), match.group(2)
        if index == 0:  # Sequential(conv, permute, layer norm)
            rest = rest.replace('0.', 'proj.', 1) if rest.startswith('0.') else rest.replace('2.', 'norm.', 1)
            out[f'patch_embed.{rest}'] = value
        elif index % 2 == 1:  # blocks of stage index // 2
            rest = re.sub(r'^(\d+)\.mlp\.0\.', r'\1.mlp.fc1.', rest)
            rest = re.sub(r'^(\d+)\.mlp\.3\.', r'\1.mlp.fc2.', rest)
            out[f'stages.{index // 2}.blocks.{rest}'] = value
        else:  # patch merging in front of stage index // 2
            out[f'stages.{index // 2}.downsample.{rest}'] = value
    return _finish(out, model)


def _unfold_to_official_order(value: torch.Tensor, dim: int) -> torch.Tensor:
    """mmdet's patch merging concatenates with nn.Unfold (channel-major: c, row, col); the
    official order is position-major ((0,0), (1,0), (0,1), (1,1)) then channel."""
    shape = value.shape
    value = value.reshape(*shape[:dim], -1, 2, 2, *shape[dim + 1:])  # ..., C, row, col, ...
    value = value.movedim(dim, dim + 2)  # ..., row, col, C, ...
    value = value.transpose(dim, dim + 1)  # ..., col, row, C, ...
    return value.reshape(shape)


@register_converter(SwinTransformer, 'mmdet', detect=_is_openmmlab)
def convert_openmmlab(state_dict, model):
    state_dict = rename_keys(_drop_head_and_buffers(state_dict), [
        (r'^patch_embed\.projection\.', 'patch_embed.proj.'),
        (r'\.attn\.w_msa\.', '.attn.'),
        (r'\.ffn\.layers\.0\.0\.', '.mlp.fc1.'),
        (r'\.ffn\.layers\.1\.', '.mlp.fc2.'),
    ])
    out = {}
    for key, value in state_dict.items():
        if '.downsample.reduction.weight' in key:
            value = _unfold_to_official_order(value, dim=1)
        elif '.downsample.norm.' in key:
            value = _unfold_to_official_order(value, dim=0)
        out[key] = value
    return _finish(_shift_downsample(out), model)


# mmseg's SwinTransformer stores the same keys as mmdet's.
register_converter(SwinTransformer, 'mmseg', detect=_is_openmmlab)(convert_openmmlab)


# ------------------------------------------------------------------------- references
def _with_output_norms(stage_outputs, final_norm):
    """NHWC stage outputs -> NCHW levels as ours returns them after conversion: the
    reference's final norm on the last level; elsewhere our fresh output norms (weight 1,
    bias 0, which classification references lack), i.e. a plain layer norm."""
    levels = []
    for index, x in enumerate(stage_outputs):
        if index == len(stage_outputs) - 1:
            x = final_norm(x)
        else:
            x = F.layer_norm(x, x.shape[-1:])
        levels.append(x.permute(0, 3, 1, 2).contiguous())
    return levels


@reference_levels(SwinTransformer, 'timm')
def _timm_levels(model, x):
    x = model.patch_embed(x)
    outputs = []
    for stage in model.layers:
        x = stage(x)
        outputs.append(x)
    return _with_output_norms(outputs, model.norm)


@reference_levels(SwinTransformer, 'torchvision')
def _torchvision_levels(model, x):
    outputs = []
    for index, module in enumerate(model.features):
        x = module(x)
        if index % 2 == 1:  # features = [patch embed, stage, merge, stage, merge, stage, ...]
            outputs.append(x)
    return _with_output_norms(outputs, model.norm)


# ----------------------------------------------------------------------------------- zoo
def _swin(name, arch, window, img_size, params, refs):
    return Variant(
        name=name, family='SwinTransformer',
        cfg=dict(arch=arch, window_size=window, pretrain_img_size=img_size),
        refs=refs, params=params, paper='Liu et al. 2021, arXiv 2103.14030',
        test_input=(img_size, img_size) if img_size == 224 else (192, 256),
        # Square and non-square; every level divisible by the window, where timm (which
        # shifts before padding) and the official code (which pads first) agree.
        parity_sizes=((img_size, img_size), (2 * img_size, 3 * img_size)),
        slow=arch != 'tiny')  # one Swin in the default run: the code path is shared


def _openmmlab(arch, window, img_size):
    """mmdet's and mmseg's SwinTransformer dict of the same network."""
    return dict(type='SwinTransformer', **SwinTransformer.arch_settings[arch],
                window_size=window, pretrain_img_size=img_size)


def _refs(arch, window, img_size, timm, torchvision=None):
    refs = dict(timm=timm)
    if torchvision:
        refs['torchvision'] = torchvision
    openmmlab = _openmmlab(arch, window, img_size)
    return dict(refs, mmdet=openmmlab, mmseg=openmmlab)


# params: timm's model with num_classes=0, equal to ours built with out_indices=(3,).
register_variants([
    _swin('swin_tiny_patch4_window7_224', 'tiny', 7, 224, 27519354,
          _refs('tiny', 7, 224, 'swin_tiny_patch4_window7_224', 'swin_t')),
    _swin('swin_small_patch4_window7_224', 'small', 7, 224, 48837258,
          _refs('small', 7, 224, 'swin_small_patch4_window7_224', 'swin_s')),
    _swin('swin_base_patch4_window7_224', 'base', 7, 224, 86743224,
          _refs('base', 7, 224, 'swin_base_patch4_window7_224', 'swin_b')),
    _swin('swin_base_patch4_window12_384', 'base', 12, 384, 86878584,
          _refs('base', 12, 384, 'swin_base_patch4_window12_384')),
    _swin('swin_large_patch4_window7_224', 'large', 7, 224, 194995476,
          _refs('large', 7, 224, 'swin_large_patch4_window7_224')),
    _swin('swin_large_patch4_window12_384', 'large', 12, 384, 195198516,
          _refs('large', 12, 384, 'swin_large_patch4_window12_384')),
])
