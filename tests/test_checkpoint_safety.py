"""Checkpoints load through the static pass, the restricted unpickler and the exact-type check
(docs/safe_loading.md); legitimate checkpoints of every kind keep loading."""
import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint

import mmbackbones
from mmbackbones.weights import PretrainedMismatchError, UnsafeCheckpointError, safe_load


class _RunsACommand:
    """A pickle payload that would run a shell command when unpickled."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f'touch {self.marker}', )


@pytest.fixture
def malicious_checkpoint(tmp_path):
    marker = tmp_path / 'pwned'
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {'w': torch.zeros(1)}, 'meta': _RunsACommand(marker)}, path)
    # The payload is live: plain pickle would run it (checked on a copy, then cleaned up).
    with open(path, 'rb') as f:
        data = f.read()
    assert b'system' in data
    return path, marker


def test_malicious_pickle_is_refused_and_never_runs(malicious_checkpoint):
    path, marker = malicious_checkpoint
    with pytest.raises(UnsafeCheckpointError, match='allow-list'):
        safe_load(str(path))
    assert not marker.exists()


def test_mmengine_loading_goes_through_the_allow_list(malicious_checkpoint):
    path, marker = malicious_checkpoint
    # resume and load_from use this entry point
    with pytest.raises(UnsafeCheckpointError):
        _load_checkpoint(str(path), map_location='cpu')
    with pytest.raises(UnsafeCheckpointError):
        CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert not marker.exists()


def test_pretrained_init_refuses_malicious_file(malicious_checkpoint):
    path, marker = malicious_checkpoint
    model = mmbackbones.build_backbone(
        'swin_tiny_patch4_window7_224', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(UnsafeCheckpointError):
        model.init_weights()
    assert not marker.exists()


def test_pickle_of_the_payload_really_runs_commands(tmp_path):
    """Sanity check of the fixture: without the allow-list the payload executes."""
    marker = tmp_path / 'ran'
    pickle.loads(pickle.dumps(_RunsACommand(marker)))
    assert marker.exists()


def test_pretrained_that_matches_too_little_raises(tmp_path):
    path = tmp_path / 'other.pth'
    torch.save({'state_dict': {'conv.weight': torch.zeros(8, 3, 3, 3)}}, path)
    model = mmbackbones.build_backbone('swin_tiny_patch4_window7_224',
                                       init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(PretrainedMismatchError):
        model.init_weights()


def test_pretrained_with_wrong_shapes_raises(tmp_path):
    small = mmbackbones.build_backbone('swin_tiny_patch4_window7_224')
    path = tmp_path / 'tiny.pth'
    torch.save({'state_dict': small.state_dict()}, path)
    model = mmbackbones.build_backbone('swin_small_patch4_window7_224', arch='base',
                                       init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    with pytest.raises(PretrainedMismatchError, match='does not fit'):
        model.init_weights()


def test_pretrained_detects_and_converts_foreign_layouts(tmp_path):
    """A timm and a torchvision state dict saved to disk load into equal backbones."""
    import timm
    import torchvision
    sources = {
        'timm': timm.create_model('swin_tiny_patch4_window7_224', pretrained=False,
                                  num_classes=0).state_dict(),
        'torchvision': torchvision.models.swin_t(weights=None).state_dict(),
    }
    for source, state in sources.items():
        path = tmp_path / f'{source}.pth'
        torch.save(state, path)
        model = mmbackbones.build_backbone(
            'swin_tiny_patch4_window7_224', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
        model.init_weights()
        qkv = model.stages[2].blocks[1].attn.qkv.weight
        expected = state['layers.2.blocks.1.attn.qkv.weight' if source == 'timm' else
                         'features.5.1.attn.qkv.weight']
        assert torch.equal(qkv, expected), source


def _hf_cache_file(cache, repo_id, filename):
    """Where huggingface_hub keeps ``filename`` of ``repo_id`` (main branch) in ``cache``."""
    commit = '0123456789abcdef0123456789abcdef01234567'
    repo = cache / f'models--{repo_id.replace("/", "--")}'
    (repo / 'snapshots' / commit).mkdir(parents=True)
    (repo / 'refs').mkdir()
    (repo / 'refs' / 'main').write_text(commit)
    return repo / 'snapshots' / commit / filename


@pytest.fixture
def hf_cache(tmp_path, monkeypatch):
    import huggingface_hub.constants as hf_constants
    cache = tmp_path / 'hf_cache'
    monkeypatch.setattr(hf_constants, 'HF_HUB_CACHE', str(cache))
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')  # no network probe; cached weights still load
    return cache


def _no_timm_loading(monkeypatch):
    import timm.models._builder as builder

    def refuse(*args, **kwargs):
        raise AssertionError("timm's own weight loading must not be used")

    for name in ('load_state_dict_from_hf', 'load_state_dict_from_url', 'load_state_dict'):
        monkeypatch.setattr(builder, name, refuse)


def test_timm_scheme_reads_the_cached_file_with_the_safe_loader(hf_cache, monkeypatch):
    """timm://<model> finds timm's weights file (here in the Hugging Face cache, safetensors
    first) and reads it with safe_load; timm only applies its checkpoint filter."""
    import timm
    from safetensors.torch import save_file
    ref = timm.create_model('swin_tiny_patch4_window7_224', pretrained=False)
    path = _hf_cache_file(hf_cache, 'timm/swin_tiny_patch4_window7_224.ms_in1k',
                          'model.safetensors')
    save_file({k: v.contiguous() for k, v in ref.state_dict().items()}, str(path))
    _no_timm_loading(monkeypatch)
    model = mmbackbones.build_backbone(
        'swin_tiny_patch4_window7_224',
        init_cfg=dict(type='Pretrained', checkpoint='timm://swin_tiny_patch4_window7_224'))
    model.init_weights()
    assert torch.equal(model.patch_embed.proj.weight, ref.patch_embed.proj.weight)


def test_timm_scheme_refuses_a_planted_cache_file(hf_cache, monkeypatch, tmp_path):
    marker = tmp_path / 'pwned'
    path = _hf_cache_file(hf_cache, 'timm/resnet18.a1_in1k', 'pytorch_model.bin')
    _torch_file(payload_builtins_dict(marker), path)
    _no_timm_loading(monkeypatch)
    model = mmbackbones.build_backbone(
        'resnet18', init_cfg=dict(type='Pretrained', checkpoint='timm://resnet18'))
    with pytest.raises(UnsafeCheckpointError, match='pytorch_model.bin'):
        model.init_weights()
    assert not marker.exists()


def test_torchvision_scheme_offline(tmp_path, monkeypatch):
    """torchvision://<model>.<WEIGHTS> is read from torch hub's cache by the weights' URL with
    the safe loader; torchvision's own loading (weights_only=False) is never used."""
    import hashlib

    import torchvision
    convert_module = sys.modules['mmbackbones.weights.convert']
    assert convert_module._torchvision_url('swin_t.IMAGENET1K_V1') == \
        torchvision.models.Swin_T_Weights.IMAGENET1K_V1.url
    assert convert_module._torchvision_url('swin_t') == \
        torchvision.models.Swin_T_Weights.DEFAULT.url
    ref = torchvision.models.swin_t(weights=None)
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setattr(torch.hub, '_hub_dir', None)
    cache = tmp_path / 'torch' / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    staged = tmp_path / 'swin_t.pth'
    torch.save(ref.state_dict(), staged)
    # a cache file named as torchvision names its files: <name>-<sha256 prefix>.pth
    name = f'swin_t-{hashlib.sha256(staged.read_bytes()).hexdigest()[:8]}.pth'
    staged.rename(cache / name)
    monkeypatch.setattr(convert_module, '_torchvision_url',
                        lambda spec: f'https://download.pytorch.org/models/{name}')

    def no_get_model(*args, **kwargs):
        raise AssertionError('torchvision.models.get_model loads with weights_only=False')

    monkeypatch.setattr(torchvision.models, 'get_model', no_get_model)
    model = mmbackbones.build_backbone(
        'swin_tiny_patch4_window7_224',
        init_cfg=dict(type='Pretrained', checkpoint='torchvision://swin_t.IMAGENET1K_V1'))
    model.init_weights()
    assert torch.equal(model.patch_embed.proj.weight, ref.features[0][0].weight)


# --------------------------------------------------------------------------------- resume


def test_runner_trains_two_epochs_then_resumes_a_third(tmp_path):
    from mmengine.model import BaseModel
    from mmengine.runner import Runner
    from torch.utils.data import Dataset

    class Points(Dataset):

        def __len__(self):
            return 16

        def __getitem__(self, index):
            g = torch.Generator().manual_seed(index)
            x = torch.randn(4, generator=g)
            return dict(inputs=x, target=x.sum().reshape(1))

    class Regressor(BaseModel):

        def __init__(self):
            super().__init__()
            self.linear = nn.Linear(4, 1)
            self.norm = nn.BatchNorm1d(4)

        def forward(self, inputs, target=None, mode='tensor'):
            out = self.linear(self.norm(inputs))
            if mode == 'loss':
                return dict(loss=((out - target)**2).mean())
            return out

    def make_runner(max_epochs, resume):
        return Runner(
            model=Regressor(), work_dir=str(tmp_path),
            train_dataloader=dict(dataset=Points(), sampler=dict(type='DefaultSampler', shuffle=True),
                                  collate_fn=dict(type='default_collate'), batch_size=4,
                                  num_workers=0),
            optim_wrapper=dict(optimizer=dict(type='AdamW', lr=1e-2)),
            param_scheduler=dict(type='MultiStepLR', milestones=[1], by_epoch=True),
            train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
            default_hooks=dict(checkpoint=dict(type='CheckpointHook', interval=1)),
            resume=resume, randomness=dict(seed=0), experiment_name=f'run{max_epochs}')

    first = make_runner(2, resume=False)
    first.train()
    checkpoint = tmp_path / 'epoch_2.pth'
    assert checkpoint.exists()
    # Plain torch.load (weights_only=True by default on torch >= 2.6) refuses mmengine's
    # checkpoint: the allow-list is what makes resuming possible.
    with pytest.raises(Exception):
        torch.load(checkpoint)
    second = make_runner(3, resume=True)
    second.train()
    assert second.train_loop.epoch == 3
    assert second.train_loop.iter == 12  # 3 epochs x 4 iterations, none repeated
    resumed = safe_load(str(tmp_path / 'epoch_3.pth'))
    assert resumed['meta']['epoch'] == 3
    assert 'message_hub' in resumed and 'optimizer' in resumed


# ------------------------------------------------ crafted pickles made of allowed globals only
#
# Each payload below uses only opcodes torch's weights-only unpickler implements and only
# globals on mmbackbones' allow-list (old or new) or torch's defaults. Each is shown to be live
# under the allow-list this project shipped before (plain builtins.getattr and defaultdict) and
# refused by safe_load today.

import builtins  # noqa: E402
import collections  # noqa: E402
import io  # noqa: E402
import re  # noqa: E402
import struct  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import warnings  # noqa: E402
import zipfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from mmengine.config.config import ConfigDict  # noqa: E402
from mmengine.logging.history_buffer import HistoryBuffer  # noqa: E402

from mmbackbones.weights import NotACheckpointError  # noqa: E402

TOOL = Path(__file__).resolve().parents[1] / 'tools' / 'convert_weights.py'


def _old_safe_globals():
    """The allow-list as it was: plain getattr and defaultdict among the globals."""
    try:
        from numpy._core import multiarray
    except ImportError:
        from numpy.core import multiarray
    dtype_classes = [getattr(np.dtypes, n) for n in dir(np.dtypes) if n.endswith('DType')]
    return ([collections.OrderedDict, collections.defaultdict, dict, list, tuple, set, getattr,
             np.ndarray, np.dtype, multiarray._reconstruct, multiarray.scalar] + dtype_classes
            + [HistoryBuffer, ConfigDict])


def _old_load(path):
    with torch.serialization.safe_globals(_old_safe_globals()):
        return torch.load(path, map_location='cpu', weights_only=True)


# Pickle opcodes (protocol 2), assembled by hand.
def G(module, name):
    return b'c' + f'{module}\n{name}\n'.encode()


def S(text):
    raw = text.encode()
    return b'X' + struct.pack('<I', len(raw)) + raw


def PUT(i):
    return b'q' + bytes([i])


def GET(i):
    return b'h' + bytes([i])


PROTO, STOP, MARK, TUPLE, TUPLE1, TUPLE2 = b'\x80\x02', b'.', b'(', b't', b'\x85', b'\x86'
REDUCE, NEWOBJ, BUILD, SETITEM, SETITEMS = b'R', b'\x81', b'b', b's', b'u'
EMPTY_DICT, EMPTY_TUPLE, INT1 = b'}', b')', b'K'
GETATTR = G('__builtin__', 'getattr')  # what pickle writes for getattr under protocol 2
HB = G('mmengine.logging.history_buffer', 'HistoryBuffer')


def _getattr(getattr_memo, obj, name):
    """getattr(<obj opcodes>, name) with builtins.getattr kept in memo slot getattr_memo."""
    return GET(getattr_memo) + obj + S(name) + TUPLE2 + REDUCE


def _run_command(marker):
    return f"__import__('os').system('touch {marker}')"


def payload_builtins_dict(marker):
    """getattr(getattr, '__self__') is the builtins module; SETITEM on its __dict__ rebinds
    `type` to eval; the unpickler's own SETITEM check then calls type(<string>) = eval(string).
    The evaluated string restores `type` so that the test process survives."""
    code = (f"({_run_command(marker)}, __import__('builtins').__dict__.__setitem__('type', "
            "__import__('builtins').__dict__.pop('_mmb_saved_type')), dict)[-1]")
    return (PROTO + GETATTR + PUT(0)
            + _getattr(0, GET(0), '__self__') + PUT(1)
            + _getattr(0, GET(1), '__dict__') + PUT(2)
            + _getattr(0, GET(1), 'eval') + PUT(3)
            + _getattr(0, GET(1), 'type') + PUT(4)
            + GET(2) + S('_mmb_saved_type') + GET(4) + SETITEM
            + GET(2) + S('type') + GET(3) + SETITEM
            + S(code) + S('k') + S('v') + SETITEM + STOP)


def payload_rebuild_calls_eval(marker):
    """torch's default _rebuild_from_type_v2(func, type, args, state) calls func(*args); with
    getattr, func can be eval."""
    return (PROTO + GETATTR + PUT(0)
            + _getattr(0, GET(0), '__self__') + PUT(1)
            + _getattr(0, GET(1), 'eval') + PUT(2)
            + G('torch._tensor', '_rebuild_from_type_v2')
            + MARK + GET(2) + G('torch', 'Tensor') + S(_run_command(marker)) + TUPLE1
            + EMPTY_DICT + TUPLE + REDUCE + STOP)


def payload_allowed_pair_then_globals():
    """From an allowed pair's result, getattr(HistoryBuffer.mean, '__globals__') is
    mmengine's module dict; SETITEM replaces its `np`."""
    return (PROTO + GETATTR + PUT(0) + HB + PUT(1)
            + _getattr(0, _getattr(0, GET(1), 'mean'), '__globals__')
            + S('np') + INT1 + b'\x00' + SETITEM + STOP)


def payload_statistics_table():
    """HistoryBuffer.__setstate__ updates the class-wide method table: 'mean' becomes max."""
    return (PROTO + GETATTR + PUT(0) + HB + PUT(1) + GET(1) + EMPTY_TUPLE + NEWOBJ
            + EMPTY_DICT + S('statistics_methods')
            + EMPTY_DICT + S('mean') + _getattr(0, GET(1), 'max') + SETITEM
            + SETITEM + BUILD + STOP)


def payload_instance_statistics():
    """A buffer whose own _statistics_methods maps 'mean' to max."""
    return (PROTO + GETATTR + PUT(0) + HB + PUT(1)
            + GET(1) + MARK + MARK + INT1 + b'\x01' + INT1 + b'\x03' + TUPLE
            + MARK + INT1 + b'\x01' + INT1 + b'\x01' + TUPLE + INT1 + b'\x0a' + TUPLE + REDUCE
            + EMPTY_DICT + S('_statistics_methods')
            + EMPTY_DICT + S('mean') + _getattr(0, GET(1), 'max') + SETITEM
            + SETITEM + BUILD + STOP)


def payload_shadowed_items():
    """An OrderedDict (torch BUILDs those itself) whose `items` attribute is `list`."""
    return (PROTO + G('collections', 'OrderedDict') + EMPTY_TUPLE + REDUCE
            + MARK + S('w') + INT1 + b'\x01' + SETITEMS
            + EMPTY_DICT + S('items') + G('__builtin__', 'list') + SETITEM + BUILD + STOP)


def payload_defaultdict_factory():
    """defaultdict(HistoryBuffer): an allowed callable that then runs on every missing key."""
    return PROTO + G('collections', 'defaultdict') + HB + TUPLE1 + REDUCE + STOP


def _torch_file(pkl, path):
    """A real torch.save zip archive whose data.pkl is replaced by ``pkl``."""
    buf = io.BytesIO()
    torch.save({'state_dict': {'w': torch.zeros(1)}}, buf)
    with zipfile.ZipFile(io.BytesIO(buf.getvalue())) as src, \
            zipfile.ZipFile(path, 'w', zipfile.ZIP_STORED) as dst:
        for info in src.infolist():
            data = src.read(info.filename)
            dst.writestr(info, pkl if info.filename.endswith('/data.pkl') else data)
    return path


_MISSING = object()


@pytest.fixture
def guarded_process():
    """Snapshots builtins, mmengine's history_buffer module and HistoryBuffer's method table;
    asserts the test left them as they were (and restores them either way)."""
    import mmengine.logging.history_buffer as hb_module
    HistoryBuffer()  # registers the default methods
    spaces = [vars(builtins), vars(hb_module), HistoryBuffer._statistics_methods]
    before = [dict(space) for space in spaces]
    yield
    changed = []
    for space, saved in zip(spaces, before):
        diff = sorted(k for k in set(space) | set(saved)
                      if space.get(k, _MISSING) is not saved.get(k, _MISSING))
        changed += diff
        for key in diff:
            if key in saved:
                space[key] = saved[key]
            else:
                del space[key]
    assert not changed, f'process state changed: {changed}'


def _liveness_of_code_payload(make, tmp_path):
    marker = tmp_path / 'ran_under_old_list'
    path = _torch_file(make(marker), tmp_path / 'live.pth')
    with pytest.raises(Exception):
        _old_load(path)  # the payload errors after its command ran
    assert marker.exists(), 'payload did not run under the old allow-list'


CODE_PAYLOADS = [payload_builtins_dict, payload_rebuild_calls_eval]


@pytest.mark.parametrize('make', CODE_PAYLOADS, ids=lambda f: f.__name__)
def test_code_payload_runs_under_old_allow_list(make, tmp_path, guarded_process):
    _liveness_of_code_payload(make, tmp_path)


@pytest.mark.parametrize('make', CODE_PAYLOADS, ids=lambda f: f.__name__)
def test_code_payload_is_refused_by_safe_load(make, tmp_path, guarded_process):
    marker = tmp_path / 'pwned'
    path = _torch_file(make(marker), tmp_path / 'evil.pth')
    with pytest.raises(UnsafeCheckpointError, match=r"getattr\(.*'__self__'\)"):
        safe_load(str(path))
    assert not marker.exists()


def _load_through(entry, path):
    if entry == 'safe_load':
        return safe_load(str(path))
    if entry == 'mmengine._load_checkpoint':
        return _load_checkpoint(str(path), map_location='cpu')
    if entry == 'CheckpointLoader':
        return CheckpointLoader.load_checkpoint(str(path), map_location='cpu')
    assert entry == 'init_weights'
    model = mmbackbones.build_backbone(
        'resnet18', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()


ENTRY_POINTS = ['safe_load', 'mmengine._load_checkpoint', 'CheckpointLoader', 'init_weights']


@pytest.mark.parametrize('entry', ENTRY_POINTS)
def test_builtins_chain_is_refused_at_every_entry_point(entry, tmp_path, guarded_process):
    marker = tmp_path / 'pwned'
    path = _torch_file(payload_builtins_dict(marker), tmp_path / 'evil.pth')
    with pytest.raises(UnsafeCheckpointError, match='evil.pth'):
        _load_through(entry, path)
    assert not marker.exists()


def test_builtins_chain_is_refused_by_convert_weights_tool(tmp_path, guarded_process):
    marker = tmp_path / 'pwned'
    path = _torch_file(payload_builtins_dict(marker), tmp_path / 'evil.pth')
    out = subprocess.run([sys.executable, str(TOOL), str(path), str(tmp_path / 'out.pth'),
                          '--variant', 'resnet18'],
                         capture_output=True, text=True, timeout=300)
    assert out.returncode != 0
    assert 'refused to load' in out.stderr and 'evil.pth' in out.stderr, out.stderr[-2000:]
    assert not marker.exists() and not (tmp_path / 'out.pth').exists()


def test_allowed_pair_result_cannot_be_traversed(tmp_path, guarded_process):
    import mmengine.logging.history_buffer as hb_module
    path = _torch_file(payload_allowed_pair_then_globals(), tmp_path / 'evil.pth')
    real_np = hb_module.np
    _old_load(path)
    assert hb_module.np == 0, 'payload did not rebind mmengine\'s np under the old allow-list'
    hb_module.np = real_np
    with pytest.raises(UnsafeCheckpointError, match="'__globals__'"):
        safe_load(str(path))
    assert hb_module.np is real_np


def test_class_wide_statistics_table_cannot_be_replaced(tmp_path, guarded_process):
    path = _torch_file(payload_statistics_table(), tmp_path / 'evil.pth')
    table = HistoryBuffer._statistics_methods
    real_mean = table['mean']
    _old_load(path)
    assert table['mean'] is HistoryBuffer.max, 'payload did not change the table (old list)'
    table['mean'] = real_mean
    with pytest.raises(UnsafeCheckpointError, match='HistoryBuffer'):
        safe_load(str(path))
    assert table['mean'] is real_mean
    buffer = HistoryBuffer([1, 3], [1, 1])
    assert buffer.statistics('mean') == 2


def test_instance_statistics_override_is_refused(tmp_path, guarded_process):
    path = _torch_file(payload_instance_statistics(), tmp_path / 'evil.pth')
    buffer = _old_load(path)
    assert buffer.statistics('mean') == 3, 'mean of [1, 3] should read as max under the old list'
    with pytest.raises(UnsafeCheckpointError, match=r'HistoryBuffer\(.*\(REDUCE\)'):
        safe_load(str(path))


def test_shadowed_dict_method_is_refused(tmp_path, guarded_process):
    path = _torch_file(payload_shadowed_items(), tmp_path / 'evil.pth')
    loaded = _old_load(path)
    assert len(loaded) == 1 and loaded.items() == [], 'items() not shadowed under the old list'
    with pytest.raises(UnsafeCheckpointError, match="'items'"):
        safe_load(str(path))


def test_defaultdict_with_callable_factory_is_refused(tmp_path, guarded_process):
    path = _torch_file(payload_defaultdict_factory(), tmp_path / 'evil.pth')
    loaded = _old_load(path)
    assert isinstance(loaded['missing'], HistoryBuffer)  # the loaded factory ran
    with pytest.raises(UnsafeCheckpointError, match='defaultdict'):
        safe_load(str(path))


class _TensorWithHook:
    """Pickles as torch's own _rebuild_tensor_v2 with a backward hook (`list`, an allowed
    global) that autograd calls on every backward pass."""

    def __init__(self, tensor):
        self.tensor = tensor

    def __reduce__(self):
        t = self.tensor
        with warnings.catch_warnings():
            warnings.simplefilter('ignore')  # TypedStorage keeps the dtype in the pickle
            storage = t.storage()
        return torch._utils._rebuild_tensor_v2, (storage, 0, tuple(t.size()), t.stride(), True,
                                                 collections.OrderedDict({0: list}))


def test_tensor_with_backward_hooks_is_refused(tmp_path):
    path = tmp_path / 'evil.pth'
    torch.save({'w': _TensorWithHook(torch.ones(2))}, path)
    hooked = _old_load(path)['w']
    with pytest.raises(TypeError, match="hook returned 'list'"):
        (hooked * 2).sum().backward()  # the loaded callable ran
    with pytest.raises(UnsafeCheckpointError, match='backward hooks'):
        safe_load(str(path))


def test_process_wide_registrations_do_not_count(tmp_path, guarded_process):
    """torch's add_safe_globals list is process-wide; safe_load never consults it."""
    import traceback
    fine = tmp_path / 'fine.pth'
    torch.save({'w': torch.zeros(1)}, fine)
    marker = tmp_path / 'pwned'
    evil = _torch_file(payload_builtins_dict(marker), tmp_path / 'evil.pth')
    # as someone's add_safe_globals would
    with torch.serialization.safe_globals([getattr, eval, traceback.FrameSummary]):
        assert torch.equal(safe_load(str(fine))['w'], torch.zeros(1))
        with pytest.raises(UnsafeCheckpointError, match=r"getattr\(builtins.getattr, '__self__'\)"):
            safe_load(str(evil))
    assert not marker.exists()


def test_allowed_getattr_pairs_are_exactly_what_mmengine_pickles():
    """Record every getattr a real message-hub state dict asks for when unpickled."""
    from mmengine.logging import MessageHub
    hub = MessageHub('getattr-pairs')
    hub.update_scalar('train/loss', 1.5)
    hub.update_info('iter', 3)
    asked = []

    class Recorder(pickle.Unpickler):

        def find_class(self, module, name):
            found = super().find_class(module, name)
            if found is not getattr:
                return found

            def recording_getattr(obj, attr):
                asked.append((f'{obj.__module__}.{obj.__qualname__}', attr))
                return getattr(obj, attr)

            return recording_getattr

    Recorder(io.BytesIO(pickle.dumps(hub.state_dict(), protocol=2))).load()
    assert set(asked) == set(mmbackbones.weights.GETATTR_PAIRS)
    from mmbackbones.weights import SAFE_GLOBALS
    assert getattr not in [g[0] if isinstance(g, tuple) else g for g in SAFE_GLOBALS]


# ------------------------------------------------------------------ files that are no checkpoint


@pytest.mark.parametrize('content', [b'', b'model weights, honest\n', 'truncated'],
                         ids=['empty', 'text', 'truncated-zip'])
def test_non_checkpoint_files_say_so(content, tmp_path):
    path = tmp_path / 'weights.pth'
    if content == 'truncated':
        torch.save({'w': torch.zeros(64)}, path)
        content = path.read_bytes()[:200]
    path.write_bytes(content)
    for entry in ENTRY_POINTS:
        expected = re.escape(f'{path} is not a torch checkpoint')
        with pytest.raises(NotACheckpointError, match=expected):
            _load_through(entry, path)


def test_legacy_format_still_loads(tmp_path):
    path = tmp_path / 'legacy.pth'
    torch.save({'w': torch.ones(2)}, path, _use_new_zipfile_serialization=False)
    assert torch.equal(safe_load(str(path))['w'], torch.ones(2))


# ------------------------------------------------------------------ numpy through allowed globals

NONE, NEWTRUE, NEWFALSE, TUPLE3 = b'N', b'\x88', b'\x89', b'\x87'
RAW = 'AAAAAAAA'  # would be read as a PyObject pointer; never dereferenced in these tests


def _np_bytes(text):
    return G('_codecs', 'encode') + S(text) + S('latin1') + TUPLE2 + REDUCE


def _np_dtype(spec):
    return G('numpy', 'dtype') + S(spec) + NEWFALSE + NEWTRUE + TUPLE3 + REDUCE


def _forged_dtype():
    """A void dtype rebuilt by __setstate__ with an object field and flags 0."""
    return (_np_dtype('V8') + MARK + INT1 + b'\x03' + S('|') + NONE + S('a') + TUPLE1
            + EMPTY_DICT + S('a') + _np_dtype('O8') + INT1 + b'\x00' + TUPLE2 + SETITEM
            + INT1 + b'\x08' + INT1 + b'\x01' + INT1 + b'\x00' + TUPLE + BUILD)


def payload_object_array_from_bytes():
    """ndarray((1,), dtype('O'), buffer=b'AAAAAAAA'): an object array of forged pointers."""
    return (PROTO + G('numpy', 'ndarray') + MARK + INT1 + b'\x01' + TUPLE1 + _np_dtype('O8')
            + _np_bytes(RAW) + TUPLE + NEWOBJ + STOP)


def payload_forged_dtype_array():
    return (PROTO + G('numpy._core.multiarray', '_reconstruct')
            + G('numpy', 'ndarray') + INT1 + b'\x00' + TUPLE1 + _np_bytes('b') + TUPLE3 + REDUCE
            + MARK + INT1 + b'\x01' + INT1 + b'\x01' + TUPLE1 + _forged_dtype() + NEWFALSE
            + _np_bytes(RAW) + TUPLE + BUILD + STOP)


def payload_forged_dtype_scalar():
    return (PROTO + G('numpy._core.multiarray', 'scalar') + _forged_dtype() + _np_bytes(RAW)
            + TUPLE2 + REDUCE + STOP)


def payload_forged_dtype_allocation():
    """_reconstruct(ndarray, (1,), forged): numpy allocates it unzeroed, object field and all."""
    return (PROTO + G('numpy._core.multiarray', '_reconstruct') + G('numpy', 'ndarray')
            + INT1 + b'\x01' + TUPLE1 + _forged_dtype() + TUPLE3 + REDUCE + STOP)


def _raw_bytes_of(array):
    import ctypes
    return ctypes.string_at(array.ctypes.data, 8)


def test_object_array_over_raw_bytes_is_refused(tmp_path):
    path = _torch_file(payload_object_array_from_bytes(), tmp_path / 'evil.pth')
    forged = _old_load(path)
    assert forged.dtype == object and _raw_bytes_of(forged) == RAW.encode()  # pointers forged
    with pytest.raises(UnsafeCheckpointError, match=r"numpy\.dtype\('O8'"):
        safe_load(str(path))


def test_array_with_forged_dtype_flags_is_refused(tmp_path):
    path = _torch_file(payload_forged_dtype_array(), tmp_path / 'evil.pth')
    forged = _old_load(path)
    assert forged.dtype.fields['a'][0] == object and not forged.dtype.hasobject
    assert _raw_bytes_of(forged) == RAW.encode()
    with pytest.raises(UnsafeCheckpointError, match=r"numpy\.dtype\('V8'"):
        safe_load(str(path))


@pytest.mark.parametrize('payload', [payload_forged_dtype_allocation,
                                     payload_forged_dtype_scalar],
                         ids=['allocation', 'scalar'])
def test_allocation_or_scalar_with_forged_dtype_is_refused(payload, tmp_path):
    path = _torch_file(payload(), tmp_path / 'evil.pth')
    forged = _old_load(path)
    assert forged.dtype.fields['a'][0] == object and not forged.dtype.hasobject
    with pytest.raises(UnsafeCheckpointError, match=r"numpy\.dtype\('V8'"):
        safe_load(str(path))


def test_numpy_values_round_trip_as_plain_numpy(tmp_path):
    path = tmp_path / 'np.pth'
    values = {'a': np.arange(6, dtype=np.float32).reshape(2, 3), 'b': np.float64(2.5),
              'c': np.int64(7), 'd': np.array(['x', 'yz']), 'e': np.array([1, 2], dtype='>i4'),
              'f': (np.zeros(2, dtype=np.uint8), ), 'g': np.dtype('f2')}
    torch.save(values, path)
    loaded = safe_load(str(path))
    for key, value in values.items():
        got = loaded[key]
        if isinstance(value, tuple):
            value, got = value[0], got[0]
        value = pickle.loads(pickle.dumps(value, protocol=2))  # what plain pickle gives back
        assert type(got) is type(value), key
        if isinstance(value, np.ndarray):
            assert got.dtype == value.dtype and np.array_equal(got, value), key
        else:
            assert got == value, key
    assert pickle.loads(pickle.dumps(loaded['a'])).__class__ is np.ndarray


# ------------------------------------------------------------------------- timm:// offline

import socket  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

from mmbackbones.weights import HubOfflineError  # noqa: E402


@pytest.fixture
def no_network(monkeypatch, tmp_path):
    """Every socket connection is recorded and fails; huggingface_hub sees an empty cache."""
    import huggingface_hub.constants as hf_constants
    calls = []

    def unreachable(address, timeout=None, *args, **kwargs):
        calls.append((address, timeout))
        raise OSError(101, 'Network is unreachable')

    monkeypatch.setattr(socket, 'create_connection', unreachable)
    monkeypatch.setattr(hf_constants, 'HF_HUB_CACHE', str(tmp_path / 'empty_hf_cache'))
    monkeypatch.delenv('HF_ENDPOINT', raising=False)
    for var in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'):
        monkeypatch.delenv(var, raising=False)
    return calls


def _timm_init_error(variant='resnet18', name='resnet18'):
    model = mmbackbones.build_backbone(
        variant, init_cfg=dict(type='Pretrained', checkpoint=f'timm://{name}'))
    start = time.monotonic()
    with pytest.raises(HubOfflineError) as info:
        model.init_weights()
    return str(info.value), time.monotonic() - start


def test_timm_scheme_with_hf_hub_offline_fails_fast(no_network, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    message, seconds = _timm_init_error()
    assert no_network == []  # neither the probe nor timm tried to connect
    assert seconds < 10
    assert 'timm://resnet18' in message and 'offline (HF_HUB_OFFLINE=1)' in message
    assert 'checkpoint="/path/to/resnet18.pth"' in message and 'torch.save' in message


def test_timm_scheme_probes_the_hub_once_with_a_short_timeout(no_network):
    message, seconds = _timm_init_error()
    assert no_network == [(('huggingface.co', 443), 2.0)]
    assert 'cannot reach huggingface.co:443' in message and seconds < 10


def test_timm_scheme_gives_up_on_a_hub_that_does_not_answer(no_network, monkeypatch):
    convert_module = sys.modules['mmbackbones.weights.convert']
    monkeypatch.setattr(convert_module, 'HUB_PROBE_TIMEOUT', 0.2)
    release = threading.Event()

    def hangs(address, timeout=None, *args, **kwargs):
        release.wait(10)  # a resolver that never answers
        raise OSError('late')

    monkeypatch.setattr(socket, 'create_connection', hangs)
    try:
        message, seconds = _timm_init_error()
    finally:
        release.set()
    assert 'did not answer within 0.2 s' in message and seconds < 5


# ---------------------------------------------------- checkpoints as OpenMMLab runners write them


def _runner_style_checkpoint(state_dict, dataset_meta):
    """What mmengine's Runner.save_checkpoint writes for a detector or segmentor: meta with the
    dataset's metainfo, the state dict, a message hub, optimizer and scheduler states."""
    import mmengine
    from mmengine.logging import MessageHub
    hub = MessageHub('runner-style')
    hub.update_scalar('train/loss', np.float32(0.75))
    hub.update_scalar('train/lr', 0.01)
    hub.update_info('dataset_meta', dataset_meta)
    hub.update_info('iter', 40)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(2))], lr=0.01, momentum=0.9)
    optimizer.step()
    return dict(
        meta=dict(epoch=12, iter=40, cfg="model = dict(type='X')\n", seed=np.int64(2024),
                  experiment_name='exp', time='20260101_000000',
                  mmengine_version=mmengine.__version__, dataset_meta=dataset_meta),
        state_dict=collections.OrderedDict(state_dict), message_hub=hub.state_dict(),
        optimizer=optimizer.state_dict(),
        param_schedulers=[dict(milestones=collections.Counter({8: 1, 11: 1}), last_step=12)])


@pytest.mark.parametrize('toolbox', ['mmdet', 'mmseg'])
def test_openmmlab_runner_checkpoints_load(toolbox, tmp_path):
    if toolbox == 'mmdet':
        from mmdet.datasets import CocoDataset as Dataset
        heads = {'neck.fpn_convs.0.conv.weight': torch.randn(4, 4, 3, 3),
                 'rpn_head.rpn_cls.bias': torch.randn(3)}
    else:
        from mmseg.datasets import ADE20KDataset as Dataset
        heads = {'decode_head.conv_seg.weight': torch.randn(150, 4, 1, 1)}
    backbone = mmbackbones.build_backbone('resnet18')
    state = {f'backbone.{k}': torch.randn_like(v) if v.is_floating_point() else v
             for k, v in backbone.state_dict().items()}
    state.update(heads)
    path = tmp_path / f'{toolbox}_epoch_12.pth'
    torch.save(_runner_style_checkpoint(state, Dataset.METAINFO), path)

    for loaded in (safe_load(str(path)), _load_checkpoint(str(path), map_location='cpu')):
        assert loaded['meta']['dataset_meta'] == Dataset.METAINFO
        assert loaded['message_hub']['log_scalars']['train/loss'].current() == np.float32(0.75)
        assert loaded['optimizer']['param_groups'][0]['momentum'] == 0.9
        assert all(torch.equal(loaded['state_dict'][k], v) for k, v in state.items())
    model = mmbackbones.build_backbone(
        'resnet18', init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    model.init_weights()
    assert torch.equal(model.layer4[1].conv2.weight, state['backbone.layer4.1.conv2.weight'])


def test_timm_scheme_with_an_unknown_model_says_so(no_network, monkeypatch):
    monkeypatch.setenv('HF_HUB_OFFLINE', '1')
    model = mmbackbones.build_backbone(
        'resnet18', init_cfg=dict(type='Pretrained', checkpoint='timm://resnet_that_is_not'))
    with pytest.raises(ValueError, match="timm has no model 'resnet_that_is_not'"):
        model.init_weights()
    assert no_network == []
