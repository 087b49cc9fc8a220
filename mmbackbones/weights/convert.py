"""Foreign checkpoints -> mmbackbones keys: the converter registry, layout detection, loading.

Each family module registers, per source layout (``timm``, ``torchvision``, ``official``,
``mmdet``, ``mmseg``, ``mmpretrain``, ``mmyolo``), a detector that recognises the layout from
its keys and a converter that maps it onto the family's own keys
(``@register_converter(ResNet, 'timm', detect=...)``). Converters are found along the class
hierarchy: a subclass (ResNeXt, Res2Net) uses its parent's unless it registers its own.
Classifier heads are dropped; nothing else is.
"""
import contextlib
import os
import re
import socket
import threading
from typing import Callable, Dict, Optional, Tuple

import torch

from .checkpoint import UnsafeCheckpointError, safe_load
from .offline import offline_error

__all__ = ['register_converter', 'converters_for', 'convert', 'detect_source', 'load_pretrained', 'unwrap_state_dict',
           'PretrainedMismatchError', 'HubOfflineError', 'SOURCES',
           'SUPPORTED_SCHEMES', 'CheckpointSchemeError']

SOURCES = ('mmbackbones', 'timm', 'torchvision', 'official', 'mmdet', 'mmseg', 'mmpretrain',
           'mmyolo')

# (family class, source) -> (detect(state_dict) -> bool, convert(state_dict, model) -> state_dict)
_CONVERTERS: Dict[Tuple[type, str], Tuple[Callable, Callable]] = {}

# Fraction of the backbone's tensors a checkpoint must fill, else loading raises.
MIN_MATCHED_FRACTION = 0.9


class PretrainedMismatchError(RuntimeError):
    """A checkpoint matched too little of the backbone to be what the user meant."""


class HubOfflineError(ConnectionError):
    """``timm://`` weights were asked for, the hub is unreachable and they are not cached."""


# Seconds the hub may take to accept a connection before timm:// counts as offline (timm's
# own download would otherwise retry for most of a minute).
HUB_PROBE_TIMEOUT = 2.0
_TRUE = ('1', 'on', 'yes', 'true')


def register_converter(family: type, source: str, detect: Callable):
    """Decorator registering ``fn(state_dict, model) -> state_dict`` for the backbone class
    ``family`` (and its subclasses that register none of their own) and layout ``source``."""
    if source not in SOURCES:
        raise ValueError(f'source={source!r}; valid sources: {SOURCES}')
    if not isinstance(family, type):
        raise TypeError(f'family={family!r}; register converters for the backbone class')

    def wrap(fn):
        if (family, source) in _CONVERTERS:
            raise KeyError(f'a {source} converter for {family.__name__} is registered twice')
        _CONVERTERS[(family, source)] = (detect, fn)
        return fn

    return wrap


def converters_for(model_or_class) -> Dict[str, Tuple[Callable, Callable]]:
    """``source -> (detect, convert)`` of a backbone, the nearest class in its MRO winning."""
    cls = model_or_class if isinstance(model_or_class, type) else type(model_or_class)
    found: Dict[str, Tuple[Callable, Callable]] = {}
    for klass in cls.__mro__:
        for (family, source), entry in _CONVERTERS.items():
            if family is klass:
                found.setdefault(source, entry)
    return found


def unwrap_state_dict(checkpoint) -> Dict[str, torch.Tensor]:
    """The parameter dict inside common checkpoint wrappers; a detector's ``backbone.`` prefix
    and DDP's ``module.`` prefix are removed."""
    state = checkpoint
    for key in ('state_dict', 'model', 'module', 'state_dict_ema'):
        if isinstance(state, dict) and key in state and isinstance(state[key], dict):
            state = state[key]
            break
    if not isinstance(state, dict):
        raise TypeError(f'checkpoint holds no state dict (got {type(state).__name__})')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    if any(k.startswith('backbone.') for k in state):
        state = {k[len('backbone.'):]: v for k, v in state.items() if k.startswith('backbone.')}
    return state


def detect_source(state_dict, model) -> str:
    """Which layout ``state_dict`` is in, for the family of ``model``.

    Every layout whose detector accepts the keys is converted, and the one that fills the
    most of the model's keys wins (shapes are checked later, by the loader, so that a
    checkpoint of another size is reported as such); on a tie a converter beats taking the
    keys as they are, since converters also drop classifier heads.
    """
    own = set(model.state_dict())
    family = type(model).__name__
    converters = converters_for(model)
    candidates = {source: fn(state_dict, model)
                  for source, (detect, fn) in converters.items() if detect(state_dict)}
    candidates['mmbackbones'] = dict(state_dict)

    def score(source):
        converted = candidates[source]
        return len(own & set(converted)), -len(set(converted) - own)

    best = max(candidates, key=score)  # first maximum: converters come before 'mmbackbones'
    if score(best)[0] == 0:
        known = sorted(converters)
        raise PretrainedMismatchError(
            f'cannot tell which layout this checkpoint is in for {family}; supported layouts: '
            f'mmbackbones, {", ".join(known)}. First keys: {list(state_dict)[:5]}')
    return best


def convert(state_dict, variant, source: str, model=None) -> Dict[str, torch.Tensor]:
    """Map ``state_dict`` from ``source``'s layout to the keys of ``variant``'s backbone.

    ``variant`` is a zoo name, a :class:`~mmbackbones.zoo.Variant`, or a built backbone.
    """
    from ..zoo import Variant, build_backbone, get_variant
    if model is None and isinstance(variant, torch.nn.Module):
        model = variant
    if model is None:
        variant = get_variant(variant) if isinstance(variant, str) else variant
        assert isinstance(variant, Variant)
        with torch.device('meta'):
            model = build_backbone(variant.name)
    state_dict = unwrap_state_dict(state_dict)
    if source == 'mmbackbones':
        return dict(state_dict)
    converters = converters_for(model)
    if source not in converters:
        raise ValueError(f'source={source!r} is not supported for {type(model).__name__}; '
                         f'valid sources: mmbackbones, {", ".join(sorted(converters))}')
    return converters[source][1](state_dict, model)


def _hub_offline_reason() -> Optional[str]:
    """Why the Hugging Face hub counts as offline, or None when it answers within
    HUB_PROBE_TIMEOUT seconds."""
    for var in ('HF_HUB_OFFLINE', 'TRANSFORMERS_OFFLINE'):
        if os.environ.get(var, '').strip().lower() in _TRUE:
            return f'{var}={os.environ[var]}'
    from urllib.parse import urlsplit
    url = urlsplit(os.environ.get('HF_ENDPOINT', 'https://huggingface.co'))
    host, port = url.hostname or 'huggingface.co', url.port or (80 if url.scheme == 'http' else 443)
    outcome = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=HUB_PROBE_TIMEOUT).close()
            outcome.append(None)
        except OSError as err:
            outcome.append(f'cannot reach {host}:{port}: {err}')

    # A thread bounds name resolution too, which create_connection's timeout does not.
    thread = threading.Thread(target=probe, daemon=True)
    thread.start()
    thread.join(HUB_PROBE_TIMEOUT + 0.5)
    if not outcome:
        return f'{host}:{port} did not answer within {HUB_PROBE_TIMEOUT:g} s'
    return outcome[0]


@contextlib.contextmanager
def _hub_offline_mode():
    """Make huggingface_hub use its local cache only (it reads this flag on every request)."""
    try:
        from huggingface_hub import constants
    except ImportError:
        yield
        return
    before = constants.HF_HUB_OFFLINE
    constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = before


def _timm_weights_file(name: str, offline: bool) -> str:
    """The file timm keeps the pretrained weights of ``name`` in, as timm finds it (its
    pretrained config: a local file, the Hugging Face hub with safetensors first, or a URL in
    torch hub's cache), downloading it unless ``offline``."""
    from timm.models import get_pretrained_cfg
    cfg = get_pretrained_cfg(name)
    if cfg is None:
        raise ValueError(f'timm://{name}: timm has no pretrained weights for {name!r}')
    if cfg.file:
        return cfg.file
    tried = []
    if cfg.hf_hub_id:
        from huggingface_hub import hf_hub_download
        repo, _, revision = cfg.hf_hub_id.partition('@')
        for filename in ([cfg.hf_hub_filename] if cfg.hf_hub_filename else
                         ['model.safetensors', 'pytorch_model.bin']):
            try:
                return hf_hub_download(repo, filename, revision=revision or None,
                                       local_files_only=offline)
            except Exception as err:  # not cached, not in the repository, unreachable
                tried.append(f'{repo}/{filename} ({type(err).__name__})')
    if cfg.url:
        from torch.hub import download_url_to_file
        cached = _hub_cache_path(cfg.url)
        if not os.path.isfile(cached) and not offline:
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            download_url_to_file(cfg.url, cached, hash_prefix=_hash_prefix(cached),
                                 progress=False)
        if os.path.isfile(cached):
            return cached
        tried.append(cached)
    raise FileNotFoundError(f'no weights file for timm://{name}: tried {", ".join(tried)}')


def _timm_state_dict(name: str):
    """``timm://<model>[.<tag>]``: timm's weights file, read by :func:`safe_load` (never by
    timm's own loading), then given to timm as a state dict so that its checkpoint filter
    (older layouts, position tables) applies; returns the model's state dict."""
    import timm  # only for users who ask for it; `import mmbackbones` never imports timm
    if not timm.is_model(name):  # before the offline handling below, which would hide it
        raise ValueError(f'timm://{name}: timm has no model {name!r} (see timm.list_models())')
    reason = _hub_offline_reason()
    try:
        with _hub_offline_mode() if reason else contextlib.nullcontext():
            path = _timm_weights_file(name, offline=reason is not None)
    except Exception as err:
        if reason is None:
            raise
        detail = str(err).splitlines()[0] if str(err) else ''
        raise HubOfflineError(
            f'timm://{name}: the Hugging Face hub is offline ({reason}) and the weights are not '
            f'in the local cache ({type(err).__name__}: {detail}). '
            'Use a local file instead: where there is network, run `torch.save(timm.create_model('
            f'"{name}", pretrained=True).state_dict(), "{name}.pth")`, copy the file here and set '
            f'init_cfg=dict(type="Pretrained", checkpoint="/path/to/{name}.pth") (the timm layout '
            'is detected).') from err
    prefix = _hash_prefix(path) if os.path.dirname(path) == os.path.dirname(
        _hub_cache_path('http://x/x')) else None
    if prefix:  # a torch hub download: its name carries its hash
        _verify_hash(path, prefix)
    weights = safe_load(path, map_location='cpu', form='weights')
    model = timm.create_model(name, pretrained=True, pretrained_cfg_overlay=dict(
        state_dict=weights, source='', file=None, url=None, hf_hub_id=None))
    return model.state_dict()


SUPPORTED_SCHEMES = ('http://', 'https://', 'open-mmlab://', 'openmmlab://', 'mmcls://',
                     'torchvision://', 'modelzoo://', 'timm://')


class CheckpointSchemeError(ValueError):
    """A checkpoint string names a scheme mmbackbones does not load (``pavi://``, ``s3://``...)."""


def refuse_scheme(filename: str, supported=SUPPORTED_SCHEMES):
    scheme = filename.split('://', 1)[0] + '://'
    raise CheckpointSchemeError(
        f'{filename}: checkpoint scheme {scheme!r} is not supported (it would be loaded by code '
        f'that does not check the file); supported: local paths, {", ".join(supported)}. Copy '
        'the file to a local path first.')


# what a runner's load_from / resume accepts: timm:// names pretrained weights only
RUNNER_SCHEMES = tuple(s for s in SUPPORTED_SCHEMES if s != 'timm://')


def load_from_unsupported(filename, map_location=None):
    """Registered with mmengine for every scheme mmbackbones does not load: refuses by name."""
    refuse_scheme(filename, RUNNER_SCHEMES)


def _hub_cache_path(url: str) -> str:
    from urllib.parse import urlparse

    from torch.hub import get_dir
    name = os.path.basename(urlparse(url).path)
    if not name:
        raise ValueError(f'{url}: the URL names no file to download')
    return os.path.join(get_dir(), 'checkpoints', name)


def _hash_prefix(path: str) -> Optional[str]:
    """The sha256 prefix torch hub file names carry (``resnet50-0676ba61.pth``), or None."""
    from torch.hub import HASH_REGEX
    found = HASH_REGEX.search(os.path.basename(path))
    return found.group(1) if found else None


def _verify_hash(path: str, prefix: str):
    import hashlib
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(1 << 20), b''):
            digest.update(block)
    if not digest.hexdigest().startswith(prefix):
        raise UnsafeCheckpointError(
            f'refused to load {path}: its sha256 starts with {digest.hexdigest()[:len(prefix)]}, '
            f'but its name promises {prefix}. The cached file is not the one published; delete '
            'it to download it again.')


def load_from_http_safe(url: str, map_location='cpu', form='checkpoint', verify_hash=False):
    """mmengine's ``load_from_http`` (same cache file: ``<torch hub dir>/checkpoints/<name>``,
    rank 0 downloads first), but loaded with :func:`safe_load` instead of a bare ``torch.load``.
    With ``verify_hash``, the file name must carry a sha256 prefix (torch hub's convention), and
    the cached file is checked against it on every load, not only after downloading."""
    from mmengine.dist import get_dist_info
    from torch.hub import download_url_to_file
    cached = _hub_cache_path(url)
    prefix = _hash_prefix(cached) if verify_hash else None
    if verify_hash and not prefix:
        raise UnsafeCheckpointError(f'{url}: the file name carries no sha256 prefix to check '
                                    'the download against')

    def download():
        if not os.path.exists(cached):
            os.makedirs(os.path.dirname(cached), exist_ok=True)
            try:
                download_url_to_file(url, cached, hash_prefix=prefix, progress=False)
            except OSError as err:  # URLError: no network; say how to do without it
                raise offline_error(url, cached, err) from err

    rank, world_size = get_dist_info()
    if rank == 0:
        download()
    if world_size > 1:
        torch.distributed.barrier()
        if rank > 0:
            download()  # a node whose cache is not shared with rank 0's
    if prefix:
        _verify_hash(cached, prefix)
    return safe_load(cached, map_location=map_location, form=form)


def load_from_openmmlab_safe(filename, map_location='cpu', form='checkpoint'):
    """``open-mmlab://<name>``: mmengine's model-name table (its openmmlab.json, updated by
    ``$MMENGINE_HOME/open_mmlab.json``, and its deprecated names), then a safe download."""
    from mmengine.runner import checkpoint as mme
    name = filename.split('://', 1)[1]
    name = mme.get_deprecated_model_names().get(name, name)
    urls = mme.get_external_models()
    if name not in urls:
        raise KeyError(f'{filename}: unknown OpenMMLab model name {name!r}; mmengine knows '
                       f'e.g. {sorted(urls)[:8]}')
    if urls[name].startswith(('http://', 'https://')):
        return load_from_http_safe(urls[name], map_location, form=form)
    return safe_load(os.path.join(mme._get_mmengine_home(), urls[name]),
                     map_location=map_location, form=form)


def load_from_mmcls_safe(filename, map_location='cpu', form='checkpoint'):
    """``mmcls://<name>``: mmengine's mmcls.json table, a safe download, then mmengine's own
    post-processing (the backbone's keys only; pretrained weights keep their ``backbone.``
    prefix, which :func:`unwrap_state_dict` removes)."""
    from mmengine.runner import checkpoint as mme
    name = filename[len('mmcls://'):]
    urls = mme.get_mmcls_models()
    if name not in urls:
        raise KeyError(f'{filename}: unknown mmcls model name {name!r}; mmengine knows '
                       f'e.g. {sorted(urls)[:8]}')
    loaded = load_from_http_safe(urls[name], map_location, form=form)
    return loaded if form == 'weights' else mme._process_mmcls_checkpoint(loaded)


def _torchvision_url(spec: str) -> Optional[str]:
    """The URL of ``torchvision://<spec>``: mmengine's table first (``resnet50`` is the v1
    weights that mmdet's numbers use), then torchvision's weight enums (``<model>.<WEIGHTS>``,
    ``<model>`` alone for DEFAULT); None when neither knows the name."""
    from mmengine.runner.checkpoint import get_torchvision_models
    url = get_torchvision_models().get(spec)
    if url is not None:
        return url
    import torchvision
    name, _, weights = spec.partition('.')
    try:
        enum = torchvision.models.get_model_weights(name)
    except (ValueError, KeyError):
        return None
    try:
        return enum[weights or 'DEFAULT'].url
    except KeyError:
        return None


def load_from_torchvision_safe(filename, map_location='cpu', form='checkpoint'):
    """``torchvision://<spec>``: the weights' URL (never torchvision's own loading, which runs
    torch hub with ``weights_only=False``), the hub cache's file checked against the sha256
    prefix in its name on every load, then :func:`safe_load`."""
    spec = filename.split('://', 1)[1]
    url = _torchvision_url(spec)
    if url is None:
        raise KeyError(f'{filename}: unknown torchvision weights {spec!r}; use a key of '
                       "mmengine's torchvision table (torchvision://resnet50) or "
                       'torchvision://<model>.<WEIGHTS> (torchvision://resnet50.IMAGENET1K_V2)')
    return load_from_http_safe(url, map_location, form=form, verify_hash=True)


def install_url_loaders():
    # (loader names start with load_from_: mmengine logs name[10:] as the backend)
    """Make mmengine's URL schemes load through :func:`safe_load` (its own http loader calls
    ``torch.load`` on the download, and ``open-mmlab://``, ``mmcls://``, ``torchvision://``
    call that loader directly, so all four are replaced); every other scheme registered with
    mmengine (``pavi://``, ``s3://``...) is refused by name."""
    from mmengine.runner.checkpoint import CheckpointLoader

    from .checkpoint import load_from_local_safe
    wanted = {('http://', 'https://'): load_from_http_safe,
              ('open-mmlab://', 'openmmlab://'): load_from_openmmlab_safe,
              ('mmcls://', ): load_from_mmcls_safe,
              ('modelzoo://', 'torchvision://'): load_from_torchvision_safe}
    for prefixes, loader in wanted.items():
        if any(CheckpointLoader._schemes.get(p) is not loader for p in prefixes):
            CheckpointLoader.register_scheme(prefixes=prefixes, loader=loader, force=True)
    ours = {p for prefixes in wanted for p in prefixes} | {''}
    for prefix, loader in list(CheckpointLoader._schemes.items()):
        if prefix not in ours and loader is not load_from_unsupported \
                and loader is not load_from_local_safe:
            CheckpointLoader.register_scheme(prefixes=prefix, loader=load_from_unsupported,
                                             force=True)


def _resolve(checkpoint: str):
    """The mapping of names to tensors behind a checkpoint string: a local file, ``timm://``,
    ``torchvision://``, ``http(s)://``, ``open-mmlab://``, ``mmcls://``; every file is read by
    :func:`safe_load` in its pretrained-weights form. Other schemes are refused by name."""
    if checkpoint.startswith('timm://'):
        return _timm_state_dict(checkpoint[len('timm://'):]), 'timm'
    if '://' not in checkpoint:
        return safe_load(checkpoint, map_location='cpu', form='weights'), None
    loaders = {'http://': load_from_http_safe, 'https://': load_from_http_safe,
               'open-mmlab://': load_from_openmmlab_safe, 'openmmlab://': load_from_openmmlab_safe,
               'mmcls://': load_from_mmcls_safe, 'torchvision://': load_from_torchvision_safe,
               'modelzoo://': load_from_torchvision_safe}
    scheme = checkpoint.split('://', 1)[0] + '://'
    if scheme not in loaders:
        refuse_scheme(checkpoint)
    loaded = loaders[scheme](checkpoint, 'cpu', form='weights')
    return loaded, 'torchvision' if scheme in ('torchvision://', 'modelzoo://') else None


def load_pretrained(model, checkpoint: str, source: Optional[str] = None, logger=None):
    """Load ``checkpoint`` (any supported layout) into ``model``.

    Reports missing and unexpected keys; raises :class:`PretrainedMismatchError` when the
    checkpoint fills less than ``MIN_MATCHED_FRACTION`` of the backbone's tensors or a tensor
    has the wrong shape.
    """
    from mmengine.logging import MMLogger, print_log
    logger = logger or MMLogger.get_current_instance()
    raw, scheme_source = _resolve(checkpoint)
    state_dict = unwrap_state_dict(raw)
    source = source or scheme_source or detect_source(state_dict, model)
    converted = convert(state_dict, None, source, model=model)
    missing, unexpected, matched = check_fits(converted, model, checkpoint, source)
    model.load_state_dict(converted, strict=False)
    print_log(f'loaded {checkpoint} ({source} layout): {matched}/{len(missing) + matched} tensors',
              logger=logger)
    if missing:
        print_log(f'missing keys (kept at their initial values): {missing}', logger=logger,
                  level=30)
    if unexpected:
        print_log(f'unexpected keys (ignored): {unexpected}', logger=logger, level=30)
    return dict(source=source, missing=missing, unexpected=unexpected)


def check_fits(converted, model, checkpoint: str, source: str):
    """The rule every load of converted weights follows: raise :class:`PretrainedMismatchError`
    when a tensor has another shape than the model's or when the weights fill less than
    ``MIN_MATCHED_FRACTION`` of the model's tensors. Returns ``(missing, unexpected, matched)``."""
    own = model.state_dict()
    bad_shapes = [f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(own[k].shape)}'
                  for k, v in converted.items() if k in own and v.shape != own[k].shape]
    if bad_shapes:
        raise PretrainedMismatchError(
            f'{checkpoint} ({source} layout) does not fit {type(model).__name__}: '
            + '; '.join(bad_shapes[:10]))
    missing = sorted(set(own) - set(converted))
    unexpected = sorted(set(converted) - set(own))
    matched = len(own) - len(missing)
    if matched < MIN_MATCHED_FRACTION * len(own):
        raise PretrainedMismatchError(
            f'{checkpoint} ({source} layout) matched only {matched}/{len(own)} tensors of '
            f'{type(model).__name__}; missing e.g. {missing[:8]}. Refusing to train from an '
            'almost random initialisation; check the variant and the checkpoint.')
    return missing, unexpected, matched


def has_key_prefixes(state_dict, *prefixes: str) -> bool:
    """Whether ``state_dict`` has, for each of ``prefixes``, a key starting with it (a layout
    detector)."""
    return all(any(key.startswith(prefix) for key in state_dict) for prefix in prefixes)


def rename_keys(state_dict, rules, drop: Tuple[str, ...] = ()):
    """Apply ``(pattern, replacement)`` regex rules in order to every key; keys starting with
    one of ``drop`` (a classifier head) are left out."""
    out = {}
    for key, value in state_dict.items():
        if drop and key.startswith(drop):
            continue
        for pattern, repl in rules:
            key = re.sub(pattern, repl, key)
        out[key] = value
    return out
