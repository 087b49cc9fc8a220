"""The deploy form of any backbone (docs/deploy.md): BatchNorm folding found by tracing.

:func:`find_conv_bn_pairs` runs one forward pass and records which BatchNorm consumes the output
of which convolution or linear layer, by tensor identity. A pair is folded only where the fold
cannot change anything else: the layer and the norm each run exactly once, the norm's input is
the very tensor the layer returned, no other operation reads that tensor (every torch call is
seen through a ``TorchFunctionMode``) and the model does not return it. So no family needs to
name its pairs, and a BatchNorm after an addition, a pre-norm, or one after a convolution whose
output also feeds a shortcut stay as they are.

Every tensor whose identity is compared (layer outputs, norm inputs) is kept alive until the
pass ends: CPython reuses the id of a freed tensor, and a norm whose input was freed (the output
of a layer that is not watched) would otherwise match whichever layer output was allocated at
the same address later, a wrong fold that also differs between two instances of one model.
"""
from typing import Dict, List, Tuple

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval
from torch.overrides import TorchFunctionMode

from .same_padding import Conv2dSame

# Exact types: a subclass (weight standardisation, deformable offsets) may compute something
# the folding arithmetic does not know about. Conv2dSame zero-pads its input, then runs
# F.conv2d of its own weight and bias: a norm after it folds like one after nn.Conv2d.
FOLDABLE_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear, Conv2dSame)
# Calls that read a tensor's metadata, not its values: not a use that forbids a fold.
_METADATA = {'size', 'dim', 'shape', 'ndim', 'ndimension', 'numel', 'device', 'dtype',
             'is_contiguous', 'stride', 'requires_grad', 'layout', 'is_floating_point',
             'element_size', 'nelement', '__len__', 'is_sparse', 'is_quantized'}


def _tensors(obj):
    if isinstance(obj, torch.Tensor):
        yield obj
    elif isinstance(obj, (list, tuple)):
        for item in obj:
            yield from _tensors(item)
    elif isinstance(obj, dict):
        for item in obj.values():
            yield from _tensors(item)


class _UseCounter(TorchFunctionMode):
    """Counts, per tensor id, the torch calls that read the tensor's values."""

    def __init__(self, watched: Dict[int, torch.Tensor]):
        super().__init__()
        self.watched = watched  # id -> tensor (kept alive so that ids are not reused)
        self.uses: Dict[int, int] = {}

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        name = getattr(func, '__name__', '')
        owner = getattr(func, '__self__', None)  # property getters: Tensor.shape.__get__
        if name not in _METADATA and not (name == '__get__' and owner is not None and getattr(
                owner, '__name__', '') in _METADATA):
            for t in _tensors((args, kwargs)):
                if id(t) in self.watched:
                    self.uses[id(t)] = self.uses.get(id(t), 0) + 1
        return func(*args, **kwargs)


def find_conv_bn_pairs(model: nn.Module, example: torch.Tensor) -> List[Tuple[str, str]]:
    """``(layer_name, norm_name)`` of every BatchNorm that can be folded into the layer before it.

    ``model`` must be in eval mode; ``example`` is any valid input (one forward pass runs).
    """
    names = {m: n for n, m in model.named_modules(remove_duplicate=False)}
    calls: Dict[nn.Module, int] = {}
    layer_out: Dict[int, nn.Module] = {}  # id(output tensor) -> layer
    out_dims: Dict[nn.Module, int] = {}
    watched: Dict[int, torch.Tensor] = {}
    norm_in: Dict[nn.Module, int] = {}  # norm -> id(input tensor)
    norm_inputs: List[torch.Tensor] = []  # kept alive: their ids stay unique (module docstring)
    counter = _UseCounter(watched)

    def layer_hook(module, args, output):
        calls[module] = calls.get(module, 0) + 1
        if isinstance(output, torch.Tensor):
            layer_out[id(output)] = module
            out_dims[module] = output.dim()
            watched[id(output)] = output
            counter.uses.setdefault(id(output), 0)

    def norm_hook(module, args):
        calls[module] = calls.get(module, 0) + 1
        norm_in[module] = id(args[0]) if args else None
        norm_inputs.extend(args[:1])

    handles = []
    for module in model.modules():
        if type(module) in FOLDABLE_LAYERS:
            handles.append(module.register_forward_hook(layer_hook))
        elif isinstance(module, _BatchNorm):
            handles.append(module.register_forward_pre_hook(norm_hook))
    try:
        with torch.no_grad(), counter:
            outputs = model(example)
    finally:
        for handle in handles:
            handle.remove()

    returned = {id(t) for t in _tensors(outputs)}  # a returned tensor is read by the caller
    pairs = []
    for norm, tensor_id in norm_in.items():
        layer = layer_out.get(tensor_id)
        if (layer is None or tensor_id in returned or calls.get(layer) != 1 or calls.get(norm) != 1
                or counter.uses.get(tensor_id) != 1
                or not _foldable(layer, norm, out_dims[layer])):
            continue
        pairs.append((names[layer], names[norm]))
    return pairs


def _foldable(layer: nn.Module, norm: _BatchNorm, out_dim: int) -> bool:
    if not norm.track_running_stats or norm.running_mean is None:
        return False  # batch statistics even in eval mode: not a constant affine map
    if isinstance(layer, nn.Linear):  # BatchNorm1d on (N, C) normalises the linear's features
        return out_dim == 2 and norm.num_features == layer.out_features
    return norm.num_features == layer.out_channels


def fold(layer: nn.Module, norm: _BatchNorm) -> nn.Module:
    """The layer with the norm's eval-mode affine map folded in (a new module)."""
    if isinstance(layer, nn.Linear):
        return fuse_linear_bn_eval(layer, norm)
    return fuse_conv_bn_eval(layer, norm)


def set_submodule(root: nn.Module, name: str, module: nn.Module) -> None:
    parent_name, _, child = name.rpartition('.')
    parent = root.get_submodule(parent_name) if parent_name else root
    setattr(parent, child, module)


def is_noop(module: nn.Module) -> bool:
    """Modules that are the identity in eval mode and hold no state: dropout, drop-path."""
    if isinstance(module, nn.modules.dropout._DropoutNd):
        return True  # dropout of any rate is the identity in eval mode
    return type(module).__name__ == 'DropPath' and not list(module.parameters()) and not list(
        module.buffers())


def switch_blocks_to_deploy(model: nn.Module) -> None:
    """Call ``switch_to_deploy()`` of every submodule of ``model`` that has one (a
    re-parameterisable block), the outermost ones only: each owns its subtree."""
    own = [m for m in model.modules() if m is not model and callable(
        getattr(m, 'switch_to_deploy', None))]
    inside = {id(d) for m in own for d in m.modules() if d is not m}
    for module in own:
        if id(module) not in inside:
            module.switch_to_deploy()


def fold_pairs(model: nn.Module, pairs: List[Tuple[str, str]]) -> None:
    """Fold each ``(layer, norm)`` pair of :func:`find_conv_bn_pairs` (the norm becomes
    ``nn.Identity``), and replace dropout / drop-path, the identity in eval mode, by
    ``nn.Identity``."""
    for layer_name, norm_name in pairs:
        layer = model.get_submodule(layer_name)
        fused = fold(layer, model.get_submodule(norm_name))
        fused.weight.requires_grad_(layer.weight.requires_grad)
        set_submodule(model, layer_name, fused)
        set_submodule(model, norm_name, nn.Identity())
    for name, module in list(model.named_modules()):
        if name and is_noop(module):
            set_submodule(model, name, nn.Identity())
