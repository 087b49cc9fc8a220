"""Safe checkpoint loading: ``torch.load(weights_only=True)`` with an explicit allow-list.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; on torch >= 2.6 that means
``weights_only=True`` with no allow-list, so resuming or ``load_from`` fails on the message-hub
and numpy objects that mmengine itself writes into checkpoints. We keep ``weights_only=True``
and allow exactly the globals those checkpoints carry. Anything else in a pickle (for example a
``__reduce__`` that runs a command) is refused before it can execute.
"""
import collections
import os

import numpy as np
import torch

__all__ = ['SAFE_GLOBALS', 'safe_load', 'UnsafeCheckpointError', 'install_mmengine_loader']


class UnsafeCheckpointError(RuntimeError):
    """The checkpoint's pickle asks for a global outside the allow-list."""


def _numpy_globals():
    found = [np.ndarray, np.dtype]
    # numpy moved its private modules in 2.0; allow whichever of the pair exists.
    for module_name in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        try:
            module = __import__(module_name, fromlist=['_reconstruct', 'scalar'])
        except ImportError:
            continue
        found += [module._reconstruct, module.scalar]
    # Concrete dtype classes (numpy >= 1.25) are pickled by reference.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return found


def _mmengine_globals():
    from mmengine.logging.history_buffer import HistoryBuffer
    from mmengine.config.config import ConfigDict
    return [HistoryBuffer, ConfigDict]


def _build_safe_globals():
    return ([collections.OrderedDict, collections.defaultdict, dict, list, tuple, set,
             getattr] + _numpy_globals() + _mmengine_globals())


SAFE_GLOBALS = _build_safe_globals()


def safe_load(f, map_location='cpu'):
    """Load a checkpoint with ``weights_only=True`` and the project's allow-list."""
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            return torch.load(f, map_location=map_location, weights_only=True)
    except Exception as err:  # torch raises UnpicklingError with a long explanation
        if isinstance(err, (FileNotFoundError, IsADirectoryError)):
            raise
        message = str(err)
        if 'weights_only' in message or 'Unsupported global' in message or 'GLOBAL' in message:
            name = f if isinstance(f, (str, os.PathLike)) else '<stream>'
            first = message.strip().splitlines()[0] if message.strip() else ''
            raise UnsafeCheckpointError(
                f'refused to load {name}: its pickle asks for objects outside mmbackbones\' '
                f'allow-list of checkpoint globals ({first}). Only load checkpoints you '
                'trust; convert foreign ones to a plain state dict first.') from err
        raise


def _load_local(filename, map_location):
    filename = os.path.expanduser(filename)
    if not os.path.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    return safe_load(filename, map_location=map_location)


def install_mmengine_loader():
    """Route mmengine's local-file checkpoint loading (resume, ``load_from``) through
    :func:`safe_load`."""
    from mmengine.runner.checkpoint import CheckpointLoader
    if CheckpointLoader._schemes.get('') is _load_local:
        return
    CheckpointLoader.register_scheme(prefixes='', loader=_load_local, force=True)
