"""The paste promise: an mmdet/mmseg/mmyolo backbone dict with only ``type`` changed to
``mmbackbones.<same name>`` builds the same backbone.

Every config shipped with the installed mmdet and mmseg (and mmyolo, the optional `yolo`
extra, where it is installed) whose ``model.backbone.type`` is a
name this project registers is parsed; its backbone is built by OpenMMLab and, pasted, by us
(mmseg's ``model.pretrained`` pushed into the backbone as its EncoderDecoder does), without
weight initialisation. Compared: parameter count, the multiset of parameter sizes, the number
of frozen parameters after ``train()``, and the BatchNorm layers left in training mode after
``train()``. Identical backbone dicts are built once. Each library must reach 95% of its
applicable configs; failures are printed grouped by reason.
"""
import collections
import contextlib
import copy
import functools
import glob
import importlib.util
import json
import os
import pickle
import re
import tempfile

import pytest
import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

import mmbackbones
from mmengine.registry import DefaultScope

from .helpers import openmmlab_config_dir

mmdet = pytest.importorskip('mmdet')
mmseg = pytest.importorskip('mmseg')

LIBRARIES = {'mmdet': mmdet, 'mmseg': mmseg, 'mmyolo': None}  # mmyolo: imported when present
HAS_MMYOLO = importlib.util.find_spec('mmyolo') is not None
MIN_RATE = 0.95


def _registered_backbone_names():
    from mmbackbones.models.backbones import BaseBackbone
    return {name for name, cls in mmbackbones.MODELS.module_dict.items()
            if isinstance(cls, type) and issubclass(cls, BaseBackbone)}


@contextlib.contextmanager
def _fast_config_parsing():
    """mmengine re-parses every base file for every config (through temporary files):
    memoise the parse of each file and keep temporary files in memory."""
    from mmengine.config import Config
    original = Config.__dict__['_file2dict']
    parse = original.__func__
    cache = {}

    def memoised(filename, use_predefined_variables=True, use_environment_variables=True,
                 lazy_import=None):
        key = (os.path.abspath(filename), use_predefined_variables, use_environment_variables,
               lazy_import)
        if key not in cache:  # pickled: a load is faster than a deepcopy of ConfigDicts
            cache[key] = pickle.dumps(parse(filename, use_predefined_variables,
                                            use_environment_variables, lazy_import))
        return pickle.loads(cache[key])

    old_tempdir = tempfile.tempdir
    if os.path.isdir('/dev/shm') and os.access('/dev/shm', os.W_OK):
        tempfile.tempdir = '/dev/shm'
    Config._file2dict = staticmethod(memoised)
    try:
        yield lambda path: parse(path)[0]
    finally:
        Config._file2dict = original
        tempfile.tempdir = old_tempdir


MMPRETRAIN = 'mmpretrain.'


def _class_name(backbone_type) -> str:
    """mmdet / mmseg configs name mmpretrain's classes with its scope: 'mmpretrain.ConvNeXt'."""
    if isinstance(backbone_type, str) and backbone_type.startswith(MMPRETRAIN):
        return backbone_type[len(MMPRETRAIN):]
    return backbone_type


def paste(cfg: dict) -> dict:
    """The paste rule: ``type`` becomes ``mmbackbones.<the same class>``. A dict of
    mmpretrain's class (``type='mmpretrain.ResNet'`` in an mmdet config) also gets
    ``_scope_='mmpretrain'``: mmengine builds it under mmpretrain's default scope, so it has
    mmpretrain's defaults (ResNet: ``norm_eval=False``), not those of the config's library."""
    pasted = dict(cfg, type=f'mmbackbones.{_class_name(cfg["type"])}')
    if cfg['type'].startswith(MMPRETRAIN):
        pasted['_scope_'] = 'mmpretrain'
    return pasted


def _backbone_dicts(model):
    """The backbone dicts of a model config: ``model.backbone`` and nested ones (a tracker's
    ``model.reid.backbone``)."""
    for key, value in model.items():
        if key == 'backbone' and isinstance(value, dict):
            yield value
        elif isinstance(value, dict):
            yield from _backbone_dicts(value)


@functools.lru_cache(maxsize=None)
def _collect(library):
    """(backbone dicts keyed by their JSON, config paths per key, unparseable configs)."""
    ours = _registered_backbone_names()
    root = openmmlab_config_dir(library)
    files = sorted(f for f in glob.glob(os.path.join(root, '**', '*.py'), recursive=True)
                   if f'{os.sep}_base_{os.sep}' not in f)
    assert files, f'no configs found under {root}'
    if library == 'mmyolo':
        files = _folders_naming(files, root, ours)
    dicts, paths, unparseable = {}, collections.defaultdict(list), []
    with _fast_config_parsing() as parse:
        for path in files:
            try:
                cfg = parse(path)
            except Exception as err:  # e.g. configs that need a package that is not installed
                unparseable.append((os.path.relpath(path, root), type(err).__name__))
                continue
            model = cfg.get('model')
            if not isinstance(model, dict):
                continue
            for found in _backbone_dicts(model):
                if _class_name(found.get('type')) not in ours:
                    continue
                backbone = found.to_dict() if hasattr(found, 'to_dict') else dict(found)
                if (library == 'mmseg' and found is model.get('backbone')
                        and model.get('pretrained') is not None):
                    # mmseg's EncoderDecoder: backbone.pretrained = model.pretrained
                    backbone['pretrained'] = model['pretrained']
                key = json.dumps(backbone, sort_keys=True, default=repr)
                dicts[key] = backbone
                paths[key].append(os.path.relpath(path, root))
    return dicts, dict(paths), unparseable


def _folders_naming(files, root, names):
    """The configs of the top-level folders in which some config names one of ``names`` as a
    type. mmyolo's other folders hold its other YOLO families (RTMDet, YOLOv6-v8, PP-YOLOE),
    whose parse would cost the default run half a minute for no backbone of ours."""
    pattern = re.compile(r"""type\s*=\s*['"](%s)['"]""" % '|'.join(map(re.escape, names)))

    def top(path):
        return os.path.relpath(path, root).split(os.sep)[0]

    wanted = set()
    for path in files:
        if top(path) not in wanted:
            with open(path) as f:
                if pattern.search(f.read()):
                    wanted.add(top(path))
    return [f for f in files if top(f) in wanted]


@contextlib.contextmanager
def _no_init():
    """Construction without the cost of initial values (CPU fallback where meta fails)."""
    names = [n for n in dir(nn.init) if n.endswith('_') and not n.startswith('_')]
    saved = {n: getattr(nn.init, n) for n in names}
    for name in names:
        setattr(nn.init, name, lambda tensor, *args, **kwargs: tensor)
    try:
        yield
    finally:
        for name, fn in saved.items():
            setattr(nn.init, name, fn)


def _build(registry, cfg):
    try:
        with torch.device('meta'), _no_init():
            return registry.build(copy.deepcopy(cfg))
    except Exception:  # e.g. mmdet's Swin calls .item() while building
        with _no_init():
            return registry.build(copy.deepcopy(cfg))


def _summary(model):
    model.train()
    params = list(model.parameters())
    return dict(
        params=sum(p.numel() for p in params),
        sizes=collections.Counter(p.numel() for p in params),
        frozen=sum(p.numel() for p in params if not p.requires_grad),
        bn_training=sorted(m.num_features for m in model.modules()
                           if isinstance(m, _BatchNorm) and m.training),
    )


def _reference_registry(library):
    if library == 'mmyolo':
        importlib.import_module('mmyolo.models')  # registers its backbones, and mmdet's
        from mmyolo.registry import MODELS
        return MODELS
    if library == 'mmdet':
        importlib.import_module('mmdet.models')  # registers the backbones
        from mmdet.registry import MODELS
    else:
        importlib.import_module('mmseg.models')
        from mmseg.registry import MODELS
    return MODELS


def _first_line(err):
    text = str(err).strip().splitlines()
    return f'{type(err).__name__}: {text[0][:160] if text else ""}'


@functools.lru_cache(maxsize=None)
def _compare(library):
    """{backbone key: None (same) or the reason it differs}."""
    dicts, _, _ = _collect(library)
    reference = _reference_registry(library)
    # A pasted backbone is built inside the library's runner, under its default scope.
    with DefaultScope.overwrite_default_scope(library):
        return _compare_in_scope(dicts, reference)


def _compare_in_scope(dicts, reference):
    results = {}
    for key, cfg in dicts.items():
        try:
            theirs = _summary(_build(reference, cfg))
        except Exception as err:
            # OpenMMLab itself cannot build it here: nothing to match (reported, not counted)
            results[key] = f'OpenMMLab cannot build it either ({_first_line(err)})'
            continue
        pasted = paste(cfg)
        try:
            ours = _summary(_build(mmbackbones.MODELS, pasted))
        except Exception as err:
            results[key] = f'refused: {_first_line(err)}'
            continue
        diffs = [name for name in ('params', 'sizes', 'frozen', 'bn_training')
                 if ours[name] != theirs[name]]
        results[key] = None if not diffs else 'differs in ' + ', '.join(diffs)
    return results


def _report(library, family=None):
    dicts, paths, unparseable = _collect(library)
    results = _compare(library)
    total = passed = skipped = 0
    reasons = collections.defaultdict(list)
    for key, reason in results.items():
        if family is not None and dicts[key]['type'] != family:
            continue
        if reason is not None and reason.startswith('OpenMMLab cannot build'):
            skipped += len(paths[key])  # not a paste failure
            continue
        count = len(paths[key])
        total += count
        if reason is None:
            passed += count
        else:
            reasons[reason].extend(paths[key])
    lines = [f'{library}{"/" + family if family else ""}: {passed}/{total} configs paste '
             f'({passed / max(total, 1):.1%}); {skipped} configs OpenMMLab cannot build here']
    for reason, where in sorted(reasons.items(), key=lambda kv: -len(kv[1])):
        lines.append(f'  {len(where):4d} x {reason}  (e.g. {where[0]})')
    print('\n'.join(lines))
    return passed, total


@pytest.mark.parametrize('library', sorted(LIBRARIES))
def test_pasted_backbone_dicts_build_the_same_backbone(library):
    if library == 'mmyolo' and not HAS_MMYOLO:
        pytest.skip('mmyolo configs: need the optional `yolo` extra '
                    '(pip install mmbackbones[yolo])')
    dicts, _, _ = _collect(library)
    families = sorted({cfg['type'] for cfg in dicts.values()})
    _, _, unparseable = _collect(library)
    print(f'{library}: {len(dicts)} distinct backbone dicts; {len(unparseable)} configs '
          'mmengine cannot parse here (they need packages that are not installed)')
    for family in families:
        _report(library, family)
    passed, total = _report(library)
    assert total, f'no {library} config uses a backbone we register'
    assert passed >= MIN_RATE * total, (
        f'{library}: only {passed}/{total} pasted configs build the same backbone '
        f'(need {MIN_RATE:.0%}); reasons are printed above')


@pytest.mark.parametrize('library', ['mmdet', 'mmseg'])
def test_pasted_swin_dicts_build_the_same_backbone(library):
    """Swin on its own (its part of the promise does not wait for the other families)."""
    passed, total = _report(library, 'SwinTransformer')
    assert total, f'no {library} config uses SwinTransformer'
    assert passed >= MIN_RATE * total, f'{library} Swin: {passed}/{total}'


@pytest.mark.parametrize('library', ['mmdet', 'mmseg'])  # mmyolo's configs name none
def test_pasted_mmpretrain_dicts_build_the_same_backbone(library):
    """mmdet's and mmseg's `type='mmpretrain.<Class>'` dicts (ConvNeXt; the trackers'
    re-identification ResNet), built by OpenMMLab with mmpretrain's defaults and pasted."""
    dicts, _, _ = _collect(library)
    families = sorted({cfg['type'] for cfg in dicts.values() if cfg['type'].startswith(MMPRETRAIN)})
    assert families, f'no {library} config uses an mmpretrain backbone we register'
    for family in families:
        passed, total = _report(library, family)
        assert total and passed == total, f'{library} {family}: {passed}/{total}'


def test_pasted_mmpretrain_resnet_keeps_mmpretrains_defaults():
    """mmpretrain's ResNet defaults to norm_eval=False and out_indices=(3,), mmdet's to True and
    (0, 1, 2, 3): the re-identification ResNet of mmdet's trackers, pasted, trains its BatchNorm
    statistics as in mmpretrain, while the same dict without `_scope_` gets the defaults of the
    scope it is built in (mmdet's)."""
    dicts, _, _ = _collect('mmdet')
    resnets = [cfg for cfg in dicts.values() if cfg['type'] == 'mmpretrain.ResNet']
    assert resnets
    reference = _reference_registry('mmdet')
    with DefaultScope.overwrite_default_scope('mmdet'):
        for cfg in resnets:
            assert _build(reference, cfg).norm_eval is False
            assert _build(mmbackbones.MODELS, paste(cfg)).norm_eval is False
            scope_default = dict(cfg, type='mmbackbones.ResNet')
            assert _build(mmbackbones.MODELS, scope_default).norm_eval is True
            # and without out_indices, mmpretrain's default: the last stage only
            bare = {k: v for k, v in cfg.items() if k != 'out_indices'}
            assert _build(reference, bare).out_indices == (3, )
            assert _build(mmbackbones.MODELS, paste(bare)).out_indices == (3, )
            assert _build(mmbackbones.MODELS, dict(bare, type='mmbackbones.ResNet')).out_indices \
                == (0, 1, 2, 3)
