"""Train and test every config of a named comparison, then tabulate it beside the published numbers.

    python tools/compare.py resnest --toy                 # CPU-sized, synthetic data, minutes
    python tools/compare.py swin --work-dir work_dirs/cmp_swin
    python tools/compare.py resnest --collect --work-dir DIR   # only read DIR's results
    python tools/compare.py pvt --collect --no-latency --work-dir DIR   # counts only, seconds

Suites and published numbers come from ``configs/published.json``. A suite lists its configs
and its pairs: a baseline and the config compared with it, with the two published numbers of
the claim where a source states it under one recipe (ResNeSt-50 over ResNet-50, ConvNeXt-T over
Swin-T). Each config trains with ``tools/train.py`` into ``<work dir>/<config>`` and is tested
with ``tools/test.py``; then ``<work dir>/comparison.md`` is written: per pair the published
difference beside the measured one, with the cost of each backbone beside it, and per config the
measured box AP / mask AP / mIoU, the published numbers, parameters, seconds per training
iteration and peak memory of the run. Costs are the backbone's as the config builds it, at one
stated input size (detection 800x1280, the size the papers count detector FLOPs at; fixed-size
recipes their own size; segmentation its crop; ``--cost-input`` for another): parameters and
MACs counted on the meta device (:func:`mmbackbones.analysis.count_module`), and unless
``--no-latency`` the median inference latency (one image, interleaved across the suite's
backbones, deploy form where there is one) and the peak memory of one training step (forward +
backward) on this machine's GPU, else CPU, each measured once per backbone and kept in
``<work dir>/backbone_costs.json``. ``comparison.json`` (the rows), ``comparison_pairs.json``
and ``comparison.png`` (published vs measured differences per pair, and the backbones' MACs)
are written too. ``--toy`` runs each config's toy run (``tools/train.py --toy``) on a few
synthetic images for a few iterations: it checks the whole path, its accuracies say nothing,
so toy tables and charts show the training losses and the costs instead of AP differences.
Extra ``--cfg-options`` apply to every config.
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PUBLISHED = osp.join(ROOT, 'configs', 'published.json')
METRICS = (('box_ap', 'box AP', 'coco/bbox_mAP', 100.0),
           ('mask_ap', 'mask AP', 'coco/segm_mAP', 100.0),
           ('miou', 'mIoU', 'mIoU', 1.0))
LABELS = {'box_ap': 'box AP', 'mask_ap': 'mask AP', 'miou': 'mIoU', 'miou_ms': 'mIoU (ms+flip)'}
# Costs: the size the detection papers count FLOPs at (Swin, ConvNeXt, PVT: 1280x800), as HxW.
DETECTION_COST_INPUT = (800, 1280)
LATENCY_WARMUP, LATENCY_REPEATS = 1, 3
# --toy: a few images, a few iterations (the toy runs themselves train for minutes each)
TOY_IMAGES = 8
TOY_ITERS = 4

# Runs a tool in this process's child and records its peak resident memory on exit.
_MEASURE = ('import json, resource, runpy, sys\n'
            'out = sys.argv.pop(1)\n'
            'sys.argv = sys.argv[1:]\n'
            'try:\n'
            '    runpy.run_path(sys.argv[0], run_name="__main__")\n'
            'finally:\n'
            '    with open(out, "w") as f:\n'
            '        json.dump({"peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss'
            ' / 1024}, f)\n')


class CompareError(Exception):
    pass


def load_published(path=PUBLISHED):
    with open(path) as f:
        return json.load(f)


def format_published(entry):
    """``42.7 box AP / 39.3 mask AP (mmdet model zoo)``; 'nearest:' when not this exact run."""
    if not entry:
        return ''
    text = ' / '.join(f'{v:g} {LABELS[k]}' for k, v in entry['metrics'].items())
    text = f'{text} ({entry["by"]})'
    return text if entry.get('exact') else f'nearest: {text}'


def suite_pairs(published, suite):
    """The suite's pairs, checked: both configs in the suite, published numbers as
    ``{metric: [baseline, config]}`` of known metrics."""
    entry = published['suites'][suite]
    configs = entry['configs']
    for pair in entry['pairs']:
        for role in ('baseline', 'config'):
            if pair.get(role) not in configs:
                raise CompareError(f'configs/published.json, suite {suite!r}: pair {pair} names '
                                   f'{role} {pair.get(role)!r}, which is not one of its configs')
        for key, values in pair.get('published', {}).items():
            if key not in LABELS or not (isinstance(values, list) and len(values) == 2):
                raise CompareError(f'configs/published.json, suite {suite!r}: pair {pair} has '
                                   f'published {key!r}: {values!r}; expected one of '
                                   f'{", ".join(LABELS)}: [baseline, config]')
    return entry['pairs']


# --------------------------------------------------------------------------- running
def _innermost_dataset(loader):
    """Dotted path of the dataset that reads the files, below wrappers such as YOLOX's
    ``MultiImageMixDataset`` (which take no ``indices``)."""
    path, node = 'dataset', loader['dataset']
    while isinstance(node, dict) and isinstance(node.get('dataset'), dict):
        path, node = path + '.dataset', node['dataset']
    return path


def _toy_options(cfg_path):
    """--cfg-options that cut a toy run to a few images and iterations."""
    sys.path.insert(0, ROOT)
    from mmbackbones.cli.launch import load_config
    cfg = load_config(cfg_path, toy=True)
    options = [f'{loader}.{_innermost_dataset(cfg[loader])}.indices={TOY_IMAGES}'
               for loader in ('train_dataloader', 'val_dataloader', 'test_dataloader')
               if cfg.get(loader)]
    options += [f'{loader}.num_workers=0' for loader in
                ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    options += [f'{loader}.persistent_workers=False' for loader in
                ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    if 'max_epochs' in cfg.train_cfg:  # 8 images of batch 2: 4 iterations
        options += ['train_cfg.max_epochs=1', 'train_cfg.val_interval=1',
                    f'train_dataloader.batch_size={TOY_IMAGES // TOY_ITERS}']
    else:
        options += [f'train_cfg.max_iters={TOY_ITERS}', f'train_cfg.val_interval={TOY_ITERS}',
                    f'default_hooks.checkpoint.interval={TOY_ITERS}',
                    'train_dataloader.batch_size=2']
    options += ['default_hooks.logger.interval=1', 'log_processor.window_size=1']
    return options


def count_params(cfg_path, toy):
    """Parameters of the config's model, built on the meta device (no memory, no weights)."""
    sys.path.insert(0, ROOT)
    import torch
    from mmengine.registry import DefaultScope

    from mmbackbones.cli.launch import adapt_to_machine, load_config, register_scope
    cfg = load_config(cfg_path, toy=toy)
    scope = register_scope(cfg)
    adapt_to_machine(cfg, 'none')
    cfg.model.backbone.init_cfg = None
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    elif scope == 'mmyolo':
        from mmyolo.registry import MODELS
    else:
        from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope), torch.device('meta'):
        model = MODELS.build(cfg.model)
    return sum(p.numel() for p in model.parameters())


def _run(cmd, log_file, env):
    with open(log_file, 'w') as log:
        return subprocess.run(cmd, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                              env=env).returncode


def run_config(name, work_dir, toy, extra_options, overwrite=False):
    cfg_path = osp.join(ROOT, 'configs', name + '.py')
    run_dir = osp.join(work_dir, name)
    os.makedirs(run_dir, exist_ok=True)
    if overwrite:  # before train.out is opened: the new run's files stay in run_dir
        sys.path.insert(0, ROOT)
        from mmbackbones.cli.workdir import lock_work_dir, move_previous_run_aside, unlock_work_dir
        lock_work_dir(run_dir)  # a training running there stops this (WorkDirBusyError)
        try:
            aside = move_previous_run_aside(run_dir)
        finally:
            unlock_work_dir(run_dir)
        if aside:
            print(f'[compare] the earlier run of {name} is now in {aside}', flush=True)
    options = (_toy_options(cfg_path) if toy else []) + list(extra_options or [])
    flags = ['--toy'] if toy else []
    cfg_args = ['--cfg-options'] + options if options else []
    env = dict(os.environ, PYTHONUNBUFFERED='1')
    record = dict(config=name, toy=toy, params=count_params(cfg_path, toy))
    start = time.time()
    rc = _run([sys.executable, '-c', _MEASURE, osp.join(run_dir, 'train_memory.json'),
               osp.join('tools', 'train.py'), cfg_path, '--work-dir', run_dir] + flags + cfg_args,
              osp.join(run_dir, 'train.out'), env)
    record.update(train_rc=rc, train_seconds=round(time.time() - start, 1))
    if rc == 0:
        with open(osp.join(run_dir, 'last_checkpoint')) as f:
            checkpoint = f.read().strip()
        rc = _run([sys.executable, osp.join('tools', 'test.py'), cfg_path, checkpoint,
                   '--work-dir', osp.join(run_dir, 'test')] + flags + cfg_args,
                  osp.join(run_dir, 'test.out'), env)
        record.update(test_rc=rc)
    memory_file = osp.join(run_dir, 'train_memory.json')
    if osp.isfile(memory_file):
        with open(memory_file) as f:
            record.update(json.load(f))
    with open(osp.join(run_dir, 'run.json'), 'w') as f:
        json.dump(record, f, indent=2)
    return record


# --------------------------------------------------------------------------- costs
def _fixed_test_size(cfg):
    """(H, W) of a test pipeline that resizes every image to one square size (YOLO, SSD), or
    None."""
    loader = cfg.get('test_dataloader') or {}
    dataset = loader.get('dataset') or {}
    while isinstance(dataset.get('dataset'), dict):
        dataset = dataset['dataset']
    for step in dataset.get('pipeline') or []:
        if isinstance(step, dict) and 'Resize' in str(step.get('type')):
            scale = step.get('scale') or step.get('img_scale')
            if isinstance(scale, (list, tuple)) and len(scale) == 2 and scale[0] == scale[1]:
                return int(scale[1]), int(scale[0])
            if isinstance(scale, int):
                return scale, scale
    return None


def cost_input(cfg):
    """The stated input size (H, W) at which a config's backbone is costed: a segmentation
    config's crop, a fixed-size detection recipe's own size, else the detection papers' size."""
    if cfg.get('default_scope') == 'mmseg' and cfg.get('crop_size'):
        return tuple(int(v) for v in cfg.crop_size)
    return _fixed_test_size(cfg) or DETECTION_COST_INPUT


def _backbone_spec(cfg_path):
    """(config, backbone dict without weights, scope) of a config as it is published."""
    sys.path.insert(0, ROOT)
    from mmbackbones.cli.launch import adapt_to_machine, load_config, register_scope
    cfg = load_config(cfg_path)
    scope = register_scope(cfg)
    adapt_to_machine(cfg, 'none')  # SyncBN -> BN without a GPU
    backbone = cfg.model.backbone.to_dict()
    backbone.pop('init_cfg', None)  # random weights: the cost does not depend on them
    return cfg, backbone, scope


def _build_backbone(backbone, scope, device):
    import torch
    from mmengine.registry import DefaultScope
    if scope == 'mmdet':
        from mmdet.registry import MODELS
    elif scope == 'mmyolo':
        from mmyolo.registry import MODELS
    else:
        from mmseg.registry import MODELS
    with DefaultScope.overwrite_default_scope(scope), torch.device(device):
        return MODELS.build(backbone)


def _deploy(model):
    if hasattr(model, 'switch_to_deploy'):
        model.switch_to_deploy()
    return model


def measure_costs(configs, work_dir, latency=True, input_size=None, device=None):
    """{config: cost} of each config's backbone: ``input`` [H, W], ``params``, ``macs`` (one
    image, a multiply-add counted once) and, with ``latency``, ``latency_ms`` (median of
    interleaved rounds, one image) and ``train_peak_mb`` (one training step), ``device``.
    Measured once per distinct backbone and input; kept in ``<work dir>/backbone_costs.json``
    and reused while the backbone, the input and the device stay the same."""
    sys.path.insert(0, ROOT)
    import torch

    from mmbackbones import analysis
    device = device or ('cuda' if torch.cuda.is_available() else 'cpu')
    cache_file = osp.join(work_dir, 'backbone_costs.json')
    cache = {}
    if osp.isfile(cache_file):
        with open(cache_file) as f:
            cache = json.load(f)
    costs, specs = {}, {}
    for name in configs:
        try:
            cfg, backbone, scope = _backbone_spec(osp.join(ROOT, 'configs', name + '.py'))
        except Exception as err:  # an optional library missing, a broken config: say so
            costs[name] = dict(error=f'{type(err).__name__}: {err}')
            print(f'[compare] no cost for {name}: {costs[name]["error"]}', flush=True)
            continue
        size = list(input_size or cost_input(cfg))
        key = json.dumps(dict(backbone=backbone, scope=scope, input=size), sort_keys=True,
                         default=str)
        specs[name] = (backbone, scope, size)
        cached = cache.get(key)
        if cached is None:
            with torch.device('meta'):
                model = _build_backbone(backbone, scope, 'meta')
            params, macs, _, _ = analysis.count_module(model, tuple(size))
            cached = cache[key] = dict(input=size, params=params, macs=macs)
        costs[name] = dict(cached, key=key)
    if latency:
        todo = {}  # key -> first config of that backbone still to time on this device
        for name, cost in costs.items():
            if 'key' in cost and cache[cost['key']].get('device') != device:
                todo.setdefault(cost['key'], name)
        if todo:
            by_size = {}
            for key, name in todo.items():
                by_size.setdefault(tuple(specs[name][2]), []).append(key)
            for size, keys in by_size.items():
                x = torch.randn(1, 3, *size, device=device)
                models = [_deploy(_build_backbone(*specs[todo[k]][:2], device).eval())
                          for k in keys]
                print(f'[compare] timing {len(models)} backbone(s) at {size[0]}x{size[1]} on '
                      f'{device}', flush=True)
                times = analysis.interleaved_times(models, x, LATENCY_WARMUP, LATENCY_REPEATS)
                del models
                for key, seconds in zip(keys, times):
                    cache[key].update(latency_ms=round(1e3 * statistics.median(seconds), 2),
                                      device=device)
                for key in keys:
                    model = _build_backbone(*specs[todo[key]][:2], device).train()
                    # every parameter trained, frozen stages too (as tools/analyze.py measures;
                    # torch's MemTracker also needs it)
                    model.requires_grad_(True)

                    def step():
                        outs = model(x)
                        sum(o.float().mean() for o in outs).backward()
                    cache[key]['train_peak_mb'] = round(
                        analysis.step_peak_mb(step, model, device), 1)
                    del model
        for name, cost in costs.items():
            if 'key' in cost:
                cost.update(cache[cost['key']])
    os.makedirs(work_dir, exist_ok=True)
    with open(cache_file, 'w') as f:
        json.dump(cache, f, indent=2)
    for cost in costs.values():
        cost.pop('key', None)
    return costs


# --------------------------------------------------------------------------- collecting
def _train_scalars(run_dir):
    files = sorted(glob.glob(osp.join(run_dir, '*', 'vis_data', 'scalars.json')))
    rows = []
    for path in files[-1:]:  # the latest run
        with open(path) as f:
            rows = [json.loads(line) for line in f if line.strip()]
    return [r for r in rows if 'loss' in r]


def collect_row(name, work_dir, published):
    run_dir = osp.join(work_dir, name)
    row = dict(config=name, published=published.get(name))
    run_file = osp.join(run_dir, 'run.json')
    run = {}
    if osp.isfile(run_file):
        with open(run_file) as f:
            run = json.load(f)
    row['params'] = run.get('params')
    row['status'] = 'not run' if not run else (
        'train failed' if run.get('train_rc') else 'test failed' if run.get('test_rc') else 'ok')
    metrics_file = osp.join(run_dir, 'test', 'test_metrics.json')
    measured = {}
    if osp.isfile(metrics_file):
        with open(metrics_file) as f:
            metrics = json.load(f)
        for key, _, source, scale in METRICS:
            if isinstance(metrics.get(source), (int, float)) and metrics[source] >= 0:
                measured[key] = round(metrics[source] * scale, 2)
    elif row['status'] == 'ok':
        row['status'] = 'no metrics'
    row['measured'] = measured
    train = _train_scalars(run_dir)
    losses = [r['loss'] for r in train]
    row['loss_first'], row['loss_last'] = (losses[0], losses[-1]) if losses else (None, None)
    times = [r['time'] for r in train if 'time' in r]
    times = times[1:] or times  # the first iteration includes start-up work
    row['sec_per_iter'] = round(sum(times) / len(times), 3) if times else None
    gpu = [r['memory'] for r in train if 'memory' in r]
    if gpu:
        row['peak_memory_mb'], row['memory_kind'] = max(gpu), 'GPU'
    elif run.get('peak_rss_mb') is not None:
        row['peak_memory_mb'], row['memory_kind'] = round(run['peak_rss_mb']), 'CPU RSS'
    else:
        row['peak_memory_mb'], row['memory_kind'] = None, ''
    return row


def _measured_key(key):
    """The metric a run measures for a published one: tools/test.py tests single-scale."""
    return 'miou' if key == 'miou_ms' else key


def _diff(pair_values):
    if not pair_values or any(v is None for v in pair_values):
        return None
    return round(pair_values[1] - pair_values[0], 2)


COST_FIELDS = ('params', 'macs', 'latency_ms', 'train_peak_mb')


def pair_row(pair, rows, costs, published):
    """One pair: per metric the published and the measured values and differences (config
    minus baseline), the final training losses and the costs of both backbones."""
    base, new = rows[pair['baseline']], rows[pair['config']]
    claim = pair.get('published') or {}
    keys = list(claim) or list(dict.fromkeys(
        _measured_key(k) for name in (pair['baseline'], pair['config'])
        for k in (published.get(name) or {}).get('metrics', {})))
    metrics = []
    for key in keys:
        mkey = _measured_key(key)
        measured = [base['measured'].get(mkey), new['measured'].get(mkey)]
        metrics.append(dict(metric=key, measured_metric=mkey, published=claim.get(key),
                            published_diff=_diff(claim.get(key)), measured=measured,
                            measured_diff=_diff(measured)))
    cost = {field: [(costs.get(name) or {}).get(field) for name in
                     (pair['baseline'], pair['config'])] for field in COST_FIELDS}
    inputs = {tuple((costs.get(n) or {}).get('input') or ()) for n in
              (pair['baseline'], pair['config'])}
    return dict(baseline=pair['baseline'], config=pair['config'], metrics=metrics,
                note=pair.get('note', ''), loss_last=[base['loss_last'], new['loss_last']],
                cost=cost, cost_input=list(inputs.pop()) if len(inputs) == 1 else None)


def _fmt(value, digits=1):
    return '–' if value is None else f'{value:.{digits}f}'


def _signed(value, digits=2):
    return '–' if value is None else f'{value:+.{digits}f}'


def _scaled(value, scale):
    return None if value is None else value / scale


# (field, column title, scale, digits)
COST_COLUMNS = (('params', 'backbone params (M)', 1e6, 2), ('macs', 'backbone GMACs', 1e9, 1),
                ('latency_ms', 'backbone latency (ms)', 1, 1),
                ('train_peak_mb', 'backbone train step (MiB)', 1, 0))


def _pair_cost_cells(cost):
    cells = []
    for field, _, scale, digits in COST_COLUMNS:
        a, b = (_scaled(v, scale) for v in cost[field])
        delta = None if a is None or b is None else b - a
        cells.append('–' if a is None and b is None else
                     f'{_fmt(a, digits)} → {_fmt(b, digits)} ({_signed(delta, digits)})')
    return cells


def _cost_cells(cost):
    cost = cost or {}
    size = cost.get('input')
    return [_fmt(_scaled(cost.get(field), scale), digits)
            for field, _, scale, digits in COST_COLUMNS[:2]] + [
        f'{size[0]}x{size[1]}' if size else '–'] + [
        _fmt(cost.get(field), digits) for field, _, _, digits in COST_COLUMNS[2:]]


def _cost_note(costs):
    devices = sorted({c['device'] for c in costs.values() if c.get('device')})
    where = (f'latency (median, one image, interleaved) and the peak memory of one training step '
             f'(forward + backward, every parameter trained) measured on {"/".join(devices)}') if devices else (
        'latency and training-step memory not measured (--no-latency)')
    missing = [f'`{n}` ({c["error"]})' for n, c in costs.items() if c.get('error')]
    return (f'Costs are the backbone\'s as the config builds it (random weights), at the input '
            f'size of column "input" (HxW): parameters, MACs (a multiply-add counted once, one '
            f'image, `mmbackbones.analysis.count_module`); {where}.'
            + (f' No cost for {", ".join(missing)}.' if missing else ''))


def markdown(suite, entry, rows, pairs, costs, toy):
    kinds = sorted({r['memory_kind'] for r in rows if r['memory_kind']})
    memory = f'peak memory (MB{", " + "/".join(kinds) if kinds else ""})'
    cost_titles = [t for _, t, _, _ in COST_COLUMNS[:2]] + ['input'] + [
        t for _, t, _, _ in COST_COLUMNS[2:]]
    if toy:
        lines = [f'# Comparison `{suite}` (toy runs: synthetic data, a few iterations; the '
                 'training losses and the costs are shown instead of AP differences, since a '
                 'toy AP beside a published AP says nothing)', '']
    else:
        lines = [f'# Comparison `{suite}`', '']
    lines += [f'Published: {entry["source"]}.', '']
    if entry.get('note'):
        lines += [entry['note'], '']
    lines += [_cost_note(costs), '', '## Pairs', '']
    cost_head = ' | '.join(t for _, t, _, _ in COST_COLUMNS)
    if not pairs:
        lines += ['This suite has no pair.', '']
    elif toy:
        lines += [f'| baseline → config | final training loss | {cost_head} | note |',
                  '|---|---|' + '---|' * len(COST_COLUMNS) + '---|']
        for p in pairs:
            a, b = p['loss_last']
            lines.append(f'| `{p["baseline"]}` → `{p["config"]}` | {_fmt(a, 3)} → {_fmt(b, 3)} | '
                         + ' | '.join(_pair_cost_cells(p['cost'])) + f' | {p["note"]} |')
        lines.append('')
    else:
        lines += ['Differences are config minus baseline. mIoU (ms+flip) claims are compared with '
                  'the single-scale mIoU tools/test.py measures.', '',
                  f'| baseline → config | metric | published | published Δ | measured | '
                  f'measured Δ | {cost_head} | note |',
                  '|---|---|---|---|---|---|' + '---|' * len(COST_COLUMNS) + '---|']
        for p in pairs:
            costs_cells = _pair_cost_cells(p['cost'])
            for i, m in enumerate(p['metrics']):
                pub = m['published']
                lines.append(
                    f'| `{p["baseline"]}` → `{p["config"]}` | {LABELS[m["metric"]]} | '
                    f'{"none published" if pub is None else f"{pub[0]:g} → {pub[1]:g}"} | '
                    f'{_signed(m["published_diff"])} | '
                    f'{_fmt(m["measured"][0], 2)} → {_fmt(m["measured"][1], 2)} | '
                    f'{_signed(m["measured_diff"])} | '
                    + ' | '.join(costs_cells if i == 0 else ['″'] * len(costs_cells))
                    + f' | {p["note"] if i == 0 else ""} |')
        lines.append('')
    lines += ['## Configs', '']
    if toy:
        lines += [f'| config | training loss (first → last) | params (M) | s / iter | {memory} | '
                  + ' | '.join(cost_titles) + ' | status |',
                  '|---|---|---|---|---|' + '---|' * len(cost_titles) + '---|']
    else:
        lines += [f'| config | box AP | mask AP | mIoU | published | params (M) | s / iter | '
                  f'{memory} | ' + ' | '.join(cost_titles) + ' | status |',
                  '|---|---|---|---|---|---|---|---|' + '---|' * len(cost_titles) + '---|']
    for r in rows:
        m = r['measured']
        common = (f'{_fmt(r["params"] / 1e6 if r["params"] else None, 2)} | '
                  f'{_fmt(r["sec_per_iter"], 3)} | {_fmt(r["peak_memory_mb"], 0)} | '
                  + ' | '.join(_cost_cells(costs.get(r['config']))) + f' | {r["status"]} |')
        if toy:
            lines.append(f'| `{r["config"]}` | {_fmt(r["loss_first"], 3)} → '
                         f'{_fmt(r["loss_last"], 3)} | ' + common)
        else:
            lines.append(
                f'| `{r["config"]}` | {_fmt(m.get("box_ap"))} | {_fmt(m.get("mask_ap"))} | '
                f'{_fmt(m.get("miou"))} | {format_published(r["published"])} | ' + common)
    return '\n'.join(lines) + '\n'


def chart(suite, rows, pairs, costs, path, toy):
    """Left: published vs measured differences per pair and metric (toy: the final training
    loss of every config). Right: the backbones' MACs and parameters."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    fig, (left, right) = plt.subplots(1, 2, figsize=(13, 5),
                                      gridspec_kw=dict(width_ratios=(3, 2)))
    if toy:
        names = [r['config'] for r in rows]
        left.bar(range(len(rows)), [float('nan') if r['loss_last'] is None else r['loss_last']
                                    for r in rows])
        left.set_xticks(range(len(rows)))
        left.set_xticklabels(names, rotation=60, ha='right', fontsize=7)
        left.set_ylabel('final training loss')
        left.set_title('toy runs: losses (a toy AP says nothing)', fontsize=9)
    elif pairs:
        labels, published, measured = [], [], []
        for p in pairs:
            for m in p['metrics']:
                labels.append(f'{p["baseline"]}\n→ {p["config"]}\n({LABELS[m["metric"]]})')
                published.append(m['published_diff'])
                measured.append(m['measured_diff'])
        xs = range(len(labels))
        nan = float('nan')  # no bar where there is no number
        left.bar([x - 0.2 for x in xs], [nan if v is None else v for v in published],
                 width=0.4, label='published')
        left.bar([x + 0.2 for x in xs], [nan if v is None else v for v in measured],
                 width=0.4, label='measured', alpha=0.8)
        left.axhline(0, color='black', linewidth=0.8)
        left.set_xticks(list(xs))
        left.set_xticklabels(labels, rotation=60, ha='right', fontsize=6)
        left.set_ylabel('config minus baseline (AP / mIoU points)')
        left.set_title('differences (no bar: no number)', fontsize=9)
        left.legend()
    else:
        left.text(0.5, 0.5, f'suite {suite} has no pair', ha='center', va='center')
        left.set_axis_off()
    names = [r['config'] for r in rows]
    macs = [(costs.get(n) or {}).get('macs') or 0 for n in names]
    params = [(costs.get(n) or {}).get('params') or 0 for n in names]
    xs = range(len(names))
    right.bar([x - 0.2 for x in xs], [v / 1e9 for v in macs], width=0.4, label='GMACs')
    twin = right.twinx()
    twin.bar([x + 0.2 for x in xs], [v / 1e6 for v in params], width=0.4, color='tab:orange',
             label='params (M)')
    right.set_xticks(list(xs))
    right.set_xticklabels(names, rotation=60, ha='right', fontsize=7)
    right.set_ylabel('backbone GMACs (at the table\'s input size)')
    twin.set_ylabel('backbone params (M)')
    right.set_title('backbone cost', fontsize=9)
    handles = [h for ax in (right, twin) for h in ax.get_legend_handles_labels()[0]]
    right.legend(handles, [h.get_label() for h in handles], fontsize=8)
    fig.suptitle(f'{suite}: ' + ('toy runs' if toy else 'published vs measured'))
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def collect(suite, configs, work_dir, published, toy, latency=True, cost_input_size=None):
    entry = published['suites'][suite]
    rows = [collect_row(name, work_dir, published['configs']) for name in configs]
    costs = measure_costs(configs, work_dir, latency, cost_input_size)
    for row in rows:
        row['cost'] = costs.get(row['config'])
    by_name = {r['config']: r for r in rows}
    pairs = [pair_row(p, by_name, costs, published['configs']) for p in suite_pairs(published, suite)
             if p['baseline'] in by_name and p['config'] in by_name]
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'comparison.md'), 'w') as f:
        f.write(markdown(suite, entry, rows, pairs, costs, toy))
    with open(osp.join(work_dir, 'comparison.json'), 'w') as f:
        json.dump(rows, f, indent=2)
    with open(osp.join(work_dir, 'comparison_pairs.json'), 'w') as f:
        json.dump(pairs, f, indent=2)
    chart(suite, rows, pairs, costs, osp.join(work_dir, 'comparison.png'), toy)
    return rows


# --------------------------------------------------------------------------- main
def _size(text):
    try:
        h, w = (int(v) for v in text.lower().split('x'))
        if h > 0 and w > 0:
            return h, w
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f'{text!r}: expected HxW with positive integers, '
                                     'e.g. 800x1280')


def parse_args(argv=None):
    published = load_published()
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('suite', help=f'one of: {", ".join(published["suites"])}')
    parser.add_argument('--toy', action='store_true', help='CPU-sized runs on synthetic data')
    parser.add_argument('--work-dir', help='default: work_dirs/compare_<suite>[_toy]')
    parser.add_argument('--collect', action='store_true',
                        help='only read the results already in the work dir')
    parser.add_argument('--only', nargs='+', metavar='CONFIG',
                        help='a subset of the suite (config names without .py)')
    parser.add_argument('--overwrite', action='store_true',
                        help='train afresh where the work dir holds earlier runs: their files '
                        'move into <work dir>/<config>/previous_run_<timestamp>/ (as with '
                        'tools/train.py --overwrite); without it such configs fail')
    parser.add_argument('--cfg-options', nargs='+', default=[], metavar='KEY=VALUE',
                        help='passed to tools/train.py and tools/test.py for every config')
    parser.add_argument('--no-latency', action='store_true',
                        help='cost columns without latency and training-step memory (counting '
                        'params and MACs alone takes seconds)')
    parser.add_argument('--cost-input', type=_size, metavar='HxW',
                        help='input size of the cost columns for every config (default: '
                        '800x1280 for detection, the size of a fixed-size recipe, a '
                        'segmentation config\'s crop)')
    args = parser.parse_args(argv)
    if args.suite not in published['suites']:
        parser.error(f'unknown suite {args.suite!r}; valid suites: '
                     f'{", ".join(published["suites"])} (configs/published.json)')
    try:
        suite_pairs(published, args.suite)
    except CompareError as err:
        parser.error(str(err))
    configs = published['suites'][args.suite]['configs']
    if args.only:
        unknown = [c for c in args.only if c not in configs]
        if unknown:
            parser.error(f'--only {" ".join(unknown)}: not in suite {args.suite!r}; its configs: '
                         f'{", ".join(configs)}')
        configs = [c for c in configs if c in args.only]
    args.configs = configs
    # Absolute: the tools run from the repository root, this script from anywhere.
    args.work_dir = osp.abspath(args.work_dir or osp.join(
        'work_dirs', f'compare_{args.suite}' + ('_toy' if args.toy else '')))
    return args, published


def main(argv=None):
    args, published = parse_args(argv)
    if args.toy and not args.collect:
        # The toy runs read MMBACKBONES_TOY_DATA, else data/ of the repository root (their
        # cwd); handed on as an absolute path, so both mean the same folder.
        data = os.environ.get('MMBACKBONES_TOY_DATA')
        data = osp.abspath(data) if data else osp.join(ROOT, 'data')
        os.environ['MMBACKBONES_TOY_DATA'] = data
        if not all(osp.isdir(osp.join(data, d)) for d in ('toy_coco', 'toy_ade')):
            subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'make_toy_data.py'),
                            '--out', data], check=True)
    if not args.collect:
        for i, name in enumerate(args.configs):
            print(f'[compare] {i + 1}/{len(args.configs)} {name}', flush=True)
            record = run_config(name, args.work_dir, args.toy, args.cfg_options, args.overwrite)
            if record.get('train_rc') or record.get('test_rc'):
                print(f'[compare] {name} failed: see {osp.join(args.work_dir, name)}/'
                      f'{"train" if record.get("train_rc") else "test"}.out', flush=True)
    rows = collect(args.suite, args.configs, args.work_dir, published, args.toy,
                   not args.no_latency, args.cost_input)
    with open(osp.join(args.work_dir, 'comparison.md')) as f:
        print(f.read())
    print(f'[compare] written: {osp.join(args.work_dir, "comparison.md")}, comparison.json, '
          'comparison_pairs.json, comparison.png, backbone_costs.json')
    return 0 if all(r['status'] == 'ok' for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
