"""Derive the CPU-sized run of a detection or segmentation config on the synthetic data.

``derive_toy_config(cfg)`` turns any mmdet or mmyolo (detection, instance segmentation) or
mmseg (semantic segmentation) config into the same model and pipeline on the data that
``tools/make_toy_data.py`` writes (``data/toy_coco``: 5 shape classes, ``data/toy_ade``: the
first 5 ADE20K classes, 128x128 images):

* data: dataset roots, class lists, annotation files and evaluators' ``ann_file`` (through
  dataset wrappers such as ``MultiImageMixDataset``; ``RepeatDataset`` repeats once); 1 worker;
* image scales: every size-like argument of the pipelines (``scale``, ``scales``,
  ``img_scale``, ``crop_size``, ``size``, ``border``, ``random_size_range``) and of the data
  preprocessor and its batch augments, multiplied by one factor (128 / the test short side for
  detection, 128 / the crop side for segmentation) -- mosaic, mixup and affine borders keep
  their proportions; models tied to their input size (SSD, LR-ASPP: :data:`KEEP_SCALE`) keep it;
* YOLO recipes: mmyolo's batch-shape validation (``batch_shapes_cfg.img_size``) scales with
  the pipelines; COCO dataset and metric classes of mmdet and mmyolo are kept; steps whose
  optional library is missing (``Albu``: albumentations, photometric only) are dropped; a
  learning-rate schedule run by a hook (mmyolo's YOLOv5 hook) gets the toy length and warm-up;
* model: ``num_classes`` of every head, pretrained weights off (trains from scratch: nothing
  frozen, BN in train mode), SyncBN -> BN, proposal and RoI sampling budgets scaled to the
  small images;
* schedule: a short warm-up plus cosine decay (epochs) or poly decay (iterations), gradient
  clipping, logging every 10 iterations.

A config with needs of its own carries a ``toy = dict(...)`` block, which the derivation reads
and removes; its keys are listed in :data:`TOY_KEYS`.
"""
import copy
import os
import os.path as osp

from mmengine.config import Config, ConfigDict

from mmbackbones.errors import UsageError

__all__ = ['derive_toy_config', 'TOY_KEYS', 'TOY_COCO_CLASSES', 'TOY_ADE_CLASSES', 'TOY_SIZE']

TOY_SIZE = 128  # side of the synthetic images
TOY_COCO_CLASSES = ('red_circle', 'green_square', 'blue_triangle', 'yellow_star',
                    'magenta_cross')
TOY_COCO_PALETTE = [(220, 40, 40), (40, 190, 60), (30, 90, 220), (235, 215, 30),
                    (200, 40, 200)]
TOY_ADE_CLASSES = ('wall', 'building', 'sky', 'floor', 'tree')
TOY_ADE_PALETTE = [[120, 120, 120], [180, 120, 120], [6, 230, 230], [80, 50, 50], [4, 200, 3]]

TOY_KEYS = {
    'max_epochs': 'training length of an epoch-based config (default 4)',
    'max_iters': 'training length of an iteration-based config (default 200)',
    'batch_size': 'images per training batch (default 2)',
    'lr': "optimizer learning rate (default: the config's own)",
    'warmup_iters': 'linear warm-up iterations (default 50)',
    'roi_samples': 'RoIs sampled per image for the R-CNN heads (default 64)',
    'overrides': 'a dict merged into the derived config last (mmengine merge rules, _delete_)',
}

# Pipeline / preprocessor arguments that are image sizes in pixels.
_SIZE_KEYS = ('scale', 'scales', 'img_scale', 'crop_size', 'size', 'border',
              'random_size_range')
_PROPOSALS = dict(nms_pre=500, max_per_img=200)  # RPN budgets for 128-pixel images


class ToyConfigError(UsageError, ValueError):
    """The config cannot be turned into a toy run (names the key and the valid values)."""


# --------------------------------------------------------------------------- helpers
def _walk(node, fn):
    """Call ``fn`` on every dict below ``node`` (lists included), depth first."""
    if isinstance(node, dict):
        fn(node)
        for value in list(node.values()):
            _walk(value, fn)
    elif isinstance(node, (list, tuple)):
        for value in node:
            _walk(value, fn)


def _datasets(node):
    """The innermost dataset dicts of a dataloader's dataset (through wrappers)."""
    if not isinstance(node, dict):
        return []
    if 'datasets' in node:
        return [d for sub in node['datasets'] for d in _datasets(sub)]
    if 'dataset' in node:
        return _datasets(node['dataset'])
    return [node]


def _pipelines(loader):
    """Every pipeline list of a dataloader's dataset and of the datasets it wraps."""
    out = []

    def visit(node):
        if not isinstance(node, dict):
            return
        if isinstance(node.get('pipeline'), list):
            out.append(node['pipeline'])
        for key in ('dataset', 'datasets'):
            sub = node.get(key)
            for item in (sub if isinstance(sub, list) else [sub]):
                visit(item)
    visit(loader.get('dataset') if loader else None)
    return out


def _scale_value(value, factor, key):
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, (int, float)):
        scaled = value * factor
        if key == 'random_size_range':  # BatchSyncRandomResize draws multiples of 32
            return max(32, int(round(scaled / 32)) * 32)
        if isinstance(value, int):
            return int(round(scaled)) if value < 0 else max(1, int(round(scaled)))
        return scaled
    if isinstance(value, (list, tuple)):
        return type(value)(_scale_value(v, factor, key) for v in value)
    return value


def _scale_sizes(node, factor):
    def fn(d):
        for key in _SIZE_KEYS:
            if key in d:
                d[key] = _scale_value(d[key], factor, key)
        if _is_fixed_shape_resize(d):  # PP-YOLOE's FixShapeResize(width=, height=)
            for key in ('width', 'height'):
                d[key] = _scale_value(d[key], factor, key)
    _walk(node, fn)


def _is_fixed_shape_resize(step) -> bool:
    return ('Resize' in str(step.get('type')) and isinstance(step.get('width'), int)
            and isinstance(step.get('height'), int))


def _short_side(value):
    """Shortest side named by a scale-like value: (w, h), [(w, h), ...] or an int."""
    if isinstance(value, (int, float)):
        return value
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, (int, float)) for v in value):
            return min(value)
        sides = [_short_side(v) for v in value]
        sides = [s for s in sides if s]
        return max(sides) if sides else None
    return None


def _reference_side(cfg, task):
    """The side that maps to the toy image size."""
    if task == 'seg':
        size = cfg.model.get('data_preprocessor', {}).get('size')
        if size:
            return _short_side(size)
        for pipeline in _pipelines(cfg.get('train_dataloader')):
            for step in pipeline:
                if isinstance(step, dict) and step.get('crop_size'):
                    return _short_side(step['crop_size'])
    loaders = ('test_dataloader', 'val_dataloader', 'train_dataloader')
    for loader in loaders:
        for pipeline in _pipelines(cfg.get(loader)):
            for step in pipeline:
                if isinstance(step, dict) and 'Resize' in str(step.get('type')):
                    for key in ('scale', 'img_scale', 'scales'):
                        if step.get(key):
                            return _short_side(step[key])
                    if _is_fixed_shape_resize(step):
                        return min(step['width'], step['height'])
    return None


# Models that only work at (about) their configured input size keep it.
KEEP_SCALE = {
    'SSDAnchorGenerator': "SSD's anchors are laid out for one input_size",
    'LRASPPHead': "LR-ASPP pools its 1/8 map with a 49x49 kernel (needs >= 392 pixels)",
}


def _fixed_input_size(model):
    found = []
    _walk(model, lambda d: found.append(d['type']) if d.get('type') in KEEP_SCALE else None)
    return found


def _task(cfg):
    scope = cfg.get('default_scope')
    if scope == 'mmseg':
        return 'seg'
    if scope in ('mmdet', 'mmyolo'):
        return 'det'
    raise ToyConfigError(f'default_scope={scope!r}: toy runs exist for mmdet, mmyolo and mmseg '
                         'configs (default_scope="mmdet", "mmyolo" or "mmseg")')


def _is_coco(type_name, suffix):
    """``CocoDataset`` / ``YOLOv5CocoDataset`` / ``mmdet.CocoMetric``: COCO-format classes of
    mmdet and mmyolo, kept (mmyolo's batch-shape validation needs its own dataset class)."""
    return isinstance(type_name, str) and type_name.split('.')[-1].endswith(suffix)


def _optional_steps(pipeline):
    """Drop steps whose optional library is missing: mmdet's ``Albu`` (albumentations; mmyolo's
    YOLOv5 recipes use it for photometric augmentation only, so the geometry is unchanged)."""
    import importlib.util
    if importlib.util.find_spec('albumentations') is not None:
        return
    def needs_albumentations(step):
        return isinstance(step, dict) and str(step.get('type')).split('.')[-1] == 'Albu'
    pipeline[:] = [step for step in pipeline if not needs_albumentations(step)]


def _scale_batch_shapes(loader, factor):
    """mmyolo's batch-shape validation (``batch_shapes_cfg``: letterboxed batches of similar
    aspect ratios) pads to ``img_size``: scaled like the pipelines, rounded to its divisor."""
    for dataset in _datasets(loader.get('dataset') if loader else None):
        shapes = dataset.get('batch_shapes_cfg')
        if isinstance(shapes, dict) and 'img_size' in shapes:
            divisor = int(shapes.get('size_divisor', 32))
            shapes['img_size'] = max(divisor, int(round(shapes['img_size'] * factor / divisor))
                                     * divisor)


# --------------------------------------------------------------------------- parts
def _data(cfg, task, data_root):
    if task == 'det':
        root = osp.join(data_root, 'toy_coco') + '/'
        metainfo = dict(classes=TOY_COCO_CLASSES, palette=TOY_COCO_PALETTE)
    else:
        root = osp.join(data_root, 'toy_ade')
        metainfo = dict(classes=TOY_ADE_CLASSES, palette=TOY_ADE_PALETTE)
    for loader_name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(loader_name)
        if not loader:
            continue
        split = 'train' if loader_name == 'train_dataloader' else 'val'
        loader['num_workers'] = 1
        node = loader.get('dataset')
        while isinstance(node, dict) and 'dataset' in node:  # an epoch is one pass of the toy set
            if node.get('type') == 'RepeatDataset':
                node['times'] = 1
            node = node['dataset']
        for dataset in _datasets(loader.get('dataset')):
            dataset['data_root'] = root
            dataset['metainfo'] = copy.deepcopy(metainfo)
            if task == 'det':
                if not _is_coco(dataset.get('type'), 'CocoDataset'):
                    dataset['type'] = 'CocoDataset'
                dataset['ann_file'] = f'annotations/instances_{split}.json'
                dataset['data_prefix'] = dict(img=f'{split}/')
                if split == 'train':
                    filter_cfg = dataset.get('filter_cfg') or {}
                    dataset['filter_cfg'] = dict(filter_cfg, filter_empty_gt=True, min_size=4)
            else:
                ade = 'training' if split == 'train' else 'validation'
                dataset['type'] = 'ADE20KDataset'
                dataset['data_prefix'] = dict(img_path=f'images/{ade}',
                                              seg_map_path=f'annotations/{ade}')
                dataset.pop('ann_file', None)
                for key in ('img_suffix', 'seg_map_suffix'):
                    dataset.pop(key, None)
                dataset['reduce_zero_label'] = True
        if task == 'seg':  # label 0 of the ADE20K layout means "ignore"
            for pipeline in _pipelines(loader):
                for step in pipeline:
                    if isinstance(step, dict) and step.get('type') == 'LoadAnnotations':
                        step['reduce_zero_label'] = True
    if task == 'det':
        for name in ('val_evaluator', 'test_evaluator'):
            evaluators = cfg.get(name)
            if not evaluators:
                continue
            for evaluator in (evaluators if isinstance(evaluators, list) else [evaluators]):
                if not _is_coco(evaluator.get('type'), 'CocoMetric'):  # VOCMetric: COCO AP
                    evaluator.clear()
                    evaluator.update(type='CocoMetric', metric='bbox')
                evaluator['ann_file'] = root + 'annotations/instances_val.json'
                evaluator.pop('outfile_prefix', None)
                evaluator['format_only'] = False
    return root


def _model(cfg, task, roi_samples):
    model = cfg.model
    n_classes = len(TOY_COCO_CLASSES if task == 'det' else TOY_ADE_CLASSES)

    def fn(d):
        if 'num_classes' in d:
            d['num_classes'] = n_classes
        if d.get('type') in ('SyncBN', 'MMSyncBN'):
            d['type'] = 'BN'
    _walk(model, fn)
    if 'pretrained' in model:  # mmseg's EncoderDecoder hands it to the backbone
        model['pretrained'] = None
    backbone = model.get('backbone')
    if isinstance(backbone, dict):
        backbone['init_cfg'] = None  # offline: trains from scratch, so nothing frozen
        backbone.pop('pretrained', None)
        if 'frozen_stages' in backbone:
            backbone['frozen_stages'] = -1
        # from scratch, BatchNorm statistics must train, also where the config leaves
        # norm_eval to a default (ours follow mmdet's True under its scope: mmdet's HRNet)
        if 'norm_eval' in backbone or str(backbone.get('type', '')).startswith('mmbackbones.'):
            backbone['norm_eval'] = False
    # proposal and RoI budgets (R-CNN family), scaled to 128-pixel images
    train_cfg, test_cfg = model.get('train_cfg') or {}, model.get('test_cfg') or {}
    for node in (train_cfg.get('rpn_proposal'), test_cfg.get('rpn')):
        if isinstance(node, dict):
            for key, cap in _PROPOSALS.items():
                if key in node:
                    node[key] = min(node[key], cap)
    rcnn = train_cfg.get('rcnn')
    for stage in (rcnn if isinstance(rcnn, list) else [rcnn]):
        if isinstance(stage, dict) and isinstance(stage.get('sampler'), dict) \
                and 'num' in stage['sampler']:
            stage['sampler']['num'] = roi_samples
    if isinstance(test_cfg, dict) and isinstance(test_cfg.get('nms_pre'), int):
        test_cfg['nms_pre'] = min(test_cfg['nms_pre'], _PROPOSALS['nms_pre'])


def _schedule(cfg, toy):
    loop = cfg.get('train_cfg') or ConfigDict()
    by_epoch = ('max_epochs' in loop or 'EpochBased' in str(loop.get('type', ''))) \
        and 'max_iters' not in loop
    if 'max_epochs' in toy and 'max_iters' in toy:
        raise ToyConfigError('toy: give max_epochs or max_iters, not both')
    if by_epoch and 'max_iters' in toy:
        raise ToyConfigError('toy.max_iters: this config trains by epochs (train_cfg.max_epochs); '
                             'use toy.max_epochs')
    if not by_epoch and 'max_epochs' in toy:
        raise ToyConfigError('toy.max_epochs: this config trains by iterations '
                             '(train_cfg.max_iters); use toy.max_iters')
    warmup = int(toy.get('warmup_iters', 50))
    hooks = cfg.setdefault('default_hooks', ConfigDict())
    scheduler_hook = hooks.get('param_scheduler')
    # mmyolo's recipes schedule the learning rate in a hook of their own (YOLOv5's linear /
    # cosine decay with warm-up) and set no param_scheduler: that hook gets the toy length.
    by_hook = (isinstance(scheduler_hook, dict) and not cfg.get('param_scheduler')
               and str(scheduler_hook.get('type', '')).split('.')[-1] != 'ParamSchedulerHook'
               and 'max_epochs' in scheduler_hook)
    if by_epoch:
        epochs = int(toy.get('max_epochs', 4))
        cfg.train_cfg = ConfigDict(type='EpochBasedTrainLoop', max_epochs=epochs,
                                   val_interval=epochs)
    if by_epoch and by_hook:
        scheduler_hook['max_epochs'] = epochs
        if 'warmup_mim_iter' in scheduler_hook or 'warmup_epochs' in scheduler_hook:
            # warm-up: max(warmup_epochs epochs, warmup_mim_iter iterations) -> the toy's
            scheduler_hook.update(warmup_epochs=0, warmup_mim_iter=warmup)
        if isinstance(hooks.get('checkpoint'), dict):
            hooks.checkpoint.update(interval=1, max_keep_ckpts=2, by_epoch=True)
    elif by_epoch:
        cfg.param_scheduler = [
            dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup),
            dict(type='CosineAnnealingLR', T_max=epochs, eta_min_ratio=0.05, begin=0,
                 end=epochs, by_epoch=True, convert_to_iter_based=True),
        ]
        if isinstance(hooks.get('checkpoint'), dict):
            hooks.checkpoint.update(interval=1, max_keep_ckpts=2, by_epoch=True)
    else:
        iters = int(toy.get('max_iters', 200))
        cfg.train_cfg = ConfigDict(type='IterBasedTrainLoop', max_iters=iters,
                                   val_interval=iters)
        cfg.param_scheduler = [
            dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=warmup),
            dict(type='PolyLR', eta_min=0.0, power=1.0, begin=warmup, end=iters,
                 by_epoch=False),
        ]
        if isinstance(hooks.get('checkpoint'), dict):
            hooks.checkpoint.update(interval=iters, max_keep_ckpts=2, by_epoch=False)
    if isinstance(hooks.get('logger'), dict):
        hooks.logger['interval'] = 10
    if isinstance(cfg.get('log_processor'), dict):
        cfg.log_processor['window_size'] = 10
    optim = cfg.get('optim_wrapper')
    if isinstance(optim, dict):
        if 'lr' in toy:
            optim.setdefault('optimizer', ConfigDict())['lr'] = float(toy['lr'])
        if optim.get('type', 'OptimWrapper') in ('OptimWrapper', 'AmpOptimWrapper') \
                and not optim.get('clip_grad'):
            optim['clip_grad'] = dict(max_norm=10.0)  # from scratch: tame the first steps
    cfg.train_dataloader['batch_size'] = int(toy.get('batch_size', 2))
    # Epoch-count hooks of long schedules (YOLOX's mode switch, RTMDet's pipeline switch) and
    # per-epoch validation changes would point past the toy schedule's end.
    if isinstance(cfg.train_cfg, dict):
        cfg.train_cfg.pop('dynamic_intervals', None)


# --------------------------------------------------------------------------- entry point
def derive_toy_config(cfg, data_root=None):
    """Return the CPU-sized toy run of ``cfg`` (a :class:`mmengine.config.Config`, or a path).

    ``data_root`` is the folder holding ``toy_coco`` / ``toy_ade`` (``tools/make_toy_data.py
    --out``); default: ``$MMBACKBONES_TOY_DATA`` or ``data``. The input config is not
    modified. Raises :class:`ToyConfigError` for a config
    these rules cannot handle or a bad ``toy`` block.
    """
    if data_root is None:
        data_root = os.environ.get('MMBACKBONES_TOY_DATA') or 'data'
    if isinstance(cfg, str):
        cfg = Config.fromfile(cfg)
    cfg = copy.deepcopy(cfg)
    toy = cfg._cfg_dict.pop('toy', None) or {}
    toy = dict(toy)
    unknown = sorted(set(toy) - set(TOY_KEYS))
    if unknown:
        raise ToyConfigError(f'toy block: unknown key(s) {unknown}; valid keys: '
                             + ', '.join(f'{k} ({v})' for k, v in TOY_KEYS.items()))
    task = _task(cfg)
    if not cfg.get('train_dataloader') or not cfg.get('model'):
        raise ToyConfigError('the config has no model or no train_dataloader to derive from')

    # sizes first: the reference side is read from the original pipelines
    if not _fixed_input_size(cfg.model):
        side = _reference_side(cfg, task)
        if not side:
            raise ToyConfigError('cannot find the input scale to shrink (no Resize step with '
                                 'scale= in the test pipeline, no crop size): add a toy block '
                                 'with overrides for the pipelines')
        factor = TOY_SIZE / side
        for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            for pipeline in _pipelines(cfg.get(loader)):
                _scale_sizes(pipeline, factor)
            _scale_batch_shapes(cfg.get(loader), factor)
        for name in ('train_pipeline', 'test_pipeline', 'tta_pipeline'):
            if isinstance(cfg.get(name), list):
                _scale_sizes(cfg[name], factor)
        preprocessor = cfg.model.get('data_preprocessor')
        if isinstance(preprocessor, dict):
            _scale_sizes(preprocessor, factor)
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        for pipeline in _pipelines(cfg.get(loader)):
            _optional_steps(pipeline)
    _data(cfg, task, data_root)
    _model(cfg, task, int(toy.get('roi_samples', 64)))
    _schedule(cfg, toy)
    if toy.get('overrides'):
        cfg.merge_from_dict(dict(toy['overrides']))
    return cfg
