"""The contract every mmbackbones backbone keeps (docs/architecture.md, 'The backbone contract').

A family subclasses :class:`BaseBackbone`, names its architectures in ``arch_settings``, builds
its layers, then calls :meth:`BaseBackbone._setup_levels` with the channels and strides of every
level it can return. From then on ``out_indices`` is validated, ``out_channels`` /
``out_strides`` are known, ``frozen_stages`` and ``norm_eval`` hold across ``train()`` calls,
blocks run through one checkpointing rule (:meth:`run_blocks`) and layer depths for layer-wise
decay follow from the level structure. The family only says which modules make up its stem and
each level (:meth:`stem_modules`, :meth:`level_blocks`, :meth:`level_modules`).
"""
from typing import ClassVar, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.nn.modules.batchnorm import _BatchNorm

from ..layers.args import check_factor, sorted_values
from ..layers.checkpoint import checkpoint_module


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


def _to_channels_last(module, args):
    x = args[0]
    return (x.contiguous(memory_format=torch.channels_last), ) + tuple(args[1:])


class BaseBackbone(BaseModule):
    """Base class of all backbones.

    Args:
        out_indices: indices into the family's level table of the features to return.
        frozen_stages: OpenMMLab's meaning: ``-1`` freezes nothing, ``0`` the stem, ``k`` the
            stem and the first ``k`` levels (``0..k-1``): no gradients, BatchNorm statistics
            kept, also after ``train()``.
        norm_eval: keep every BatchNorm in eval mode while training.
        with_cp: activation checkpointing per block (:meth:`run_blocks`).
        init_cfg: mmengine init config; ``type='Pretrained'`` accepts foreign checkpoints.
        pretrained: OpenMMLab's deprecated ``pretrained=<checkpoint>``, the same as
            ``init_cfg=dict(type='Pretrained', checkpoint=...)`` (mmseg's EncoderDecoder still
            passes ``model.pretrained`` this way).

    Class attributes a family sets:
        arch_settings: its named architectures (``{'tiny': {...}}``, ``{50: (...)}``), resolved
            by :meth:`resolve_arch`.
        arch_keys: the keys a custom architecture dict must have; empty: no custom dicts.
        frozen_stages_offset: how OpenMMLab's class of the family counts ``frozen_stages``.
            0 (ResNet, Swin, mmdet's Darknet): ``k`` freezes the stem and levels ``0..k-1``.
            1 (mmdet's CSPDarknet, mmyolo's backbones, mmpretrain's CSPNet, where an index
            names the same level in ``out_indices`` and ``frozen_stages``): ``k`` freezes the
            stem and levels ``0..k``.
    """
    arch_settings: ClassVar[Mapping] = {}
    arch_keys: ClassVar[Tuple[str, ...]] = ()
    frozen_stages_offset: ClassVar[int] = 0

    def __init__(self, out_indices: Sequence[int] = (0, 1, 2, 3), frozen_stages: int = -1,
                 norm_eval: bool = False, with_cp: bool = False, init_cfg=None,
                 pretrained: Optional[str] = None):
        if pretrained is not None:
            if not isinstance(pretrained, str):
                raise TypeError(f'pretrained={pretrained!r}; valid values are None or a '
                                'checkpoint path / URL (str)')
            if init_cfg:
                raise ValueError(f'pretrained={pretrained!r} and init_cfg={init_cfg!r} cannot '
                                 'be given together (as in mmdet/mmseg); use one of them, e.g. '
                                 "init_cfg=dict(type='Pretrained', checkpoint=...)")
            init_cfg = dict(type='Pretrained', checkpoint=pretrained)
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

    # -------------------------------------------------------------- architecture
    @classmethod
    def resolve_arch(cls, arch, name: str = 'arch'):
        """The settings of ``arch``: a key of ``arch_settings`` or, where the family allows
        custom architectures (``arch_keys``), a dict with those keys."""
        if isinstance(arch, Mapping) and cls.arch_keys:
            missing = [key for key in cls.arch_keys if key not in arch]
            if missing:
                raise ValueError(f'{name} dict lacks {missing}; a custom {name} of '
                                 f'{cls.__name__} needs {list(cls.arch_keys)}')
            return dict(arch)
        try:
            if arch in cls.arch_settings:
                return cls.arch_settings[arch]
        except TypeError:  # unhashable
            pass
        custom = f' or a dict with {list(cls.arch_keys)}' if cls.arch_keys else ''
        raise ValueError(f'{name}={arch!r} of {cls.__name__}; valid values are '
                         f'{sorted_values(cls.arch_settings)}{custom}')

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
        most = num_levels - self.frozen_stages_offset
        if not -1 <= self.frozen_stages <= most:
            counted = ('the first frozen_stages levels' if not self.frozen_stages_offset else
                       'levels 0..frozen_stages, as OpenMMLab counts them for this family')
            raise ValueError(f'frozen_stages={self.frozen_stages} of {type(self).__name__}: '
                             f'valid values are -1 (nothing frozen), 0 to {most} (the stem '
                             f'and {counted})')
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

    # ---------------------------------------------------------- level structure
    def stem_modules(self) -> List[nn.Module]:
        """Modules before level 0."""
        raise NotImplementedError

    def level_blocks(self, index: int) -> Sequence[nn.Module]:
        """The blocks of level ``index`` in forward order (none where the level is not built)."""
        raise NotImplementedError

    def level_modules(self, index: int) -> List[nn.Module]:
        """Everything that level ``index`` is made of, for freezing: its blocks and what runs
        between them and the next level (:meth:`transition_modules`); a family adds its
        output norm, if it has one."""
        return list(self.level_blocks(index)) + self.transition_modules(index)

    def transition_modules(self, index: int) -> List[nn.Module]:
        """Modules that run after the blocks of level ``index`` and before those of the next
        one (a patch merging); they share the layer depth of the level's last block."""
        return []

    def run_blocks(self, blocks: Iterable[nn.Module], x: torch.Tensor) -> torch.Tensor:
        """Run ``blocks`` in order. With ``with_cp`` each block's activations are recomputed
        in the backward pass whenever autograd records (the one rule for every family)."""
        checkpointed = self.with_cp and torch.is_grad_enabled()
        for block in blocks:
            x = checkpoint_module(block, x) if checkpointed else block(x)
        return x

    def stem_parameters(self) -> List[nn.Parameter]:
        """Free-standing parameters of the stem (e.g. position embeddings)."""
        return []

    def _frozen_modules(self) -> Iterable[nn.Module]:
        if self.frozen_stages < 0:
            return []
        modules = list(self.stem_modules())
        for index in range(self.frozen_stages + self.frozen_stages_offset):
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
        if mode and self.__dict__.get('deployed', False):
            raise RuntimeError(
                f'{type(self).__name__} was switched to its deploy form (switch_to_deploy(): '
                'BatchNorms folded into the convolutions before them) and cannot train any more; '
                'build a new model and load the training-form checkpoint to train')
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, (_BatchNorm, nn.SyncBatchNorm)):
                    module.eval()
        return self

    # ------------------------------------------------------------- deploy form
    #: Input size of the one forward pass that :meth:`switch_to_deploy` traces; a family whose
    #: input must have a fixed size (absolute position tables) sets its own.
    deploy_trace_size: ClassVar[Tuple[int, int]] = (64, 64)
    #: Why an ONNX export cannot leave height and width dynamic (tools/export.py), empty where
    #: it can: a family whose graph depends on the input size (padding, cropping or resizing
    #: computed in Python) sets it as a class attribute.
    onnx_static_family_reason: ClassVar[str] = ''

    @property
    def onnx_static_reason(self) -> str:
        if self.onnx_static_family_reason:
            return self.onnx_static_family_reason
        from ..layers.same_padding import Conv2dSame
        if any(isinstance(m, Conv2dSame) for m in self.modules()):
            return ("TensorFlow's 'same' padding is computed in Python from each input size "
                    "(padding='symmetric' variants export with dynamic sizes)")
        return ''

    @property
    def onnx_dynamic_hw(self) -> bool:
        return not self.onnx_static_reason

    def switch_to_deploy(self) -> 'BaseBackbone':
        """Turn this model into its inference form, in place (docs/deploy.md).

        1. Every submodule with its own ``switch_to_deploy()`` (a re-parameterisable block,
           e.g. RepVGG) is called first, the outermost ones only: each owns its subtree.
        2. Each BatchNorm whose input is the output of a convolution or linear layer and of
           nothing else is folded into that layer (eval statistics) and replaced by
           ``nn.Identity``; pairs are found by tracing one forward pass
           (:func:`~mmbackbones.models.layers.deploy.find_conv_bn_pairs`), so no family
           names them. Other BatchNorms (after an addition, pre-norms) stay.
        3. Dropout and drop-path modules, the identity in eval mode, become ``nn.Identity``.

        The model is left in eval mode and refuses ``train()``. Its ``state_dict()`` loads into
        another instance of the same configuration after that one's ``switch_to_deploy()``.
        Calling it twice is a no-op. Returns ``self``.
        """
        from ..layers.deploy import find_conv_bn_pairs, fold_pairs, switch_blocks_to_deploy
        if self.__dict__.get('deployed', False):
            return self
        self.eval()
        switch_blocks_to_deploy(self)
        param = next(self.parameters(), None)
        # a fixed input from a private generator: the trace neither depends on nor advances
        # the global random state
        example = torch.rand(1, self._deploy_in_channels(), *self.deploy_trace_size,
                             generator=torch.Generator().manual_seed(0))
        if param is not None:
            example = example.to(param.device, param.dtype)
        try:
            pairs = find_conv_bn_pairs(self, example)
        except Exception as e:
            raise RuntimeError(
                f'switch_to_deploy() of {type(self).__name__} traces one forward pass with an '
                f'input of shape {tuple(example.shape)}, which failed ({type(e).__name__}: {e}); '
                'a family that needs another input size sets deploy_trace_size') from e
        fold_pairs(self, pairs)
        self.__dict__.pop('_layer_depth_table', None)  # parameters were replaced
        self.deployed = True
        return self

    def _deploy_in_channels(self) -> int:
        # the image channels: a family built for other inputs stores ``in_channels`` (the first
        # convolution's input channels are not the image's behind a Focus / space-to-depth stem)
        channels = getattr(self, 'in_channels', 3)
        return channels if isinstance(channels, int) else 3

    def to_channels_last(self) -> 'BaseBackbone':
        """Keep weights and activations in NHWC (``torch.channels_last``) from now on: the
        4-D weights are converted and every input is converted on entry, so that convolutions
        run in their NHWC kernels. Outputs are the same values (in channels-last strides).
        Whether it is faster depends on the family and the machine (docs/deploy.md)."""
        self.to(memory_format=torch.channels_last)
        if self.__dict__.get('_channels_last_hook') is None:
            self.__dict__['_channels_last_hook'] = self.register_forward_pre_hook(
                _to_channels_last)
        return self

    # ---------------------------------------------------------- initialisation
    def init_weights(self):
        """Load ``init_cfg=dict(type='Pretrained', checkpoint=...)`` in any supported layout
        (local file, ``timm://``, ``torchvision://``), else the family's default init."""
        cfg = self.init_cfg
        if isinstance(cfg, dict) and cfg.get('type') == 'Pretrained':
            # mmdet's ConvNeXt configs say prefix='backbone.': loading takes a detector's or
            # classifier's backbone part anyway (unwrap_state_dict); another prefix is refused
            if cfg.get('prefix') not in (None, 'backbone.'):
                raise ValueError(f"init_cfg prefix={cfg['prefix']!r}; valid values are None and "
                                 "'backbone.' (a checkpoint's backbone part is found by itself)")
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
    def num_blocks(self) -> int:
        return sum(len(self.level_blocks(i)) for i in range(self.num_levels))

    def layer_decay_ids(self) -> List[List[int]]:
        """The layer id of every block, per level: one layer per block, numbered from 1 in
        forward order. A family whose authors decay by groups of blocks (ConvNeXt) says so
        here; ids never decrease along the network and none is left out."""
        ids, depth = [], 0
        for index in range(self.num_levels):
            count = len(self.level_blocks(index))
            ids.append(list(range(depth + 1, depth + count + 1)))
            depth += count
        return ids

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Return ``(layer_id, num_layers)`` for layer-wise learning-rate decay.

        Derived from the level structure: the stem is layer 0, the blocks have the ids of
        :meth:`layer_decay_ids` (by default numbered from 1 in forward order), a transition
        module shares the id of the block before it, and everything else (output norms) gets
        ``num_layers - 1``.
        """
        if prefix and param_name.startswith(prefix):
            param_name = param_name[len(prefix):]
        last_block = max((ids[-1] for ids in self.layer_decay_ids() if ids), default=0)
        num_layers = last_block + 2
        return self._layer_depths().get(param_name, num_layers - 1), num_layers

    def _layer_depths(self) -> Dict[str, int]:
        """Parameter name -> layer id (computed once: the structure is fixed after __init__)."""
        table = self.__dict__.get('_layer_depth_table')
        if table is not None:
            return table
        by_id = {id(p): 0 for m in self.stem_modules() for p in m.parameters()}
        by_id.update((id(p), 0) for p in self.stem_parameters())
        layer_ids = self.layer_decay_ids()
        depth = 0
        for index in range(self.num_levels):
            for block, depth in zip(self.level_blocks(index), layer_ids[index]):
                by_id.update((id(p), depth) for p in block.parameters())
            for module in self.transition_modules(index):
                by_id.update((id(p), depth) for p in module.parameters())
        table = {name: by_id[id(p)] for name, p in self.named_parameters() if id(p) in by_id}
        self.__dict__['_layer_depth_table'] = table
        return table

    def get_stage_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """Return ``(stage_id, num_levels + 2)`` for stage-wise learning-rate decay: the stem
        is 0, level ``i`` (its blocks and the transition after them) is ``i + 1``, everything
        else (output norms) ``num_levels + 1``."""
        if prefix and param_name.startswith(prefix):
            param_name = param_name[len(prefix):]
        table = self.__dict__.get('_stage_depth_table')
        if table is None:
            by_id = {id(p): 0 for m in self.stem_modules() for p in m.parameters()}
            by_id.update((id(p), 0) for p in self.stem_parameters())
            for index in range(self.num_levels):
                for module in list(self.level_blocks(index)) + self.transition_modules(index):
                    by_id.update((id(p), index + 1) for p in module.parameters())
            table = {name: by_id[id(p)] for name, p in self.named_parameters() if id(p) in by_id}
            self.__dict__['_stage_depth_table'] = table
        return table.get(param_name, self.num_levels + 1), self.num_levels + 2


class StemStagesBackbone(BaseBackbone):
    """A backbone that is a stem (the module named ``stem_name``) followed by the stages named
    in ``stage_names`` (the Darknet and YOLO families): level 0 is the stem's output, level
    ``i`` the output of stage ``i``."""
    stem_name: ClassVar[str] = 'stem'
    stage_names: Tuple[str, ...] = ()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        x = getattr(self, self.stem_name)(x)
        outs = [x] if 0 in self.out_indices else []
        for index, name in enumerate(self.stage_names, start=1):
            x = self.run_blocks(getattr(self, name), x)
            if index in self.out_indices:
                outs.append(x)
        return tuple(outs)

    def stem_modules(self):
        return [getattr(self, self.stem_name)]

    def level_blocks(self, index: int):
        return [] if index == 0 else list(getattr(self, self.stage_names[index - 1]))

    def level_modules(self, index: int):
        return [] if index == 0 else [getattr(self, self.stage_names[index - 1])]

    # ------------------------------------------------ what the families build with
    def _check_yolo_args(self, plugins, deepen_factor, widen_factor) -> None:
        """The scaling arguments of mmyolo's ``BaseBackbone``: ``plugins`` must be None (stage
        plugins are not supported), ``deepen_factor`` and ``widen_factor`` numbers > 0, kept as
        attributes."""
        if plugins:
            raise ValueError(f'plugins={plugins!r}: stage plugins are not supported; valid '
                             'values: None')
        self.deepen_factor = check_factor('deepen_factor', deepen_factor)
        self.widen_factor = check_factor('widen_factor', widen_factor)

    def _add_stage(self, *modules: nn.Module) -> None:
        """Add the next stage, ``stage{n}`` (OpenMMLab's name): ``modules`` in sequence."""
        name = f'stage{len(self.stage_names) + 1}'
        self.add_module(name, nn.Sequential(*modules))
        self.stage_names = (*self.stage_names, name)
