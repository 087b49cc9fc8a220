"""The contract every mmbackbones backbone keeps (docs/architecture.md, 'The backbone contract').

A family subclasses :class:`BaseBackbone`, builds its layers, then calls
:meth:`BaseBackbone._setup_levels` with the channels and strides of every level it can
return. From then on ``out_indices`` is validated, ``out_channels`` / ``out_strides`` are
known, ``frozen_stages`` and ``norm_eval`` hold across ``train()`` calls, and the family only
has to say which modules make up its stem and each level.
"""
from typing import Iterable, List, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm


def _check_backbone_input(module, args):
    """Forward pre-hook: one clear error for every family instead of a failure deep inside
    (a 3-D tensor is even accepted by ``nn.Conv2d`` as an unbatched image)."""
    x = args[0] if args else None
    name = type(module).__name__
    if not isinstance(x, torch.Tensor) or x.dim() != 4:
        got = (f'a {x.dim()}-D tensor of shape {tuple(x.shape)}' if isinstance(x, torch.Tensor)
               else type(x).__name__)
        raise ValueError(f'{name}.forward expects a 4-D tensor (N, C, H, W), got {got}')
    if x.shape[0] == 0:
        raise ValueError(f'{name}.forward got an empty batch (N=0, shape {tuple(x.shape)}); '
                         'pass at least one image')


class BaseBackbone(BaseModule):
    """Base class of all backbones.

    Args:
        out_indices: indices into the family's level table of the features to return.
        frozen_stages: OpenMMLab's meaning: ``-1`` freezes nothing, ``0`` the stem, ``k`` the
            stem and the first ``k`` levels (``0..k-1``): no gradients, BatchNorm statistics
            kept, also after ``train()``.
        norm_eval: keep every BatchNorm in eval mode while training.
        with_cp: activation checkpointing per block (families read it in their blocks).
        init_cfg: mmengine init config; ``type='Pretrained'`` accepts foreign checkpoints.
    """

    def __init__(self, out_indices: Sequence[int] = (0, 1, 2, 3), frozen_stages: int = -1,
                 norm_eval: bool = False, with_cp: bool = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        if isinstance(out_indices, int):
            out_indices = (out_indices, )
        if not isinstance(out_indices, (list, tuple)) or not all(
                isinstance(i, int) for i in out_indices):
            raise TypeError(f'out_indices must be an int or a sequence of ints, got {out_indices!r}')
        if not isinstance(frozen_stages, int):
            raise TypeError(f'frozen_stages must be an int, got {frozen_stages!r}')
        self._requested_out_indices = tuple(out_indices)
        self.frozen_stages = frozen_stages
        self.norm_eval = bool(norm_eval)
        self.with_cp = bool(with_cp)
        self.register_forward_pre_hook(_check_backbone_input)

    # ------------------------------------------------------------------ levels
    def _setup_levels(self, channels: Sequence[int], strides: Sequence[int]) -> None:
        """Record the level table and validate ``out_indices`` / ``frozen_stages``.

        Called by the family once its layers exist (freezing needs them).
        """
        assert len(channels) == len(strides)
        self.level_channels = tuple(int(c) for c in channels)
        self.level_strides = tuple(int(s) for s in strides)
        num_levels = len(self.level_channels)
        if not self._requested_out_indices:
            raise ValueError(
                f'out_indices=() of {type(self).__name__}: at least one level is needed; valid '
                f'indices are 0..{num_levels - 1} (levels with strides {self.level_strides})')
        normalised = []
        for index in self._requested_out_indices:
            if not -num_levels <= index < num_levels:
                raise ValueError(
                    f'out_indices={self._requested_out_indices} of {type(self).__name__}: '
                    f'index {index} is out of range; valid indices are 0..{num_levels - 1} '
                    f'(levels with strides {self.level_strides})')
            normalised.append(index % num_levels)
        if len(set(normalised)) != len(normalised):
            raise ValueError(f'out_indices={self._requested_out_indices} has duplicates')
        if sorted(normalised) != normalised:
            raise ValueError(f'out_indices={self._requested_out_indices} must be increasing '
                             '(outputs are returned highest resolution first)')
        self.out_indices = tuple(normalised)
        if not -1 <= self.frozen_stages <= num_levels:
            raise ValueError(f'frozen_stages={self.frozen_stages} of {type(self).__name__}: '
                             f'valid values are -1 (nothing frozen), 0 (the stem) to '
                             f'{num_levels} (the stem and the first frozen_stages levels)')
        self._freeze_stages()

    @property
    def num_levels(self) -> int:
        return len(self.level_channels)

    @property
    def out_channels(self) -> Tuple[int, ...]:
        return tuple(self.level_channels[i] for i in self.out_indices)

    @property
    def out_strides(self) -> Tuple[int, ...]:
        return tuple(self.level_strides[i] for i in self.out_indices)

    # ---------------------------------------------------------------- freezing
    def stem_modules(self) -> List[nn.Module]:
        """Modules (or parameters wrapped in modules) before level 0."""
        raise NotImplementedError

    def level_modules(self, index: int) -> List[nn.Module]:
        """Modules that make up level ``index`` (including its output norm, if any)."""
        raise NotImplementedError

    def stem_parameters(self) -> List[nn.Parameter]:
        """Free-standing parameters of the stem (e.g. position embeddings)."""
        return []

    def _frozen_modules(self) -> Iterable[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules = list(self.stem_modules())
        for index in range(self.frozen_stages):
            modules.extend(self.level_modules(index))
        return modules

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        for param in self.stem_parameters():
            param.requires_grad = False
        for module in self._frozen_modules():
            module.eval()
            for param in module.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, (_BatchNorm, nn.SyncBatchNorm)):
                    module.eval()
        return self

    # ---------------------------------------------------------- initialisation
    def init_weights(self):
        """Load ``init_cfg=dict(type='Pretrained', checkpoint=...)`` in any supported layout
        (local file, ``timm://``, ``torchvision://``), else the family's default init."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            from mmbackbones.weights import load_pretrained
            self._init_default_weights()  # keys the checkpoint lacks still get a sane init
            load_pretrained(self, cfg['checkpoint'], source=cfg.get('source'))
            self._is_init = True
        elif cfg is None:
            self._init_default_weights()
            self._is_init = True
        else:
            super().init_weights()

    def _init_default_weights(self) -> None:
        """The family's own initialisation when no checkpoint is given."""

    # -------------------------------------------------------- layer-wise decay
    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Return ``(layer_id, num_layers)`` for layer-wise learning-rate decay.

        The stem is layer 0, the blocks are numbered from 1 in forward order, and everything
        after the last block (output norms) gets ``num_layers - 1``. Families override
        :meth:`_block_depth` to map a parameter name to a block index.
        """
        if prefix and param_name.startswith(prefix):
            param_name = param_name[len(prefix):]
        num_layers = self.num_blocks() + 2
        depth = self._block_depth(param_name)
        if depth is None:
            return num_layers - 1, num_layers
        return depth, num_layers

    def num_blocks(self) -> int:
        raise NotImplementedError

    def _block_depth(self, param_name: str):
        """Layer id (0 for the stem, 1..num_blocks for blocks) or None for the head end."""
        raise NotImplementedError
