"""What ``tools/train.py`` and ``tools/test.py`` share.

Loading a config with clear messages (a mistake in a config names its file and line),
registering the mmdet, mmseg or mmyolo modules its ``default_scope`` names, installing the
hooks of :mod:`mmbackbones.engine.hooks`, adapting the config to the machine (gloo and plain
BatchNorm without a GPU) and checking, before a runner is built, that the data the config reads exists
and is usable (:mod:`mmbackbones.cli.datacheck`).
"""
import argparse
import ast
import copy
import difflib
import glob
import importlib
import json
import os
import os.path as osp
import sys
import time
import traceback

from mmengine.config import Config, ConfigDict, DictAction

from mmbackbones.errors import UsageError  # noqa: F401  (the tools import it from here)

from .datacheck import (BadDataError, check_coco_annotation, check_coco_classes,
                        check_seg_labels, scan_image_dir, scan_images)
from .workdir import ResumeError, WorkDirBusyError, WorkDirNotWritableError, WorkDirTakenError

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
SCOPES = ('mmdet', 'mmseg', 'mmyolo')  # mmyolo: the optional `yolo` extra


class DataNotFoundError(FileNotFoundError):
    """A dataset the config reads is not where the config expects it."""


class CfgOptionsAction(DictAction):
    """``--cfg-options KEY=VALUE ...`` with a clear message for malformed pairs."""

    def __call__(self, parser, namespace, values, option_string=None):
        example = ('e.g. --cfg-options train_cfg.max_iters=100 '
                   'model.backbone.drop_path_rate=0.3 optim_wrapper.optimizer.lr=1e-4')
        for item in values:
            key, sep, value = item.partition('=')
            if not sep or not key.strip():
                parser.error(f'{option_string}: {item!r} is not a KEY=VALUE pair ({example})')
            if not value.strip():
                parser.error(f'{option_string}: {item!r} has no value after "=" ({example})')
            if any(ch.isspace() for ch in key) or key.startswith('.') or key.endswith('.') \
                    or '..' in key:
                parser.error(f'{option_string}: {key!r} is not a valid dotted key ({example})')
            try:
                DictAction._parse_iterable(value)
            except Exception as err:  # unbalanced brackets and the like
                parser.error(f'{option_string}: cannot parse the value of {item!r}: '
                             f'{err or type(err).__name__} ({example})')
        super().__call__(parser, namespace, values, option_string)


def add_common_args(parser: argparse.ArgumentParser):
    parser.add_argument('--work-dir', help='where logs and checkpoints go '
                        '(default: work_dirs/<config path below configs/>)')
    parser.add_argument('--cfg-options', nargs='+', action=CfgOptionsAction, metavar='KEY=VALUE',
                        help='override config entries, e.g. train_cfg.max_iters=100')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'],
                        default='none', help='job launcher (pytorch: torchrun)')
    parser.add_argument('--toy', action='store_true',
                        help='the CPU-sized run of CONFIG on the synthetic data of '
                        'tools/make_toy_data.py (mmbackbones.toy.derive_toy_config)')
    parser.add_argument('--debug', action='store_true',
                        help='show the full traceback of an error instead of its one-line message')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0,
                        help=argparse.SUPPRESS)


def _config_suggestions(path):
    candidates = [osp.relpath(p, REPO_ROOT) for p in
                  glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
                  if '_base_' not in p]
    close = difflib.get_close_matches(path, candidates, n=3, cutoff=0.4)
    if not close:
        close = difflib.get_close_matches(osp.basename(path), [osp.basename(c) for c in
                                                               candidates], n=3, cutoff=0.4)
        close = [c for c in candidates if osp.basename(c) in close]
    return close


def load_config(path, cfg_options=None, toy=False):
    """``Config.fromfile`` with a helpful message for a missing file and unknown keys;
    ``toy``: derive the toy run (before ``cfg_options``, which then apply to it)."""
    if not osp.isfile(path):
        hint = _config_suggestions(path)
        more = f' Did you mean: {", ".join(hint)}?' if hint else ''
        raise UsageError(f'config file not found: {path}.{more} '
                         f'Configs live under {osp.join(REPO_ROOT, "configs")}.')
    try:
        cfg = Config.fromfile(path)
    except Exception as err:  # mmengine's own messages hide where the mistake is
        raise UsageError(_config_error(path, err)) from None
    if toy:
        from mmbackbones.toy import derive_toy_config
        _check_as_real_run(cfg, cfg_options, path)
        cfg = derive_toy_config(cfg)
    if cfg_options:
        replaced = [k[:-len('._delete_')] for k in cfg_options if k.endswith('._delete_')]
        for key in cfg_options:
            if not any(key == r or key.startswith(r + '.') for r in replaced):
                _warn_if_new_key(cfg._cfg_dict, key)
        try:
            cfg.merge_from_dict(cfg_options)
        except (TypeError, KeyError, ValueError) as err:
            raise UsageError(f'--cfg-options cannot be merged into {path}: {str(err).rstrip(".")}. To replace a '
                             'whole entry, add KEY._delete_=True') from err
    return cfg


def _check_as_real_run(cfg, cfg_options, path):
    """``--toy`` changes the backbone for the CPU (no pretrained weights, nothing frozen, BN in
    train mode); first build it as the real run would, with the config's own ``frozen_stages``,
    ``out_indices`` and the rest, so that a config broken for real does not pass its toy run."""
    from mmbackbones.channels import check_channels
    real = copy.deepcopy(cfg)
    if cfg_options:
        try:
            real.merge_from_dict(cfg_options)
        except Exception:  # options that only fit the toy run: they are merged (and checked) there
            real = copy.deepcopy(cfg)
    try:
        check_channels(real)
    except UsageError as err:
        raise UsageError(f'{path}, built as its real run (before --toy adapts it to the CPU): '
                         f'{err}') from None


def _base_files(path):
    """Local ``_base_`` files named in the config at ``path`` (package bases are skipped)."""
    with open(path, encoding='utf-8') as f:
        tree = ast.parse(f.read(), filename=path)
    found = []
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == '_base_'
                                                for t in node.targets):
            try:
                value = ast.literal_eval(node.value)
            except Exception:  # not a literal: mmengine will say what it makes of it
                continue
            for base in [value] if isinstance(value, str) else \
                    value if isinstance(value, (list, tuple)) else []:
                if isinstance(base, str) and '::' not in base:
                    found.append(osp.normpath(osp.join(osp.dirname(path), base)))
    return found


def _find_syntax_error(path, seen=None):
    """``(file, SyntaxError)`` for the first config in the ``_base_`` chain that fails to
    parse, else ``None``."""
    seen = set() if seen is None else seen
    if path in seen or not path.endswith('.py') or not osp.isfile(path):
        return None
    seen.add(path)
    try:
        bases = _base_files(path)
    except SyntaxError as err:
        return path, err
    for base in bases:
        found = _find_syntax_error(base, seen)
        if found:
            return found
    return None


def _config_error(path, err):
    """One message naming the config file and line that ``Config.fromfile`` choked on."""
    path = osp.abspath(path)
    if isinstance(err, SyntaxError):
        found = _find_syntax_error(path)
        if found:
            where, syntax = found
            text = (syntax.text or '').rstrip('\n')
            pointer = ''
            if text and syntax.offset:
                pointer = '\n    ' + text + '\n    ' + ' ' * (syntax.offset - 1) + '^'
            return (f'config file {where}, line {syntax.lineno}: syntax error: {syntax.msg}'
                    f'{pointer}' + (f'\n(loaded as a _base_ of {path})' if where != path else ''))
    import mmengine
    engine_dir = osp.dirname(osp.abspath(mmengine.__file__))
    frames = [f for f in traceback.extract_tb(err.__traceback__)
              if osp.isfile(f.filename) and not osp.abspath(f.filename).startswith(engine_dir)
              and osp.abspath(f.filename) != osp.abspath(__file__)]
    message = str(err).strip() or type(err).__name__
    if frames:
        frame = frames[-1]
        line = f'\n    {frame.line}' if frame.line else ''
        return (f'config file {frame.filename}, line {frame.lineno}: {type(err).__name__}: '
                f'{message}{line}')
    return f'cannot load config file {path}: {type(err).__name__}: {message}'


def default_work_dir(config_path, toy=False):
    """``work_dirs/<config path below configs/>``, e.g. ``work_dirs/swin_maskrcnn``
    (``work_dirs/toy/swin_maskrcnn`` for its toy run)."""
    path = osp.splitext(osp.abspath(config_path))[0]
    configs = osp.join(REPO_ROOT, 'configs') + os.sep
    name = path[len(configs):] if path.startswith(configs) else osp.basename(path)
    return osp.join('work_dirs', 'toy', name) if toy else osp.join('work_dirs', name)


def _warn_if_new_key(cfg, dotted_key):
    node = cfg
    parts = dotted_key.split('.')
    for depth, part in enumerate(parts):
        if isinstance(node, (list, tuple)) and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
            continue
        if not isinstance(node, dict) or part not in node:
            where = '.'.join(parts[:depth]) or 'the top level'
            choices = list(node.keys()) if isinstance(node, dict) else []
            close = difflib.get_close_matches(part, choices, n=1)
            hint = f' (did you mean {close[0]!r}?)' if close else ''
            print(f'[mmbackbones] note: --cfg-options adds {dotted_key!r}: {part!r} is not in '
                  f'{where}{hint}', file=sys.stderr)
            return
        node = node[part]


def register_scope(cfg):
    """Import mmbackbones and register the modules of the library the config is written for."""
    importlib.import_module('mmbackbones')  # registers the backbones, safe checkpoint loading
    scope = cfg.get('default_scope')
    if scope not in SCOPES:
        raise UsageError(f'the config sets default_scope={scope!r}; these tools serve '
                         f'{", ".join(SCOPES)} configs (default_scope="mmdet", "mmseg" or '
                         '"mmyolo")')
    if scope == 'mmdet':
        from mmdet.utils import register_all_modules
    elif scope == 'mmyolo':
        try:
            from mmyolo.utils import register_all_modules
        except ImportError as err:
            raise UsageError(f'this config is written for mmyolo (default_scope="mmyolo"), '
                             f'which does not import here ({err}); it is the optional `yolo` '
                             'extra: pip install mmbackbones[yolo]') from None
    else:
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    _untag_collate_functions(cfg)
    return scope


def _untag_collate_functions(cfg):
    """A config whose base is another package's (``_base_ = 'mmyolo::...'``) has every type
    dict of that base tagged with ``_scope_``; mmengine's Runner passes a ``collate_fn`` dict's
    keys to the function (``yolov5_collate() got an unexpected keyword argument '_scope_'``),
    so the tag is dropped there (the function is found in the default scope)."""
    for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        collate = (cfg.get(loader) or {}).get('collate_fn')
        if isinstance(collate, dict):
            collate.pop('_scope_', None)


def _replace_sync_bn(node):
    count = 0
    if isinstance(node, dict):
        if node.get('type') in ('SyncBN', 'MMSyncBN'):
            node['type'] = 'BN'
            count += 1
        for value in node.values():
            count += _replace_sync_bn(value)
    elif isinstance(node, (list, tuple)):
        for value in node:
            count += _replace_sync_bn(value)
    return count


def adapt_to_machine(cfg, launcher, amp=False):
    """Make a GPU config run where there is no GPU.

    Without CUDA: SyncBN becomes BN (torch's SyncBatchNorm needs a GPU), a config's
    ``AmpOptimWrapper`` becomes a float32 ``OptimWrapper``, DDP uses gloo and wraps CPU
    modules (no ``device_ids``), and ``--amp`` is refused with a clear message.
    With CUDA and no launcher, mmengine itself reverts SyncBN (``revert_sync_batchnorm``).
    """
    import torch
    if torch.cuda.is_available():
        return
    if amp:
        raise UsageError('--amp needs a GPU (mmengine\'s AmpOptimWrapper runs on CUDA/NPU/MLU '
                         'only); no GPU is visible here, so train without --amp')
    replaced = _replace_sync_bn(cfg.model)
    if replaced:
        print(f'[mmbackbones] no GPU: {replaced} SyncBN norm config(s) use plain BN instead',
              file=sys.stderr)
    optim = cfg.get('optim_wrapper')
    if isinstance(optim, dict) and optim.get('type') == 'AmpOptimWrapper':
        # mixed precision is a GPU speed-up of the recipe (mmdet's / mmseg's ConvNeXt configs)
        optim['type'] = 'OptimWrapper'
        optim.pop('loss_scale', None)
        print('[mmbackbones] no GPU: AmpOptimWrapper -> OptimWrapper (float32)', file=sys.stderr)
    if launcher == 'none':
        return
    env_cfg = cfg.setdefault('env_cfg', ConfigDict())
    env_cfg.setdefault('dist_cfg', ConfigDict())['backend'] = 'gloo'
    wrapper = cfg.get('model_wrapper_cfg') or ConfigDict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None  # CPU modules take no device ids
    cfg.model_wrapper_cfg = wrapper
    if launcher == 'pytorch':
        # mmengine's init_dist calls torch.cuda.set_device, which fails without a GPU.
        import torch.distributed as dist
        if not dist.is_initialized():
            dist.init_process_group(backend='gloo')


# --------------------------------------------------------------------------- data check
def _is_remote(path):
    return isinstance(path, str) and '://' in path


def _join(root, path):
    if not path or osp.isabs(path) or _is_remote(path) or not root:
        return path
    return osp.join(root, path)


def _dataset_nodes(dataset, key):
    """Yield (dotted key, dataset cfg) for a dataset and the datasets it wraps."""
    if not isinstance(dataset, dict):
        return
    if 'datasets' in dataset:
        for i, sub in enumerate(dataset['datasets']):
            yield from _dataset_nodes(sub, f'{key}.datasets.{i}')
    elif 'dataset' in dataset:
        yield from _dataset_nodes(dataset['dataset'], f'{key}.dataset')
    else:
        yield key, dataset


def _missing_paths(dataset):
    root = dataset.get('data_root') or ''
    missing = []
    ann_file = dataset.get('ann_file')
    if ann_file:
        path = _join(root, ann_file)
        if not _is_remote(path) and not osp.isfile(path):
            missing.append(path)
    prefix = dataset.get('data_prefix') or {}
    for value in (prefix.values() if isinstance(prefix, dict) else [prefix]):
        if not value:
            continue
        path = _join(root, value)
        if not _is_remote(path) and not osp.isdir(path):
            missing.append(path)
    if root and not _is_remote(root) and not osp.isdir(root):
        missing.insert(0, root)
    return missing


def _active_loaders(cfg, loaders):
    """``(loader, its dataloader cfg)`` for each of ``loaders`` the run uses (validation and
    testing can be switched off with ``val_cfg=None`` / ``test_cfg=None``)."""
    for loader in loaders:
        loader_cfg = cfg.get(f'{loader}_dataloader')
        if loader_cfg and (loader == 'train' or cfg.get(f'{loader}_cfg', True)):
            yield loader, loader_cfg


def check_data(cfg, loaders):
    """Raise :class:`DataNotFoundError` naming every missing path and how to point elsewhere."""
    problems, fixes = [], []
    for loader, loader_cfg in _active_loaders(cfg, loaders):
        for key, dataset in _dataset_nodes(loader_cfg.get('dataset'),
                                           f'{loader}_dataloader.dataset'):
            missing = _missing_paths(dataset)
            if missing:
                root = dataset.get('data_root')
                problems.append(f'  {key} ({dataset.get("type")}, data_root={root!r}) '
                                f'is missing: {", ".join(missing)}')
                fixes.append(f'{key}.data_root=/path/to/your/data/')
        evaluators = cfg.get(f'{loader}_evaluator')
        evaluators = evaluators if isinstance(evaluators, (list, tuple)) else [evaluators]
        for i, evaluator in enumerate(evaluators):
            ann_file = evaluator.get('ann_file') if isinstance(evaluator, dict) else None
            if ann_file and not _is_remote(ann_file) and not osp.isfile(ann_file):
                key = f'{loader}_evaluator' + (f'.{i}' if len(evaluators) > 1 else '')
                problems.append(f'  {key} ({evaluator.get("type")}) is missing: {ann_file}')
                fixes.append(f'{key}.ann_file=/path/to/your/data/'
                             f'{osp.join(osp.basename(osp.dirname(ann_file)), osp.basename(ann_file))}')
    if problems:
        config = getattr(cfg, 'filename', None) or 'the config'
        toy = ''
        if config and cfg.get('default_scope') in SCOPES:
            toy = (f'\nTo try the pipeline on synthetic data instead: python tools/make_toy_data.py'
                   f' && python tools/train.py {osp.relpath(config)} --toy')
        raise DataNotFoundError(
            f'the data that {config} reads was not found (paths are relative to '
            f'{os.getcwd()}):\n' + '\n'.join(problems) +
            '\nPut (or symlink) the dataset there -- docs/training.md shows the layout -- or '
            'point the config elsewhere:\n  --cfg-options ' + ' '.join(dict.fromkeys(fixes)) +
            toy)
    _check_contents(cfg, loaders)


def _dataset_class(type_name, scope):
    if not isinstance(type_name, str):
        return type_name if isinstance(type_name, type) else None
    if scope == 'mmdet':
        from mmdet.registry import DATASETS
    elif scope == 'mmyolo':
        from mmyolo.registry import DATASETS
    elif scope == 'mmseg':
        from mmseg.registry import DATASETS
    else:
        return None
    try:
        return DATASETS.get(type_name)
    except Exception:  # an unknown type is the runner's to report
        return None


def _classes(dataset, cls):
    """The class names a dataset config trains on: its ``metainfo`` or its class's."""
    metainfo = dataset.get('metainfo') or {}
    classes = metainfo.get('classes') if isinstance(metainfo, dict) else None
    if classes is None:
        classes = (getattr(cls, 'METAINFO', None) or {}).get('classes') or ()
    return tuple(classes) if isinstance(classes, (list, tuple)) else (classes, )


def _check_seg_pairs(dataset, cls, root, prefix, key):
    """Image folder without a split file: each image needs its label file (mmseg pairs them by
    name and only fails in the data loader, mid-run)."""
    if dataset.get('ann_file'):
        return
    img_dir = _join(root, prefix.get('img_path', ''))
    seg_dir = _join(root, prefix.get('seg_map_path', ''))
    if not prefix.get('seg_map_path') or _is_remote(img_dir) or _is_remote(seg_dir) \
            or not osp.isdir(img_dir):
        return
    import inspect
    defaults = {name: p.default for name, p in inspect.signature(cls).parameters.items()}
    img_suffix = dataset.get('img_suffix', defaults.get('img_suffix', '.jpg'))
    seg_suffix = dataset.get('seg_map_suffix', defaults.get('seg_map_suffix', '.png'))
    check_seg_labels(img_dir, seg_dir, img_suffix, seg_suffix, key)


def _check_contents(cfg, loaders):
    """Annotation files that parse and have what the dataset reads; images that exist, are not
    empty and start like an image. Raises :class:`BadDataError` naming the file."""
    scope = cfg.get('default_scope')
    coco_cls = seg_cls = None
    if scope in ('mmdet', 'mmyolo'):  # mmyolo's datasets subclass mmdet's
        from mmdet.datasets import CocoDataset as coco_cls
    elif scope == 'mmseg':
        from mmseg.datasets import BaseSegDataset as seg_cls
    cache, scanned = {}, set()
    for loader, loader_cfg in _active_loaders(cfg, loaders):
        for key, dataset in _dataset_nodes(loader_cfg.get('dataset'),
                                           f'{loader}_dataloader.dataset'):
            cls = _dataset_class(dataset.get('type'), scope)
            root = dataset.get('data_root') or ''
            prefix = dataset.get('data_prefix') or {}
            prefix = prefix if isinstance(prefix, dict) else {}
            started = time.time()
            if coco_cls and cls and issubclass(cls, coco_cls) and dataset.get('ann_file'):
                ann_file = _join(root, dataset['ann_file'])
                if _is_remote(ann_file) or not ann_file.endswith('.json'):
                    continue
                data = check_coco_annotation(ann_file, key, need_annotations=loader != 'test',
                                             cache=cache)
                check_coco_classes(data, ann_file, key, _classes(dataset, cls), key)
                img_dir = _join(root, prefix.get('img', ''))
                if (ann_file, img_dir) in scanned or _is_remote(img_dir):
                    continue
                scanned.add((ann_file, img_dir))
                paths = [osp.join(img_dir, img['file_name']) for img in data['images']
                         if isinstance(img, dict) and 'file_name' in img]
                scan_images(paths, f'{key}: images listed in {ann_file}')
                count = len(paths)
            elif seg_cls and cls and issubclass(cls, seg_cls):
                _check_seg_pairs(dataset, cls, root, prefix, key)
                count = 0
                for name in ('img_path', 'seg_map_path'):
                    folder = _join(root, prefix.get(name, ''))
                    if folder and not _is_remote(folder) and osp.isdir(folder) \
                            and folder not in scanned:
                        scanned.add(folder)
                        count += scan_image_dir(folder, f'{key}: {folder}')
            else:
                continue
            took = time.time() - started
            if took > 2:
                print(f'[mmbackbones] checked {count} image files of {key} in {took:.0f} s',
                      file=sys.stderr)
        evaluators = cfg.get(f'{loader}_evaluator')
        for i, evaluator in enumerate(evaluators if isinstance(evaluators, (list, tuple))
                                      else [evaluators]):
            if not isinstance(evaluator, dict) or 'Coco' not in str(evaluator.get('type')):
                continue
            ann_file = evaluator.get('ann_file')
            if ann_file and not _is_remote(ann_file) and ann_file.endswith('.json'):
                check_coco_annotation(ann_file, f'{loader}_evaluator',
                                      need_annotations=not evaluator.get('format_only'),
                                      cache=cache)


def install_hooks(cfg, strict_load=True):
    """Atomic checkpoints for every config, and checked loading of every checkpoint."""
    importlib.import_module('mmbackbones.engine.hooks')  # registers the hooks in mmengine's HOOKS
    checkpoint = (cfg.get('default_hooks') or {}).get('checkpoint')
    if isinstance(checkpoint, dict):
        if checkpoint.get('type') in ('CheckpointHook', 'mmengine.CheckpointHook'):
            checkpoint['type'] = 'AtomicCheckpointHook'
        elif checkpoint.get('type') != 'AtomicCheckpointHook':
            print(f'[mmbackbones] note: default_hooks.checkpoint is a {checkpoint.get("type")}, '
                  'not CheckpointHook; its saves are not made atomic', file=sys.stderr)
    custom = list(cfg.get('custom_hooks') or [])
    custom.append(dict(type='CheckedLoadHook', strict=strict_load))
    cfg.custom_hooks = custom
    # A config dumped into the work dir then names hooks that plain mmengine tools can import.
    imports = cfg.get('custom_imports') or dict(imports=[], allow_failed_imports=False)
    names = list(imports.get('imports') or [])
    if 'mmbackbones.engine.hooks' not in names:
        imports['imports'] = names + ['mmbackbones.engine.hooks']
    cfg.custom_imports = imports


def write_json_atomically(path, obj):
    from mmbackbones.engine.hooks import atomic_write_text
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    atomic_write_text(path, json.dumps(obj, indent=2))


def _expected_errors():
    """Exception types that stand for a mistake in the input (printed as one line)."""
    expected = (DataNotFoundError, BadDataError, WorkDirBusyError, ResumeError, WorkDirTakenError,
                WorkDirNotWritableError)
    if 'mmbackbones.weights' in sys.modules:  # checkpoint problems (imports torch)
        from mmbackbones.weights import (HubOfflineError, NotACheckpointError,
                                         PretrainedMismatchError, UnsafeCheckpointError)
        from mmbackbones.weights.offline import WeightsOfflineError
        expected += (PretrainedMismatchError, NotACheckpointError, UnsafeCheckpointError,
                     HubOfflineError, WeightsOfflineError)
    return expected


def run_main(main):
    """Run a tool's ``main`` and turn expected failures into one ``error:`` line: exit 2 for
    usage errors, 1 for data, checkpoint, work-dir and resume problems. ``--debug`` among the
    arguments shows the traceback instead."""
    debug = '--debug' in sys.argv[1:]
    try:
        return main()
    except UsageError as err:
        if debug:
            raise
        print(f'error: {err}', file=sys.stderr)
        return 2
    except Exception as err:
        if debug or not isinstance(err, _expected_errors()):
            raise
        print(f'error: {err}', file=sys.stderr)
        return 1
