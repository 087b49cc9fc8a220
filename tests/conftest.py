"""Settings and shared runs for the whole test session.

One intra-op thread unless OMP_NUM_THREADS says otherwise (subprocesses inherit it): the
inputs here are tiny (64x80 images, toy trainings), where a second OpenMP thread buys little,
and several tests run tools in parallel subprocesses, where two threads per process
oversubscribe two cores. On a busy 2-core machine the threads then wait for each other: the
with_cp battery (tests/test_every_variant.py -k with_cp_gives) took 269 s with two threads
and 36 s with one, under the same load.
"""
import os
import os.path as osp
from typing import NamedTuple

os.environ.setdefault('OMP_NUM_THREADS', '1')

import pytest  # noqa: E402
import torch  # noqa: E402

torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))


def _memoise_model_index_files():
    """mmengine resolves each `mmdet::`/`mmseg::` base by reading every metafile of that
    package's model index again (about 90 YAML files, 0.3 s per base); the tests load the
    configs hundreds of times, so each file is read once per session. The files belong to the
    installed packages and do not change while the tests run; the callers only read them."""
    from mmengine.config import utils
    read = utils.load
    cache = {}

    def load_once(path, *args, **kwargs):
        key = (path, args, tuple(sorted(kwargs.items())))
        if key not in cache:
            cache[key] = read(path, *args, **kwargs)
        return cache[key]

    utils.load = load_once


_memoise_model_index_files()


class SegRun(NamedTuple):
    work_dir: str
    checkpoint: str
    test_output: str  # stdout + stderr of tools/test.py


@pytest.fixture(scope='session')
def tiny_seg_run(tmp_path_factory):
    """A tiny UperNet (one-block Swin, 32 channels) trained 3 iterations by tools/train.py on
    toy ADE20K data and evaluated once by tools/test.py; shared by the tests that need a
    trained segmentation run (the run itself is checked by test_train_tools)."""
    from tests.test_train_tools import PY, SEG_TOY, explain, run_tool, seg_options
    root = str(tmp_path_factory.mktemp('seg_toy'))
    proc = run_tool([PY, 'tools/make_toy_data.py', '--out', root, '--coco-train', '2',
                     '--coco-val', '1', '--ade-train', '8', '--ade-val', '4'])
    assert proc.returncode == 0, explain(proc)
    work_dir = str(tmp_path_factory.mktemp('seg'))
    proc = run_tool([PY, 'tools/train.py', SEG_TOY, '--work-dir', work_dir, '--cfg-options']
                    + seg_options(root, iters=3))
    assert proc.returncode == 0, explain(proc)
    checkpoint = osp.join(work_dir, 'iter_3.pth')
    proc = run_tool([PY, 'tools/test.py', SEG_TOY, checkpoint, '--work-dir', work_dir,
                     '--cfg-options'] + seg_options(root, iters=3))
    assert proc.returncode == 0, explain(proc)
    return SegRun(work_dir, checkpoint, proc.stdout + proc.stderr)
