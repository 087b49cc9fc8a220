"""Safe checkpoint loading: ``torch.load(weights_only=True)`` with an explicit allow-list.

mmengine 0.10.7 calls ``torch.load`` without ``weights_only``; on torch >= 2.6 that means
``weights_only=True`` with no allow-list, so resuming or ``load_from`` fails on the message-hub
and numpy objects that mmengine itself writes into checkpoints. We keep ``weights_only=True``
and allow exactly the globals those checkpoints carry. Anything else in a pickle (for example a
``__reduce__`` that runs a command) is refused before it can execute.

No allowed global may lead to arbitrary objects: plain ``builtins.getattr`` would (``getattr``
-> ``builtins`` -> ``__dict__`` -> SETITEM rebinds a builtin the unpickler calls), so the name
``builtins.getattr`` resolves to :func:`_checkpoint_getattr`, which answers only the four
(``HistoryBuffer``, statistics method) pairs mmengine pickles. See docs/safe_loading.md.
"""
import collections
import io
import os

import numpy as np
import torch

__all__ = ['SAFE_GLOBALS', 'GETATTR_PAIRS', 'safe_load', 'UnsafeCheckpointError',
           'NotACheckpointError', 'CheckpointArray', 'install_mmengine_loader']


class UnsafeCheckpointError(RuntimeError):
    """The checkpoint's pickle asks for a global outside the allow-list, or uses an allowed
    one in a way real checkpoints never do."""


class NotACheckpointError(ValueError):
    """The file is not something ``torch.save`` writes (empty, text, truncated archive...)."""


# mmengine's HistoryBuffer pickles its statistics methods as getattr(HistoryBuffer, name).
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')
GETATTR_PAIRS = tuple(('mmengine.logging.history_buffer.HistoryBuffer', name)
                      for name in _HISTORY_BUFFER_METHODS)

# Factories an (empty) defaultdict may carry; each only builds an empty container.
_DEFAULTDICT_FACTORIES = (None, dict, list, set, tuple, collections.OrderedDict)


def _history_buffer():
    from mmengine.logging.history_buffer import HistoryBuffer
    return HistoryBuffer


def _describe(obj):
    # Never call repr() on loaded objects; name the type only.
    return obj.__qualname__ if isinstance(obj, type) else f'<{type(obj).__name__} object>'


def _checkpoint_getattr(obj, name):
    """Stands in for ``builtins.getattr`` inside checkpoints: only the pairs in GETATTR_PAIRS."""
    if obj is _history_buffer() and type(name) is str and name in _HISTORY_BUFFER_METHODS:
        return getattr(obj, name)
    raise UnsafeCheckpointError(
        f'the pickle calls getattr({_describe(obj)}, {name!r}); only getattr(HistoryBuffer, '
        f'{"|".join(_HISTORY_BUFFER_METHODS)}) is allowed in a checkpoint')


def _checkpoint_defaultdict(*args):
    """Stands in for ``collections.defaultdict``: the factory must build an empty container
    (torch cannot fill a defaultdict anyway; a callable factory would run on every missing
    key)."""
    factory = args[0] if args else None
    if len(args) > 1 or not any(factory is allowed for allowed in _DEFAULTDICT_FACTORIES):
        raise UnsafeCheckpointError(
            f'the pickle builds defaultdict({", ".join(_describe(a) for a in args)}); allowed '
            f'default factories: None, dict, list, set, tuple, OrderedDict')
    return collections.defaultdict(factory)


def _check_dtype(dtype):
    """numpy's dtype.__setstate__ believes whatever flags and fields it is given, so a pickle can
    make a dtype whose object fields numpy treats as plain bytes (forged pointers). Only plain
    dtypes that equal a freshly built one pass."""
    fresh = None
    if dtype.fields is None and dtype.subdtype is None and dtype.kind != 'O':
        try:
            fresh = np.dtype(dtype.str)
        except (TypeError, ValueError):
            pass
    if fresh is None or fresh != dtype or (fresh.itemsize, fresh.alignment, fresh.flags) != (
            dtype.itemsize, dtype.alignment, dtype.flags):
        raise UnsafeCheckpointError(
            f'the pickle builds numpy dtype {dtype.str!r} (fields={dtype.names}, '
            f'flags={dtype.flags}); checkpoints may only hold numpy arrays and scalars of plain '
            'numeric, string or datetime dtypes')
    return dtype


class CheckpointArray(np.ndarray):
    """The class the name ``numpy.ndarray`` stands for inside a checkpoint: arrays are made by
    ``_reconstruct`` and filled by ``__setstate__``, which checks the dtype before numpy reads
    the raw bytes. ``safe_load`` hands back plain ndarray views."""

    def __new__(cls, *args, **kwargs):
        # NEWOBJ would reach ndarray(shape, dtype, buffer): an object array over raw bytes.
        raise UnsafeCheckpointError('the pickle calls numpy.ndarray(...) directly; checkpoints '
                                    'hold arrays only as numpy pickles them')

    def __setstate__(self, state):
        dtypes = [item for item in state if isinstance(item, np.dtype)] \
            if isinstance(state, tuple) else []
        if len(dtypes) != 1:
            raise UnsafeCheckpointError('the pickle sets a numpy array from a malformed state')
        _check_dtype(dtypes[0])
        super().__setstate__(state)

    def __reduce_ex__(self, protocol):
        return self.view(np.ndarray).__reduce_ex__(protocol)


def _numpy_globals():
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    real_scalar, real_reconstruct = multiarray.scalar, multiarray._reconstruct

    def checkpoint_reconstruct(subtype, shape, dtype):
        """Stands in for numpy's ``_reconstruct``: a CheckpointArray of a checked dtype (numpy
        allocates it without zeroing when the flags say it holds no objects)."""
        if subtype is not CheckpointArray or not isinstance(dtype, (bytes, str, np.dtype)):
            raise UnsafeCheckpointError('the pickle calls numpy _reconstruct() with '
                                        f'{_describe(subtype)}, {_describe(dtype)}')
        _check_dtype(dtype if isinstance(dtype, np.dtype) else np.dtype(dtype))
        return real_reconstruct(CheckpointArray, shape, dtype)

    def checkpoint_scalar(dtype, *args):
        """Stands in for numpy's ``scalar``: the dtype is checked first."""
        if not isinstance(dtype, np.dtype):
            raise UnsafeCheckpointError('the pickle calls numpy scalar() without a dtype')
        return real_scalar(_check_dtype(dtype), *args)

    found = [(CheckpointArray, 'numpy.ndarray'), np.dtype]
    # numpy 2 moved numpy.core to numpy._core; checkpoints written under either name load.
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        found += [(checkpoint_reconstruct, f'{module}._reconstruct'),
                  (checkpoint_scalar, f'{module}.scalar')]
    # Concrete dtype classes (numpy >= 1.25): BUILD on a dtype needs its type allowed.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        found += [getattr(dtypes, name) for name in dir(dtypes) if name.endswith('DType')]
    return found


def _mmengine_globals():
    from mmengine.config.config import ConfigDict
    return [_history_buffer(), ConfigDict]


def _build_safe_globals():
    return ([collections.OrderedDict, dict, list, tuple, set,
             (_checkpoint_defaultdict, 'collections.defaultdict'),
             (_checkpoint_getattr, 'builtins.getattr')]
            + _numpy_globals() + _mmengine_globals())


SAFE_GLOBALS = _build_safe_globals()


def _global_name(entry):
    return entry[1] if isinstance(entry, tuple) else f'{entry.__module__}.{entry.__qualname__}'


def _check_no_conflicting_globals():
    # torch's allow-list is process-wide: another registration of one of our names (say plain
    # builtins.getattr via add_safe_globals) could win over ours.
    ours = {_global_name(entry): entry for entry in SAFE_GLOBALS}
    for entry in torch.serialization.get_safe_globals():
        name = _global_name(entry)
        if name in ours and entry != ours[name]:
            raise UnsafeCheckpointError(
                f'{name} is registered with torch.serialization.add_safe_globals by other code; '
                'mmbackbones will not load checkpoints while it overrides its restricted '
                f'{name}. Remove that registration (torch.serialization.clear_safe_globals()).')


def _name_of(f):
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f)
    return getattr(f, 'name', None) if isinstance(getattr(f, 'name', None), str) else '<stream>'


_ZIP_MAGIC = b'PK\x03\x04'
# torch's legacy (non-zip) format starts with a pickled LONG1 magic number.
_LEGACY_MAGIC = b'\x8a\x0a' + torch.serialization.MAGIC_NUMBER.to_bytes(10, 'little')


def _sniff(f, name):
    """Raise NotACheckpointError unless ``f`` starts like a file torch.save writes."""
    if isinstance(f, (str, os.PathLike)):
        with open(f, 'rb') as stream:
            head = stream.read(64)
    elif hasattr(f, 'seekable') and f.seekable():
        start = f.tell()
        head = f.read(64)
        f.seek(start)
    else:
        return
    if not head:
        raise NotACheckpointError(f'{name} is not a torch checkpoint: it is empty (0 bytes)')
    if head.startswith(_ZIP_MAGIC) or (head[:1] == b'\x80' and _LEGACY_MAGIC in head):
        return
    raise NotACheckpointError(
        f'{name} is not a torch checkpoint: it starts with {head[:16]!r}, neither a zip archive '
        '(torch.save) nor torch\'s legacy pickle format')


def _statistics_table():
    history_buffer = _history_buffer()
    history_buffer()  # the first instance registers the default methods; do it before the snapshot
    return history_buffer._statistics_methods


def _finish(obj, name, seen):
    """Check the loaded object and return it with CheckpointArray replaced by plain ndarray
    views. No instance attribute may shadow its class (e.g. an OrderedDict whose ``items`` is a
    loaded callable) and every dtype must be plain."""
    if isinstance(obj, (str, bytes, int, float, complex, bool, type)) or obj is None:
        return obj
    if isinstance(obj, torch.Tensor) and obj._backward_hooks:
        # torch's _rebuild_tensor_v2 installs them; autograd would call them on backward.
        raise UnsafeCheckpointError(
            f'refused to load {name}: a tensor carries backward hooks; torch.save never writes '
            'them')
    if isinstance(obj, np.ndarray):
        _check_dtype(obj.dtype)
        return obj.view(np.ndarray) if type(obj) is CheckpointArray else obj
    if isinstance(obj, (np.dtype, np.generic)):
        _check_dtype(obj if isinstance(obj, np.dtype) else obj.dtype)
        return obj
    if id(obj) in seen:
        return seen[id(obj)]
    seen[id(obj)] = obj
    if isinstance(obj, dict):
        for key in list(obj.keys()):
            _finish(key, name, seen)
            value = obj[key]
            new = _finish(value, name, seen)
            if new is not value:
                obj[key] = new
    elif isinstance(obj, list):
        for index, value in enumerate(obj):
            new = _finish(value, name, seen)
            if new is not value:
                obj[index] = new
    elif isinstance(obj, (tuple, set, frozenset)):
        items = [_finish(value, name, seen) for value in obj]
        if any(new is not old for new, old in zip(items, obj)):
            seen[id(obj)] = obj = type(obj)(items)
    state = getattr(obj, '__dict__', None)
    if isinstance(state, dict):
        for key in list(state):
            if not isinstance(key, str) or (key.startswith('__') and key.endswith('__')) \
                    or hasattr(type(obj), key):
                raise UnsafeCheckpointError(
                    f'refused to load {name}: the pickle sets attribute {key!r} on a '
                    f'{type(obj).__name__}, overriding its class; real checkpoints never do that')
            new = _finish(state[key], name, seen)
            if new is not state[key]:
                state[key] = new
    return obj


def safe_load(f, map_location='cpu'):
    """Load a checkpoint with ``weights_only=True`` and the project's allow-list.

    Raises :class:`UnsafeCheckpointError` for a pickle outside the allow-list and
    :class:`NotACheckpointError` for a file torch.save did not write.
    """
    name = _name_of(f)
    if isinstance(f, (str, os.PathLike)) and os.path.isdir(f):
        raise IsADirectoryError(f'{name} is a directory, not a checkpoint file')
    _sniff(f, name)
    _check_no_conflicting_globals()
    table = _statistics_table()
    table_before = dict(table)
    try:
        with torch.serialization.safe_globals(SAFE_GLOBALS):
            result = torch.load(f, map_location=map_location, weights_only=True)
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(f'refused to load {name}: {err}') from None
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except Exception as err:  # torch raises UnpicklingError with a long explanation
        message = str(err)
        first = message.strip().splitlines()[0] if message.strip() else type(err).__name__
        if 'weights_only' in message or 'Unsupported global' in message or 'GLOBAL' in message:
            raise UnsafeCheckpointError(
                f'refused to load {name}: its pickle asks for objects outside mmbackbones\' '
                f'allow-list of checkpoint globals ({first}). Only load checkpoints you '
                'trust; convert foreign ones to a plain state dict first.') from err
        if 'PytorchStreamReader' in message or isinstance(err, (EOFError, io.UnsupportedOperation)):
            raise NotACheckpointError(
                f'{name} is not a torch checkpoint (truncated or not written by torch.save): '
                f'{first}') from err
        raise
    finally:
        # HistoryBuffer.__setstate__ updates a dict shared by the class; a checkpoint must not
        # change it for the whole process.
        if table != table_before:
            changed = sorted(set(table) ^ set(table_before)
                             | {k for k in table_before if table.get(k) is not table_before[k]})
            table.clear()
            table.update(table_before)
            raise UnsafeCheckpointError(
                f'refused to load {name}: its pickle replaces HistoryBuffer statistics '
                f'methods {changed} for the whole process')
    try:
        return _finish(result, name, {})
    except UnsafeCheckpointError as err:
        message = str(err)
        raise UnsafeCheckpointError(
            message if message.startswith('refused') else f'refused to load {name}: {message}'
        ) from None


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
