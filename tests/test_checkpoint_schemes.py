"""Every checkpoint scheme an OpenMMLab config uses, offline: ``http://`` from a server on
127.0.0.1, ``open-mmlab://`` / ``mmcls://`` / ``torchvision://`` through mmengine's own name
tables with the download cache pre-seeded. Whatever the scheme, the download is loaded with our
allow-list, then converted from its layout and checked like a local file."""
import functools
import http.server
import os
import threading
from urllib.parse import urlparse

import numpy as np
import pytest
import torch

from mmbackbones.models.backbones import SwinTransformer
from mmbackbones.weights import PretrainedMismatchError, UnsafeCheckpointError, load_pretrained

from .helpers import feature_mismatch

SMALL = dict(embed_dims=32, depths=[2, 2, 2, 2], num_heads=[1, 2, 4, 8], window_size=7)


@pytest.fixture
def caches(tmp_path, monkeypatch):
    """Fresh torch-hub and mmengine homes (the download cache and mmengine's name tables)."""
    monkeypatch.setenv('TORCH_HOME', str(tmp_path / 'torch'))
    monkeypatch.setenv('MMENGINE_HOME', str(tmp_path / 'mmengine'))
    monkeypatch.setattr(torch.hub, '_hub_dir', None)
    cache = tmp_path / 'torch' / 'hub' / 'checkpoints'
    cache.mkdir(parents=True)
    (tmp_path / 'mmengine').mkdir()
    return dict(torch_cache=cache, mmengine_home=tmp_path / 'mmengine')


@pytest.fixture
def server(tmp_path):
    """An HTTP server on 127.0.0.1 serving tmp_path/www; yields (root dir, base URL, hits)."""
    root = tmp_path / 'www'
    root.mkdir()
    hits = []

    class Handler(http.server.SimpleHTTPRequestHandler):

        def log_message(self, *args):
            hits.append(self.path)

    httpd = http.server.ThreadingHTTPServer(
        ('127.0.0.1', 0), functools.partial(Handler, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield root, f'http://127.0.0.1:{httpd.server_address[1]}', hits
    finally:
        httpd.shutdown()
        httpd.server_close()


@functools.lru_cache(maxsize=None)
def _mmdet_reference():
    from mmdet.models.backbones import SwinTransformer as Reference
    torch.manual_seed(0)
    ref = Reference(**SMALL)
    ref.eval()  # (mmdet's train() returns None)
    g = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for p in ref.parameters():
            p.copy_(torch.randn(p.shape, generator=g) * 0.05 + (1.0 if p.ndim == 1 else 0.0))
    return ref


def _mmengine_checkpoint():
    """What mmengine's CheckpointHook writes: the model under state_dict (detector keys),
    plus numpy scalars and a message hub's HistoryBuffer in the metadata."""
    from mmengine.logging.history_buffer import HistoryBuffer
    ref = _mmdet_reference()
    return {
        'meta': {'epoch': 12, 'seed': np.int64(3), 'lr': np.float64(1e-4)},
        'message_hub': {'log_scalars': {'train/loss': HistoryBuffer([1.0, 0.5], [1, 1])}},
        'state_dict': {f'backbone.{k}': v for k, v in ref.state_dict().items()},
    }


@functools.lru_cache(maxsize=None)
def _reference_features():
    x = torch.rand(1, 3, 64, 96, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        return x, _mmdet_reference()(x)


def _assert_loaded(model):
    model.eval()
    x, expected = _reference_features()
    with torch.no_grad():
        assert max(feature_mismatch(model(x), expected)) <= 1e-4


def test_http_checkpoint_downloads_to_mmengines_cache_and_converts(server, caches):
    root, base, hits = server
    torch.save(_mmengine_checkpoint(), root / 'swin_mask_rcnn.pth')
    url = f'{base}/swin_mask_rcnn.pth'
    model = SwinTransformer(**SMALL, init_cfg=dict(type='Pretrained', checkpoint=url))
    model.init_weights()
    _assert_loaded(model)
    # mmengine's load_from_http keeps downloads where torch.hub's load_state_dict_from_url does
    assert (caches['torch_cache'] / 'swin_mask_rcnn.pth').is_file()
    assert len(hits) == 1
    report = load_pretrained(SwinTransformer(**SMALL), url)  # second time: from the cache
    assert report['source'] == 'mmdet' and not report['missing']
    assert len(hits) == 1


def test_mmengine_load_from_url_goes_through_the_allow_list(server, caches):
    """``load_from = 'https://...'`` in a runner config reaches CheckpointLoader: after
    ``import mmbackbones`` that is our loader for every URL scheme."""
    from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint
    root, base, _ = server
    torch.save(_mmengine_checkpoint(), root / 'b.pth')
    checkpoint = _load_checkpoint(f'{base}/b.pth', map_location='cpu')
    assert checkpoint['meta']['epoch'] == 12
    for url in ('http://x/y.pth', 'https://x/y.pth', 'open-mmlab://x', 'mmcls://x',
                'torchvision://x'):
        loader = CheckpointLoader._get_checkpoint_loader(url)
        assert loader.__module__ == 'mmbackbones.weights.convert', url


class _Payload:
    """Unpickling this calls os.makedirs(marker): a stand-in for any code execution."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return os.makedirs, (self.marker, )


def test_malicious_download_is_refused_before_it_runs(server, caches, tmp_path):
    """mmengine 0.10.7's http loader ends in torch.hub.load_state_dict_from_url, whose
    weights_only defaults to False: a served pickle runs. Through mmbackbones (load_pretrained,
    and mmengine's CheckpointLoader once mmbackbones is imported) it is refused unrun."""
    from mmengine.runner import checkpoint as mme
    root, base, _ = server
    ours_marker, theirs_marker = tmp_path / 'ran_through_ours', tmp_path / 'ran_through_mmengine'
    torch.save({'state_dict': {'x': torch.zeros(1)}, 'evil': _Payload(str(ours_marker))},
               root / 'evil.pth')
    with pytest.raises(UnsafeCheckpointError, match='allow-list'):
        load_pretrained(SwinTransformer(**SMALL), f'{base}/evil.pth')
    with pytest.raises(UnsafeCheckpointError):
        mme.CheckpointLoader.load_checkpoint(f'{base}/evil.pth', map_location='cpu')
    with pytest.raises(UnsafeCheckpointError):
        mme._load_checkpoint(f'{base}/evil.pth', map_location='cpu')  # a runner's load_from
    assert not ours_marker.exists()

    # The same attack through mmengine's own loader does run: the hole is real.
    torch.save({'evil': _Payload(str(theirs_marker))}, root / 'evil2.pth')
    mme.load_from_http(f'{base}/evil2.pth', map_location='cpu')
    assert theirs_marker.exists()


def test_url_without_a_file_name_is_refused(caches):
    with pytest.raises(ValueError, match='names no file'):
        load_pretrained(SwinTransformer(**SMALL), 'http://127.0.0.1:9/')


def test_open_mmlab_names_resolve_through_mmengines_tables(server, caches):
    """A user table ($MMENGINE_HOME/open_mmlab.json, read by mmengine) pointing at a URL and at
    a file under MMENGINE_HOME, and one of mmengine's own names with the cache pre-seeded."""
    import json

    from mmengine.runner.checkpoint import get_external_models
    root, base, hits = server
    torch.save(_mmengine_checkpoint(), root / 'served.pth')
    (caches['mmengine_home'] / 'local').mkdir()
    torch.save(_mmengine_checkpoint(), caches['mmengine_home'] / 'local' / 'swin.pth')
    (caches['mmengine_home'] / 'open_mmlab.json').write_text(json.dumps(
        {'my_swin': f'{base}/served.pth', 'my_local_swin': 'local/swin.pth'}))
    for name in ('open-mmlab://my_swin', 'openmmlab://my_swin', 'open-mmlab://my_local_swin'):
        model = SwinTransformer(**SMALL, init_cfg=dict(type='Pretrained', checkpoint=name))
        model.init_weights()
        _assert_loaded(model)
    assert len(hits) == 1  # downloaded once, then cached

    url = get_external_models()['resnet50_v1c']  # a real entry of mmengine's table
    torch.save(_mmengine_checkpoint(), caches['torch_cache'] / os.path.basename(urlparse(url).path))
    model = SwinTransformer(**SMALL, pretrained='open-mmlab://resnet50_v1c')
    model.init_weights()
    _assert_loaded(model)
    with pytest.raises(KeyError, match='unknown OpenMMLab model name'):
        load_pretrained(SwinTransformer(**SMALL), 'open-mmlab://no_such_model')


def test_mmcls_names_resolve_through_mmengines_table(caches):
    from mmengine.runner.checkpoint import get_mmcls_models
    url = get_mmcls_models()['swin_tiny']
    classifier = _mmengine_checkpoint()
    classifier['state_dict']['head.fc.weight'] = torch.zeros(1000, 768)
    torch.save(classifier, caches['torch_cache'] / os.path.basename(urlparse(url).path))
    model = SwinTransformer(**SMALL, init_cfg=dict(type='Pretrained', checkpoint='mmcls://swin_tiny'))
    model.init_weights()
    _assert_loaded(model)


def _hashed_name(path, stem):
    """The name torch hub gives a file: <stem>-<first 8 hex digits of its sha256>.pth."""
    import hashlib
    return f'{stem}-{hashlib.sha256(path.read_bytes()).hexdigest()[:8]}.pth'


def test_torchvision_plain_names_mean_mmengines_urls(caches, monkeypatch, tmp_path):
    """``torchvision://swin_t.imagenet1k_v1`` is a key of mmengine's torchvision table (as
    ``torchvision://resnet50`` is): it loads that URL, as in mmdet, not torchvision's DEFAULT.
    The cached file must match the sha256 prefix in its name."""
    import torchvision
    from mmengine.runner import checkpoint as mme
    from mmengine.runner.checkpoint import get_torchvision_models

    from mmbackbones.weights.convert import _torchvision_url
    assert _torchvision_url('swin_t.imagenet1k_v1') == \
        get_torchvision_models()['swin_t.imagenet1k_v1']

    def no_get_model(*args, **kwargs):
        raise AssertionError('torchvision.models.get_model must not be used for this name')

    monkeypatch.setattr(torchvision.models, 'get_model', no_get_model)
    from torchvision.models.swin_transformer import SwinTransformer as TorchvisionSwin
    ref = TorchvisionSwin(patch_size=[4, 4], embed_dim=32, depths=[2, 2, 2, 2],
                          num_heads=[1, 2, 4, 8], window_size=[7, 7])  # SMALL, torchvision's
    staged = tmp_path / 'staged.pth'
    torch.save(ref.state_dict(), staged)
    name = _hashed_name(staged, 'swin_t')
    staged.rename(caches['torch_cache'] / name)
    table = dict(get_torchvision_models(), **{
        'swin_t.imagenet1k_v1': f'https://download.pytorch.org/models/{name}'})
    monkeypatch.setattr(mme, 'get_torchvision_models', lambda: table)
    model = SwinTransformer(**SMALL, init_cfg=dict(
        type='Pretrained', checkpoint='torchvision://swin_t.imagenet1k_v1'))
    model.init_weights()
    assert torch.equal(model.patch_embed.proj.weight, ref.features[0][0].weight)
    assert get_torchvision_models()['resnet50'].endswith('resnet50-0676ba61.pth')  # v1, as mmdet


def test_a_download_of_the_wrong_model_is_still_checked(server, caches):
    """The mismatch checks apply to downloads as to local files."""
    root, base, _ = server
    torch.save(_mmengine_checkpoint(), root / 'small.pth')
    with pytest.raises(PretrainedMismatchError, match='does not fit'):
        load_pretrained(SwinTransformer('tiny'), f'{base}/small.pth')


def test_planted_hub_cache_file_never_runs(caches, monkeypatch, tmp_path):
    """A file placed in torch hub's cache under the name torchvision's weights have runs code
    through torchvision's own loading (its hash is only checked when downloading). Through
    mmbackbones it is refused by its hash, at every entry point, and by the safe loader when
    the hash matches."""
    import torchvision
    from mmengine.runner import checkpoint as mme
    from mmengine.runner.checkpoint import get_torchvision_models
    marker = tmp_path / 'ran'
    for url in (torchvision.models.ResNet50_Weights.IMAGENET1K_V1.url,
                get_torchvision_models()['resnet50']):
        torch.save({'evil': _Payload(str(marker))},
                   caches['torch_cache'] / os.path.basename(urlparse(url).path))
    # the hole is real: torchvision's loading runs the planted file
    with pytest.raises(Exception):
        torchvision.models.get_model('resnet50', weights='IMAGENET1K_V1')
    assert marker.exists()
    marker.rmdir()

    def no_get_model(*args, **kwargs):
        raise AssertionError('torchvision.models.get_model must not be used')

    monkeypatch.setattr(torchvision.models, 'get_model', no_get_model)
    entry_points = [
        lambda c: SwinTransformer(**SMALL, init_cfg=dict(type='Pretrained',
                                                         checkpoint=c)).init_weights(),
        lambda c: load_pretrained(SwinTransformer(**SMALL), c),
        lambda c: mme.CheckpointLoader.load_checkpoint(c, map_location='cpu'),
        lambda c: mme._load_checkpoint(c, map_location='cpu'),  # a runner's load_from
    ]
    for checkpoint in ('torchvision://resnet50.IMAGENET1K_V1', 'torchvision://resnet50',
                       'modelzoo://resnet50'):
        for load in entry_points:
            with pytest.raises(UnsafeCheckpointError, match='sha256 starts with'):
                load(checkpoint)
    assert not marker.exists()

    # a planted file whose name matches its hash still goes through the safe loader
    staged = tmp_path / 'staged.pth'
    torch.save({'evil': _Payload(str(marker))}, staged)
    name = _hashed_name(staged, 'resnet50')
    staged.rename(caches['torch_cache'] / name)
    table = dict(get_torchvision_models(),
                 resnet50=f'https://download.pytorch.org/models/{name}')
    monkeypatch.setattr(mme, 'get_torchvision_models', lambda: table)
    for load in entry_points:
        with pytest.raises(UnsafeCheckpointError, match='allow-list'):
            load('torchvision://resnet50')
    assert not marker.exists()


@pytest.mark.parametrize('checkpoint', ['pavi://bucket/model.pth', 's3://bucket/model.pth',
                                        'petrel://bucket/model.pth',
                                        'open-mmlab:s3://bucket/model.pth'])
def test_unsupported_schemes_are_refused_by_name(checkpoint):
    from mmengine.runner import checkpoint as mme

    from mmbackbones.weights import CheckpointSchemeError
    scheme = checkpoint.split('://')[0]
    for load in (lambda: load_pretrained(SwinTransformer(**SMALL), checkpoint),
                 lambda: mme.CheckpointLoader.load_checkpoint(checkpoint, map_location='cpu'),
                 lambda: mme._load_checkpoint(checkpoint, map_location='cpu')):
        with pytest.raises(CheckpointSchemeError, match=f"'{scheme}://' is not supported.*"
                           'http://, https://, open-mmlab://'):
            load()
