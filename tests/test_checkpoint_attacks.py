"""Crafted checkpoints against every entry point (issue 16; docs/safe_loading.md).

Each payload is written opcode by opcode from globals an earlier allow-list of this project (or
torch's own defaults, or a process-wide ``add_safe_globals`` registration) let through, and is
loaded in a child process (tests/checkpoint_attack_child.py) under a memory limit (RLIMIT_AS)
and a time limit, through the in-process entry points: ``safe_load`` (both forms), a backbone's
``Pretrained`` init, mmengine's ``CheckpointLoader``, a Runner's ``load_checkpoint``
(``load_from``, tools/test.py) and ``resume``, and ``tools/convert_weights.py``'s ``main``. Every
load must end in a clear refusal: no signal, no timeout, peak memory growth under 100 MB, no
content of a file the payload points at anywhere in the output, and no process state changed
(HistoryBuffer's statistics table, torch.distributed, torch's allow-list, builtins, mmengine's
loader table). The default run loads every payload through ``safe_load`` and one further
entry point each, in turn (tests/test_checkpoint_safety.py runs the tools/convert_weights.py
command on a crafted file); the full matrix and the command-line tools (convert_weights,
test.py, train.py --resume) on each class are marked slow.
"""
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from .test_checkpoint_safety import (BUILD, EMPTY_DICT, EMPTY_TUPLE, GET, HB, INT1, MARK,
                                     NEWFALSE, NEWOBJ, NONE, PROTO, PUT, REDUCE,
                                     SETITEM, STOP, TUPLE, TUPLE1, TUPLE2, TUPLE3, G, S,
                                     _np_bytes, _np_dtype, _torch_file, payload_builtins_dict,
                                     payload_defaultdict_factory, payload_forged_dtype_allocation,
                                     payload_forged_dtype_array, payload_forged_dtype_scalar,
                                     payload_instance_statistics, payload_object_array_from_bytes,
                                     payload_rebuild_calls_eval, payload_shadowed_items,
                                     payload_statistics_table)

REPO = Path(__file__).resolve().parents[1]
CHILD = REPO / 'tests' / 'checkpoint_attack_child.py'
SECRET = 'mmb-secret-7f3a9c1e'  # the content of the file the file-reading payloads point at
OD = G('collections', 'OrderedDict')
EMPTY_LIST, APPEND, POP = b']', b'a', b'0'
ENTRIES = ['safe_load', 'weights', 'pretrained', 'checkpoint_loader', 'load_from', 'resume',
           '_load_checkpoint', 'convert_tool']


def LONG(value):
    raw = value.to_bytes((value.bit_length() + 8) // 8, 'little', signed=True)
    return b'\x8a' + bytes([len(raw)]) + raw


def BININT(value):
    return b'J' + struct.pack('<i', value)


def _tensor(persid_numel=1, key='0', hooks=OD + EMPTY_TUPLE + REDUCE):
    """_rebuild_tensor_v2 of the archive's storage ``key``, declaring ``persid_numel`` floats."""
    persid = (MARK + S('storage') + G('torch', 'FloatStorage') + S(key) + S('cpu')
              + (LONG(persid_numel) if persid_numel > 2**31 - 1 else BININT(persid_numel))
              + TUPLE + b'Q')
    return (G('torch._utils', '_rebuild_tensor_v2') + MARK + persid + INT1 + b'\x00'
            + INT1 + b'\x01' + TUPLE1 + INT1 + b'\x01' + TUPLE1 + NEWFALSE + hooks + TUPLE
            + REDUCE)


def _array_interface(pointer, typestr):
    return (EMPTY_DICT + S('__array_interface__') + EMPTY_DICT
            + S('data') + LONG(pointer) + NEWFALSE + TUPLE2 + SETITEM
            + S('shape') + INT1 + b'\x01' + TUPLE1 + SETITEM
            + S('typestr') + S(typestr) + SETITEM + S('version') + INT1 + b'\x03' + SETITEM
            + SETITEM)


# ------------------------------------------------------------------------------- payloads
# Each returns the data.pkl bytes (placed in a real torch.save archive) unless it writes the
# whole file itself (then it takes the path).


def memory_array_interface_pointer():
    """An OrderedDict whose __dict__ (torch BUILDs OrderedDicts as a __dict__ update) carries
    an __array_interface__ at a pointer of the file's choosing; HistoryBuffer(it, it) makes
    numpy trust it (segmentation fault)."""
    od = OD + EMPTY_TUPLE + REDUCE + _array_interface(0x4141414141, '<f8') + BUILD + PUT(0)
    return PROTO + HB + MARK + od + GET(0) + TUPLE + REDUCE + STOP


def memory_array_interface_objects():
    """The same with an object dtype: numpy reads raw bytes as object pointers."""
    od = OD + EMPTY_TUPLE + REDUCE + _array_interface(0x1000, '|O8') + BUILD + PUT(0)
    return PROTO + HB + MARK + od + GET(0) + TUPLE + REDUCE + STOP


def _float_array(raw):
    return (G('numpy._core.multiarray', '_reconstruct') + G('numpy', 'ndarray') + INT1 + b'\x00'
            + TUPLE1 + _np_bytes('b') + TUPLE3 + REDUCE + PUT(1)
            + MARK + INT1 + b'\x01' + INT1 + b'\x01' + TUPLE1 + _np_dtype('f8') + NEWFALSE
            + _np_bytes(raw) + TUPLE + BUILD)


def memory_use_after_free():
    """A tensor rebuilt from a numpy array shares its memory; a second BUILD on the array
    frees that memory under the tensor."""
    second_build = (GET(1) + MARK + INT1 + b'\x01' + INT1 + b'\x01' + TUPLE1 + _np_dtype('f8')
                    + NEWFALSE + _np_bytes('B' * 8) + TUPLE + BUILD)
    call = (G('torch._utils', '_rebuild_device_tensor_from_numpy') + MARK + GET(1)
            + G('torch', 'float64') + S('cpu') + NEWFALSE + TUPLE + REDUCE)
    return PROTO + MARK + _float_array('A' * 8) + call + second_build + TUPLE + STOP


def memory_array_built_twice():
    """The second BUILD alone (no torch global): numpy frees the first buffer."""
    second_build = (MARK + INT1 + b'\x01' + INT1 + b'\x01' + TUPLE1 + _np_dtype('f8')
                    + NEWFALSE + _np_bytes('B' * 8) + TUPLE + BUILD)
    return PROTO + _float_array('A' * 8) + second_build + STOP


def memory_ordered_dict_built_twice():
    return (PROTO + OD + EMPTY_TUPLE + REDUCE + EMPTY_DICT + S('_metadata') + OD + EMPTY_TUPLE
            + REDUCE + SETITEM + BUILD + EMPTY_DICT + S('_metadata') + EMPTY_DICT + SETITEM
            + BUILD + STOP)


def _frame_summary(secret):
    return (G('traceback', 'FrameSummary') + S(str(secret)) + INT1 + b'\x01' + S('x')
            + TUPLE3 + REDUCE)


def read_file_frame_summary(secret):
    """traceback.FrameSummary(path, 1, name) reads the line (torch.distributed registers such
    classes process-wide); the state dict key carries it into a converted file."""
    return (PROTO + EMPTY_DICT + S('state_dict') + EMPTY_DICT + S('w') + _tensor() + SETITEM
            + SETITEM + S('meta') + _frame_summary(secret) + SETITEM + STOP)


def read_file_frame_summary_protocol4(secret):
    return (b'\x80\x04' + EMPTY_DICT + b'\x8c\x09traceback\x8c\x0cFrameSummary\x93'
            + S(str(secret)) + INT1 + b'\x01' + S('x') + TUPLE3 + REDUCE + PUT(0)
            + S('k') + GET(0) + SETITEM + STOP)


def dos_hash_bomb_key():
    """t[i+1] = (t[i], t[i]): 1 KB of opcodes, 2**60 tuples to hash as a dict key."""
    body = EMPTY_TUPLE + PUT(0)
    for i in range(60):
        body += GET(i) + GET(i) + TUPLE2 + PUT(i + 1)
    return PROTO + EMPTY_DICT + body + INT1 + b'\x00' + SETITEM + STOP


def dos_hash_bomb_set():
    body = EMPTY_TUPLE + PUT(0)
    for i in range(60):
        body += GET(i) + GET(i) + TUPLE2 + PUT(i + 1)
    return (PROTO + G('__builtin__', 'set') + EMPTY_LIST + body + APPEND + TUPLE1 + REDUCE
            + STOP)


def dos_colliding_int_keys():
    """Integers that are multiples of 2**61 - 1 all hash to 0: quadratic insertion."""
    items = b''.join(LONG(k * (2**61 - 1)) + INT1 + b'\x00' for k in range(1, 20000))
    return PROTO + EMPTY_DICT + MARK + items + b'u' + STOP


def dos_deep_tuples():
    """2 MB of TUPLE1: nesting that overflows the C stack when freed or compared."""
    return PROTO + EMPTY_TUPLE + TUPLE1 * (2 << 20) + STOP


def dos_deep_lists():
    n = 1 << 20
    return PROTO + EMPTY_LIST * n + APPEND * (n - 1) + STOP


def dos_huge_storage():
    """A 4-byte record declared as 2**29 floats: torch allocates 2 GB before reading."""
    return PROTO + EMPTY_DICT + S('w') + _tensor(persid_numel=2**29) + SETITEM + STOP


def dos_huge_array():
    """numpy _reconstruct(ndarray, (2**40,), 'b'): uninitialised memory of the file's size."""
    return (PROTO + G('numpy._core.multiarray', '_reconstruct') + G('numpy', 'ndarray')
            + LONG(2**40) + TUPLE1 + _np_bytes('b') + TUPLE3 + REDUCE + STOP)


def dos_huge_legacy_storage(path):
    """torch's legacy format, 786 bytes: the storage's declared size is allocated up front."""
    main = (PROTO + EMPTY_DICT + S('w') + G('torch._utils', '_rebuild_tensor_v2') + MARK
            + MARK + S('storage') + G('torch', 'FloatStorage') + S('0') + S('cpu')
            + BININT(600_000_000) + NONE + TUPLE + b'Q' + INT1 + b'\x00' + BININT(600_000_000)
            + TUPLE1 + INT1 + b'\x01' + TUPLE1 + NEWFALSE + OD + EMPTY_TUPLE + REDUCE + TUPLE
            + REDUCE + SETITEM + STOP)
    sys_info = dict(protocol_version=1001, little_endian=True,
                    type_sizes=dict(short=2, int=4, long=4))
    data = b''.join(pickle.dumps(x, protocol=2) for x in (
        torch.serialization.MAGIC_NUMBER, 1001, sys_info))
    data += main + pickle.dumps(['0'], protocol=2) + struct.pack('<q', 1) + b'\x00' * 4
    path.write_bytes(data)
    return path


def _deflated_archive(path, member, size):
    """A torch archive whose ``member`` is ``size`` bytes of zeros, deflated."""
    buf = __import__('io').BytesIO()
    torch.save({'w': torch.zeros(1)}, buf)
    with zipfile.ZipFile(buf) as src, zipfile.ZipFile(path, 'w') as dst:
        for info in src.infolist():
            if info.filename.endswith(member):
                bomb = zipfile.ZipInfo(info.filename)
                bomb.compress_type = zipfile.ZIP_DEFLATED
                with dst.open(bomb, 'w', force_zip64=True) as out:
                    chunk = b'\x00' * (1 << 20)
                    for _ in range(size >> 20):
                        out.write(chunk)
            else:
                dst.writestr(info, src.read(info.filename))
    return path


def dos_zip_bomb_pickle(path):
    """data.pkl deflated from 64 MB (the same ratio expands to gigabytes)."""
    path = _deflated_archive(path, 'data.pkl', 64 << 20)
    return path


def dos_zip_bomb_storage(path):
    return _deflated_archive(path, 'data/0', 64 << 20)


def dos_zip_many_members(path):
    """120,000 empty members named as torch names storages (10 MB): Python's ZipFile builds an
    object per member before anything else, about 60 MB per 100,000."""
    local, central = [], []
    offset = 0
    for i in range(120_000):
        name = f'archive/data/{i}'.encode()
        header = struct.pack('<4sHHHHHIIIHH', b'PK\x03\x04', 20, 0, 0, 0, 0, 0, 0, 0,
                             len(name), 0) + name
        central.append(struct.pack('<4sHHHHHHIIIHHHHHII', b'PK\x01\x02', 20, 20, 0, 0, 0, 0,
                                   0, 0, 0, len(name), 0, 0, 0, 0, 0, offset) + name)
        local.append(header)
        offset += len(header)
    directory = b''.join(central)
    end = struct.pack('<4sHHHHIIH', b'PK\x05\x06', 0, 0, 65535, 65535, len(directory),
                      offset, 0)
    # more than 65535 members need the zip64 end records
    zip64_end = struct.pack('<4sQHHIIQQQQ', b'PK\x06\x06', 44, 45, 45, 0, 0, 120_000,
                            120_000, len(directory), offset)
    locator = struct.pack('<4sIQI', b'PK\x06\x07', 0, offset + len(directory), 1)
    path.write_bytes(b''.join(local) + directory + zip64_end + locator + end)
    return path


def state_statistics_table():
    return payload_statistics_table()


def state_instance_statistics():
    return payload_instance_statistics()


def state_device_mesh():
    """DeviceMesh('cpu', [0]) initialises torch.distributed (and opens a port) under torchrun's
    environment variables; torch.distributed.tensor registers it process-wide."""
    return (PROTO + G('torch.distributed.device_mesh', 'DeviceMesh') + S('cpu') + EMPTY_LIST
            + INT1 + b'\x00' + APPEND + TUPLE2 + REDUCE + STOP)


def state_device_mesh_newobj():
    return (PROTO + G('torch.distributed.device_mesh', 'DeviceMesh') + S('cpu') + EMPTY_LIST
            + INT1 + b'\x00' + APPEND + TUPLE2 + NEWOBJ + STOP)


def gap_backward_hooks():
    hooks = OD + EMPTY_TUPLE + REDUCE + INT1 + b'\x00' + G('__builtin__', 'list') + SETITEM
    return PROTO + EMPTY_DICT + S('w') + _tensor(hooks=hooks) + SETITEM + STOP


def gap_dtype_metadata():
    """A dtype whose BUILD state carries metadata (a ninth item)."""
    return (PROTO + _np_dtype('f8') + MARK + INT1 + b'\x03' + S('<') + NONE + NONE + NONE
            + INT1 + b'\x08' + INT1 + b'\x08' + INT1 + b'\x00' + EMPTY_DICT + S('m')
            + G('__builtin__', 'list') + SETITEM + TUPLE + BUILD + STOP)


def gap_parameter_with_state():
    """_rebuild_parameter_with_state(data, requires_grad, hooks, state): state is set as
    attributes of the parameter (grad included)."""
    state = EMPTY_DICT + S('grad') + _tensor() + SETITEM
    return (PROTO + EMPTY_DICT + S('w') + G('torch._utils', '_rebuild_parameter_with_state')
            + MARK + _tensor() + NEWFALSE + OD + EMPTY_TUPLE + REDUCE + state + TUPLE + REDUCE
            + SETITEM + STOP)


def gap_rebuild_from_type():
    return payload_rebuild_calls_eval('/nonexistent/marker')


def gap_builtins_chain():
    return payload_builtins_dict('/nonexistent/marker')


def gap_protocol_1():
    return b'}q\x00X\x01\x00\x00\x00wq\x01K\x01s.'  # protocol 1: no PROTO opcode


def gap_torchscript(path):
    """A TorchScript archive: torch.load hands it to torch.jit.load."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', FutureWarning)  # torch.jit is deprecated, still loads
        torch.jit.save(torch.jit.script(torch.nn.Linear(1, 1)), str(path))
    return path


# class -> payloads; a payload taking no argument returns data.pkl, one taking `secret` reads
# it, one taking `path` writes the file.
PAYLOADS = {
    'memory': [memory_array_interface_pointer, memory_array_interface_objects,
               memory_use_after_free, memory_array_built_twice, memory_ordered_dict_built_twice,
               payload_object_array_from_bytes, payload_forged_dtype_array,
               payload_forged_dtype_scalar, payload_forged_dtype_allocation],
    'read_file': [read_file_frame_summary, read_file_frame_summary_protocol4],
    'dos': [dos_hash_bomb_key, dos_hash_bomb_set, dos_colliding_int_keys, dos_deep_tuples,
            dos_deep_lists, dos_huge_storage, dos_huge_array, dos_huge_legacy_storage,
            dos_zip_bomb_pickle, dos_zip_bomb_storage, dos_zip_many_members],
    'state': [state_statistics_table, state_instance_statistics, state_device_mesh,
              state_device_mesh_newobj],
    'gaps': [gap_backward_hooks, gap_dtype_metadata, gap_parameter_with_state,
             gap_rebuild_from_type, gap_builtins_chain, payload_shadowed_items,
             payload_defaultdict_factory, gap_protocol_1, gap_torchscript],
}
ALL = [(cls, make) for cls, makes in PAYLOADS.items() for make in makes]


def _write(make, directory, secret):
    import inspect
    path = directory / f'{make.__name__}.pth'
    params = inspect.signature(make).parameters
    if 'path' in params:
        return make(path)
    pkl = make(secret) if 'secret' in params else make()
    return _torch_file(pkl, path)


@pytest.fixture(scope='module')
def payload_files(tmp_path_factory):
    directory = tmp_path_factory.mktemp('payloads')
    secret = directory / 'secret.txt'
    secret.write_text(f'{SECRET}\n')
    files = {make.__name__: str(_write(make, directory, secret)) for _, make in ALL}
    fifo = directory / 'fifo.pth'
    os.mkfifo(fifo)
    files.update(fifo=str(fifo), directory=str(directory), device='/dev/zero',
                 **{f'scheme_{s}': f'{s}://bucket/model.pth' for s in ('pavi', 's3', 'petrel')},
                 scheme_prefixed_s3='open-mmlab:s3://bucket/model.pth')
    return files


NOT_FILES = ['fifo', 'directory', 'device', 'scheme_pavi', 'scheme_s3', 'scheme_petrel',
             'scheme_prefixed_s3']


def _run_child(jobs, tmp_path, env=None):
    spec = dict(jobs=[dict(id=f'{i}', entry=e, path=p) for i, (e, p) in enumerate(jobs)],
                work_dir=str(tmp_path), register_globals=True, memory_headroom_mb=1024,
                seconds_per_job=60)
    spec_path = tmp_path / 'spec.json'
    spec_path.write_text(json.dumps(spec))
    port = 29500 + os.getpid() % 1000
    full_env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1',
                    # torchrun's variables: DeviceMesh would initialise torch.distributed
                    RANK='0', WORLD_SIZE='1', LOCAL_RANK='0', MASTER_ADDR='127.0.0.1',
                    MASTER_PORT=str(port), **(env or {}))
    proc = subprocess.run([sys.executable, str(CHILD), str(spec_path)], capture_output=True,
                          text=True, timeout=60 + 60 * len(jobs), env=full_env, cwd=tmp_path)
    assert proc.returncode == 0, f'child died with {proc.returncode}:\n{proc.stderr[-3000:]}'
    assert SECRET not in proc.stdout + proc.stderr
    outcomes = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith('{')]
    assert len(outcomes) == len(jobs), proc.stderr[-3000:]
    return outcomes


# (exception names that count as a clear refusal) per non-payload input
EXPECTED = dict(
    fifo=('NotACheckpointError', 'SystemExit'), device=('NotACheckpointError', 'SystemExit'),
    directory=('IsADirectoryError', 'SystemExit'))
REFUSALS = ('UnsafeCheckpointError', 'NotACheckpointError', 'CheckpointSchemeError')


def _assert_refused(jobs, outcomes, names):
    for (entry, path), outcome, name in zip(jobs, outcomes, names):
        where = f'{name} via {entry}: {outcome}'
        assert outcome['outcome'] in ('raised', 'exit'), where
        if outcome['outcome'] == 'exit':  # tools/convert_weights.py main: sys.exit(message)
            assert outcome['message'].startswith('convert_weights: '), where
            assert any(k in outcome['message'] for k in (
                'refused to load', 'is not a torch checkpoint', 'does not exist',
                'is not supported', 'is not a regular file')), where
        else:
            assert outcome['type'] in EXPECTED.get(name, REFUSALS), where
        assert outcome['changed'] == [], where
        assert outcome['rss_growth_mb'] < 100, where
        assert SECRET not in outcome.get('message', ''), where
        if name.startswith('scheme_'):
            assert 'is not supported' in outcome['message'] and 'http://' in outcome['message'], \
                where
        elif outcome['outcome'] == 'raised' and name not in EXPECTED:
            assert path in outcome['message'], where  # names the file


def _matrix(files, names, entries):
    jobs, labels = [], []
    for name in names:
        for entry in entries:
            if name.startswith('scheme_') and entry in ('safe_load', 'weights', 'convert_tool'):
                continue  # these take local files only
            jobs.append((entry, files[name]))
            labels.append(name)
    return jobs, labels


def test_every_payload_is_refused(payload_files, tmp_path):
    """Default run: every payload through safe_load and through one more entry point in turn
    (every entry point several times), in one child process."""
    names = [make.__name__ for _, make in ALL] + NOT_FILES
    jobs, labels = [], []
    for index, name in enumerate(names):
        extra = ENTRIES[1 + index % (len(ENTRIES) - 1)]
        found = _matrix(payload_files, [name], ['safe_load', extra])
        jobs += found[0]
        labels += found[1]
    # the tool once carried a file's content into the file it wrote
    jobs.append(('convert_tool', payload_files['read_file_frame_summary']))
    labels.append('read_file_frame_summary')
    assert {entry for entry, _ in jobs} == set(ENTRIES)
    _assert_refused(jobs, _run_child(jobs, tmp_path), labels)
    assert not (tmp_path / 'converted.pth').exists()


@pytest.mark.slow
@pytest.mark.parametrize('cls', sorted(PAYLOADS) + ['not_files'])
def test_every_payload_through_every_entry_point(cls, payload_files, tmp_path):
    names = NOT_FILES if cls == 'not_files' else [m.__name__ for m in PAYLOADS[cls]]
    jobs, labels = _matrix(payload_files, names, ENTRIES)
    _assert_refused(jobs, _run_child(jobs, tmp_path), labels)
    assert not (tmp_path / 'converted.pth').exists()


def test_payloads_are_live_without_the_checks(payload_files):
    """The payloads are real: torch's own weights-only loading (with the old allow-list where
    they need it) lets each class through. Checked in the test process only where that is
    harmless: file reading and the statistics table (no crash, no hang, no port)."""
    import traceback

    from mmengine.logging.history_buffer import HistoryBuffer

    from .test_checkpoint_safety import _old_load
    with torch.serialization.safe_globals([traceback.FrameSummary]):
        loaded = torch.load(payload_files['read_file_frame_summary'], weights_only=True)
    assert SECRET in loaded['meta'].line  # the file was read
    table = HistoryBuffer._statistics_methods
    saved = dict(table)
    try:
        _old_load(payload_files['state_statistics_table'])
        assert table['mean'] is HistoryBuffer.max
    finally:
        table.clear()
        table.update(saved)
    # the storage of 2**29 floats is declared in a 4-byte record: torch allocates first
    with zipfile.ZipFile(payload_files['dos_huge_storage']) as archive:
        record = [i for i in archive.infolist() if i.filename.endswith('data/0')][0]
    assert record.file_size == 4


# ------------------------------------------------------------------ the command-line tools


def _tool(args, cwd, timeout=300):
    env = dict(os.environ, PYTHONPATH=str(REPO), OMP_NUM_THREADS='1')
    return subprocess.run([sys.executable] + args, capture_output=True, text=True, cwd=cwd,
                          timeout=timeout, env=env)


def _cli_convert(path, tmp_path):
    out = tmp_path / 'out.pth'
    proc = _tool([str(REPO / 'tools' / 'convert_weights.py'), path, str(out), '--variant',
                  'resnet18'], tmp_path)
    assert proc.returncode == 1 and proc.stderr.strip().startswith('convert_weights: '), \
        proc.stderr[-2000:]
    assert 'refused to load' in proc.stderr or 'not a torch checkpoint' in proc.stderr
    assert SECRET not in proc.stdout + proc.stderr and not out.exists()


@pytest.mark.slow
def test_convert_weights_cli_refuses_file_reading(payload_files, tmp_path):
    _cli_convert(payload_files['read_file_frame_summary'], tmp_path)


@pytest.mark.slow
@pytest.mark.parametrize('cls', sorted(PAYLOADS))
def test_convert_weights_cli_refuses_each_class(cls, payload_files, tmp_path):
    _cli_convert(payload_files[PAYLOADS[cls][0].__name__], tmp_path)


# ------------------------------------------------------------------ legitimate files load


def test_real_checkpoints_of_every_protocol_and_format_load(tmp_path):
    """Protocols 2 to 5 (zip and legacy format), state dicts with _metadata, parameters,
    numpy values, a message hub, sets, bytes, Counters: what torch.save and mmengine write."""
    import collections

    from mmengine.logging import MessageHub

    from mmbackbones.weights import safe_load
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
    hub = MessageHub('protocols')
    hub.update_scalar('train/loss', np.float32(0.5))
    hub.update_scalar('train/lr', 0.01)
    hub.update_info('iter', 3)
    checkpoint = dict(state_dict=model.state_dict(), message_hub=hub.state_dict(),
                      meta=dict(seed=np.int64(3), classes=('a', 'b'), arr=np.arange(3.0),
                                names=np.array(['x', 'yz'])),
                      param_schedulers=[dict(milestones=collections.Counter({8: 1}))],
                      parameter=torch.nn.Parameter(torch.ones(2)), tags={1, 2}, raw=b'xy')
    for protocol in (2, 3, 4, 5):
        for zip_format in (True, False):
            path = tmp_path / f'p{protocol}{zip_format}.pth'
            torch.save(checkpoint, path, pickle_protocol=protocol,
                       _use_new_zipfile_serialization=zip_format)
            loaded = safe_load(str(path))
            assert loaded['message_hub']['log_scalars']['train/loss'].current() == 0.5
            assert loaded['meta']['classes'] == ('a', 'b') and loaded['tags'] == {1, 2}
            assert type(loaded['meta']['arr']) is np.ndarray and loaded['raw'] == b'xy'
            assert loaded['param_schedulers'][0]['milestones'] == collections.Counter({8: 1})
            assert type(loaded['parameter']) is torch.nn.Parameter
            assert loaded['state_dict']._metadata == checkpoint['state_dict']._metadata
            weights = safe_load(str(path), form='weights')
            assert list(weights) == list(checkpoint['state_dict'])
            assert all(torch.equal(weights[k], v) for k, v in checkpoint['state_dict'].items())


# ---------------------------------------------------------------------------- safetensors


def test_safetensors_files_load_everywhere_detected_by_content(tmp_path):
    """A safetensors file loads through safe_load (both forms) and a Pretrained init, also
    under a .pth name; a header that points past the file is refused."""
    from safetensors.torch import save_file

    import mmbackbones
    from mmbackbones.weights import NotACheckpointError, safe_load
    state = {k: torch.randn_like(v) if v.is_floating_point() else v
             for k, v in mmbackbones.build_backbone('resnet18').state_dict().items()}
    for name in ('resnet18.safetensors', 'resnet18.pth'):
        path = tmp_path / name
        save_file(state, str(path))
        for form in ('checkpoint', 'weights'):
            loaded = safe_load(str(path), form=form)
            assert set(loaded) == set(state)
            assert all(torch.equal(loaded[k], v) for k, v in state.items())
    model = mmbackbones.build_backbone('resnet18', init_cfg=dict(type='Pretrained',
                                                                 checkpoint=str(path)))
    model.init_weights()  # the .pth name: detected by content
    assert torch.equal(model.layer4[1].conv2.weight, state['layer4.1.conv2.weight'])
    header = b'{"w":{"dtype":"F32","shape":[1000000],"data_offsets":[0,4000000]}}'
    bad = tmp_path / 'bad.safetensors'
    bad.write_bytes(len(header).to_bytes(8, 'little') + header + b'\x00' * 4)
    with pytest.raises(NotACheckpointError, match='bad.safetensors'):
        safe_load(str(bad))


def _convert_to_safetensors(tmp_path, run, by_extension=True):
    import torchvision
    from safetensors import safe_open

    from mmbackbones.weights import safe_load
    ref = torchvision.models.resnet18(weights=None)
    src = tmp_path / 'tv.pth'
    torch.save(ref.state_dict(), src)
    targets = [(tmp_path / 'ours.bin', ['--format', 'safetensors'])]
    if by_extension:
        targets.append((tmp_path / 'ours.safetensors', []))
    for dst, extra in targets:
        run([str(src), str(dst), '--variant', 'resnet18'] + extra)
        with safe_open(str(dst), 'pt') as f:
            # torchvision's and timm's ResNet keys are the same; either layout converts them
            assert f.metadata()['variant'] == 'resnet18'
            assert f.metadata()['source'] in ('timm', 'torchvision')
        converted = safe_load(str(dst), form='weights')
        assert torch.equal(converted['layer1.0.conv1.weight'], ref.layer1[0].conv1.weight)


def test_convert_weights_writes_safetensors(tmp_path):
    import runpy
    main = runpy.run_path(str(REPO / 'tools' / 'convert_weights.py'))['main']
    _convert_to_safetensors(tmp_path, lambda argv: main(argv), by_extension=False)


@pytest.mark.slow
def test_convert_weights_cli_writes_safetensors(tmp_path):
    def run(argv):
        proc = _tool([str(REPO / 'tools' / 'convert_weights.py')] + argv, tmp_path)
        assert proc.returncode == 0, proc.stderr[-2000:]

    _convert_to_safetensors(tmp_path, run)


# ---------------------------------------------------------- tools/test.py and --resume (slow)


@pytest.mark.slow
@pytest.mark.parametrize('payload', ['read_file_frame_summary', 'dos_hash_bomb_key',
                                     'memory_array_interface_pointer', 'state_device_mesh'])
def test_test_and_resume_clis_refuse(payload, payload_files, tmp_path):
    """tools/test.py CHECKPOINT and tools/train.py --resume CHECKPOINT on a toy config: the
    checkpoint is refused, naming it, and nothing is evaluated or trained."""
    from .test_train_tools import DET_TOY, det_options, run_tool
    toy = tmp_path / 'toy'
    proc = run_tool([sys.executable, 'tools/make_toy_data.py', '--out', str(toy), '--coco-train',
                     '2', '--coco-val', '2', '--ade-train', '2', '--ade-val', '2'])
    assert proc.returncode == 0, proc.stderr[-2000:]
    path = payload_files[payload]
    for tool, args in (('tools/test.py', [path]), ('tools/train.py', ['--resume', path])):
        work_dir = tmp_path / tool.split('/')[1]
        proc = run_tool([sys.executable, tool, DET_TOY] + args + [
            '--work-dir', str(work_dir), '--cfg-options'] + det_options(str(toy)),
            env=dict(RANK='0', WORLD_SIZE='1', MASTER_ADDR='127.0.0.1', MASTER_PORT='29431'))
        output = proc.stdout + proc.stderr
        assert proc.returncode not in (0, ) and proc.returncode > 0, output[-3000:]
        assert 'refused to load' in output and path in output, output[-3000:]
        assert SECRET not in output
        assert not (work_dir / 'test_metrics.json').exists()
        assert not list(work_dir.glob('epoch_*.pth'))


def test_a_stride_zero_view_larger_than_its_storage_is_refused(tmp_path):
    """A 4-byte storage posing as 2**40 floats (stride 0) loads without allocating, but any
    copy of it would allocate 4 TB."""
    from mmbackbones.weights import UnsafeCheckpointError, safe_load
    huge = (G('torch._utils', '_rebuild_tensor_v2') + MARK
            + MARK + S('storage') + G('torch', 'FloatStorage') + S('0') + S('cpu') + BININT(1)
            + TUPLE + b'Q' + INT1 + b'\x00' + LONG(2**40) + TUPLE1 + INT1 + b'\x00' + TUPLE1
            + NEWFALSE + OD + EMPTY_TUPLE + REDUCE + TUPLE + REDUCE)
    path = _torch_file(PROTO + EMPTY_DICT + S('w') + huge + SETITEM + STOP, tmp_path / 'v.pth')
    for form in ('checkpoint', 'weights'):
        with pytest.raises(UnsafeCheckpointError, match='overlapping views'):
            safe_load(str(path), form=form)
