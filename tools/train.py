"""Train an mmdet or mmseg model from a config (the config's ``default_scope`` decides).

    python tools/train.py configs/swin_maskrcnn.py
    python tools/train.py configs/swin_maskrcnn.py --resume
    python tools/train.py CONFIG --resume-or-start          # job scripts that may be restarted
    python tools/train.py CONFIG --overwrite     # start afresh; the earlier run's files move aside
    python tools/train.py configs/swin_maskrcnn.py --toy      # CPU-sized, synthetic data
    python tools/train.py CONFIG --cfg-options train_cfg.max_iters=100 --work-dir work_dirs/x
    bash tools/dist_train.sh CONFIG 8            # torchrun, one process per GPU
"""
import argparse
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

from mmbackbones.cli.launch import (UsageError, adapt_to_machine,  # noqa: E402
                                       add_common_args, check_data, default_work_dir,
                                       install_hooks, load_config, register_scope, run_main)
from mmbackbones.cli.workdir import (checkpoint_problem, global_rank,  # noqa: E402
                                        lock_work_dir, move_previous_run_aside,
                                        refuse_previous_run, resolve_resume, unlock_work_dir)
from mmbackbones.channels import check_channels  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a detector or segmentor.')
    parser.add_argument('config', help='config file, e.g. configs/swin_maskrcnn.py')
    resume = parser.add_mutually_exclusive_group()
    resume.add_argument('--resume', nargs='?', type=str, const='auto', metavar='CHECKPOINT',
                        help='resume from CHECKPOINT, or without a value from the latest '
                        'checkpoint in the work dir (the one its last_checkpoint file names); '
                        'stops with an error when there is none')
    resume.add_argument('--resume-or-start', action='store_true',
                        help='resume from the newest intact checkpoint in the work dir if there '
                        'is one, else start from scratch (for job scripts that may be restarted); '
                        'never starts over checkpoints')
    resume.add_argument('--overwrite', action='store_true',
                        help='start afresh in a work dir that holds an earlier run: its files '
                        'move into <work dir>/previous_run_<timestamp>/ (nothing is deleted); '
                        'without it such a run stops')
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
    if args.resume is not None and args.resume != 'auto':
        if not osp.isfile(args.resume):
            raise UsageError(f'--resume {args.resume}: no such checkpoint file')
        problem = checkpoint_problem(args.resume)
        if problem:
            raise UsageError(f'--resume {args.resume}: the checkpoint is {problem}. Resume from '
                             'another checkpoint of the run (--resume without a path takes the '
                             'latest intact one last_checkpoint names)')
        cfg.resume = True
        cfg.load_from = args.resume
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return cfg


def resolve_auto_resume(cfg, args):
    """``--resume`` without a path and ``--resume-or-start``: the checkpoint that the work dir's
    ``last_checkpoint`` names (read after the work dir is locked, so it cannot change)."""
    if args.resume != 'auto' and not args.resume_or_start:
        return
    found = resolve_resume(cfg.work_dir, fresh_if_none=args.resume_or_start)
    if found is None:
        print(f'[mmbackbones] --resume-or-start: no checkpoint in {cfg.work_dir}, starting from '
              'scratch', file=sys.stderr)
        return
    print(f'[mmbackbones] resuming from {found}', file=sys.stderr)
    cfg.resume = True
    cfg.load_from = found


def prepare(args, cfg):
    """Everything before the runner is built; the work dir is locked first, so a second run
    into it stops here without touching any file, and a new run into a work dir that holds an
    earlier run's checkpoints stops unless it resumes that run or is told ``--overwrite``."""
    created = not osp.isdir(cfg.work_dir)
    rank0 = global_rank(args.launcher) == 0
    if rank0:
        lock_work_dir(cfg.work_dir)
    try:
        resolve_auto_resume(cfg, args)
        if not cfg.get('resume') and not args.overwrite:
            refuse_previous_run(cfg.work_dir)
        register_scope(cfg)
        check_channels(cfg)  # before any data is read
        install_hooks(cfg, strict_load=False)  # --resume is checked strictly regardless
        adapt_to_machine(cfg, args.launcher, amp=args.amp)
        check_data(cfg, ('train', 'val'))
        if args.overwrite and rank0:  # only now: a run that stops above moves nothing
            aside = move_previous_run_aside(cfg.work_dir)
            if aside:
                print(f'[mmbackbones] --overwrite: the earlier run\'s files are now in {aside}',
                      file=sys.stderr)
    except BaseException:
        if rank0 and created:  # leave no empty work dir behind for a run that never started
            unlock_work_dir(cfg.work_dir)
            lock = osp.join(cfg.work_dir, '.lock')
            if os.listdir(cfg.work_dir) == ['.lock']:
                os.remove(lock)
                os.rmdir(cfg.work_dir)
        raise


def main(argv=None):
    args = parse_args(argv)
    cfg = setup_config(args)
    prepare(args, cfg)

    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else RUNNERS.build(cfg)
    runner.train()
    return 0


if __name__ == '__main__':
    sys.exit(run_main(main))
