"""Layer-wise learning-rate decay for every backbone.

docs/training.md, 'Layer-wise learning-rate decay', says how to use it.

Fine-tuning a pretrained backbone with a learning rate that shrinks geometrically from the head
down to the stem (BEiT, Bao et al. 2021; the ConvNeXt and Swin detection recipes).
mmdet and mmseg offer it as ``LearningRateDecayOptimizerConstructor`` for ConvNeXt (and BEiT)
only, by parameter name. Here the depths come from the backbone itself
(``get_layer_depth`` / ``get_stage_depth`` of :class:`~mmbackbones.models.backbones.BaseBackbone`),
so the same constructor serves every family, with mmdet's / mmseg's argument names and meaning::

    optim_wrapper = dict(
        optimizer=dict(type='AdamW', lr=2e-4, weight_decay=0.05),
        constructor='mmbackbones.LayerDecayOptimizerConstructor',
        paramwise_cfg=dict(decay_rate=0.7, decay_type='layer_wise', num_layers=6))

On ConvNeXt its parameter groups are mmdet's / mmseg's, group by group.
"""
from typing import List, Optional

import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor

from mmbackbones.registry import OPTIM_WRAPPER_CONSTRUCTORS

__all__ = ['LayerDecayOptimizerConstructor', 'NO_DECAY_NAMES']

DECAY_TYPES = ('layer_wise', 'stage_wise')
PARAMWISE_KEYS = ('decay_rate', 'decay_type', 'num_layers')
# Parameters that are not weights of a linear map: weight decay would only pull them to zero.
# Besides every 1-D parameter (norms, biases, layer scales, GRN), by name:
NO_DECAY_NAMES = ('absolute_pos_embed', 'pos_embed', 'cls_token', 'mask_token',
                  'relative_position_bias_table', 'gamma')


def decays(name: str, param: nn.Parameter) -> bool:
    """Whether weight decay applies: not to norms, biases, position tables, relative-position
    bias tables and layer scales."""
    return not (param.ndim <= 1 or name.endswith('.bias')
                or name.rsplit('.', 1)[-1] in NO_DECAY_NAMES)


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class LayerDecayOptimizerConstructor(DefaultOptimWrapperConstructor):
    """Parameter groups with a learning rate that decays from the head toward the stem.

    ``paramwise_cfg`` (mmdet's / mmseg's ``LearningRateDecayOptimizerConstructor`` keys):

    - ``decay_rate``: the factor per layer, in (0, 1].
    - ``decay_type``: ``'layer_wise'`` (default; the backbone's ``get_layer_depth``: stem 0,
      blocks numbered from 1, ConvNeXt's in the authors' groups of blocks) or ``'stage_wise'``
      (``get_stage_depth``: stem 0, stage ``i`` is ``i + 1``).
    - ``num_layers``: ``layer_wise``: the id of the backbone's last block layer, as in mmdet's
      configs (ConvNeXt-T: 6, ConvNeXt-S/B: 12); a value that disagrees with the backbone
      raises. ``stage_wise``: at least the number of stages; the head sits at
      ``num_layers + 1`` (mmseg's ConvNeXt configs: 6). Optional: by default the backbone's.

    With ``N = num_layers + 2``, a parameter at depth ``d`` gets ``lr = base_lr *
    decay_rate ** (N - 1 - d)``; the backbone's output norms and everything outside the backbone
    (neck, heads) are at ``d = N - 1`` and keep the base learning rate. Weight decay is the
    optimizer's, except for 1-D parameters (norms, biases, layer scales), position tables and
    relative-position bias tables, which get none. Frozen parameters are left out. Groups are
    named ``layer_{d}_decay`` / ``layer_{d}_no_decay`` as in mmdet.
    """

    def __init__(self, optim_wrapper_cfg: dict, paramwise_cfg: Optional[dict] = None):
        super().__init__(optim_wrapper_cfg, paramwise_cfg)
        cfg = self.paramwise_cfg
        unknown = sorted(set(cfg) - set(PARAMWISE_KEYS))
        if unknown:
            raise ValueError(f'paramwise_cfg keys {unknown} are not supported by '
                             f'LayerDecayOptimizerConstructor; valid keys: {list(PARAMWISE_KEYS)}')
        rate = cfg.get('decay_rate')
        if not isinstance(rate, (int, float)) or not 0 < rate <= 1:
            raise ValueError(f'paramwise_cfg decay_rate={rate!r}; valid values are numbers in '
                             '(0, 1]')
        decay_type = cfg.get('decay_type', 'layer_wise')
        if decay_type not in DECAY_TYPES:
            raise ValueError(f'paramwise_cfg decay_type={decay_type!r}; valid values are '
                             f'{list(DECAY_TYPES)}')
        num_layers = cfg.get('num_layers')
        if num_layers is not None and (not isinstance(num_layers, int) or num_layers < 1):
            raise ValueError(f'paramwise_cfg num_layers={num_layers!r}; valid values are None '
                             '(taken from the backbone) or a positive int')
        if self.base_lr is None:
            raise ValueError('optimizer lr is missing; layer decay scales it per layer')
        self.decay_rate, self.decay_type, self.num_layers = float(rate), decay_type, num_layers

    def _backbone(self, module: nn.Module):
        backbone = getattr(module, 'backbone', None)
        if backbone is not None and hasattr(backbone, 'get_layer_depth'):
            return backbone, 'backbone.'
        if hasattr(module, 'get_layer_depth'):  # the backbone on its own
            return module, ''
        raise TypeError(f'{type(module).__name__} has no backbone with get_layer_depth; '
                        'LayerDecayOptimizerConstructor needs an mmbackbones backbone (or any '
                        'backbone with get_layer_depth) as model.backbone')

    def _depth_fn(self, backbone):
        if self.decay_type == 'layer_wise':
            return backbone.get_layer_depth
        get_stage_depth = getattr(backbone, 'get_stage_depth', None)
        if get_stage_depth is None:
            raise TypeError(f"decay_type='stage_wise' needs get_stage_depth, which "
                            f'{type(backbone).__name__} lacks; use decay_type=\'layer_wise\'')
        return get_stage_depth

    def _num_layers(self, backbone, backbone_layers: int) -> int:
        """``N``: the backbone's, or ``num_layers + 2``. Layer-wise, ``num_layers`` names the
        backbone's last block layer and must be that; stage-wise it only places the top, as
        in mmseg's ConvNeXt configs (``num_layers=6`` over 4 stages: the head's learning rate
        is then ``decay_rate ** 3`` above the last stage's)."""
        if self.num_layers is None:
            return backbone_layers
        if self.decay_type == 'layer_wise' and self.num_layers != backbone_layers - 2:
            raise ValueError(
                f'paramwise_cfg num_layers={self.num_layers}, but the id of the last block '
                f'layer of this {type(backbone).__name__} is {backbone_layers - 2}; set '
                f'num_layers={backbone_layers - 2} or leave it out')
        if self.num_layers < backbone_layers - 2:
            raise ValueError(
                f'paramwise_cfg num_layers={self.num_layers} is below the number of stages of '
                f'this {type(backbone).__name__} ({backbone_layers - 2}); valid values are '
                f'>= {backbone_layers - 2}, or leave it out')
        return self.num_layers + 2

    def add_params(self, params: List[dict], module: nn.Module, **kwargs) -> None:
        backbone, prefix = self._backbone(module)
        depth_of = self._depth_fn(backbone)
        _, backbone_layers = depth_of(f'{prefix}<not a parameter>', prefix)
        num_layers = self._num_layers(backbone, backbone_layers)
        groups = {}
        for name, param in module.named_parameters():
            if not param.requires_grad:
                continue
            # the backbone's parameters by their depth; neck and heads at the top
            depth = depth_of(name, prefix)[0] if name.startswith(prefix) else num_layers - 1
            if depth == backbone_layers - 1:  # the backbone's output norms: with the head
                depth = num_layers - 1
            decay = decays(name, param)
            group_name = f'layer_{depth}_{"decay" if decay else "no_decay"}'
            if group_name not in groups:
                scale = self.decay_rate**(num_layers - depth - 1)
                group = dict(params=[], param_names=[], lr_scale=scale, group_name=group_name,
                             lr=scale * self.base_lr)
                if not decay:
                    group['weight_decay'] = 0.0
                elif self.base_wd is not None:  # else the optimizer's default
                    group['weight_decay'] = self.base_wd
                groups[group_name] = group
            groups[group_name]['params'].append(param)
            groups[group_name]['param_names'].append(name)
        params.extend(groups.values())
