"""tools/train.py, tools/test.py, tools/dist_train.sh and tools/make_toy_data.py end to end.

Every run uses the toy runs (``--toy``) shrunk through ``--cfg-options`` (a one-block-per-stage
Swin with 32 channels, a handful of synthetic 128x128 images) so that it takes seconds on a CPU.
"""
import json
import os
import os.path as osp
import re
import signal
import socket
import subprocess
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
PY = sys.executable
DET_TOY = 'configs/swin_maskrcnn.py'  # with --toy (the option lists below end with it)
SEG_TOY = 'configs/swin_upernet_ade20k.py'

TINY_SWIN = ['model.backbone.embed_dims=32', 'model.backbone.depths=[1,1,1,1]',
             'model.backbone.num_heads=[1,2,4,8]', 'model.backbone.drop_path_rate=0.0']


def run_tool(args, timeout=300, env=None):
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    return subprocess.run(args, cwd=REPO, capture_output=True, text=True, timeout=timeout,
                          env=full_env)


def explain(proc):
    return f'exit {proc.returncode}\n--- stdout\n{proc.stdout[-4000:]}\n--- stderr\n{proc.stderr[-4000:]}'


@pytest.fixture(scope='module')
def toy_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('toy')
    proc = run_tool([PY, 'tools/make_toy_data.py', '--out', str(root), '--coco-train', '8',
                     '--coco-val', '4', '--ade-train', '8', '--ade-val', '4'])
    assert proc.returncode == 0, explain(proc)
    return str(root)


# Mask R-CNN with 64-channel FPN and heads instead of 256.
NARROW_MASK_RCNN = [
    'model.neck.in_channels=[32,64,128,256]', 'model.neck.out_channels=64',
    'model.rpn_head.in_channels=64', 'model.rpn_head.feat_channels=64',
    'model.roi_head.bbox_roi_extractor.out_channels=64', 'model.roi_head.bbox_head.in_channels=64',
    'model.roi_head.bbox_head.fc_out_channels=128',
    'model.roi_head.mask_roi_extractor.out_channels=64', 'model.roi_head.mask_head.in_channels=64',
    'model.roi_head.mask_head.conv_out_channels=64']


def det_options(root, epochs=1, batch_size=2, extra=()):
    """--cfg-options values for a tiny detection toy run (``extra`` appended), then --toy."""
    coco = osp.join(root, 'toy_coco') + '/'
    ann = osp.join(coco, 'annotations', 'instances_val.json')
    return TINY_SWIN + NARROW_MASK_RCNN + [
        f'train_dataloader.dataset.data_root={coco}', f'val_dataloader.dataset.data_root={coco}',
        f'test_dataloader.dataset.data_root={coco}', f'val_evaluator.ann_file={ann}',
        f'test_evaluator.ann_file={ann}', f'train_dataloader.batch_size={batch_size}',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        f'train_cfg.max_epochs={epochs}', f'train_cfg.val_interval={epochs}',
        'default_hooks.logger.interval=1', 'param_scheduler.0.end=2', *extra, '--toy']


def seg_options(root, iters=4, extra=()):
    """--cfg-options values for a tiny UperNet toy run (``extra`` appended), then --toy."""
    ade = osp.join(root, 'toy_ade')
    return TINY_SWIN + [
        'model.decode_head.in_channels=[32,64,128,256]', 'model.decode_head.channels=32',
        'model.auxiliary_head.in_channels=128', 'model.auxiliary_head.channels=16',
        f'train_dataloader.dataset.data_root={ade}', f'val_dataloader.dataset.data_root={ade}',
        f'test_dataloader.dataset.data_root={ade}', 'train_dataloader.batch_size=2',
        'train_dataloader.num_workers=0', 'train_dataloader.persistent_workers=False',
        'val_dataloader.num_workers=0', 'val_dataloader.persistent_workers=False',
        'test_dataloader.num_workers=0', 'test_dataloader.persistent_workers=False',
        f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
        f'default_hooks.checkpoint.interval={iters}', 'default_hooks.logger.interval=1',
        'param_scheduler.0.end=2', 'param_scheduler.1.begin=2', f'param_scheduler.1.end={iters}',
        *extra, '--toy']


def checkpoint_meta(path):
    from mmbackbones.weights import safe_load
    return safe_load(path)['meta']


# --------------------------------------------------------------------------- bad input
MALFORMED_CFG_OPTIONS = [
    ('train_cfg.max_epochs', 'is not a KEY=VALUE pair'),
    ('train_cfg.max_epochs=', 'has no value'),
    ('=3', 'is not a KEY=VALUE pair'),
    ('model..backbone=3', 'is not a valid dotted key'),
    ('model.backbone.depths=[2,2,6', 'cannot parse the value'),
]


@pytest.fixture(scope='module')
def refusals(tmp_path_factory):
    """The refused command lines below, run in one interpreter (tests/tool_runs.py: each is
    what `python TOOL ARGS` does), by name."""
    runs = {
        'missing_config': ['tools/train.py', ['configs/swin_maskrcn.py']],
        'missing_config_test': ['tools/test.py', ['nowhere.py', 'nothing.pth']],
        'unmergeable': ['tools/train.py', ['configs/swin_maskrcnn.py', '--cfg-options',
                                           'model.backbone.type.depths=[1,1,1,1]']],
    }
    for option, _ in MALFORMED_CFG_OPTIONS:
        runs[option] = ['tools/train.py', ['configs/swin_maskrcnn.py', '--cfg-options', option]]
    if not torch.cuda.is_available():  # with a GPU it would train
        runs['amp'] = ['tools/train.py', [DET_TOY, '--toy', '--amp', '--work-dir',
                                          str(tmp_path_factory.mktemp('amp'))]]
    from .tool_runs import run_tools
    return dict(zip(runs, run_tools(list(runs.values()))))


def test_missing_config_file(refusals):
    proc = refusals['missing_config']
    assert proc.returncode == 2, explain(proc)
    assert 'config file not found: configs/swin_maskrcn.py' in proc.stderr
    assert 'configs/swin_maskrcnn.py' in proc.stderr  # the close match is suggested
    assert 'Traceback' not in proc.stderr

    proc = refusals['missing_config_test']
    assert proc.returncode == 2 and 'not found' in proc.stderr, explain(proc)
    assert 'Traceback' not in proc.stderr


@pytest.mark.parametrize('option, message', MALFORMED_CFG_OPTIONS)
def test_malformed_cfg_options(refusals, option, message):
    proc = refusals[option]
    assert proc.returncode == 2, explain(proc)
    assert '--cfg-options' in proc.stderr and message in proc.stderr, explain(proc)
    assert 'Traceback' not in proc.stderr


def test_unmergeable_cfg_option_is_a_clear_error(refusals):
    proc = refusals['unmergeable']
    assert proc.returncode == 2, explain(proc)
    assert 'cannot be merged' in proc.stderr and '_delete_=True' in proc.stderr
    assert 'Traceback' not in proc.stderr


def test_missing_real_data_says_where_and_how(tmp_path):
    nowhere = str(tmp_path / 'no_coco') + '/'
    from .tool_runs import run_tools  # both runs in one interpreter
    proc, seg = run_tools([
        ['tools/train.py', ['configs/swin_maskrcnn.py', '--work-dir', str(tmp_path / 'wd'),
                            '--cfg-options', f'train_dataloader.dataset.data_root={nowhere}']],
        ['tools/train.py', ['configs/swin_upernet_ade20k.py', '--work-dir', str(tmp_path / 'wd'),
                            '--cfg-options',
                            f'train_dataloader.dataset.data_root={tmp_path / "no_ade"}']]])
    assert proc.returncode == 1, explain(proc)
    err = proc.stderr
    assert 'Traceback' not in err
    assert osp.join(nowhere, 'annotations/instances_train2017.json') in err
    assert '--cfg-options train_dataloader.dataset.data_root=' in err
    assert 'docs/training.md' in err and 'configs/swin_maskrcnn.py --toy' in err

    proc = seg
    assert proc.returncode == 1, explain(proc)
    assert osp.join(str(tmp_path / 'no_ade'), 'images/training') in proc.stderr


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks the CPU-only message')
def test_amp_without_gpu_is_refused(refusals):
    proc = refusals['amp']
    assert proc.returncode == 2 and '--amp needs a GPU' in proc.stderr, explain(proc)


# --------------------------------------------------------------------------- toy data
def test_toy_data_is_deterministic_and_cached(tmp_path):
    args = ['--coco-train', '3', '--coco-val', '2', '--ade-train', '2', '--ade-val', '1']
    for name in ('a', 'b'):
        proc = run_tool([PY, 'tools/make_toy_data.py', '--out', str(tmp_path / name)] + args)
        assert proc.returncode == 0, explain(proc)

    def tree_bytes(root):
        out = {}
        for base, _, files in os.walk(root):
            for f in files:
                with open(osp.join(base, f), 'rb') as fh:
                    out[osp.relpath(osp.join(base, f), root)] = fh.read()
        return out

    a, b = tree_bytes(tmp_path / 'a'), tree_bytes(tmp_path / 'b')
    assert a == b and len(a) > 10
    coco = json.loads(a[osp.join('toy_coco', 'annotations', 'instances_train.json')])
    assert {c['name'] for c in coco['categories']} >= {'red_circle', 'green_square'}
    assert all(len(p) >= 6 for ann in coco['annotations'] for p in ann['segmentation'])

    proc = run_tool([PY, 'tools/make_toy_data.py', '--out', str(tmp_path / 'a')] + args)
    assert proc.stdout.count('is up to date') == 2, explain(proc)
    proc = run_tool([PY, 'tools/make_toy_data.py', '--out', str(tmp_path / 'a'), '--seed', '1']
                    + args)
    assert 'wrote' in proc.stdout, explain(proc)
    assert tree_bytes(tmp_path / 'a') != b


# --------------------------------------------------------------------------- train + test
def test_detection_toy_trains_and_evaluates(toy_root, tmp_path):
    work_dir = str(tmp_path / 'det')
    proc = run_tool([PY, 'tools/train.py', DET_TOY, '--work-dir', work_dir, '--cfg-options']
                    + det_options(toy_root))
    assert proc.returncode == 0, explain(proc)
    checkpoint = osp.join(work_dir, 'epoch_1.pth')
    assert osp.isfile(checkpoint)
    proc = run_tool([PY, 'tools/test.py', DET_TOY, checkpoint, '--work-dir', work_dir,
                     '--show-dir', str(tmp_path / 'vis'), '--cfg-options']
                    + det_options(toy_root))
    assert proc.returncode == 0, explain(proc)
    metrics = json.load(open(osp.join(work_dir, 'test', 'test_metrics.json')))
    assert 'coco/bbox_mAP_50' in metrics and 'coco/segm_mAP' in metrics
    assert len([f for f in os.listdir(tmp_path / 'vis') if f.endswith('.png')]) == 4


def test_upernet_toy_trains_and_reports_miou(tiny_seg_run):
    """tools/train.py then tools/test.py of a tiny UperNet (the session's shared run,
    tests/conftest.py): the checkpoint is written and the test run reports mIoU."""
    assert osp.isfile(tiny_seg_run.checkpoint)
    assert re.search(r'mIoU: \d+\.\d+', tiny_seg_run.test_output), tiny_seg_run.test_output[-4000:]
    metrics = json.load(open(osp.join(tiny_seg_run.work_dir, 'test', 'test_metrics.json')))
    assert 0.0 <= metrics['mIoU'] <= 100.0


# --------------------------------------------------------------------------- reliability
def test_resume_after_sigkill_mid_epoch(toy_root, tmp_path):
    """Kill -9 in the middle of epoch 2 of 3; --resume restarts epoch 2 from epoch_1.pth and
    ends exactly where an uninterrupted run ends (epoch 3, 3 x 4 iterations)."""
    work_dir = str(tmp_path / 'resume')
    options = det_options(toy_root, epochs=3, batch_size=2, extra=['train_cfg.val_interval=100'])
    cmd = [PY, 'tools/train.py', DET_TOY, '--work-dir', work_dir, '--cfg-options'] + options
    proc = subprocess.Popen(cmd, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, env=dict(os.environ, PYTHONUNBUFFERED='1'),
                            start_new_session=True)
    killed_at = None
    lines = []
    try:
        for line in proc.stdout:
            lines.append(line)
            match = re.search(r'Epoch\(train\)\s+\[2\]\[\s*(\d+)/4\]', line)
            if match and int(match.group(1)) < 4:
                os.killpg(proc.pid, signal.SIGKILL)
                killed_at = int(match.group(1))
                break
    finally:
        if proc.poll() is None and killed_at is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=60)
    assert killed_at is not None, 'training ended before the kill:\n' + ''.join(lines[-40:])
    assert proc.returncode == -signal.SIGKILL
    assert not osp.exists(osp.join(work_dir, 'epoch_2.pth'))
    assert checkpoint_meta(osp.join(work_dir, 'epoch_1.pth'))['iter'] == 4

    proc = run_tool([PY, 'tools/train.py', DET_TOY, '--work-dir', work_dir, '--resume',
                     '--cfg-options'] + options)
    assert proc.returncode == 0, explain(proc)
    log = proc.stdout + proc.stderr
    assert 'resumed epoch: 1, iter: 4' in log, explain(proc)
    assert re.search(r'Epoch\(train\)\s+\[2\]\[1/4\]', log)  # epoch 2 runs again, in full
    meta = checkpoint_meta(osp.join(work_dir, 'epoch_3.pth'))
    assert (meta['epoch'], meta['iter']) == (3, 12)


def _free_port():
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def test_two_process_ddp_on_cpu(toy_root, tmp_path):
    """torchrun with 2 processes: gloo, SyncBN replaced by BN, a few iterations, a checkpoint."""
    work_dir = str(tmp_path / 'ddp')
    proc = run_tool(['bash', 'tools/dist_train.sh', SEG_TOY, '2', '--work-dir', work_dir,
                     '--cfg-options'] + seg_options(toy_root, iters=3),
                    env=dict(PORT=str(_free_port()), PYTHON=PY))
    assert proc.returncode == 0, explain(proc)
    log = proc.stdout + proc.stderr
    assert "'backend': 'gloo'" in log and 'Distributed training: True' in log, explain(proc)
    assert 'GPU number: 2' in log  # mmengine's name for the world size
    assert osp.isfile(osp.join(work_dir, 'iter_3.pth'))
    assert re.search(r'Iter\(train\)\s+\[3/3\]', log), explain(proc)
    assert 'mIoU' in log


@pytest.mark.slow
def test_two_process_ddp_mask_rcnn(toy_root, tmp_path):
    work_dir = str(tmp_path / 'ddp_det')
    proc = run_tool(['bash', 'tools/dist_train.sh', DET_TOY, '2', '--work-dir', work_dir,
                     '--cfg-options'] + det_options(toy_root, batch_size=1),
                    env=dict(PORT=str(_free_port()), PYTHON=PY))
    assert proc.returncode == 0, explain(proc)
    log = proc.stdout + proc.stderr
    assert 'GPU number: 2' in log and 'coco/bbox_mAP_50' in log, explain(proc)
    assert checkpoint_meta(osp.join(work_dir, 'epoch_1.pth'))['iter'] == 4  # 8 images / 2 / 1


@pytest.mark.slow
def test_demo_model_learns_the_synthetic_data(tmp_path):
    """What make demo promises: the full toy Swin-T Mask R-CNN schedule reaches box AP50 >= 0.5
    on the synthetic val split (about 7 minutes on 2 cores)."""
    proc = run_tool([PY, 'tools/make_toy_data.py', '--only', 'coco', '--out', str(tmp_path)])
    assert proc.returncode == 0, explain(proc)
    coco = str(tmp_path / 'toy_coco') + '/'
    ann = coco + 'annotations/instances_val.json'
    options = [f'{loader}_dataloader.dataset.data_root={coco}'
               for loader in ('train', 'val', 'test')]
    options += [f'val_evaluator.ann_file={ann}', f'test_evaluator.ann_file={ann}', '--toy']
    work_dir = str(tmp_path / 'work')
    proc = run_tool([PY, 'tools/train.py', DET_TOY, '--work-dir', work_dir, '--cfg-options']
                    + options, timeout=3600)
    assert proc.returncode == 0, explain(proc)
    match = re.findall(r'coco/bbox_mAP_50: (\d\.\d+)', proc.stdout + proc.stderr)
    assert match and float(match[-1]) >= 0.5, explain(proc)


def test_amp_optim_wrapper_runs_in_float32_without_a_gpu(monkeypatch):
    """mmdet's and mmseg's ConvNeXt recipes train with AmpOptimWrapper, which needs a GPU: on
    the CPU the same config trains in float32 (--amp itself is still refused)."""
    from mmengine.config import Config
    from mmbackbones.cli.launch import adapt_to_machine
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: False)
    cfg = Config(dict(model=dict(type='MaskRCNN'), optim_wrapper=dict(
        type='AmpOptimWrapper', loss_scale='dynamic', optimizer=dict(type='AdamW', lr=1e-4))))
    adapt_to_machine(cfg, 'none')
    assert cfg.optim_wrapper.type == 'OptimWrapper'
    assert 'loss_scale' not in cfg.optim_wrapper and cfg.optim_wrapper.optimizer.lr == 1e-4
