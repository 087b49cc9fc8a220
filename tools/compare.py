"""Train and test every config of a named comparison, then tabulate it beside the published numbers.

    python tools/compare.py resnest --toy                 # CPU-sized, synthetic data, minutes
    python tools/compare.py swin --work-dir work_dirs/cmp_swin
    python tools/compare.py resnest --collect --work-dir DIR   # only read DIR's results

Suites and published numbers come from ``configs/published.json``. Each config trains with
``tools/train.py`` into ``<work dir>/<config>`` and is tested with ``tools/test.py``; then
``<work dir>/comparison.md`` (a Markdown table: measured box AP / mask AP / mIoU, published
numbers, parameters, seconds per training iteration, peak memory), ``comparison.json`` and
``comparison.png`` (a bar chart) are written. ``--toy`` runs each config's toy run
(``tools/train.py --toy``) on a few synthetic images for a few iterations: it checks the whole
path, its accuracies say nothing. Extra ``--cfg-options`` apply to every config.
"""
import argparse
import glob
import json
import os
import os.path as osp
import subprocess
import sys
import time

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
PUBLISHED = osp.join(ROOT, 'configs', 'published.json')
METRICS = (('box_ap', 'box AP', 'coco/bbox_mAP', 100.0),
           ('mask_ap', 'mask AP', 'coco/segm_mAP', 100.0),
           ('miou', 'mIoU', 'mIoU', 1.0))
LABELS = {'box_ap': 'box AP', 'mask_ap': 'mask AP', 'miou': 'mIoU', 'miou_ms': 'mIoU (ms+flip)'}
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


def _fmt(value, digits=1):
    return '–' if value is None else f'{value:.{digits}f}'


def markdown(suite, rows, toy):
    kinds = sorted({r['memory_kind'] for r in rows if r['memory_kind']})
    memory = f'peak memory (MB{", " + "/".join(kinds) if kinds else ""})'
    note = (' (toy runs: synthetic data, a few iterations; the accuracies only show that the '
            'path works)') if toy else ''
    lines = [f'# Comparison `{suite}`{note}',
             '',
             f'| config | box AP | mask AP | mIoU | published | params (M) | s / iter | {memory} '
             '| status |',
             '|---|---|---|---|---|---|---|---|---|']
    for r in rows:
        m = r['measured']
        lines.append(
            f'| `{r["config"]}` | {_fmt(m.get("box_ap"))} | {_fmt(m.get("mask_ap"))} | '
            f'{_fmt(m.get("miou"))} | {format_published(r["published"])} | '
            f'{_fmt(r["params"] / 1e6 if r["params"] else None, 2)} | '
            f'{_fmt(r["sec_per_iter"], 3)} | {_fmt(r["peak_memory_mb"], 0)} | {r["status"]} |')
    return '\n'.join(lines) + '\n'


def bar_chart(rows, path, title):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    names = [r['config'] for r in rows]
    keys = [next((k for k in ('box_ap', 'miou') if k in r['measured'] or (r['published'] and (
        k in r['published']['metrics'] or k + '_ms' in r['published']['metrics']))), 'box_ap')
        for r in rows]
    measured = [r['measured'].get(k, 0.0) for r, k in zip(rows, keys)]
    def published_value(row, key):
        metrics = (row['published'] or {}).get('metrics') or {}
        return metrics.get(key, metrics.get('miou_ms', 0.0) if key == 'miou' else 0.0)
    published = [published_value(r, k) for r, k in zip(rows, keys)]
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(rows)), 4.5))
    xs = range(len(rows))
    ax.bar([x - 0.2 for x in xs], measured, width=0.4, label='measured')
    ax.bar([x + 0.2 for x in xs], published, width=0.4, label='published', alpha=0.7)
    ax.set_xticks(list(xs))
    ax.set_xticklabels([f'{n}\n({"box AP" if k == "box_ap" else "mIoU"})'
                        for n, k in zip(names, keys)], rotation=60, ha='right', fontsize=7)
    ax.set_ylabel('box AP / mIoU')
    ax.set_title(title)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def collect(suite, configs, work_dir, published, toy):
    rows = [collect_row(name, work_dir, published['configs']) for name in configs]
    os.makedirs(work_dir, exist_ok=True)
    with open(osp.join(work_dir, 'comparison.md'), 'w') as f:
        f.write(markdown(suite, rows, toy))
    with open(osp.join(work_dir, 'comparison.json'), 'w') as f:
        json.dump(rows, f, indent=2)
    bar_chart(rows, osp.join(work_dir, 'comparison.png'), f'{suite}: measured vs published')
    return rows


# --------------------------------------------------------------------------- main
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
    args = parser.parse_args(argv)
    if args.suite not in published['suites']:
        parser.error(f'unknown suite {args.suite!r}; valid suites: '
                     f'{", ".join(published["suites"])} (configs/published.json)')
    configs = published['suites'][args.suite]
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
    rows = collect(args.suite, args.configs, args.work_dir, published, args.toy)
    with open(osp.join(args.work_dir, 'comparison.md')) as f:
        print(f.read())
    print(f'[compare] written: {osp.join(args.work_dir, "comparison.md")}, comparison.json, '
          'comparison.png')
    return 0 if all(r['status'] == 'ok' for r in rows) else 1


if __name__ == '__main__':
    sys.exit(main())
