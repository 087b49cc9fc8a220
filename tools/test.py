"""Evaluate a checkpoint of an mmdet or mmseg config (the config's ``default_scope`` decides).

    python tools/test.py configs/swin_maskrcnn.py work_dirs/swin_maskrcnn/epoch_12.pth
    python tools/test.py CONFIG CHECKPOINT --show-dir work_dirs/vis   # PNG/JPG visualisations
    bash tools/dist_test.sh CONFIG CHECKPOINT 8

The metrics are printed and written to ``<work dir>/test_metrics.json`` (replaced atomically,
and only after a successful evaluation). A checkpoint that does not fit the config's model is
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


def _plain(value):
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def main(argv=None):
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise UsageError(f'checkpoint not found: {args.checkpoint}')
    cfg = load_config(args.config, args.cfg_options, toy=args.toy)
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config, toy=args.toy)
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
