"""Swin Transformer checkpoints from timm, torchvision, Microsoft's official code, mmdet/mmseg.

Our layout: ``patch_embed.{proj,norm}``, ``absolute_pos_embed`` (1, H, W, C),
``stages.{i}.downsample`` (patch merging at the start of stages 1..3, official 2x2 order),
``stages.{i}.blocks.{j}.{norm1,attn.qkv,attn.proj,attn.relative_position_bias_table,norm2,mlp.fc1,mlp.fc2}``
and one output norm ``norm{i}`` per returned level (timm's and the official final ``norm`` is
the last level's).
"""
import re

import torch

from .convert import register_converter, rename_keys

FAMILY = 'SwinTransformer'
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


@register_converter(FAMILY, 'timm', detect=_is_timm)
def convert_timm(state_dict, model):
    state_dict = rename_keys(_drop_head_and_buffers(state_dict), [(r'^layers\.', 'stages.')])
    return _finish(state_dict, model)


@register_converter(FAMILY, 'official', detect=_is_official)
def convert_official(state_dict, model):
    state_dict = rename_keys(_drop_head_and_buffers(state_dict), [(r'^layers\.', 'stages.')])
    return _finish(_shift_downsample(state_dict), model)


@register_converter(FAMILY, 'torchvision', detect=_is_torchvision)
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


@register_converter(FAMILY, 'mmdet', detect=_is_openmmlab)
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
register_converter(FAMILY, 'mmseg', detect=_is_openmmlab)(convert_openmmlab)
