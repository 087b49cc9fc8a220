"""Evaluate a checkpoint of an mmdet or mmseg config (the config's ``default_scope`` decides).

    python tools/test.py configs/swin_maskrcnn.py work_dirs/swin_maskrcnn/epoch_12.pth
    python tools/test.py CONFIG CHECKPOINT --show-dir work_dirs/vis   # PNG/JPG visualisations
    bash tools/dist_test.sh CONFIG CHECKPOINT 8

Everything the evaluation writes (the config it ran, its log, the metrics) goes to its own folder:
``<the training's work dir>/test/`` (``work_dirs/swin_maskrcnn/test/``), or ``--work-dir``; a
``--work-dir`` that holds a training run gets the ``test/`` sub-folder too, so the training
run's saved config, logs and ``last_checkpoint`` are never touched. The metrics are printed and
written to ``test_metrics.json`` there (replaced atomically, and only after a successful
evaluation). An empty or truncated checkpoint, or one that does not fit the config's model, is
refused before anything is evaluated.
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmbackbones.cli.launch import (UsageError, adapt_to_machine,  # noqa: E402
                                       add_common_args, check_data, default_work_dir,
                                       install_hooks, load_config, register_scope, run_main,
                                       write_json_atomically)
from mmbackbones.channels import check_channels  # noqa: E402
from mmbackbones.cli.workdir import (LOCK_NAME, checkpoint_problem,  # noqa: E402
                                        ensure_writable, previous_run_files)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Evaluate a detector or segmentor.')
    parser.add_argument('config', help='config file, e.g. configs/swin_maskrcnn.py')
    parser.add_argument('checkpoint', help='checkpoint file (.pth)')
    parser.add_argument('--show-dir', help='write visualised predictions (next to the ground '
                        'truth) into this folder')
    add_common_args(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def enable_visualisation(cfg, scope, show_dir):
    hooks = cfg.get('default_hooks') or {}
    if 'visualization' not in hooks:
        raise UsageError('--show-dir needs a "visualization" entry in default_hooks')
    hooks['visualization']['draw'] = True
    show_dir = osp.abspath(show_dir)
    if scope in ('mmdet', 'mmyolo'):
        hooks['visualization']['test_out_dir'] = show_dir  # absolute: not under work_dir
        hooks['visualization']['interval'] = 1
        return show_dir
    # mmseg: the visualizer's local backend writes under <save_dir>/vis_data/vis_image
    hooks['visualization']['interval'] = 1
    cfg.visualizer['save_dir'] = show_dir
    return osp.join(show_dir, 'vis_data', 'vis_image')


def evaluation_work_dir(args, cfg):
    """The folder this evaluation writes into: ``--work-dir``, or ``<training work dir>/test``;
    a folder that holds a training run gets its ``test/`` sub-folder instead of being written
    over."""
    if not args.work_dir:
        training = cfg.get('work_dir') or default_work_dir(args.config, toy=args.toy)
        return osp.join(training, 'test')
    if previous_run_files(args.work_dir) or osp.exists(osp.join(args.work_dir, LOCK_NAME)):
        work_dir = osp.join(args.work_dir, 'test')
        print(f'[mmbackbones] {args.work_dir} holds a training run; this evaluation writes into '
              f'{work_dir}', file=sys.stderr)
        return work_dir
    return args.work_dir


def _plain(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise UsageError(f'checkpoint not found: {args.checkpoint}')
    problem = checkpoint_problem(args.checkpoint)
    if problem:
        raise UsageError(f'checkpoint {args.checkpoint} is {problem}. Evaluate a complete '
                         'checkpoint (a training run\'s last_checkpoint file names its latest)')
    cfg = load_config(args.config, args.cfg_options, toy=args.toy)
    cfg.launcher = args.launcher
    cfg.work_dir = evaluation_work_dir(args, cfg)
    ensure_writable(cfg.work_dir)
    cfg.load_from = args.checkpoint
    cfg.resume = False
    scope = register_scope(cfg)
    check_channels(cfg)
    install_hooks(cfg, strict_load=True)
    show_dir = enable_visualisation(cfg, scope, args.show_dir) if args.show_dir else None
    adapt_to_machine(cfg, args.launcher)
    check_data(cfg, ('test', ))

    from mmengine.dist import get_rank
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    metrics = runner.test()
    if get_rank() == 0:
        metrics = {k: _plain(v) for k, v in (metrics or {}).items()}
        out_file = osp.join(cfg.work_dir, 'test_metrics.json')
        write_json_atomically(out_file, metrics)
        print('[mmbackbones] metrics: ' + ', '.join(
            f'{k}={v:.4f}' if isinstance(v, float) else f'{k}={v}' for k, v in metrics.items()))
        print(f'[mmbackbones] metrics written to {out_file}')
        if show_dir:
            print(f'[mmbackbones] visualisations written to {show_dir}')
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
