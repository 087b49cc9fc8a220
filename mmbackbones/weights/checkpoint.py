"""Safe checkpoint loading: a static pass over the pickle, then a restricted unpickler.

Every checkpoint mmbackbones reads goes through :func:`safe_load`, in three steps
(docs/safe_loading.md says what this promises and what it does not):

1. **Before anything is built**, the file is checked as bytes: it must be a regular file, a
   torch zip archive with only the members ``torch.save`` writes (no compression bombs, sizes
   that add up), a legacy ``torch.save`` file or a safetensors file. The pickle is then read
   opcode by opcode (``pickletools.genops``) by an abstract interpreter that knows what every
   value on the stack is without making it, and refuses: opcodes ``torch.save`` never writes,
   globals outside this module's own table, calls of an allowed global with arguments it is
   never called with, BUILD on anything but the reconstructions real checkpoints use, or twice,
   dict keys that are not strings or machine-size integers, nesting deeper and memo reuse
   heavier than real checkpoints have, storages larger than the archive's records.
2. **Loading**: ``torch.load`` (which handles storages, ``map_location`` and byte order) with
   this module's unpickler, which resolves globals from the same fixed table only (never
   importing anything, never consulting torch's process-wide ``add_safe_globals`` list) and
   repeats the static pass on exactly the bytes torch hands it. Allowed globals that could do
   harm stand for checking stand-ins (numpy's array and scalar constructors check the dtype
   first; ``getattr`` answers only HistoryBuffer's four statistics methods; HistoryBuffer's
   state is validated and never touches the class-wide statistics table).
3. **After loading**, the result is walked by exact type (never calling an attribute the file
   could control) and returned only if every value is of a type on the list; a pretrained-weights
   load (``form='weights'``) returns only the mapping of names to tensors.
"""
import collections
import hashlib
import io
import os
import pickle
import pickletools
import re
import stat
import tarfile
import types
import zipfile

import numpy as np
import torch

__all__ = ['SAFE_GLOBALS', 'GETATTR_PAIRS', 'FORMS', 'safe_load', 'UnsafeCheckpointError',
           'NotACheckpointError', 'CheckpointArray', 'install_mmengine_loader', 'LIMITS']


class UnsafeCheckpointError(RuntimeError):
    """The checkpoint holds something real checkpoints never do: a global outside the
    allow-list, an allowed one used another way, a size or shape meant to exhaust the machine."""


class NotACheckpointError(ValueError):
    """The file is not something ``torch.save`` or safetensors writes (empty, text, truncated
    archive...)."""


FORMS = ('checkpoint', 'weights')

# What real checkpoints stay within, with a wide margin; a file beyond any of them is refused.
LIMITS = dict(
    depth=100,                 # nesting of containers (real: about 15)
    tuple_nodes=1_000_000,     # objects one tuple reaches, shared ones counted per use
    reuse_factor=4,            # whole result: objects reached per distinct object, plus ...
    reuse_slack=100_000,       # ... this many
    opcodes=20_000_000,        # pickle opcodes of one file
    stack=20_000,              # values on the pickle's stack at once (pickle batches 1000)
    pickle_bytes=512 << 20,    # size of data.pkl
    int_bits=128,              # integers in the pickle (LONG1; torch's magic number: 80)
    compression_ratio=100,     # a compressed zip member may expand this much ...
    compressed_floor=1 << 20,  # ... once it is larger than this
    zip_members=100_000,       # members of a zip archive (one per storage, plus six)
)

_HISTORY_BUFFER = 'mmengine.logging.history_buffer.HistoryBuffer'
_HISTORY_BUFFER_METHODS = ('min', 'max', 'current', 'mean')
# mmengine's HistoryBuffer pickles its statistics methods as getattr(HistoryBuffer, name)
# (protocols 2 and 3) or as the global HistoryBuffer.<name> (protocols 4 and 5).
GETATTR_PAIRS = tuple((_HISTORY_BUFFER, name) for name in _HISTORY_BUFFER_METHODS)

_STORAGE_TYPES = {f'torch.{cls.__name__}': cls.__name__ for cls in torch._storage_classes
                  if cls.__name__.endswith('Storage') and cls.__name__ != 'TypedStorage'}
# numpy dtypes a checkpoint may hold: plain numbers and fixed-size strings.
_DTYPE_SPEC = re.compile(r'(b1|[iu][1248]|f(2|4|8|16)|c(8|16|32)|[SU]\d{1,6})')
_DEFAULT_FACTORIES = ('builtins.dict', 'builtins.list', 'builtins.set', 'builtins.tuple',
                      'collections.OrderedDict')
_ZIP_MEMBERS = re.compile(r'(data\.pkl|version|\.format_version|\.storage_alignment|byteorder'
                          r'|data/\d+|\.data/serialization_id|\.data/version)')


def _history_buffer():
    from mmengine.logging.history_buffer import HistoryBuffer
    return HistoryBuffer


def _refuse(message):
    raise UnsafeCheckpointError(message)


# ------------------------------------------------------------------------ the static pass


class _V:
    """What the static pass knows about one value on the pickle's stack: its kind, a literal
    (strings, ints, the items of tuples and lists, the pairs of dicts), how many objects it
    reaches counting shared ones per use (``nodes``) and how deep it nests."""
    __slots__ = ('kind', 'lit', 'nodes', 'depth', 'built')

    def __init__(self, kind, lit=None, nodes=1, depth=0):
        self.kind, self.lit, self.nodes, self.depth, self.built = kind, lit, nodes, depth, False

    def describe(self):
        if self.kind == 'global':
            return self.lit
        if self.kind == 'str':
            return repr(self.lit[:40])
        return f'<{self.kind}>'


_DICT_KINDS = ('dict', 'odict', 'counter', 'ddict')
_KEY_KINDS = ('none', 'bool', 'int', 'str', 'bytes')


def _int_tuple(v, size=None):
    return v.kind == 'tuple' and all(i.kind == 'int' for i in v.lit) and (
        size is None or len(v.lit) == size)


def _args(v, *kinds):
    """True when tuple ``v`` holds exactly items of ``kinds`` (a kind, a tuple of kinds)."""
    return v.kind == 'tuple' and len(v.lit) == len(kinds) and all(
        item.kind == kind or (isinstance(kind, tuple) and item.kind in kind)
        for item, kind in zip(v.lit, kinds))


def _call_error(name, args):
    if args.kind != 'tuple':
        return f'the pickle calls {name} with {args.describe()} '
    shown = ', '.join(a.describe() for a in args.lit[:8]) + (', ...' if len(args.lit) > 8 else '')
    return f'the pickle calls {name}({shown}) '


def _rule_ordered_dict(args):
    return 'odict' if _args(args) else None


def _rule_counter(args):
    return 'counter' if _args(args) or _args(args, 'dict') else None


def _rule_defaultdict(args):
    if _args(args) or _args(args, 'none'):
        return 'ddict'
    if _args(args, 'global') and args.lit[0].lit in _DEFAULT_FACTORIES:
        return 'ddict'
    return None


def _rule_set(args):
    if _args(args, 'list') and all(item.kind in _KEY_KINDS and not (
            item.kind == 'int' and abs(item.lit) >= 1 << 61) for item in args.lit[0].lit):
        return 'set'
    return None


def _rule_encode(args):
    if _args(args, 'str', 'str') and args.lit[1].lit == 'latin1':
        return 'bytes'
    return None


def _rule_getattr(args):
    if _args(args, 'global', 'str') and args.lit[0].lit == _HISTORY_BUFFER \
            and args.lit[1].lit in _HISTORY_BUFFER_METHODS:
        return 'method'
    return _refuse(_call_error('getattr', args) + '; only getattr(HistoryBuffer, '
                   f'{"|".join(_HISTORY_BUFFER_METHODS)}) is allowed in a checkpoint')


def _rule_history_buffer_new(args):
    return 'history' if _args(args) else None


def _rule_config_dict(args):
    return 'configdict' if _args(args, 'dict') else None


def _rule_dtype(args):
    if _args(args, 'str', 'bool', 'bool') and _DTYPE_SPEC.fullmatch(args.lit[0].lit):
        return 'dtype'
    return _refuse(_call_error('numpy.dtype', args) + '; checkpoints may only hold numpy arrays '
                   'and scalars of plain numeric or string dtypes')


def _rule_reconstruct(args):
    # numpy pickles arrays as _reconstruct(ndarray, (0,), b'b') and then BUILD with the data;
    # any other shape would allocate uninitialised memory of the file's choosing.
    if _args(args, 'global', 'tuple', 'bytes') and args.lit[0].lit == 'numpy.ndarray' \
            and _int_tuple(args.lit[1], 1) and args.lit[1].lit[0].lit == 0:
        return 'ndarray'
    return None


def _rule_scalar(args):
    return 'npscalar' if _args(args, 'dtype', 'bytes') else None


def _rule_frombuffer(args):
    if _args(args, ('bytes', 'bytearray'), 'dtype', 'tuple', 'str') and _int_tuple(args.lit[2]) \
            and args.lit[3].lit in ('C', 'F'):
        return 'ndarray'
    return None


def _rule_rebuild_tensor(args):
    # _rebuild_tensor_v2(storage, offset, size, stride, requires_grad, backward_hooks[, meta])
    items = args.lit if args.kind == 'tuple' else ()
    if len(items) in (6, 7) and _args(args, 'storage', 'int', 'tuple', 'tuple', 'bool', 'odict',
                                      *(('dict', ) if len(items) == 7 else ())) \
            and _int_tuple(items[2]) and _int_tuple(items[3]) and len(items[2].lit) == len(
                items[3].lit) and not items[5].lit:
        return 'tensor'
    if len(items) >= 6 and items[5].kind == 'odict' and items[5].lit:
        _refuse('the pickle gives a tensor backward hooks; torch.save never writes them')
    return None


def _rule_rebuild_parameter(args):
    if _args(args, 'tensor', 'bool', 'odict') and not args.lit[2].lit:
        return 'tensor'
    return None


# name -> (REDUCE rule, NEWOBJ rule, kind of the bare global). A rule returns the kind of the
# result or None for "never called like this". Globals without rules may only be arguments.
_RULES = {
    'collections.OrderedDict': (_rule_ordered_dict, None, 'global'),
    'collections.Counter': (_rule_counter, None, 'global'),
    'collections.defaultdict': (_rule_defaultdict, None, 'global'),
    'builtins.set': (_rule_set, None, 'global'),
    'builtins.dict': (None, None, 'global'),
    'builtins.list': (None, None, 'global'),
    'builtins.tuple': (None, None, 'global'),
    '_codecs.encode': (_rule_encode, None, 'global'),
    'builtins.getattr': (_rule_getattr, None, 'global'),
    _HISTORY_BUFFER: (None, _rule_history_buffer_new, 'global'),
    'mmengine.config.config.ConfigDict': (_rule_config_dict, None, 'global'),
    'numpy.ndarray': (None, None, 'global'),
    'numpy.dtype': (_rule_dtype, None, 'global'),
    'torch._utils._rebuild_tensor_v2': (_rule_rebuild_tensor, None, 'global'),
    'torch._utils._rebuild_parameter': (_rule_rebuild_parameter, None, 'global'),
}
for _name in _HISTORY_BUFFER_METHODS:
    _RULES[f'{_HISTORY_BUFFER}.{_name}'] = (None, None, 'method')
for _module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
    _RULES[f'{_module}._reconstruct'] = (_rule_reconstruct, None, 'global')
    _RULES[f'{_module}.scalar'] = (_rule_scalar, None, 'global')
for _module in ('numpy.core.numeric', 'numpy._core.numeric'):
    _RULES[f'{_module}._frombuffer'] = (_rule_frombuffer, None, 'global')
for _name in _STORAGE_TYPES:
    _RULES[_name] = (None, None, 'storagetype')


# protocol 2 spells builtins as __builtin__; torch renamed torch.tensor to torch._tensor
_RENAMED_MODULES = {'__builtin__': 'builtins', 'torch.tensor': 'torch._tensor'}


def _normalise(module, name):
    return f'{_RENAMED_MODULES.get(module, module)}.{name}'


def _check_build(inst, state):
    """BUILD only completes the reconstructions real checkpoints use, each exactly once."""
    if inst.built:
        _refuse(f'the pickle applies BUILD twice to one {inst.kind}; real checkpoints never do')
    if inst.kind == 'odict':
        # state_dict()'s _metadata, the only attribute an OrderedDict in a checkpoint has
        if state.kind == 'dict' and all(k.kind == 'str' and k.lit == '_metadata'
                                        and v.kind in ('odict', 'dict') for k, v in state.lit):
            return
        keys = [k.describe() for k, _ in state.lit] if state.kind == 'dict' else state.describe()
        _refuse(f'the pickle sets attributes {keys} on an OrderedDict; state dicts carry only '
                '_metadata')
    if inst.kind == 'history':
        required = {'max_length': ('int', ), '_log_history': ('ndarray', ),
                    '_count_history': ('ndarray', )}
        given = {k.lit: v for k, v in state.lit if k.kind == 'str'} if state.kind == 'dict' \
            else None
        if given is None or len(given) != len(state.lit) or not set(required) <= set(given) \
                or not set(given) <= set(required) | {'statistics_methods'} \
                or any(given[k].kind not in kinds for k, kinds in required.items()):
            _refuse(f'the pickle sets a HistoryBuffer from {state.describe()} with keys '
                    f'{sorted(given) if given else None}; mmengine writes exactly '
                    f'{sorted(required)} and statistics_methods')
        methods = given.get('statistics_methods')
        if methods is not None and (methods.kind != 'dict' or any(
                k.kind != 'str' or k.lit not in _HISTORY_BUFFER_METHODS or v.kind != 'method'
                for k, v in methods.lit)):
            _refuse('the pickle sets HistoryBuffer statistics methods other than its own '
                    f'{_HISTORY_BUFFER_METHODS}')
        return
    if inst.kind == 'ndarray':
        # (version, shape, dtype, is_fortran, raw data), on an array _reconstruct just made
        if _args(state, 'int', 'tuple', 'dtype', 'bool', 'bytes') and _int_tuple(state.lit[1]):
            return
        _refuse(f'the pickle sets a numpy array from {state.describe()} that numpy never writes '
                '(object arrays and structured dtypes are not allowed in checkpoints)')
    if inst.kind == 'dtype':
        items = state.lit if state.kind == 'tuple' else ()
        if len(items) == 8 and _args(state, 'int', 'str', 'none', 'none', 'none', 'int', 'int',
                                     'int') and items[1].lit in '<>|=' and len(items[1].lit) == 1:
            return
        _refuse('the pickle builds numpy dtype with fields, a subarray, metadata or a datetime '
                'unit; checkpoints may only hold numpy arrays and scalars of plain numeric or '
                'string dtypes')
    _refuse(f'the pickle applies BUILD to a {inst.kind}; real checkpoints only BUILD '
            'OrderedDicts, HistoryBuffers, numpy arrays and dtypes')


class _Scan:
    """The abstract interpreter; ``run(stream)`` raises UnsafeCheckpointError or returns."""

    def __init__(self, storages):
        # zip: {key: bytes in the archive}; legacy: [bytes left in the file]; None: no storages
        self.storages = storages
        self.declared = {}
        self.opcodes = 0

    def container(self, kind, items, lit=None):
        nodes = 1 + sum(i.nodes for i in items)
        depth = 1 + max((i.depth for i in items), default=0)
        if depth > LIMITS['depth']:
            _refuse(f'the pickle nests containers {depth} deep; real checkpoints stay below '
                    f'{LIMITS["depth"]}')
        return _V(kind, items if lit is None else lit, nodes, depth)

    def grow(self, target, items):
        target.nodes += sum(i.nodes for i in items)
        target.depth = max(target.depth, 1 + max((i.depth for i in items), default=0))
        if target.depth > LIMITS['depth']:
            _refuse(f'the pickle nests containers {target.depth} deep; real checkpoints stay '
                    f'below {LIMITS["depth"]}')
        if target.nodes > max(LIMITS['tuple_nodes'], LIMITS['reuse_factor'] * self.opcodes):
            _refuse(f'the pickle reuses objects so heavily that one container reaches '
                    f'{target.nodes} objects from {self.opcodes} opcodes')

    def persid(self, pid):
        items = pid.lit if pid.kind == 'tuple' else ()
        # the legacy format adds a sixth item, view metadata, which torch.save writes as None
        legacy = isinstance(self.storages, list)
        text = ('str', 'bytes')
        if not (_args(pid, text, 'storagetype', text, text, 'int', *(('none', ) if legacy else ()))
                and items[0].lit in ('storage', b'storage') and items[4].lit >= 0):
            _refuse(f'the pickle asks for persistent object {pid.describe()}; checkpoints only '
                    "refer to storages as ('storage', type, key, location, numel)")
        short = _STORAGE_TYPES[items[1].lit]
        element = 1 if short == 'UntypedStorage' else torch._utils._element_size(
            torch.serialization.StorageType(short).dtype)
        nbytes = items[4].lit * element
        key = items[2].lit.decode('ascii', 'replace') if items[2].kind == 'bytes' else items[2].lit
        if isinstance(self.storages, dict):
            if key not in self.storages:
                _refuse(f'the pickle refers to storage {key!r}, which the archive does not hold')
            if nbytes > self.storages[key]:
                _refuse(f'the pickle declares storage {key!r} of {nbytes} bytes; the archive '
                        f'holds {self.storages[key]}')
        elif isinstance(self.storages, list):
            if key not in self.declared:
                self.storages[0] -= nbytes
                if self.storages[0] < 0:
                    _refuse(f'the pickle declares storages of more bytes than the file has '
                            f'(storage {key!r}: {nbytes} bytes)')
        else:
            _refuse('this pickle may not refer to storages')
        self.declared[key] = nbytes
        return _V('storage')

    def call(self, how, func, args):
        if func.kind not in ('global', ):
            _refuse(f'the pickle calls a {func.kind} ({how}); only allowed globals can be called')
        rules = _RULES[func.lit]
        rule = rules[0] if how == 'REDUCE' else rules[1]
        kind = rule(args) if rule is not None else None
        if kind is None:
            _refuse(_call_error(func.lit, args) + f'({how}); real checkpoints never call it like '
                    'this')
        return kind

    def run(self, stream):
        stack, metastack, memo = [], [], {}

        def pop_mark():
            nonlocal stack
            items = stack
            stack = metastack.pop()
            return items

        first = True
        for opcode, arg, _ in pickletools.genops(stream):
            self.opcodes += 1
            if self.opcodes > LIMITS['opcodes']:
                _refuse(f'the pickle has more than {LIMITS["opcodes"]} opcodes')
            op = opcode.name
            if first:
                first = False
                if op != 'PROTO' or not 2 <= arg <= 5:
                    _refuse(f'the pickle starts with {op} {arg!r}; torch.save writes pickle '
                            'protocols 2 to 5')
                continue
            if op == 'FRAME':
                continue
            if op == 'STOP':
                if len(stack) != 1 or metastack:
                    _refuse('the pickle ends with a malformed stack')
                return stack[0]
            if len(stack) > LIMITS['stack']:
                _refuse(f'the pickle keeps more than {LIMITS["stack"]} values on its stack')
            if op == 'MARK':
                if len(metastack) >= LIMITS['depth']:
                    _refuse(f'the pickle nests more than {LIMITS["depth"]} MARKs')
                metastack.append(stack)
                stack = []
            elif op in ('EMPTY_DICT', 'EMPTY_LIST', 'EMPTY_SET'):
                stack.append(_V(op[6:].lower(), [], 1, 1))
            elif op == 'EMPTY_TUPLE':
                stack.append(_V('tuple', [], 1, 1))
            elif op in ('TUPLE', 'TUPLE1', 'TUPLE2', 'TUPLE3'):
                count = {'TUPLE1': 1, 'TUPLE2': 2, 'TUPLE3': 3}.get(op)
                if count is None:
                    items = pop_mark()
                else:
                    items, stack[-count:] = stack[-count:], []
                    if len(items) != count:
                        _refuse('the pickle builds a tuple from an empty stack')
                value = self.container('tuple', items)
                if value.nodes > max(LIMITS['tuple_nodes'], LIMITS['reuse_factor'] * self.opcodes):
                    _refuse(f'the pickle builds a tuple that reaches {value.nodes} objects '
                            f'from {self.opcodes} opcodes (shared objects counted per use); '
                            'hashing or comparing it would not finish')
                stack.append(value)
            elif op in ('APPEND', 'APPENDS'):
                items = [stack.pop()] if op == 'APPEND' else pop_mark()
                target = stack[-1]
                if target.kind != 'list':
                    _refuse(f'the pickle appends to a {target.kind}')
                target.lit.extend(items)
                self.grow(target, items)
            elif op in ('SETITEM', 'SETITEMS'):
                items = stack[-2:] if op == 'SETITEM' else pop_mark()
                if op == 'SETITEM':
                    del stack[-2:]
                target = stack[-1]
                if target.kind not in _DICT_KINDS or len(items) % 2:
                    _refuse(f'the pickle sets items on a {target.kind}')
                for key in items[::2]:
                    self.check_key(key)
                target.lit.extend(zip(items[::2], items[1::2]))
                self.grow(target, items)
            elif op == 'ADDITEMS':
                items = pop_mark()
                target = stack[-1]
                if target.kind != 'set':
                    _refuse(f'the pickle adds set items to a {target.kind}')
                for key in items:
                    self.check_key(key)
                self.grow(target, items)
            elif op == 'NONE':
                stack.append(_V('none'))
            elif op in ('NEWTRUE', 'NEWFALSE'):
                stack.append(_V('bool', op == 'NEWTRUE'))
            elif op in ('BININT', 'BININT1', 'BININT2', 'LONG1'):
                if op == 'LONG1' and abs(arg).bit_length() > LIMITS['int_bits']:
                    _refuse(f'the pickle holds a {abs(arg).bit_length()}-bit integer')
                stack.append(_V('int', arg))
            elif op == 'BINFLOAT':
                stack.append(_V('float', arg))
            elif op in ('BINUNICODE', 'SHORT_BINUNICODE'):
                stack.append(_V('str', arg))
            elif op in ('SHORT_BINBYTES', 'BINBYTES'):
                stack.append(_V('bytes', arg))
            elif op == 'BYTEARRAY8':
                stack.append(_V('bytearray', arg))
            elif op in ('BINPUT', 'LONG_BINPUT', 'MEMOIZE'):
                memo[len(memo) if op == 'MEMOIZE' else arg] = stack[-1]
            elif op in ('BINGET', 'LONG_BINGET'):
                if arg not in memo:
                    _refuse(f'the pickle reads memo slot {arg}, which it never wrote')
                stack.append(memo[arg])
            elif op in ('GLOBAL', 'STACK_GLOBAL'):
                if op == 'GLOBAL':
                    module, name = arg.split(' ', 1)
                else:
                    name_v, module_v = stack.pop(), stack.pop()
                    if name_v.kind != 'str' or module_v.kind != 'str':
                        _refuse('the pickle names a global with values that are not strings')
                    module, name = module_v.lit, name_v.lit
                full = _normalise(module, name)
                if full not in _RULES:
                    _refuse(f'the pickle asks for {full}, which is not on mmbackbones\' '
                            'allow-list of checkpoint globals')
                stack.append(_V(_RULES[full][2], full))
            elif op in ('REDUCE', 'NEWOBJ'):
                args = stack.pop()
                func = stack[-1]
                stack[-1] = _V(self.call(op, func, args), [], args.nodes, args.depth)
                # numpy's protocol-5 arrays come complete: no BUILD may follow
                stack[-1].built = func.lit.endswith('._frombuffer')
            elif op == 'BUILD':
                state = stack.pop()
                _check_build(stack[-1], state)
                stack[-1].built = True
            elif op == 'BINPERSID':
                stack.append(self.persid(stack.pop()))
            else:
                _refuse(f'the pickle uses opcode {op}, which torch.save never writes')
        _refuse('the pickle ends without STOP')

    def check_key(self, key):
        if key.kind not in _KEY_KINDS or (key.kind == 'int' and abs(key.lit) >= 1 << 61):
            _refuse(f'the pickle uses a {key.kind} as a dict key or set item; checkpoints use '
                    'strings and machine-size integers')


def _scan(stream, name, storages=None):
    try:
        return _Scan(storages).run(stream)
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(f'refused to load {name}: {err}') from None
    except (ValueError, EOFError, IndexError, KeyError) as err:  # genops on a malformed pickle
        raise NotACheckpointError(
            f'{name} is not a torch checkpoint: its pickle is malformed ({err})') from None


# ------------------------------------------------------------ what the allowed names stand for


def _describe(obj):
    # Never call repr() on loaded objects; name the type only.
    return obj.__qualname__ if isinstance(obj, type) else f'<{type(obj).__name__} object>'


def _checkpoint_getattr(obj, name):
    """Stands in for ``builtins.getattr`` inside checkpoints: only the pairs in GETATTR_PAIRS."""
    if obj is _HistoryBufferState and type(name) is str and name in _HISTORY_BUFFER_METHODS:
        return getattr(_history_buffer(), name)
    raise UnsafeCheckpointError(
        f'the pickle calls getattr({_describe(obj)}, {name!r}); only getattr(HistoryBuffer, '
        f'{"|".join(_HISTORY_BUFFER_METHODS)}) is allowed in a checkpoint')


_FACTORIES = (None, dict, list, set, tuple, collections.OrderedDict)


def _checkpoint_defaultdict(*args):
    """Stands in for ``collections.defaultdict``: the factory builds an empty container (a
    callable factory would run on every missing key)."""
    factory = args[0] if args else None
    if len(args) > 1 or not any(factory is allowed for allowed in _FACTORIES):
        raise UnsafeCheckpointError(
            f'the pickle builds defaultdict({", ".join(_describe(a) for a in args)}); allowed '
            'default factories: None, dict, list, set, tuple, OrderedDict')
    return collections.defaultdict(factory)


def _check_dtype(dtype):
    """numpy's dtype.__setstate__ believes whatever flags and fields it is given; only plain
    dtypes (numbers, fixed-size strings) that equal a freshly built one pass."""
    fresh = None
    if isinstance(dtype, np.dtype) and dtype.kind in 'biufcSU' and dtype.fields is None \
            and dtype.subdtype is None and dtype.metadata is None:
        try:
            fresh = np.dtype(dtype.str)
        except (TypeError, ValueError):
            pass
    if fresh is None or fresh != dtype or type(fresh) is not type(dtype) or (
            fresh.itemsize, fresh.alignment, fresh.flags, fresh.byteorder) != (
            dtype.itemsize, dtype.alignment, dtype.flags, dtype.byteorder):
        raise UnsafeCheckpointError(
            f'the pickle builds numpy dtype {getattr(dtype, "str", _describe(dtype))!r}; '
            'checkpoints may only hold numpy arrays and scalars of plain numeric or string '
            'dtypes')
    return dtype


class CheckpointArray(np.ndarray):
    """The class the name ``numpy.ndarray`` stands for inside a checkpoint: arrays are made by
    ``_reconstruct`` and filled once by ``__setstate__``, which checks the dtype before numpy
    reads the raw bytes. ``safe_load`` hands back plain ndarray views."""

    def __new__(cls, *args, **kwargs):
        raise UnsafeCheckpointError('the pickle calls numpy.ndarray(...) directly; checkpoints '
                                    'hold arrays only as numpy pickles them')

    def __setstate__(self, state):
        if type(state) is not tuple or len(state) != 5 or not isinstance(state[2], np.dtype) \
                or type(state[4]) is not bytes or getattr(self, '_mmb_filled', False):
            raise UnsafeCheckpointError('the pickle sets a numpy array twice or from a '
                                        'malformed state')
        _check_dtype(state[2])
        super().__setstate__(state)
        self._mmb_filled = True

    def __reduce_ex__(self, protocol):
        return self.view(np.ndarray).__reduce_ex__(protocol)


def _numpy_functions():
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric
    real_scalar, real_reconstruct = multiarray.scalar, multiarray._reconstruct

    def checkpoint_reconstruct(subtype, shape, dtype):
        if subtype is not CheckpointArray or shape != (0, ) or type(dtype) is not bytes:
            raise UnsafeCheckpointError('the pickle calls numpy _reconstruct() with '
                                        f'{_describe(subtype)}, {shape!r}, {_describe(dtype)}')
        return real_reconstruct(CheckpointArray, shape, dtype)

    def checkpoint_scalar(dtype, data):
        if not isinstance(dtype, np.dtype) or type(data) is not bytes \
                or len(data) != _check_dtype(dtype).itemsize:
            raise UnsafeCheckpointError('the pickle calls numpy scalar() with a malformed state')
        return real_scalar(dtype, data)

    def checkpoint_frombuffer(buffer, dtype, shape, order):
        if type(buffer) not in (bytes, bytearray) or type(shape) is not tuple or any(
                type(n) is not int for n in shape) or order not in ('C', 'F'):
            raise UnsafeCheckpointError('the pickle calls numpy _frombuffer() with a malformed '
                                        'state')
        _check_dtype(dtype)
        array = np.frombuffer(buffer, dtype=dtype)
        return array.reshape(shape, order=order)

    del numeric
    return checkpoint_reconstruct, checkpoint_scalar, checkpoint_frombuffer


class _HistoryBufferState:
    """Stands in for mmengine's ``HistoryBuffer`` while loading: its ``__setstate__`` validates
    the state and never touches the class-wide statistics table (mmengine's own updates it for
    the whole process). :func:`safe_load` turns it into a plain HistoryBuffer."""

    def __setstate__(self, state):
        if type(state) is not dict or '_fields' in vars(self):
            raise UnsafeCheckpointError('the pickle sets a HistoryBuffer twice or from a '
                                        'malformed state')
        history = _history_buffer()
        for name, method in (state.get('statistics_methods') or {}).items():
            if method is not getattr(history, name, None):
                raise UnsafeCheckpointError(
                    f'the pickle maps HistoryBuffer statistics method {name!r} to another '
                    'method; statistics methods [\'' + name + '\'] must stay mmengine\'s own')
        fields = {k: state[k] for k in ('max_length', '_log_history', '_count_history')}
        if type(fields['max_length']) is not int or fields['max_length'] < 1 or any(
                type(fields[k]) not in (CheckpointArray, np.ndarray) or fields[k].ndim != 1
                for k in ('_log_history', '_count_history')) \
                or len(fields['_log_history']) != len(fields['_count_history']):
            raise UnsafeCheckpointError('the pickle sets a HistoryBuffer from a malformed state')
        self.__dict__['_fields'] = fields


class _Dropped:
    """What runner-only objects stand for in a pretrained-weights load: nothing is built."""

    def __setstate__(self, state):
        pass


def _dropped(*args):
    return _DROPPED


_DROPPED = _Dropped()


def _globals(form):
    """name -> object for the names of ``_RULES``, as ``form`` resolves them."""
    reconstruct, scalar, frombuffer = _numpy_functions()
    found = {
        'collections.OrderedDict': collections.OrderedDict,
        'collections.Counter': collections.Counter,
        'collections.defaultdict': _checkpoint_defaultdict,
        'builtins.set': set, 'builtins.dict': dict, 'builtins.list': list,
        'builtins.tuple': tuple,
        '_codecs.encode': __import__('codecs').encode,
        'numpy.ndarray': CheckpointArray,
        'numpy.dtype': np.dtype,
        'torch._utils._rebuild_tensor_v2': _rebuild_tensor,
        'torch._utils._rebuild_parameter': _rebuild_parameter,
    }
    for module in ('numpy.core.multiarray', 'numpy._core.multiarray'):
        found[f'{module}._reconstruct'] = reconstruct
        found[f'{module}.scalar'] = scalar
    for module in ('numpy.core.numeric', 'numpy._core.numeric'):
        found[f'{module}._frombuffer'] = frombuffer
    for name, short in _STORAGE_TYPES.items():
        found[name] = torch.serialization.StorageType(short) \
            if short != 'UntypedStorage' else torch.UntypedStorage
    if form == 'checkpoint':
        history = _history_buffer()
        from mmengine.config.config import ConfigDict
        found.update({'builtins.getattr': _checkpoint_getattr, _HISTORY_BUFFER: _HistoryBufferState,
                      'mmengine.config.config.ConfigDict': ConfigDict})
        for name in _HISTORY_BUFFER_METHODS:
            found[f'{_HISTORY_BUFFER}.{name}'] = getattr(history, name)
    else:  # metadata next to the weights; never built, never returned
        found.update({'builtins.getattr': _dropped, _HISTORY_BUFFER: _Dropped,
                      'mmengine.config.config.ConfigDict': _dropped})
        for name in _HISTORY_BUFFER_METHODS:
            found[f'{_HISTORY_BUFFER}.{name}'] = _DROPPED
    assert set(found) == set(_RULES), set(found) ^ set(_RULES)
    return found


def _rebuild_tensor(storage, offset, size, stride, requires_grad, hooks, metadata=None):
    if type(storage) is not torch.storage.TypedStorage \
            or type(hooks) is not collections.OrderedDict or hooks \
            or (metadata is not None and type(metadata) is not dict):
        raise UnsafeCheckpointError('the pickle rebuilds a tensor from a malformed state (torch.'
                                    'save never writes backward hooks)')
    args = (storage, offset, size, stride, requires_grad, collections.OrderedDict())
    return torch._utils._rebuild_tensor_v2(*args, *(() if metadata is None else (metadata, )))


def _rebuild_parameter(data, requires_grad, hooks):
    if type(data) is not torch.Tensor or type(hooks) is not collections.OrderedDict or hooks:
        raise UnsafeCheckpointError('the pickle rebuilds a parameter from a malformed state')
    return torch.nn.Parameter(data, requires_grad)


class _Unpickler(pickle.Unpickler):
    """Resolves globals from one fixed table only and scans what it is given first."""
    table = {}
    form = 'checkpoint'
    file_name = '<stream>'
    storages = None
    scanned = None  # sha256 of the data.pkl the static pass read before torch.load

    def __init__(self, file, **kwargs):
        kwargs.pop('encoding', None)
        super().__init__(file, encoding='utf-8', **kwargs)
        self._file = file

    def find_class(self, module, name):
        full = _normalise(module, name)
        if full not in self.table:
            raise UnsafeCheckpointError(f'{full} is not on mmbackbones\' allow-list of '
                                        'checkpoint globals')
        return self.table[full]

    def load(self):
        # The static pass saw exactly the bytes torch is about to unpickle, or runs again.
        start = self._file.tell()
        getvalue = getattr(self._file, 'getvalue', None)
        if not (start == 0 and self.scanned is not None and getvalue is not None
                and hashlib.sha256(getvalue()).digest() == self.scanned):
            _scan(self._file, self.file_name, self.storages)
            self._file.seek(start)
        return super().load()


def _pickle_module(form, name, storages, scanned=None):
    unpickler = type('CheckpointUnpickler', (_Unpickler, ), dict(
        table=_GLOBALS[form], form=form, file_name=name, storages=storages, scanned=scanned))
    return types.SimpleNamespace(__name__='mmbackbones.checkpoint_pickle', Unpickler=unpickler,
                                 load=lambda f, **kwargs: unpickler(f, **kwargs).load())


_GLOBALS = {form: _globals(form) for form in FORMS}
# Public, read-only view: the names a runner checkpoint may use and what each stands for.
SAFE_GLOBALS = types.MappingProxyType(_GLOBALS['checkpoint'])

# ------------------------------------------------------------------------ file-level checks

_ZIP_MAGIC = b'PK\x03\x04'
# torch's legacy (non-zip) format starts with a pickled LONG1 magic number.
_LEGACY_MAGIC = b'\x8a\x0a' + torch.serialization.MAGIC_NUMBER.to_bytes(10, 'little')


def _name_of(f):
    if isinstance(f, (str, os.PathLike)):
        return os.fspath(f)
    return getattr(f, 'name', None) if isinstance(getattr(f, 'name', None), str) else '<stream>'


def _open_regular(path, name):
    """Open ``path`` for reading only when it is a regular file (a FIFO would block, a device
    never ends); checked before and after opening (O_NONBLOCK: opening a FIFO returns)."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise FileNotFoundError(f'{name} can not be found.') from None
    if stat.S_ISDIR(info.st_mode):
        raise IsADirectoryError(f'{name} is a directory, not a checkpoint file')
    if not stat.S_ISREG(info.st_mode):
        raise NotACheckpointError(f'{name} is not a regular file (a FIFO, socket or device); '
                                  'checkpoints are read from regular files only')
    fd = os.open(path, os.O_RDONLY | getattr(os, 'O_NONBLOCK', 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotACheckpointError(f'{name} is not a regular file')
        if hasattr(os, 'O_NONBLOCK'):
            os.set_blocking(fd, True)
        return os.fdopen(fd, 'rb')
    except BaseException:
        os.close(fd)
        raise


def _safetensors_header_length(head, size):
    """The safetensors header length when ``head`` starts a safetensors file, else None."""
    if len(head) < 10 or head[8:9] != b'{':
        return None
    length = int.from_bytes(head[:8], 'little')
    return length if 2 <= length <= min(size - 8, 100 << 20) else None


def _check_archive(stream, name, size, form):
    """Member names, sizes and compression of a torch zip archive, then the static pass over
    data.pkl (read as a stream); returns {storage key: bytes in the archive}."""
    try:
        # the member count first: ZipFile builds an object per member before anything else
        end = zipfile._EndRecData(stream)
        if end is None:
            raise zipfile.BadZipFile('no end of central directory')
        if end[zipfile._ECD_ENTRIES_TOTAL] > LIMITS['zip_members']:
            _refuse(f'the archive lists {end[zipfile._ECD_ENTRIES_TOTAL]} members; the limit is '
                    f'{LIMITS["zip_members"]}')
        stream.seek(0)
        archive = zipfile.ZipFile(stream)
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as err:
        raise NotACheckpointError(f'{name} is not a torch checkpoint (truncated or not written '
                                  f'by torch.save): {err}') from None
    names = [info.filename for info in infos]
    prefixes = {n.split('/', 1)[0] for n in names}
    if len(prefixes) != 1 or len(set(names)) != len(names):
        _refuse(f'the archive holds {len(prefixes)} top-level folders or repeated member names; '
                'torch.save writes one folder, each member once')
    prefix = prefixes.pop()
    storages, total = {}, 0
    for info in infos:
        member = info.filename[len(prefix) + 1:]
        if not info.filename.startswith(prefix + '/') or not _ZIP_MEMBERS.fullmatch(member):
            _refuse(f'the archive holds {info.filename!r}, which torch.save never writes (a '
                    'TorchScript archive, or something else); only plain checkpoints load')
        if info.compress_type != zipfile.ZIP_STORED and info.file_size > max(
                LIMITS['compressed_floor'], LIMITS['compression_ratio'] * info.compress_size):
            _refuse(f'archive member {info.filename!r} expands from {info.compress_size} to '
                    f'{info.file_size} bytes: a compression bomb (torch.save never compresses)')
        total += info.file_size
        if member.startswith('data/'):
            storages[member[len('data/'):]] = info.file_size
    if total > LIMITS['compression_ratio'] * size + LIMITS['compressed_floor']:
        _refuse(f'the archive expands from {size} to {total} bytes: a compression bomb')
    pkl = archive.getinfo(f'{prefix}/data.pkl') if f'{prefix}/data.pkl' in names else None
    if pkl is None:
        raise NotACheckpointError(f'{name} is not a torch checkpoint: the archive has no '
                                  'data.pkl')
    if pkl.file_size > LIMITS['pickle_bytes']:
        _refuse(f'its data.pkl has {pkl.file_size} bytes; the limit is {LIMITS["pickle_bytes"]}')
    with archive.open(pkl) as member:  # before torch opens anything
        hashing = _HashingReader(member)
        _scan(hashing, name, storages)
        scanned = hashing.digest.digest()
    # torch reads the archive with its own zip reader: both must see the same members.
    stream.seek(0)
    try:
        seen_by_torch = set(torch._C.PyTorchFileReader(stream).get_all_records())
    except RuntimeError as err:
        raise NotACheckpointError(f'{name} is not a torch checkpoint (torch cannot read the '
                                  f'archive): {str(err).splitlines()[0]}') from None
    if seen_by_torch != {n[len(prefix) + 1:] for n in names}:
        _refuse('the archive lists different members to torch\'s and to Python\'s zip readers')
    return storages, scanned


class _HashingReader:
    """A stream that hashes what is read from it (so that the unpickler can tell whether
    torch hands it the bytes the static pass saw)."""

    def __init__(self, stream):
        self.stream, self.digest = stream, hashlib.sha256()

    def read(self, size=-1):
        data = self.stream.read(size)
        self.digest.update(data)
        return data

    def readline(self):
        data = self.stream.readline()
        self.digest.update(data)
        return data


def _is_tar(stream):
    try:
        with tarfile.open(fileobj=stream, mode='r:'):
            return True
    except (tarfile.TarError, EOFError, OSError, ValueError):
        return False
    finally:
        stream.seek(0)


def _check_legacy(stream, name, size):
    """torch's legacy format: magic number, protocol, system info, the checkpoint, storage keys,
    then the storages' bytes. Scans the five pickles; returns the byte budget for storages."""
    if _is_tar(stream):
        _refuse('the file is a tar archive (torch\'s oldest format), which may declare storages '
                'of any size; re-save it with torch.save')
    for _ in range(3):
        _scan(stream, name)
    header_end = stream.tell()
    budget = [size]
    _scan(stream, name, budget)
    _scan(stream, name)
    budget[0] -= stream.tell()
    if budget[0] < 0:
        _refuse('the pickle declares storages of more bytes than the file has')
    stream.seek(0)
    return [size - header_end]


def _sniff(head, name):
    if not head:
        raise NotACheckpointError(f'{name} is not a torch checkpoint: it is empty (0 bytes)')
    if head.startswith(_ZIP_MAGIC):
        return 'zip'
    if head[:1] == b'\x80' and _LEGACY_MAGIC in head:
        return 'legacy'
    raise NotACheckpointError(
        f'{name} is not a torch checkpoint: it starts with {head[:16]!r}, neither a zip archive '
        '(torch.save), torch\'s legacy pickle format nor a safetensors file')


# ---------------------------------------------------------------------- checks of the result

_PLAIN = (str, bytes, int, float, bool, type(None))
_NUMPY_SCALARS = tuple({np.dtype(code).type for code in np.typecodes['All'] if code not in 'OVMm'})


def _check_tensor(tensor):
    if tensor._backward_hooks or tensor.grad is not None or tensor.grad_fn is not None \
            or getattr(tensor, '_post_accumulate_grad_hooks', None) is not None \
            or tensor.__dict__:
        raise UnsafeCheckpointError('a tensor carries backward hooks, a gradient or other state; '
                                    'torch.save never writes them')
    if tensor.layout is not torch.strided or tensor.is_quantized or tensor.is_nested:
        raise UnsafeCheckpointError(f'a tensor has layout {tensor.layout}; checkpoints hold '
                                    'dense tensors')
    if tensor.numel() * tensor.element_size() > tensor.untyped_storage().nbytes():
        # stride-0 views: a 4-byte storage can pose as a tensor of 2**40 elements, which any
        # copy would then allocate
        raise UnsafeCheckpointError(f'a tensor of {tensor.numel()} elements views a storage of '
                                    f'{tensor.untyped_storage().nbytes()} bytes; torch.save '
                                    'writes no overlapping views')


class _Walk:
    """Checks the loaded object by exact type and returns it with the loading stand-ins
    replaced (CheckpointArray -> ndarray view, _HistoryBufferState -> HistoryBuffer)."""

    def __init__(self):
        self.seen, self.nodes = {}, {}

    def __call__(self, obj, depth=0):
        kind = type(obj)
        if kind in _PLAIN:
            return obj, 1
        key = id(obj)
        if key in self.seen:
            return self.seen[key], self.nodes[key]
        if depth > LIMITS['depth'] + 5:
            _refuse(f'the result nests deeper than {LIMITS["depth"]}')
        self.seen[key], self.nodes[key] = obj, 1
        nodes = 1
        if kind is torch.Tensor or kind is torch.nn.Parameter:
            _check_tensor(obj)
        elif kind is CheckpointArray or kind is np.ndarray:
            _check_dtype(obj.dtype)
            obj = obj.view(np.ndarray) if kind is CheckpointArray else obj
        elif kind in _NUMPY_SCALARS:
            _check_dtype(obj.dtype)
        elif isinstance(obj, np.dtype):
            _check_dtype(obj)
        elif kind in (dict, collections.OrderedDict, collections.Counter,
                      collections.defaultdict) or self.is_config_dict(kind):
            if kind is collections.defaultdict and not any(
                    obj.default_factory is f for f in _FACTORIES):
                _refuse('a defaultdict has a default factory outside the allowed ones')
            attributes = obj.__dict__ if kind is collections.OrderedDict else {}
            if kind is collections.OrderedDict and set(attributes) - {'_metadata'}:
                _refuse(f'the pickle sets attributes {sorted(map(str, attributes))} on an '
                        'OrderedDict; state dicts carry only _metadata')
            if '_metadata' in attributes:
                new, n = self(attributes['_metadata'], depth + 1)
                nodes += n
            for k, v in list(dict.items(obj)):
                if type(k) not in (str, int, bool, bytes, type(None)):
                    _refuse(f'a dict key is a {type(k).__name__}')
                new, n = self(v, depth + 1)
                nodes += n + 1
                if new is not v:
                    dict.__setitem__(obj, k, new)
        elif kind is list:
            for index, value in enumerate(list(obj)):
                new, n = self(value, depth + 1)
                nodes += n
                if new is not value:
                    obj[index] = new
        elif kind is tuple or kind is set:
            items = []
            for value in obj:
                new, n = self(value, depth + 1)
                nodes += n
                items.append(new)
            if any(new is not old for new, old in zip(items, obj)):
                obj = kind(items)
        elif kind is _HistoryBufferState:
            fields = obj.__dict__.get('_fields')
            if fields is None:
                _refuse('a HistoryBuffer was never given its state')
            history = _history_buffer()
            buffer = object.__new__(history)
            buffer._set_default_statistics()  # what mmengine's __setstate__ does; setdefault only
            buffer.__dict__.update(max_length=fields['max_length'],
                                   _log_history=self(fields['_log_history'])[0],
                                   _count_history=self(fields['_count_history'])[0])
            obj = buffer
        else:
            _refuse(f'the result holds a {kind.__module__}.{kind.__qualname__}, which real '
                    'checkpoints never do')
        self.seen[key], self.nodes[key] = obj, nodes
        return obj, nodes

    @staticmethod
    def is_config_dict(kind):
        from mmengine.config.config import ConfigDict
        return kind is ConfigDict


def _finish_checkpoint(result):
    walk = _Walk()
    result, nodes = walk(result)
    distinct = len(walk.seen)
    if nodes > LIMITS['reuse_factor'] * distinct + LIMITS['reuse_slack']:
        _refuse(f'the result reaches {nodes} objects from {distinct} distinct ones; real '
                'checkpoints barely share objects')
    return result


_WRAPPERS = ('state_dict', 'model', 'module', 'state_dict_ema')


def _weights_of(result):
    """The mapping of names to tensors a pretrained-weights file holds, at its top level or
    under one of the usual wrapper keys; everything else is metadata and is dropped."""
    candidates = [result]
    if type(result) in (dict, collections.OrderedDict):
        candidates += [dict.get(result, key) for key in _WRAPPERS if key in result]
    for mapping in candidates:
        if type(mapping) not in (dict, collections.OrderedDict):
            continue
        items = list(dict.items(mapping))
        if items and all(type(k) is str and type(v) in (torch.Tensor, torch.nn.Parameter)
                         for k, v in items):
            for _, tensor in items:
                _check_tensor(tensor)
            weights = collections.OrderedDict(
                (k, v.data if type(v) is torch.nn.Parameter else v) for k, v in items)
            metadata = mapping.__dict__.get('_metadata') if type(mapping) is \
                collections.OrderedDict else None
            if metadata is not None:  # load_state_dict reads module versions from it
                weights._metadata = _finish_checkpoint(metadata)
            return weights
    _refuse('it holds no mapping of names to tensors (at the top level or under '
            f'{", ".join(_WRAPPERS)}); pretrained weights are such a mapping')


# ------------------------------------------------------------------------------- the loader

def _load_safetensors(stream, name, form, map_location):
    try:
        from safetensors.torch import load as load_safetensors
    except ImportError:
        raise NotACheckpointError(f'{name} is a safetensors file; reading it needs the '
                                  'safetensors package (pip install safetensors)') from None
    try:
        tensors = load_safetensors(stream.read())
    except Exception as err:  # safetensors raises its own SafetensorError
        raise NotACheckpointError(f'{name} is not a valid safetensors file: {err}') from None
    device = map_location if isinstance(map_location, (str, torch.device)) else None
    if device is not None and str(device) != 'cpu':
        tensors = {k: v.to(device) for k, v in tensors.items()}
    return collections.OrderedDict(tensors) if form == 'weights' else dict(tensors)


def safe_load(f, map_location='cpu', form='checkpoint'):
    """Load a checkpoint (torch zip or legacy format, or safetensors) without running anything
    from it.

    Args:
        f: a path or a seekable binary stream.
        map_location: as for ``torch.load``.
        form: ``'checkpoint'`` (what a Runner writes: state dict, optimizer, message hub, meta)
            or ``'weights'`` (pretrained weights: returns only the mapping of names to tensors,
            found at the top level or under ``state_dict``/``model``/``module``/
            ``state_dict_ema``; metadata beside it is checked while loading, then dropped).

    Raises :class:`UnsafeCheckpointError` for anything real checkpoints never hold and
    :class:`NotACheckpointError` for a file torch.save or safetensors did not write.
    """
    if form not in FORMS:
        raise ValueError(f'form={form!r}; valid forms: {FORMS}')
    name = _name_of(f)
    if isinstance(f, (str, os.PathLike)):
        with _open_regular(os.path.expanduser(os.fspath(f)), name) as stream:
            return _load_stream(stream, name, form, map_location)
    if not (hasattr(f, 'seekable') and f.seekable()):
        raise TypeError(f'safe_load needs a path or a seekable binary stream, got {_describe(f)}')
    start = f.tell()
    data = f.read()
    f.seek(start)
    return _load_stream(io.BytesIO(data), name, form, map_location)


def _load_stream(stream, name, form, map_location):
    stream.seek(0, io.SEEK_END)
    size = stream.tell()
    stream.seek(0)
    head = stream.read(64)
    stream.seek(0)
    if _safetensors_header_length(head, size) is not None:
        return _load_safetensors(stream, name, form, map_location)
    layout = _sniff(head, name)
    try:
        if layout == 'zip':
            storages, scanned = _check_archive(stream, name, size, form)
        else:
            storages, scanned = _check_legacy(stream, name, size), None
    except UnsafeCheckpointError as err:
        message = str(err)
        raise UnsafeCheckpointError(message if message.startswith('refused') else
                                    f'refused to load {name}: {message}') from None
    stream.seek(0)
    module = _pickle_module(form, name, storages, scanned)
    if os.getenv('TORCH_FORCE_WEIGHTS_ONLY_LOAD', '0').lower() in ('1', 'y', 'yes', 'true'):
        raise UnsafeCheckpointError(
            f'refused to load {name}: TORCH_FORCE_WEIGHTS_ONLY_LOAD is set, which makes torch '
            'refuse every unpickler but its own; mmbackbones\' is stricter '
            '(docs/safe_loading.md). Unset the variable to load checkpoints through mmbackbones.')
    try:
        # weights_only=False only because torch's weights-only unpickler cannot take our own
        # (protocols 3-5, our table instead of the process-wide one): _Unpickler is restricted.
        result = torch.load(stream, map_location=map_location, pickle_module=module,
                            weights_only=False)
    except (UnsafeCheckpointError, NotACheckpointError) as err:
        message = str(err)
        raise type(err)(message if message.startswith(('refused', name)) else
                        f'refused to load {name}: {message}') from None
    except Exception as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise NotACheckpointError(f'{name} is not a torch checkpoint (truncated, or not written '
                                  f'by torch.save): {first}') from err
    try:
        return _weights_of(result) if form == 'weights' else _finish_checkpoint(result)
    except UnsafeCheckpointError as err:
        raise UnsafeCheckpointError(f'refused to load {name}: {err}') from None


# ----------------------------------------------------------------------- mmengine's loaders


def load_from_local_safe(filename, map_location):
    if '://' in filename:
        from .convert import RUNNER_SCHEMES, refuse_scheme
        refuse_scheme(filename, RUNNER_SCHEMES)
    return safe_load(filename, map_location=map_location)


def install_mmengine_loader():
    """Route mmengine's local-file checkpoint loading (resume, ``load_from``, tools/test.py)
    through :func:`safe_load` (runner form)."""
    from mmengine.runner.checkpoint import CheckpointLoader
    if CheckpointLoader._schemes.get('') is load_from_local_safe:
        return
    CheckpointLoader.register_scheme(prefixes='', loader=load_from_local_safe, force=True)
