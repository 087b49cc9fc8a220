"""The config battery: every ``configs/*.py`` gets every check.

* it builds through the mmdet / mmseg / mmyolo registries (meta device), its backbone is ours,
  and the neck / decode heads take the channels the backbone returns (also as
  ``check_channels`` says);
* its header names its source and the published numbers of ``configs/published.json``;
* a config that mirrors an mmdet / mmseg config equals it outside the backbone (documented
  differences aside), has as many parameters, and keeps its backbone settings;
* every ``timm://`` / ``torchvision://`` checkpoint it names fits the backbone (offline); a
  URL must be one a zoo row publishes (``Variant.weights``) for a backbone of its shapes;
* its toy run (``mmbackbones.toy.derive_toy_config``) is consistent, and trains a few steps and
  evaluates through mmengine's Runner (one config per method family in the default run);
* the derivation also works on mmdet's / mmseg's own configs of methods that have no config
  here yet (FCOS, ATSS, YOLOX, YOLOv3, SSD, FCN, Semantic FPN, LR-ASPP);
* channel bookkeeping (``check_channels``) and ``tools/compare.py``.

A new config is covered by adding it and its row in ``configs/published.json``.
"""
import copy
import glob
import importlib.util
import json
import math
import os
import os.path as osp
import re
import subprocess
import sys

import pytest
import torch
from mmengine.config import Config

from .helpers import openmmlab_config_dir

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CONFIG_DIR = osp.join(ROOT, 'configs')
CONFIGS = sorted(osp.basename(p)[:-3] for p in glob.glob(osp.join(CONFIG_DIR, '*.py')))
with open(osp.join(CONFIG_DIR, 'published.json')) as _f:
    PUBLISHED = json.load(_f)

# (ResNet baseline, ResNeSt config) pairs of the ResNeSt comparison.
PAIRS = [(f'resnet{d}_{m}', f'resnest{d}_{m}') for d in (50, 101)
         for m in ('fasterrcnn', 'maskrcnn', 'cascade_rcnn', 'cascade_maskrcnn',
                   'deeplabv3_ade20k')]
COMPARISON = {name for pair in PAIRS for name in pair}

# The OpenMMLab config each one mirrors, as published.json says (the ResNet detection baselines
# have none: mmdet has no run with SyncBN and multi-scale(-range) training; nor has
# mmseg an S-50).
OPENMMLAB = {name: tuple(entry['mirrors'].split('::', 1))
             for name, entry in PUBLISHED['configs'].items() if 'mirrors' in entry}


def _text(name):
    """The config's text and that of the shared fragments it names (configs/_base_/)."""
    with open(osp.join(CONFIG_DIR, name + '.py')) as f:
        text = f.read()
    for fragment in re.findall(r"'\./(_base_/[\w./]+\.py)'", text):
        with open(osp.join(CONFIG_DIR, fragment)) as f:
            text += f.read()
    return text


# Configs whose base is an mmyolo config (the optional `yolo` extra): skipped where it is absent.
HAS_MMYOLO = importlib.util.find_spec('mmyolo') is not None
NEEDS_MMYOLO = {name for name in CONFIGS if "'mmyolo::" in _text(name)}
MMYOLO_SKIP = 'needs mmyolo, the optional `yolo` extra (pip install mmbackbones[yolo])'
# Configs that name timm / torchvision weights or official ones a zoo row publishes (the
# others keep their base's: open-mmlab://
# Darknet-53 weights, or none where the recipe trains from scratch, as YOLOX and YOLOv5 do).
NAMED_WEIGHTS = {name for name in CONFIGS
                 if re.search(r'(timm|torchvision|https)://', _text(name))}
IMAGENET_MEAN_STD = ([123.675, 116.28, 103.53], [58.395, 57.12, 57.375])
# Top-level helper variables of config files (not read by mmengine's runner).
HELPERS = {'custom_imports', 'pretrained', 'checkpoint_file', 'norm_cfg', 'toy', 'max_epochs',
           'multi_scales', 'crop_size', 'data_preprocessor', 'backbone_norm_cfg'}
# ... and the variables of the shared fragments (configs/_base_/backbones/), which configs hand
# to their model.
FRAGMENTS = {name for path in glob.glob(osp.join(CONFIG_DIR, '_base_', '**', '*.py'),
                                         recursive=True) for name in Config.fromfile(path)}
HELPERS |= FRAGMENTS

# Toy runs in the default test run: one config per method family (the rest: -m slow).
# (Mask R-CNN trains in the default run through tests/test_train_tools.py's Swin toy run.)
# A segmentation toy training runs by default through tools/train.py and tools/test.py
# (tests/conftest.py's tiny UperNet, tests/test_cli_safety.py), so the in-process ones here are
# detection only; resnet50_upernet_ade20k's toy run is -m slow.
DEFAULT_RUNS = {'resnet18_retinanet', 'resnet50_cascade_rcnn'}

# Build and toy-derivation checks of the Darknet line in the default run: one config per method
# and base library (YOLOv3, YOLOX, YOLOv5, the common-head comparison); the others -m slow.
SLOW_BUILDS = {'cspdarknet_tiny_yolox', 'yolov5csp_n_yolov5', 'darknet53_yolox',
               'cspdarknet53_yolox', 'yolov5csp_s_yolox'}
# The re-parameterisable YOLO line: YOLOv6-n in the default run, the others -m slow.
SLOW_BUILDS |= {'efficientrep_s_yolov6', 'cspbep_m_yolov6', 'elan_tiny_yolov7', 'elan_l_yolov7',
                'cspresnet_s_ppyoloe'}
# ... and under the common YOLOX head: EfficientRep-s in the default run, the others -m slow.
SLOW_BUILDS |= {'cspbep_m_yolox', 'elan_l_yolox', 'cspresnet_s_yolox'}
# The other families of this release: one detection and one segmentation config each (where
# they have both) in the default run; the sizes and methods that share their code path -m slow.
SLOW_BUILDS |= {
    'hrnetv2p_w32_maskrcnn', 'hrnetv2p_w32_fasterrcnn', 'hrnetv2p_w32_cascade_maskrcnn',
    'hrnetv2_w48_fcn_ade20k',
    'regnetx_032_fasterrcnn', 'regnetx_008_retinanet', 'regnetx_016_retinanet',
    'regnety_032_maskrcnn', 'resnet50_maskrcnn_1x', 'resnet101_maskrcnn_1x',
    'resnet50_fasterrcnn_1x',
    'mobilenetv1_retinanet', 'mobilenetv3_large_retinanet', 'mobilenetv2_deeplabv3_ade20k',
    'convnext_cascade_maskrcnn_3x', 'swin_cascade_maskrcnn_3x', 'resnet50_cascade_maskrcnn_3x',
    'efficientnetv2_s_maskrcnn', 'efficientnet_b0_upernet_ade20k',
    'pvt_tiny_retinanet', 'pvt_small_retinanet', 'pvtv2_b2_maskrcnn', 'pvt_small_maskrcnn'}
# The ResNet family's 101-layer configs share their code path with the 50-layer ones.
SLOW_BUILDS |= {'res2net101_cascade_rcnn', 'resnest101_cascade_maskrcnn', 'resnest101_cascade_rcnn',
                'resnest101_deeplabv3_ade20k', 'resnest101_fasterrcnn', 'resnest101_maskrcnn',
                'resnet101_cascade_maskrcnn', 'resnet101_cascade_rcnn',
                'resnet101_deeplabv3_ade20k', 'resnet101_fasterrcnn', 'resnet101_maskrcnn'}


def _build_cases(names):
    return [pytest.param(n, marks=pytest.mark.slow if n in SLOW_BUILDS else ()) for n in names]


# mmdet / mmseg configs of methods without a config here: the derivation must handle them too.
FOREIGN = [
    ('mmdet', 'fcos/fcos_r50-caffe_fpn_gn-head_1x_coco.py'),
    ('mmdet', 'atss/atss_r50_fpn_1x_coco.py'),
    ('mmdet', 'yolox/yolox_s_8xb8-300e_coco.py'),
    ('mmdet', 'yolo/yolov3_mobilenetv2_8xb24-ms-416-300e_coco.py'),
    ('mmdet', 'ssd/ssd300_coco.py'),
    ('mmdet', 'cascade_rcnn/cascade-mask-rcnn_r50_fpn_1x_coco.py'),
    ('mmseg', 'fcn/fcn_r18-d8_4xb2-80k_cityscapes-512x1024.py'),
    ('mmseg', 'sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py'),
    ('mmseg', 'mobilenet_v3/mobilenet-v3-d8_lraspp_4xb4-320k_cityscapes-512x1024.py'),
]
KEPT_SCALE = ('ssd300', 'lraspp')  # tied to their input size: mmbackbones.toy.KEEP_SCALE


# --------------------------------------------------------------------------- helpers
def _path(name):
    return osp.join(CONFIG_DIR, name + '.py')


def _load(name):
    if name in NEEDS_MMYOLO and not HAS_MMYOLO:
        pytest.skip(MMYOLO_SKIP)
    return Config.fromfile(_path(name))


def _reference_path(scope, rel):
    pytest.importorskip(scope)
    path = osp.join(openmmlab_config_dir(scope), rel)
    if not osp.isfile(path):
        pytest.skip(f'{scope} installed without its configs ({rel})')
    return path


def _registry(scope):
    importlib.import_module('mmbackbones')  # registers our modules
    if scope == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    elif scope == 'mmyolo':
        if not HAS_MMYOLO:
            pytest.skip(MMYOLO_SKIP)
        from mmyolo.registry import MODELS
        from mmyolo.utils import register_all_modules
    else:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    return MODELS


def _build(model_cfg, scope, device='meta'):
    from mmengine.registry import DefaultScope
    registry = _registry(scope)
    model_cfg = model_cfg.copy()
    model_cfg.pop('pretrained', None)
    model_cfg.backbone = model_cfg.backbone.copy()
    model_cfg.backbone.init_cfg = None  # (mmyolo's heads keep their own init configs)
    model_cfg.backbone.pop('pretrained', None)
    with DefaultScope.overwrite_default_scope(scope), torch.device(device):
        return registry.build(model_cfg)


def _base(name):
    """The OpenMMLab config that ``name``'s ``_base_`` names."""
    with open(_path(name)) as f:
        scope, rel = re.search(r"^_base_ = \[?'(\w+)::([^']+)'", f.read(), re.M).groups()
    return Config.fromfile(_reference_path(scope, rel))


def _count(model, trainable=False):
    model.train()
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable)


def _diff(a, b, path=''):
    """Dotted paths where two nested dict/list configs differ (``_scope_`` marks ignored)."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted((set(a) | set(b)) - {'_scope_'}, key=str):
            sub = f'{path}.{key}' if path else str(key)
            if key not in a or key not in b:
                out.append(sub)
            else:
                out.extend(_diff(a[key], b[key], sub))
        return out
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)) and len(a) == len(b):
        return [p for i, (x, y) in enumerate(zip(a, b)) for p in _diff(x, y, f'{path}.{i}')]
    return [] if a == b else [path]


def _header(name):
    with open(_path(name)) as f:
        return [line[1:].strip() for line in f.read().split('\n_base_')[0].splitlines()
                if line.startswith('#')]


# --------------------------------------------------------------------------- the list
def test_every_config_has_published_numbers_and_suites_exist():
    assert set(PUBLISHED['configs']) == set(CONFIGS)
    assert set(PUBLISHED['suites']) >= {'resnest', 'swin', 'convnext_vs_swin', 'pvt'}
    metrics = {'box_ap', 'mask_ap', 'miou', 'miou_ms'}
    for suite, entry in PUBLISHED['suites'].items():
        assert set(entry) <= {'source', 'configs', 'pairs', 'note'}, suite
        assert entry['source'] and set(entry['configs']) <= set(CONFIGS), suite
        assert len(set(entry['configs'])) == len(entry['configs']), suite
        # a suite without a pair says why
        assert entry['pairs'] or entry.get('note'), suite
        for pair in entry['pairs']:
            assert set(pair) <= {'baseline', 'config', 'published', 'note'}, pair
            assert {pair['baseline'], pair['config']} <= set(entry['configs']), pair
            assert pair['baseline'] != pair['config'], pair
            # a claim: the baseline's and the config's published numbers; else a note says why
            for key, values in pair.get('published', {}).items():
                assert key in metrics and len(values) == 2, pair
                assert all(0 < v < 100 for v in values), pair
            assert pair.get('published') or pair.get('note'), pair
    assert set(PUBLISHED['suites']['resnest']['configs']) == COMPARISON
    assert {(p['baseline'], p['config']) for p in PUBLISHED['suites']['resnest']['pairs']} == \
        set(PAIRS)
    for suite, table in PUBLISHED.get('paper_tables', {}).items():  # a paper's rows, in order
        assert list(table['rows']) == PUBLISHED['suites'][suite]['configs'], suite
        # the paper table's numbers are the claims of the suite's pairs
        for pair in PUBLISHED['suites'][suite]['pairs']:
            for key, (a, b) in pair.get('published', {}).items():
                assert (table['rows'][pair['baseline']][key],
                        table['rows'][pair['config']][key]) == (a, b), pair
    assert not osp.exists(osp.join(CONFIG_DIR, 'toy')), 'toy runs are derived, not written'


# --------------------------------------------------------------------------- every config
@pytest.mark.parametrize('name', CONFIGS)
def test_header_names_source_and_the_published_numbers(name):
    header = _header(name)
    assert header and header[0], 'the first header line is the README title'
    text = ' '.join(header)
    assert 'Source:' in text
    assert sum(h.startswith('Expected') for h in header) == 1
    numbers = {float(n) for n in re.findall(r'\d+\.\d+', text)}
    entry = PUBLISHED['configs'][name]
    for key, value in entry['metrics'].items():
        assert value in numbers, f'{key}={value} of published.json is not in the header'
    if name in OPENMMLAB:  # the mirrored config is named
        assert osp.basename(OPENMMLAB[name][1]) in ''.join(header)
    if not entry['exact']:
        assert re.search(r'no (published|OpenMMLab)', text)


@pytest.mark.parametrize('name', _build_cases(CONFIGS))
def test_builds_with_our_backbone_and_matching_channels(name):
    from mmbackbones.channels import check_channels
    from mmbackbones.channels import neck_input_channels
    cfg = _load(name)
    scope = cfg.default_scope
    assert scope == ('mmseg' if 'ade20k' in name else 'mmyolo' if name in NEEDS_MMYOLO
                     else 'mmdet')
    assert cfg.custom_imports.imports == ['mmbackbones']
    init = cfg.model.backbone.get('init_cfg')
    if name in NAMED_WEIGHTS:  # timm / torchvision weights, or official ones a zoo row publishes
        assert init.type == 'Pretrained'
        assert (init.checkpoint.startswith(('timm://', 'torchvision://'))
                or _publishing_row(init.checkpoint) is not None)
    else:  # the base's weights (or none: a recipe from scratch), unchanged
        assert init == _base(name).model.backbone.get('init_cfg')
        assert init is None or init.checkpoint.startswith('open-mmlab://')
    assert cfg.model.backbone.type.startswith('mmbackbones.')

    model = _build(cfg.model, scope)
    backbone = model.backbone
    assert type(backbone).__module__.startswith('mmbackbones.models.backbones')
    assert type(backbone).__name__ == cfg.model.backbone.type.split('.', 1)[1]
    neck_type = cfg.model.get('neck', {}).get('type', '') if scope == 'mmyolo' else ''
    if neck_type.startswith('mmbackbones.'):  # our neck of the mirrored config's name
        assert type(model.neck).__module__.startswith('mmbackbones.models.necks')
        assert type(model.neck).__name__ == neck_type.split('.', 1)[1]
    channels = list(backbone.out_channels)
    assert check_channels(copy.deepcopy(cfg)) == channels
    if scope in ('mmdet', 'mmyolo'):
        assert neck_input_channels(cfg.model.neck) == channels
    elif model.with_neck:  # mmseg's Semantic FPN: the neck takes the levels
        assert list(model.neck.in_channels) == channels
    else:
        for head in filter(None, (model.decode_head, getattr(model, 'auxiliary_head', None))):
            index = head.in_index
            wanted = [channels[i] for i in index] if isinstance(index, (list, tuple)) \
                else channels[index]
            if head.input_transform == 'resize_concat':  # HRNetV2: the head concatenates
                wanted = sum(wanted)
            in_channels = head.in_channels
            assert (list(in_channels) if isinstance(in_channels, tuple) else in_channels) \
                == wanted
        if 'deeplabv3' in name:  # dilated D8: output stride 8
            assert backbone.out_strides == (4, 8, 8, 8)

    if name in COMPARISON:  # the ResNeSt recipe: SyncBN in the backbone and in the heads
        def sync_bn(module):
            return sum(isinstance(m, torch.nn.SyncBatchNorm) for m in module.modules())
        assert sync_bn(backbone) > 0
        assert not any(isinstance(m, torch.nn.BatchNorm2d) and not isinstance(
            m, torch.nn.SyncBatchNorm) for m in backbone.modules())
        heads = [model.decode_head, model.auxiliary_head] if scope == 'mmseg' else \
            [model.roi_head]
        for head in heads:
            assert sync_bn(head) > 0
        if scope == 'mmdet':
            bbox_heads = cfg.model.roi_head.bbox_head
            for head in bbox_heads if isinstance(bbox_heads, list) else [bbox_heads]:
                assert head.type == 'Shared4Conv1FCBBoxHead'
                assert head.norm_cfg.type == 'SyncBN'


@pytest.mark.parametrize('name', _build_cases(sorted(OPENMMLAB)))
def test_mirrors_its_openmmlab_config(name):
    """Equal outside the backbone entry (documented differences aside), as many parameters,
    and the backbone settings the two share are the same."""
    scope, rel = OPENMMLAB[name]
    ours, ref = _load(name), Config.fromfile(_reference_path(scope, rel))
    a, b = ours.to_dict(), ref.to_dict()
    # A config that puts another family into the recipe (EfficientNet into Mask R-CNN R-50):
    # the heads' input channels follow the backbone (test_builds_with_our_backbone_and_matching_
    # channels checks them); nothing else may differ.
    swapped = ours.model.backbone.type.split('.', 1)[-1] != ref.model.backbone.type
    # documented: our implementation of the mirrored neck (same class name and settings;
    # the parameter count below must still match)
    neck = a['model'].get('neck')
    if isinstance(neck, dict) and str(neck.get('type')).startswith('mmbackbones.'):
        assert neck['type'].split('.', 1)[1] == b['model']['neck']['type']
        neck['type'] = b['model']['neck']['type']
    for cfg in (a, b):
        for key in HELPERS:
            cfg.pop(key, None)
        cfg['model'].pop('backbone')
        cfg['model'].pop('pretrained', None)
        if swapped:
            for head in ('neck', 'decode_head', 'auxiliary_head'):
                cfg['model'].get(head, {}).pop('in_channels', None)
    if 'resnest' in name and scope == 'mmdet':
        # documented: the ImageNet mean/std timm's ResNeSt weights were trained with
        assert (a['model']['data_preprocessor']['mean'], a['model']['data_preprocessor']['std']) \
            == IMAGENET_MEAN_STD
        for cfg in (a, b):
            cfg['model']['data_preprocessor'].pop('mean')
            cfg['model']['data_preprocessor'].pop('std')
    if name.startswith('regnet'):
        # documented: timm's copy of the pycls weights takes RGB (its first conv turned from
        # BGR); mmdet's pycls normalisation, channel for channel, in RGB order
        ours_pre, ref_pre = a['model']['data_preprocessor'], b['model']['data_preprocessor']
        assert ref_pre['bgr_to_rgb'] is False and ours_pre['bgr_to_rgb'] is True
        assert list(ours_pre['mean']) == list(ref_pre['mean'])[::-1]
        assert list(ours_pre['std']) == list(ref_pre['std'])[::-1]
        for cfg in (ours_pre, ref_pre):
            for key in ('mean', 'std', 'bgr_to_rgb'):
                cfg.pop(key)
    if b.get('optim_wrapper', {}).get('constructor') == 'LearningRateDecayOptimizerConstructor':
        # documented: our layer-decay constructor (its groups equal OpenMMLab's on ConvNeXt)
        assert a['optim_wrapper'].pop('constructor') == 'mmbackbones.LayerDecayOptimizerConstructor'
        b['optim_wrapper'].pop('constructor')
    assert _diff(a, b) == []
    if swapped:
        return  # the backbone settings and the parameter count are the other family's

    ours_backbone, ref_backbone = ours.model.backbone, ref.model.backbone
    for key in ('depth', 'out_indices', 'frozen_stages', 'norm_eval', 'style', 'strides',
                'dilations', 'contract_dilation', 'drop_path_rate', 'window_size', 'radix',
                'reduction_factor', 'scales', 'base_width', 'groups', 'stem_channels',
                'use_abs_pos_embed'):
        if key in ours_backbone and key in ref_backbone:
            assert ours_backbone[key] == ref_backbone[key], key
    if 'norm_cfg' in ref_backbone and 'norm_cfg' in ours_backbone:
        assert ours_backbone.norm_cfg.type == ref_backbone.norm_cfg.type

    ours_model = _build(ours.model, scope)
    try:
        ref_model = _build(ref.model, scope)
    except RuntimeError:  # mmdet's / mmseg's Swin calls .item() while building: not on meta
        ref_model = _build(ref.model, scope, device='cpu')
    # documented: a ViT recipe keeps the patch conv's bias that its weights have (mmseg 1.x's
    # patch_bias=False default drops it; mmseg 0.x, which trained the published model, had it)
    patch_bias = ours.model.backbone.get('patch_bias') and not ref.model.backbone.get('patch_bias')
    extra = ours_model.backbone.patch_embed.proj.bias.numel() if patch_bias else 0
    assert _count(ours_model) == _count(ref_model) + extra


@pytest.mark.parametrize('baseline,resnest', PAIRS)
def test_resnet_baseline_differs_from_resnest_config_in_the_backbone_only(baseline, resnest):
    ours, theirs = _load(baseline).to_dict(), _load(resnest).to_dict()
    ours_backbone, theirs_backbone = ours['model'].pop('backbone'), theirs['model'].pop('backbone')
    for cfg in (ours, theirs):  # the backbone fragment each hands to its model
        for key in FRAGMENTS:
            cfg.pop(key, None)
    assert _diff(ours, theirs) == []
    assert ours_backbone['type'] == 'mmbackbones.ResNet'
    assert theirs_backbone['type'] == 'mmbackbones.ResNeSt'
    for key in ('depth', 'out_indices', 'frozen_stages', 'norm_cfg', 'norm_eval', 'style',
                'strides', 'dilations', 'contract_dilation'):
        assert ours_backbone.get(key) == theirs_backbone.get(key), key


def _publishing_row(checkpoint):
    """The zoo row that lists ``checkpoint`` among its published weights (``weights``)."""
    from mmbackbones.zoo import get_variant, list_variants
    rows = [row for row in map(get_variant, list_variants())
            if checkpoint in row.weights.values()]
    assert len(rows) <= 1, f'{checkpoint} is published by several rows: {rows}'
    return rows[0] if rows else None


def _checkpoint_cases():
    seen, cases = set(), []
    for name in sorted(NAMED_WEIGHTS):
        checkpoint = _load(name).model.backbone.init_cfg.checkpoint
        if checkpoint not in seen:
            seen.add(checkpoint)
            cases.append(pytest.param(name, checkpoint, id=f'{name}-{checkpoint}'))
    return cases


@pytest.mark.parametrize('name,checkpoint', _checkpoint_cases())
def test_pretrained_checkpoint_fits_the_backbone(name, checkpoint, monkeypatch):
    """The reference timm / torchvision model (pretrained=False, meta device), converted by our
    converter, fills the backbone: nothing missing, no shape differs (load_pretrained raises)."""
    import importlib

    from mmbackbones.weights import load_pretrained
    row = _publishing_row(checkpoint)
    if row is not None:
        # Not downloadable offline: the row that publishes these weights has this backbone's
        # tensors (its layout's converter is tested by the family's tests).
        cfg = _load(name)
        with torch.device('meta'):
            backbone = _registry(cfg.default_scope).build(dict(cfg.model.backbone, init_cfg=None))
            from mmbackbones import build_backbone
            published = build_backbone(row.name, out_indices=backbone.out_indices)
        assert ({k: v.shape for k, v in backbone.state_dict().items()}
                == {k: v.shape for k, v in published.state_dict().items()})
        return
    convert_module = importlib.import_module('mmbackbones.weights.convert')  # not the function
    calls = []
    scheme, _, spec = checkpoint.partition('://')

    def resolve_offline(given):
        """What _resolve returns for these weights, from the reference model (no download)."""
        calls.append(given)
        if scheme == 'timm':
            timm = pytest.importorskip('timm')
            assert timm.list_pretrained(spec), 'no such timm weights'
            with torch.device('meta'):
                return timm.create_model(spec, pretrained=False).state_dict(), 'timm'
        torchvision = pytest.importorskip('torchvision')
        assert convert_module._torchvision_url(spec), 'no such torchvision weights'
        with torch.device('meta'):
            model = torchvision.models.get_model(spec.partition('.')[0], weights=None)
        return model.state_dict(), 'torchvision'
    monkeypatch.setattr(convert_module, '_resolve', resolve_offline)

    cfg = _load(name)
    with torch.device('meta'):
        backbone = _registry(cfg.default_scope).build(dict(cfg.model.backbone, init_cfg=None))
    report = load_pretrained(backbone, checkpoint)
    assert len(calls) == 1
    if cfg.model.backbone.type in ('mmbackbones.SwinTransformer', 'mmbackbones.ConvNeXt'):
        # timm's Swin and ConvNeXt have one final norm (our norm3); the norms of the earlier
        # outputs start fresh, as in mmdet
        assert set(report['missing']) <= {f'norm{i}.{p}' for i in range(3)
                                          for p in ('weight', 'bias')}
        assert 'norm3.weight' not in report['missing']
    else:
        assert report['missing'] == []
    # a ViT recipe without the final norm (mmseg's final_norm=False) leaves timm's unused
    unused = r'(fc|classifier|head)\.' if cfg.model.backbone.get('final_norm', True) else \
        r'(fc|classifier|head|norm)\.'
    assert all(re.match(unused, k) for k in report['unexpected']), report['unexpected']


# --------------------------------------------------------------------------- toy runs
_TOY_MODEL_CHANGES = [
    r'backbone\.(init_cfg|frozen_stages|norm_eval)$',   # trains from scratch
    r'backbone\.pretrained$', r'^pretrained$',
    r'(^|\.)num_classes$',                               # 5 toy classes
    r'(^|\.)norm_cfg\.type$',                            # SyncBN -> BN
    r'data_preprocessor\.(size|batch_augments)',         # toy input scale
    r'train_cfg\.rpn_proposal\.(nms_pre|max_per_img)$',  # RoI budgets for 128-pixel images
    r'train_cfg\.rcnn(\.\d)?\.sampler\.num$',
    r'test_cfg\.(rpn\.)?(nms_pre|max_per_img)$',
]


def _sizes(node, out):
    from mmbackbones.toy import _SIZE_KEYS
    if isinstance(node, dict):
        for key, value in node.items():
            if key in _SIZE_KEYS:
                out.append((key, value))
            _sizes(value, out)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _sizes(value, out)
    return out


def _check_derived(cfg, toy, scope, data_root):
    """What a toy run must be, whatever the config."""
    from mmbackbones.channels import check_channels
    from mmbackbones.toy import TOY_ADE_CLASSES, TOY_COCO_CLASSES
    assert 'toy' not in toy
    detection = scope in ('mmdet', 'mmyolo')
    classes = TOY_COCO_CLASSES if detection else TOY_ADE_CLASSES
    changes = [p for p in _diff(cfg.model.to_dict(), toy.model.to_dict())
               if not any(re.search(rule, p) for rule in _TOY_MODEL_CHANGES)]
    assert changes == [], 'the toy run changes the model beyond data, scale and budgets'
    counts = []

    def visit(node):
        if isinstance(node, dict):
            if 'num_classes' in node:
                counts.append(node['num_classes'])
            assert node.get('type') not in ('SyncBN', 'MMSyncBN')
            for v in node.values():
                visit(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                visit(v)
    visit(toy.model.to_dict())
    assert counts and set(counts) == {len(classes)}
    assert toy.model.backbone.init_cfg is None
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        from mmbackbones.toy import _datasets
        for dataset in _datasets(toy[loader].dataset):
            assert dataset.data_root.startswith(data_root)
            assert tuple(dataset.metainfo['classes']) == classes
            assert osp.isdir(osp.join(dataset.data_root, list(dataset.data_prefix.values())[0]))
            if detection:
                assert osp.isfile(osp.join(dataset.data_root, dataset.ann_file))
    for evaluator in ('val_evaluator', 'test_evaluator'):
        if toy[evaluator].get('ann_file'):
            assert osp.isfile(toy[evaluator].ann_file)
    # every image size is CPU-sized (SSD keeps its fixed 300-pixel input)
    for key, value in _sizes([toy.train_dataloader.to_dict(), toy.test_dataloader.to_dict()],
                             []):
        values = value if isinstance(value, (list, tuple)) else [value]
        flat = [abs(v) for v in values for v in (v if isinstance(v, (list, tuple)) else [v])
                if isinstance(v, (int, float)) and not isinstance(v, bool)]
        assert all(v <= 600 for v in flat) or any(k in str(cfg.filename) for k in KEPT_SCALE), \
            (key, value)
    check_channels(copy.deepcopy(toy))
    loop = toy.train_cfg
    assert loop.get('max_epochs', 0) <= 8 and loop.get('max_iters', 0) <= 400


@pytest.fixture(scope='module')
def toy_data(tmp_path_factory):
    """A few images of each synthetic set."""
    out = tmp_path_factory.mktemp('toy_data')
    proc = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'make_toy_data.py'), '--out',
                           str(out), '--coco-train', '4', '--coco-val', '2', '--ade-train', '4',
                           '--ade-val', '2'], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return str(out)


@pytest.mark.parametrize('name', _build_cases(CONFIGS))
def test_toy_run_is_derived_consistently(name, toy_data):
    from mmbackbones.toy import derive_toy_config
    cfg = _load(name)
    before = cfg.to_dict()
    toy = derive_toy_config(cfg, data_root=toy_data)
    assert cfg.to_dict() == before  # the input is left alone
    _check_derived(cfg, toy, cfg.default_scope, toy_data)
    block = cfg.get('toy') or {}
    for key in ('max_epochs', 'max_iters'):
        if key in block:
            assert toy.train_cfg[key] == block[key]
    if 'batch_size' in block:
        assert toy.train_dataloader.batch_size == block['batch_size']


def test_demo_run_keeps_the_recipe_of_its_measured_numbers(toy_data):
    """make demo's box AP50 (docs/training.md) was measured with this Swin-T Mask R-CNN recipe:
    2 epochs of batch 2, AdamW 5e-4 with 50 warm-up iterations, cosine decay stepped per
    iteration, gradient clipping at 10, 32 RoIs per image, RPN budgets 500 / 200."""
    from mmbackbones.toy import derive_toy_config
    toy = derive_toy_config(_load('swin_maskrcnn'), data_root=toy_data)
    assert toy.train_cfg.max_epochs == 2 and toy.train_dataloader.batch_size == 2
    assert toy.optim_wrapper.optimizer.type == 'AdamW' and toy.optim_wrapper.optimizer.lr == 5e-4
    assert toy.optim_wrapper.clip_grad == dict(max_norm=10.0)
    warmup, cosine = toy.param_scheduler
    assert (warmup.type, warmup.start_factor, warmup.end) == ('LinearLR', 0.01, 50)
    assert cosine.type == 'CosineAnnealingLR' and cosine.convert_to_iter_based
    assert cosine.eta_min_ratio == 0.05 and cosine.T_max == 2
    assert toy.model.train_cfg.rcnn.sampler.num == 32
    assert toy.model.train_cfg.rpn_proposal.nms_pre == 500
    assert toy.model.train_cfg.rpn_proposal.max_per_img == 200
    assert toy.model.test_cfg.rpn.max_per_img == 200
    resize = [s for s in toy.train_dataloader.dataset.pipeline if s.type == 'Resize'][0]
    assert min(resize.scale) == 128  # the 128x128 images keep their size


def test_bad_toy_block_is_refused():
    from mmbackbones.toy import ToyConfigError, derive_toy_config
    cfg = _load('resnet18_retinanet')
    cfg.toy = dict(epochs=3)
    with pytest.raises(ToyConfigError, match=r"unknown key\(s\) \['epochs'\].*max_epochs"):
        derive_toy_config(cfg)
    cfg.toy = dict(max_iters=3)
    with pytest.raises(ToyConfigError, match='trains by epochs'):
        derive_toy_config(cfg)


def _toy_train_and_evaluate(cfg, scope, work_dir, evaluate=True, batch=None):
    """Train a few iterations and evaluate once through mmengine's Runner, as tools/train.py."""
    from mmengine.runner import Runner

    from mmbackbones.cli.launch import adapt_to_machine, register_scope
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[loader].num_workers = 0
        cfg[loader].persistent_workers = False
    # detection: 2 images of batch 1; segmentation: batch 2 (DeepLabV3's image-pool BN needs
    # more than one value per channel)
    from mmbackbones.toy import _datasets
    batch = batch or (1 if scope in ('mmdet', 'mmyolo') else 2)
    if 'max_epochs' in cfg.train_cfg:
        for dataset in _datasets(cfg.train_dataloader.dataset):
            dataset.indices = 2 * batch
        cfg.train_cfg.update(max_epochs=1, val_interval=1)
    else:
        cfg.train_cfg.update(max_iters=2, val_interval=2)
        cfg.default_hooks.checkpoint.interval = 2
    cfg.train_dataloader.batch_size = batch
    for dataset in _datasets(cfg.val_dataloader.dataset):
        dataset.indices = 1
    # an untrained detector scores below the usual 0.05: keep every box so that COCO AP is
    # computed (mmdet skips the evaluation of an empty result list)

    def no_score_threshold(node):
        if isinstance(node, dict):
            if 'score_thr' in node:
                node['score_thr'] = 0.0
            for value in node.values():
                no_score_threshold(value)
    no_score_threshold(cfg.model.get('test_cfg'))
    if not evaluate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    cfg.default_hooks.logger.interval = 1
    cfg.work_dir = str(work_dir)
    # one visualizer per run: mmengine reuses an instance of the same name (and its save dir)
    cfg.visualizer.name = f'visualizer_{osp.basename(str(work_dir))}'
    register_scope(cfg)
    adapt_to_machine(cfg, 'none')
    torch.manual_seed(0)
    runner = Runner.from_cfg(cfg)
    runner.train()
    files = glob.glob(osp.join(str(work_dir), '*', 'vis_data', 'scalars.json'))
    assert len(files) == 1, files
    with open(files[0]) as f:
        scalars = [json.loads(line) for line in f if line.strip()]
    train = [s for s in scalars if 'loss' in s]
    assert len(train) == 2 and all(math.isfinite(s['loss']) and s['loss'] > 0 for s in train)
    if not evaluate:
        return None
    evaluated = [s for s in scalars if 'coco/bbox_mAP' in s or 'mIoU' in s]
    assert evaluated, f"no evaluation pass: {scalars}"
    return evaluated[-1]


def _run_cases():
    return [pytest.param(n, marks=() if n in DEFAULT_RUNS else pytest.mark.slow)
            for n in CONFIGS]


@pytest.mark.parametrize('name', _run_cases())
def test_toy_run_trains_and_evaluates(name, toy_data, tmp_path):
    from mmbackbones.toy import derive_toy_config
    cfg = _load(name)
    toy = derive_toy_config(cfg, data_root=toy_data)
    # SSDLite's neck ends in 1x1 maps whose BatchNorm needs two images, and mmdet 3.3.0's
    # SSDHead cannot predict (see test_openmmlab_method_toy_run_trains_and_evaluates)
    ssd = cfg.model.get('bbox_head', {}).get('type') == 'SSDHead'
    metrics = _toy_train_and_evaluate(toy, cfg.default_scope, tmp_path, evaluate=not ssd,
                                      batch=2 if ssd else None)
    if 'mask_head' in cfg.model.get('roi_head', {}):
        assert 'coco/segm_mAP' in metrics


# --------------------------------------------------------------------------- other methods
def _foreign_cases(slow_only=False):
    return [pytest.param(scope, rel, id=osp.basename(rel)[:-3],
                         marks=(pytest.mark.slow, ) if slow_only else ())
            for scope, rel in FOREIGN]


@pytest.mark.parametrize('scope,rel', _foreign_cases())
def test_derivation_handles_openmmlab_methods(scope, rel, toy_data):
    from mmbackbones.toy import derive_toy_config
    cfg = Config.fromfile(_reference_path(scope, rel))
    toy = derive_toy_config(cfg, data_root=toy_data)
    _check_derived(cfg, toy, scope, toy_data)
    if 'yolox' in rel:  # mosaic / mixup / affine borders and the batch resize keep proportions
        steps = {s.type: s for s in toy.train_dataloader.dataset.pipeline}
        assert steps['Mosaic'].img_scale == (128, 128)
        assert steps['RandomAffine'].border == (-64, -64)
        assert steps['MixUp'].img_scale == (128, 128)
        resize = toy.model.data_preprocessor.batch_augments[0]
        assert all(v % 32 == 0 and v <= 160 for v in resize.random_size_range)
    if 'cityscapes' in rel:
        assert toy.train_dataloader.dataset.type == 'ADE20KDataset'
    if 'lraspp' in rel:  # its 49x49 pooling needs the configured crop
        assert toy.model.data_preprocessor.size == cfg.model.data_preprocessor.size
    if 'yolov3' in rel:  # RepeatDataset: an epoch is one pass over the toy data
        assert toy.train_dataloader.dataset.type == 'RepeatDataset'
        assert toy.train_dataloader.dataset.times == 1


@pytest.mark.parametrize('scope,rel', _foreign_cases(slow_only=True))
def test_openmmlab_method_toy_run_trains_and_evaluates(scope, rel, toy_data, tmp_path):
    from mmbackbones.toy import derive_toy_config
    cfg = Config.fromfile(_reference_path(scope, rel))
    toy = derive_toy_config(cfg, data_root=toy_data)
    # mmdet 3.3.0's SSDHead cannot predict (BaseDenseHead._predict_by_feat_single reads
    # self.loss_cls, which SSDHead never sets): SSD trains here, it is not evaluated
    _toy_train_and_evaluate(toy, scope, tmp_path, evaluate='ssd' not in rel)


# --------------------------------------------------------------------------- channels
def test_check_channels_fills_auto_and_names_both_lists():
    from mmbackbones.channels import ChannelMismatchError, check_channels
    cfg = _load('swin_retinanet')  # out_indices (1, 2, 3)
    cfg.model.neck.in_channels = 'auto'
    assert check_channels(cfg) == [192, 384, 768]
    assert cfg.model.neck.in_channels == [192, 384, 768]
    cfg.model.neck.in_channels = [96, 192, 384, 768]
    with pytest.raises(ChannelMismatchError) as err:
        check_channels(cfg)
    message = str(err.value)
    assert '[96, 192, 384, 768]' in message and '[192, 384, 768]' in message
    assert 'model.neck.in_channels' in message and 'Fix' in message

    seg = _load('resnet50_upernet_ade20k')
    seg.model.decode_head.update(in_channels='auto', in_index='auto')
    seg.model.auxiliary_head.update(in_channels='auto', in_index=2)
    check_channels(seg)
    assert seg.model.decode_head.in_index == [0, 1, 2, 3]
    assert seg.model.decode_head.in_channels == [256, 512, 1024, 2048]
    assert seg.model.auxiliary_head.in_channels == 1024
    seg.model.auxiliary_head.in_channels = 512
    with pytest.raises(ChannelMismatchError, match=r'auxiliary_head.in_channels=512.*1024'):
        check_channels(seg)


def test_channel_mismatch_stops_train_py_before_any_data_is_read(tmp_path):
    nowhere = str(tmp_path / 'no_coco') + '/'
    proc = subprocess.run(
        [sys.executable, osp.join('tools', 'train.py'), 'configs/resnet18_retinanet.py',
         '--work-dir', str(tmp_path / 'wd'), '--cfg-options',
         'model.neck.in_channels=[256,512,1024,2048]',
         f'train_dataloader.dataset.data_root={nowhere}'],
        cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stderr[-3000:]
    assert '[256, 512, 1024, 2048]' in proc.stderr and '[64, 128, 256, 512]' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert 'not found' not in proc.stderr  # stopped before the data check


# --------------------------------------------------------------------------- compare.py
def _compare():
    import importlib.util
    spec = importlib.util.spec_from_file_location('mmbackbones_compare',
                                                  osp.join(ROOT, 'tools', 'compare.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_compare_collect_tabulates_fabricated_results(tmp_path):
    compare = _compare()
    fabricated = {
        'swin_maskrcnn': ({'coco/bbox_mAP': 0.4321, 'coco/segm_mAP': 0.3999}, [0.9, 0.5, 0.7],
                          1234.0),
        'swin_upernet_ade20k': ({'mIoU': 44.0, 'aAcc': 80.0}, [0.2, 0.3], None),
    }
    for name, (metrics, times, rss) in fabricated.items():
        run = tmp_path / name
        (run / 'test').mkdir(parents=True)
        (run / 'test' / 'test_metrics.json').write_text(json.dumps(metrics))
        (run / '20260101_000000' / 'vis_data').mkdir(parents=True)
        rows = [dict(loss=1.0, time=t, iter=i + 1) for i, t in enumerate(times)]
        if rss is None:  # a GPU run: mmengine logs the peak memory in MB
            rows = [dict(r, memory=1000 + i) for i, r in enumerate(rows)]
        (run / '20260101_000000' / 'vis_data' / 'scalars.json').write_text(
            '\n'.join(json.dumps(r) for r in rows))
        record = dict(params=28_000_000, train_rc=0, test_rc=0)
        if rss is not None:
            record['peak_rss_mb'] = rss
        (run / 'run.json').write_text(json.dumps(record))
    rc = compare.main(['swin', '--collect', '--no-latency', '--work-dir', str(tmp_path)])
    assert rc == 1  # two configs of the suite were not run
    table = (tmp_path / 'comparison.md').read_text()
    row = next(line for line in table.splitlines() if '`swin_maskrcnn`' in line)
    cells = [c.strip() for c in row.split('|')[1:-1]]
    # box AP, mask AP, mIoU, published, params, s/iter (first iteration dropped), memory
    assert cells[1:4] == ['43.2', '40.0', '–']
    assert '42.7 box AP' in cells[4] and '39.3 mask AP' in cells[4]
    assert cells[5] == '28.00' and cells[6] == '0.600' and cells[7] == '1234'
    row = next(line for line in table.splitlines() if '`swin_upernet_ade20k`' in line)
    cells = [c.strip() for c in row.split('|')[1:-1]]
    assert cells[3] == '44.0' and '44.41 mIoU' in cells[4] and cells[7] == '1001'
    assert 'not run' in table
    png = (tmp_path / 'comparison.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n' and len(png) > 1000
    rows = json.loads((tmp_path / 'comparison.json').read_text())
    assert [r['config'] for r in rows] == PUBLISHED['suites']['swin']['configs']


def _fabricate_run(run, metrics, losses):
    (run / 'test').mkdir(parents=True)
    (run / 'test' / 'test_metrics.json').write_text(json.dumps(metrics))
    (run / '20260101_000000' / 'vis_data').mkdir(parents=True)
    (run / '20260101_000000' / 'vis_data' / 'scalars.json').write_text('\n'.join(
        json.dumps(dict(loss=loss, time=0.5, iter=i + 1)) for i, loss in enumerate(losses)))
    (run / 'run.json').write_text(json.dumps(dict(params=40_000_000, train_rc=0, test_rc=0,
                                                  peak_rss_mb=2000.0)))


def _backbone_cost_truth(name, size):
    """A torchvision classifier's parameters and MACs at ``size`` less its classifier: the
    backbone's, by an implementation independent of ours and mmdet's. The MACs follow from
    torchvision's published count at 224x224 (``_ops``, which includes the classifier's
    in_features x 1000): at a multiple of 32 every feature map scales by the area ratio."""
    import torchvision
    from torchvision.models import get_model_weights
    net = torchvision.models.get_model(name, weights=None)
    fc = [m for m in net.modules() if isinstance(m, torch.nn.Linear)][-1]
    params = sum(p.numel() for p in net.parameters()) - fc.weight.numel() - fc.bias.numel()
    ops = get_model_weights(name).IMAGENET1K_V1.meta['_ops']  # GMACs at 224x224
    macs = (ops * 1e9 - fc.in_features * fc.out_features) * size[0] * size[1] / 224 ** 2
    return params, macs


def test_compare_pairs_published_and_measured_differences_and_costs(tmp_path):
    """Fabricated results of one pair of the regnet suite: the table puts the published
    difference (mmdet model zoo: 38.2 / 34.7 -> 40.3 / 36.6) beside the measured one, with the
    backbones' parameters and MACs at 800x1280 beside them; --toy shows losses instead of AP."""
    compare = _compare()
    base, new = 'resnet50_maskrcnn_1x', 'regnetx_032_maskrcnn'
    measured = {base: (0.3712, 0.3388), new: (0.3951, 0.3567)}
    losses = {base: [2.5, 1.75, 1.25], new: [2.25, 1.5, 0.875]}
    for name, (box, mask) in measured.items():
        _fabricate_run(tmp_path / name, {'coco/bbox_mAP': box, 'coco/segm_mAP': mask},
                       losses[name])
    args = ['regnet', '--collect', '--no-latency', '--only', base, new,
            '--work-dir', str(tmp_path)]
    assert compare.main(args) == 0
    table = (tmp_path / 'comparison.md').read_text()
    rows = [[c.strip() for c in line.split('|')[1:-1]] for line in table.splitlines()
            if line.startswith(f'| `{base}` → `{new}`')]
    assert [r[1] for r in rows] == ['box AP', 'mask AP']
    box, mask = rows
    assert box[2:4] == ['38.2 → 40.3', '+2.10'] and mask[2:4] == ['34.7 → 36.6', '+1.90']
    assert box[4:6] == ['37.12 → 39.51', f'{(0.3951 - 0.3712) * 100:+.2f}']
    assert mask[4:6] == ['33.88 → 35.67', f'{(0.3567 - 0.3388) * 100:+.2f}']
    truth = {base: _backbone_cost_truth('resnet50', (800, 1280)),
             new: _backbone_cost_truth('regnet_x_3_2gf', (800, 1280))}
    costs = {r['config']: r['cost'] for r in
             json.loads((tmp_path / 'comparison.json').read_text())}
    for name, (params, macs) in truth.items():
        assert costs[name]['params'] == params, name
        assert costs[name]['input'] == [800, 1280]
        # torchvision publishes 3 decimals of GMACs
        assert costs[name]['macs'] == pytest.approx(macs, rel=2e-3), name
        assert 'latency_ms' not in costs[name]
    params_cell = f'{truth[base][0] / 1e6:.2f} → {truth[new][0] / 1e6:.2f} ' \
        f'({(truth[new][0] - truth[base][0]) / 1e6:+.2f})'
    assert box[6] == params_cell and box[7].startswith(f'{truth[base][1] / 1e9:.1f} → ')
    pairs = json.loads((tmp_path / 'comparison_pairs.json').read_text())
    assert [(p['baseline'], p['config']) for p in pairs] == [(base, new)]
    assert pairs[0]['metrics'][0]['published'] == [38.2, 40.3]
    png = (tmp_path / 'comparison.png').read_bytes()
    assert png[:8] == b'\x89PNG\r\n\x1a\n'

    # toy: no AP beside a published AP; the losses and the costs instead (costs from the cache)
    assert compare.main(args + ['--toy']) == 0
    table = (tmp_path / 'comparison.md').read_text()
    assert 'instead of AP differences' in table.splitlines()[0]
    assert 'box AP' not in table and '38.2' not in table
    pair = next(line for line in table.splitlines() if line.startswith(f'| `{base}` → `{new}`'))
    assert '1.250 → 0.875' in pair and params_cell in pair
    row = next(line for line in table.splitlines() if line.startswith(f'| `{new}`'))
    assert '2.250 → 0.875' in row


def test_compare_refuses_unknown_suite_and_configs(capsys):
    compare = _compare()
    with pytest.raises(SystemExit):
        compare.main(['resnet', '--collect'])
    assert "unknown suite 'resnet'" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        compare.main(['swin', '--collect', '--only', 'resnet50_maskrcnn'])
    assert 'not in suite' in capsys.readouterr().err


@pytest.mark.slow
def test_compare_resnest_toy_end_to_end(tmp_path, toy_data):
    env = dict(os.environ, MMBACKBONES_TOY_DATA=toy_data)
    proc = subprocess.run([sys.executable, osp.join('tools', 'compare.py'), 'resnest', '--toy',
                           '--work-dir', str(tmp_path)], cwd=ROOT, capture_output=True,
                          text=True, env=env, timeout=7200)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    rows = json.loads((tmp_path / 'comparison.json').read_text())
    assert [r['config'] for r in rows] == PUBLISHED['suites']['resnest']['configs']
    for row in rows:
        assert row['status'] == 'ok' and row['params'] > 1e7 and row['sec_per_iter'] > 0
        assert row['measured'], row
        assert row['loss_last'] > 0 and row['cost']['latency_ms'] > 0, row
        assert row['cost']['train_peak_mb'] > 0, row
    pairs = json.loads((tmp_path / 'comparison_pairs.json').read_text())
    assert len(pairs) == len(PAIRS)
    assert all(p['metrics'][0]['measured_diff'] is not None for p in pairs)
    assert (tmp_path / 'comparison.png').stat().st_size > 1000


# --------------------------------------------------------------------- pretrained weights
# Arguments by which a config deliberately places the pretrained network differently from the
# zoo row its weights belong to (dilation for segmentation, which levels, norm handling).
PLACEMENT = ('strides', 'dilations', 'contract_dilation', 'multi_grid', 'out_indices',
             'norm_cfg', 'norm_eval', 'frozen_stages', 'upsample_mode', 'output_stride',
             'act_cfg',  # mmdet's YOLOv3-MobileNetV2 recipe swaps the ImageNet activation
             # ViT: the fine-tuning size (its position table), mmseg's placement of the norm
             'img_size', 'final_norm', 'interpolate_mode', 'interpolate_antialias')
# one config per family and method kind in the default run; the rest with -m slow
WEIGHTS_DEFAULT = {'resnet18_retinanet', 'res2net101_maskrcnn', 'resnest50_fasterrcnn',
                   'resnest50_deeplabv3_ade20k', 'swin_maskrcnn'}


def _weights_row(backbone):
    """The zoo row whose timm / torchvision model the config's pretrained weights are."""
    from mmbackbones.zoo import get_variant, list_variants
    checkpoint = (backbone.get('init_cfg') or {}).get('checkpoint') or ''
    scheme, _, spec = checkpoint.partition('://')
    rows = [row for row in map(get_variant, list_variants())
            if row.refs.get(scheme) == spec.split('.')[0] or checkpoint in row.weights.values()]
    assert len(rows) == 1, f'{checkpoint}: no single zoo row has these weights ({rows})'
    return rows[0]


@pytest.mark.parametrize('name', [pytest.param(n, marks=[] if n in WEIGHTS_DEFAULT
                                               else [pytest.mark.slow])
                                  for n in sorted(NAMED_WEIGHTS)])
def test_backbone_computes_what_its_pretrained_weights_were_trained_as(name):
    """The config's backbone with the weights of the zoo row its checkpoint names computes what
    that row computes (where the config does not deliberately place it otherwise): a default
    that changed under a config (a pooling rule, a stem) would load the weights and silently
    compute something else."""
    from mmbackbones import build_backbone

    from .helpers import randomise
    cfg = _load(name)
    backbone = cfg.model.backbone.to_dict()
    if cfg.model.get('pretrained'):  # mmseg's EncoderDecoder hands it to the backbone
        backbone['init_cfg'] = dict(type='Pretrained', checkpoint=cfg.model.pretrained)
    row = _weights_row(backbone)
    ours = _build(cfg.model, cfg.default_scope, device='cpu').backbone.eval()
    placement = {k: backbone[k] for k in PLACEMENT if k in backbone}
    placement['out_indices'] = ours.out_indices
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(cfg.default_scope):  # as the config's model
        reference = build_backbone(row.name, **placement).eval()
    randomise(reference, every_parameter=True)
    ours.load_state_dict(reference.state_dict(), strict=True)
    size = (256, 256) if row.family == 'SwinTransformer' else (96, 128)  # Swin: maps > window
    x = torch.rand(1, 3, *size, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        for a, b in zip(ours(x), reference(x)):
            torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-4)
