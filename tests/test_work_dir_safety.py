"""tools/train.py and its work dir: one run at a time, checkpoints that survive a kill at any
moment, and ``--resume`` / ``--resume-or-start`` that say what they resume from.

Trainings use the shrunk UperNet + Swin toy twin of tests/test_train_tools.py (seconds each).
To stop a run at a chosen moment, the tools run under a small wrapper (written per test) that
patches mmengine before ``tools/train.py`` starts: it can wait before training until a file
appears, or stall inside the write of a chosen checkpoint file after writing half of it.
"""
import importlib
import json
import os
import os.path as osp
import signal
import socket
import subprocess
import time

import pytest
import torch

from tests import test_train_tools
from tests.test_train_tools import (PY, REPO, SEG_TOY, checkpoint_meta, explain, run_tool,
                                    seg_options)

toy_root = test_train_tools.toy_root  # the module fixture of the toy data sets

WRAPPER = r'''
import os, runpy, sys, time

if os.environ.get('WAIT_FOR'):
    from mmengine.runner import Runner
    _train = Runner.train

    def train(self):
        open(os.environ['READY_FILE'], 'w').close()
        while not os.path.exists(os.environ['WAIT_FOR']):
            time.sleep(0.1)
        return _train(self)

    Runner.train = train

if os.environ.get('STALL_IN_SAVE_OF'):
    from mmengine.fileio.backends.local_backend import LocalBackend
    _put = LocalBackend.put

    def put(self, obj, filepath):
        if os.environ['STALL_IN_SAVE_OF'] in os.path.basename(str(filepath)):
            with open(filepath, 'wb') as f:
                f.write(obj[:len(obj) // 2])
                f.flush()
            open(os.environ['READY_FILE'], 'w').close()
            time.sleep(3600)
        return _put(self, obj, filepath)

    LocalBackend.put = put

sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


@pytest.fixture
def wrapper(tmp_path):
    path = tmp_path / 'wrapped_tool.py'
    path.write_text(WRAPPER)
    return str(path)


def start(args, log, **env):
    return subprocess.Popen(args, cwd=REPO, stdout=open(log, 'w'), stderr=subprocess.STDOUT,
                            env=dict(os.environ, PYTHONUNBUFFERED='1', **env),
                            start_new_session=True)


def wait_for_file(path, proc, log, timeout=300):
    deadline = time.time() + timeout
    while not osp.exists(path):
        if proc.poll() is not None or time.time() > deadline:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
            raise AssertionError(f'{path} never appeared; log:\n' + open(log).read()[-4000:])
        time.sleep(0.2)


def test_second_run_into_a_busy_work_dir_is_refused(toy_root, tmp_path, wrapper):
    work_dir = tmp_path / 'work'
    work_dir.mkdir()
    # The lock file of a run that died: it must not block anything.
    (work_dir / '.lock').write_text(json.dumps(dict(pid=2 ** 22 + 7, host=socket.gethostname(),
                                                    command='python tools/train.py old',
                                                    started='long ago')))
    options = seg_options(toy_root, iters=3)
    ready, go, log = tmp_path / 'ready', tmp_path / 'go', tmp_path / 'first.log'
    first = start([PY, wrapper, 'tools/train.py', SEG_TOY, '--work-dir', str(work_dir),
                   '--cfg-options'] + options, log,
                  WAIT_FOR=str(go), READY_FILE=str(ready))
    try:
        wait_for_file(ready, first, log)  # runner built, lock held, training not started
        second = run_tool([PY, 'tools/train.py', SEG_TOY, '--work-dir', str(work_dir),
                           '--cfg-options'] + options)
        assert first.poll() is None, open(log).read()[-4000:]
    finally:
        go.touch()
    assert second.returncode == 1, explain(second)
    err = second.stderr
    assert f'work dir {work_dir} is in use by another training run' in err, explain(second)
    assert f'pid {first.pid} on host {socket.gethostname()}, started ' in err
    assert f'command: {PY} tools/train.py {SEG_TOY} --work-dir {work_dir}' in err
    assert '--work-dir' in err and f'kill {first.pid}' in err and 'Wait' in err
    assert 'Traceback' not in err

    assert first.wait(timeout=600) == 0, open(log).read()[-4000:]
    assert checkpoint_meta(str(work_dir / 'iter_3.pth'))['iter'] == 3
    assert open(work_dir / 'last_checkpoint').read().strip().endswith('iter_3.pth')
    # The refused run created nothing: one timestamped log dir, the first run's.
    assert len([d for d in os.listdir(work_dir) if osp.isdir(work_dir / d)]) == 1, \
        os.listdir(work_dir)
    assert json.loads((work_dir / '.lock').read_text())['pid'] == first.pid

    # The lock went with the first run; --resume-or-start finds its checkpoint (and, at the
    # last iteration already, has nothing left to train).
    proc = run_tool([PY, 'tools/train.py', SEG_TOY, '--work-dir', str(work_dir),
                     '--resume-or-start', '--cfg-options'] + options)
    assert proc.returncode == 0, explain(proc)
    assert f'resuming from {work_dir / "iter_3.pth"}' in proc.stderr, explain(proc)
    assert 'resumed epoch: 0, iter: 3' in proc.stdout + proc.stderr


def test_kill_during_a_checkpoint_save_keeps_the_previous_one(toy_root, tmp_path, wrapper):
    """max_keep_ckpts=1 and a SIGKILL while iter_2.pth is half written: iter_1.pth and
    last_checkpoint stay valid, --resume continues from iteration 1 and finishes."""
    work_dir = tmp_path / 'work'
    options = seg_options(toy_root, iters=3, extra=[
        'default_hooks.checkpoint.interval=1', 'default_hooks.checkpoint.max_keep_ckpts=1',
        'train_cfg.val_interval=100'])
    ready, log = tmp_path / 'stalled', tmp_path / 'first.log'
    proc = start([PY, wrapper, 'tools/train.py', SEG_TOY, '--work-dir', str(work_dir),
                  '--cfg-options'] + options, log,
                 STALL_IN_SAVE_OF='iter_2.pth', READY_FILE=str(ready))
    wait_for_file(ready, proc, log)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)

    assert not (work_dir / 'iter_2.pth').exists()
    assert checkpoint_meta(str(work_dir / 'iter_1.pth'))['iter'] == 1
    assert open(work_dir / 'last_checkpoint').read().strip() == str(work_dir / 'iter_1.pth')

    proc = run_tool([PY, 'tools/train.py', SEG_TOY, '--work-dir', str(work_dir), '--resume',
                     '--cfg-options'] + options)
    assert proc.returncode == 0, explain(proc)
    assert 'resumed epoch: 0, iter: 1' in proc.stdout + proc.stderr, explain(proc)
    assert checkpoint_meta(str(work_dir / 'iter_3.pth'))['iter'] == 3
    checkpoints = sorted(f for f in os.listdir(work_dir) if f.endswith('.pth'))
    assert checkpoints == ['iter_3.pth']  # max_keep_ckpts=1 still holds
    assert not [f for f in os.listdir(work_dir) if '.tmp-' in f]  # the partial file is gone


def test_resume_with_nothing_to_resume_stops(tmp_path):
    """Fails before any data is read, so the toy data need not exist."""
    work_dir = tmp_path / 'never_trained'
    # The tool runs in pairs, each pair in one interpreter (tests/tool_runs.py: each run is
    # what `python tools/train.py ARGS` does). The work dir is checked after the pair: a run
    # removes only a work dir it created, so one left by the first run would still be there.
    from .tool_runs import run_tools
    proc, second = run_tools([
        ['tools/train.py', [SEG_TOY, '--work-dir', str(work_dir), '--resume']],
        ['tools/train.py', [SEG_TOY, '--work-dir', str(work_dir), '--resume-or-start',
                            '--cfg-options',
                            f'train_dataloader.dataset.data_root={tmp_path / "no_data"}']]])
    assert proc.returncode == 1, explain(proc)
    assert f'--resume: no checkpoint in {work_dir}' in proc.stderr, explain(proc)
    assert 'run without --resume' in proc.stderr and '--resume-or-start' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not work_dir.exists()  # nothing left behind by a run that never started

    # --resume-or-start goes ahead from scratch (and here stops at the missing data).
    proc = second
    assert proc.returncode == 1, explain(proc)
    assert f'--resume-or-start: no checkpoint in {work_dir}, starting from scratch' \
        in proc.stderr, explain(proc)
    assert str(tmp_path / 'no_data') in proc.stderr.split('starting from scratch')[1]

    # last_checkpoint naming a file that is gone, the newest checkpoint cut short: --resume
    # stops and names the newest intact one, which --resume-or-start resumes from.
    work_dir.mkdir()
    torch.save({'meta': {'iter': 2}}, str(work_dir / 'iter_2.pth'))
    os.utime(work_dir / 'iter_2.pth', (1e9, 1e9))
    (work_dir / 'iter_4.pth').write_bytes(b'x')
    (work_dir / 'last_checkpoint').write_text(str(work_dir / 'iter_8.pth'))
    proc, second = run_tools([
        ['tools/train.py', [SEG_TOY, '--work-dir', str(work_dir), '--resume']],
        ['tools/train.py', [SEG_TOY, '--work-dir', str(work_dir), '--resume-or-start',
                            '--cfg-options',
                            f'train_dataloader.dataset.data_root={tmp_path / "no_data"}']]])
    assert proc.returncode == 1, explain(proc)
    assert f'names {work_dir / "iter_8.pth"}, which does not exist' in proc.stderr
    assert f'--resume {work_dir / "iter_2.pth"}' in proc.stderr, explain(proc)
    proc = second
    assert proc.returncode == 1, explain(proc)
    assert f'skipping {work_dir / "iter_8.pth"}: missing' in proc.stderr, explain(proc)
    assert f'skipping {work_dir / "iter_4.pth"}: not a complete torch checkpoint' in proc.stderr
    assert f'resuming from {work_dir / "iter_2.pth"}' in proc.stderr
    assert str(tmp_path / 'no_data') in proc.stderr.split('resuming from')[1]


def test_resume_flags_are_documented_and_exclusive():
    from .tool_runs import run_tools  # both runs in one interpreter
    proc, exclusive = run_tools([['tools/train.py', ['--help']],
                                 ['tools/train.py', [SEG_TOY, '--resume', '--resume-or-start']]])
    assert proc.returncode == 0
    text = ' '.join(proc.stdout.split())
    assert '--resume-or-start' in text and 'else start from scratch' in text
    assert 'stops with an error when there is none' in text
    proc = exclusive
    assert proc.returncode == 2 and 'not allowed with argument' in proc.stderr, explain(proc)


def _toy_runner_files(work_dir, hook_type):
    """Train a two-parameter model 6 iterations, checkpoint every iteration (keep 2) and keep
    the best of a validation score; return the checkpoints left and last_checkpoint."""
    import torch
    from mmengine.evaluator import BaseMetric
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    importlib.import_module('mmbackbones.engine.hooks')  # registers AtomicCheckpointHook

    class Model(BaseModel):
        def __init__(self):
            super().__init__()
            self.fc = torch.nn.Linear(2, 1)

        def forward(self, inputs, data_samples=None, mode='loss'):
            out = self.fc(inputs)
            return dict(loss=out.pow(2).mean()) if mode == 'loss' else list(out.detach())

    scores = iter([0.3, 0.5, 0.4])  # validation after iterations 2, 4, 6: the best is at 4

    class Score(BaseMetric):
        def process(self, data_batch, data_samples):
            self.results.append(0)

        def compute_metrics(self, results):
            return dict(score=next(scores))

    data = [dict(inputs=torch.full((2, ), float(i))) for i in range(8)]
    loader = dict(dataset=data, sampler=dict(type='DefaultSampler', shuffle=False),
                  batch_size=2, collate_fn=dict(type='default_collate'))
    runner = Runner(
        model=Model(), work_dir=str(work_dir), train_dataloader=loader, val_dataloader=loader,
        val_evaluator=[Score()], val_cfg=dict(), optim_wrapper=dict(optimizer=dict(type='SGD',
                                                                                   lr=0.01)),
        train_cfg=dict(by_epoch=False, max_iters=6, val_interval=2),
        default_hooks=dict(checkpoint=dict(type=hook_type, interval=1, by_epoch=False,
                                           max_keep_ckpts=2, save_best='score', rule='greater')),
        default_scope='mmengine')
    runner.train()
    files = sorted(f for f in os.listdir(work_dir) if f.endswith('.pth'))
    return files, osp.basename(open(work_dir / 'last_checkpoint').read().strip())


def test_atomic_checkpoint_hook_keeps_what_mmengine_keeps(tmp_path):
    """Same checkpoints kept (max_keep_ckpts, save_best) and the same last_checkpoint as
    mmengine's CheckpointHook; no temporary file left."""
    ours = _toy_runner_files(tmp_path / 'atomic', 'AtomicCheckpointHook')
    reference = _toy_runner_files(tmp_path / 'mmengine', 'CheckpointHook')
    assert ours == reference
    assert ours == (['best_score_iter_4.pth', 'iter_5.pth', 'iter_6.pth'], 'iter_6.pth')
    assert not [f for f in os.listdir(tmp_path / 'atomic') if '.tmp-' in f]


def test_demo_does_not_clear_a_work_dir_whose_training_is_running(tmp_path):
    """make demo clears the previous demo's output under the work dir's lock, before anything
    else: while a training holds the lock, it stops and removes nothing."""
    work_dir = tmp_path / 'demo'
    holder = subprocess.Popen(
        [PY, '-c', 'import sys, time\nfrom mmbackbones.cli.workdir import lock_work_dir\n'
         'lock_work_dir(sys.argv[1]); print("held", flush=True); time.sleep(120)', str(work_dir)],
        cwd=REPO, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == 'held'
        (work_dir / '.demo_output').touch()
        (work_dir / 'epoch_1.pth').write_bytes(b'the running demo\'s checkpoint')
        env = dict(os.environ, DEMO_WORK_DIR=str(work_dir), PYTHON=PY)
        out = subprocess.run(['bash', osp.join(REPO, 'scripts', 'demo.sh')], env=env,
                             capture_output=True, text=True, timeout=120)
    finally:
        holder.kill()
        holder.wait()
    assert out.returncode == 1, out.stdout + out.stderr
    assert 'in use by another training run' in out.stderr and str(holder.pid) in out.stderr
    assert (work_dir / 'epoch_1.pth').read_bytes() == b'the running demo\'s checkpoint'
    assert '1/4' not in out.stdout  # stopped before generating data or training
