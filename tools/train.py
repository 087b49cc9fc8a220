"""Train an mmdet or mmseg model from a config (the config's ``default_scope`` decides).

    python tools/train.py configs/swin_maskrcnn.py
    python tools/train.py configs/swin_maskrcnn.py --resume
    python tools/train.py configs/swin_maskrcnn.py --toy      # CPU-sized, synthetic data
    python tools/train.py CONFIG --cfg-options train_cfg.max_iters=100 --work-dir work_dirs/x
    bash tools/dist_train.sh CONFIG 8            # torchrun, one process per GPU
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmbackbones.engine.launch import (UsageError, adapt_to_machine,  # noqa: E402
                                       add_common_args, check_data, default_work_dir,
                                       load_config, register_scope, run_main)
from mmbackbones.channels import check_channels  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector or segmentor.')
    parser.add_argument('config', help='config file, e.g. configs/swin_maskrcnn.py')
    parser.add_argument('--resume', nargs='?', type=str, const='auto', metavar='CHECKPOINT',
                        help='resume from CHECKPOINT, or without a value from the latest '
                        'checkpoint in the work dir')
    parser.add_argument('--amp', action='store_true', help='mixed-precision training (GPU)')
    parser.add_argument('--no-validate', action='store_true',
                        help='skip validation during training')
    add_common_args(parser)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def setup_config(args):
    cfg = load_config(args.config, args.cfg_options, toy=args.toy)
    cfg.launcher = args.launcher
    if args.work_dir:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = default_work_dir(args.config, toy=args.toy)
    if args.amp:
        optim_wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if optim_wrapper not in ('AmpOptimWrapper', 'OptimWrapper'):
            raise UsageError(f'--amp works with OptimWrapper configs, this one uses '
                             f'{optim_wrapper}')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise UsageError(f'--resume {args.resume}: no such checkpoint file')
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = setup_config(args)
    register_scope(cfg)
    check_channels(cfg)  # before any data is read
    adapt_to_machine(cfg, args.launcher, amp=args.amp)
    check_data(cfg, ('train', 'val'))

    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
