"""Hooks the tools install in every config.

* :class:`AtomicCheckpointHook` replaces mmengine's ``CheckpointHook`` (same arguments). mmengine
  deletes the oldest kept checkpoint *before* writing the new one, in place, and then rewrites
  ``last_checkpoint``; a kill during the write leaves a partial file and, with
  ``max_keep_ckpts=1``, nothing to resume from. Here every save goes to a temporary name in the
  same directory and is renamed into place (``os.replace`` is atomic), ``last_checkpoint`` is
  replaced the same way only after that, and outdated checkpoints are deleted last.
* :class:`CheckedLoadHook` refuses a checkpoint that does not fit the model (``load_from``,
  ``--resume``, ``tools/test.py``) instead of mmengine's warnings and a silently half-random
  model.
"""
import functools
import glob
import os
import os.path as osp
import re

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook, Hook
from mmengine.registry import HOOKS

from mmbackbones.weights.convert import MIN_MATCHED_FRACTION, PretrainedMismatchError

__all__ = ['AtomicCheckpointHook', 'CheckedLoadHook', 'CheckpointMismatchError',
           'atomic_write_text']

_TMP_RE = re.compile(r'^\..+\.tmp-(\d+)$')


class CheckpointMismatchError(PretrainedMismatchError):
    """A checkpoint's tensors do not fit the model the config builds."""


def _tmp_name(filename):
    # Hidden and without a .pth suffix: never mistaken for a checkpoint by a glob.
    return f'.{filename}.tmp-{os.getpid()}'


def _fsync_path(path, directory=False):
    fd = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if directory else 0))
    try:
        os.fsync(fd)
    except OSError:  # some filesystems refuse fsync on directories
        pass
    finally:
        os.close(fd)


def atomic_write_text(path, text):
    """Write ``text`` to ``path`` so that readers see the old or the new content, never a
    truncated one."""
    folder = osp.dirname(osp.abspath(path))
    tmp = osp.join(folder, _tmp_name(osp.basename(path)))
    try:
        with open(tmp, 'w') as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
    _fsync_path(folder, directory=True)


def _is_local(path):
    return '://' not in str(path)


def _atomic_runner_save(save, out_dir, filename, *args, **kwargs):
    """``Runner.save_checkpoint`` writing to a temporary name, renamed into place when done."""
    if not _is_local(out_dir):
        return save(out_dir, filename, *args, **kwargs)
    tmp = _tmp_name(filename)
    tmp_path = osp.join(out_dir, tmp)
    try:
        save(out_dir, tmp, *args, **kwargs)  # master_only: other ranks write nothing
        if is_main_process():
            _fsync_path(tmp_path)
            os.replace(tmp_path, osp.join(out_dir, filename))
            _fsync_path(out_dir, directory=True)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


class _DeferredRemoval:
    """A file backend whose ``remove``/``rmtree`` wait until :meth:`flush`."""

    def __init__(self, backend):
        self._backend = backend
        self.pending = []

    def remove(self, path):
        self.pending.append(('remove', path))

    def rmtree(self, path):
        self.pending.append(('rmtree', path))

    def __getattr__(self, name):
        return getattr(self._backend, name)

    def flush(self):
        for method, path in self.pending:
            if self._backend.exists(path):
                getattr(self._backend, method)(path)
        self.pending.clear()


@HOOKS.register_module()
class AtomicCheckpointHook(CheckpointHook):
    """``CheckpointHook`` (same arguments) whose saves survive a kill at any moment: the
    previous checkpoint and ``last_checkpoint`` stay valid until the new checkpoint is
    complete on disk."""

    def before_train(self, runner) -> None:
        super().before_train(runner)
        self._atomic = _is_local(self.out_dir)
        if not self._atomic:
            runner.logger.warning(f'{self.out_dir} is not a local directory: checkpoints are '
                                  'written in place (not atomically)')
            return
        if not getattr(runner.save_checkpoint, '_mmbackbones_atomic', False):
            wrapped = functools.partial(_atomic_runner_save, runner.save_checkpoint)
            wrapped._mmbackbones_atomic = True
            runner.save_checkpoint = wrapped
        if is_main_process():
            self._remove_stale_temporaries(runner)

    def _remove_stale_temporaries(self, runner):
        """Partial files of runs that were killed while saving (their pid is gone)."""
        for path in glob.glob(osp.join(self.out_dir, '.*.tmp-*')):
            match = _TMP_RE.match(osp.basename(path))
            if not match or int(match.group(1)) == os.getpid():
                continue
            try:
                os.kill(int(match.group(1)), 0)
                continue  # still running (another run into the same out_dir)
            except ProcessLookupError:
                pass
            except PermissionError:
                continue
            os.remove(path)
            runner.logger.info(f'removed {path}, a partial checkpoint of a killed run')

    def _save_checkpoint_with_step(self, runner, step, meta):
        if not self._atomic:
            return super()._save_checkpoint_with_step(runner, step, meta)
        outdated = None
        if self.max_keep_ckpts > 0 and not (self.keep_ckpt_ids
                                            and self.keep_ckpt_ids[-1] == step):
            if len(self.keep_ckpt_ids) == self.max_keep_ckpts:
                outdated = self.keep_ckpt_ids.popleft()
            self.keep_ckpt_ids.append(step)
            runner.message_hub.update_info('keep_ckpt_ids', list(self.keep_ckpt_ids))

        filename = self.filename_tmpl.format(step)
        self.last_ckpt = self.file_backend.join_path(self.out_dir, filename)
        runner.message_hub.update_info('last_ckpt', self.last_ckpt)
        runner.save_checkpoint(self.out_dir, filename, self.file_client_args,
                               save_optimizer=self.save_optimizer,
                               save_param_scheduler=self.save_param_scheduler, meta=meta,
                               by_epoch=self.by_epoch, backend_args=self.backend_args,
                               **self.args)
        if not is_main_process():
            return
        # Only now, with the new file complete, point at it and drop what it supersedes.
        atomic_write_text(osp.join(runner.work_dir, 'last_checkpoint'), self.last_ckpt)
        if outdated is not None and outdated != step:
            path = self.file_backend.join_path(self.out_dir, self.filename_tmpl.format(outdated))
            if self.file_backend.isfile(path):
                self.file_backend.remove(path)
            elif self.file_backend.isdir(path):  # deepspeed saves directories
                self.file_backend.rmtree(path)

    def _save_best_checkpoint(self, runner, metrics) -> None:
        if not getattr(self, '_atomic', False):
            return super()._save_best_checkpoint(runner, metrics)
        # mmengine deletes the previous best before saving the new one: defer the deletion.
        backend = self.file_backend
        self.file_backend = deferred = _DeferredRemoval(backend)
        try:
            super()._save_best_checkpoint(runner, metrics)
        finally:
            self.file_backend = backend
        deferred.flush()


def _model_state(runner):
    model = runner.model
    return (model.module if hasattr(model, 'module') else model).state_dict()


def check_checkpoint_fits(model_state, checkpoint, name, strict):
    """Raise :class:`CheckpointMismatchError` when ``checkpoint`` does not fit.

    ``strict`` (evaluation, resuming): every tensor of the checkpoint that the model has must
    have the model's shape, and the checkpoint must fill at least ``MIN_MATCHED_FRACTION`` of
    the model's tensors. Not strict (``load_from`` to fine-tune): only the fraction counts, so a
    new head of another size loads over a pretrained detector; the misfits are returned.
    """
    state = checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
    if not isinstance(state, dict):
        raise CheckpointMismatchError(f'{name} holds no state dict')
    state = {k[len('module.'):] if k.startswith('module.') else k: v for k, v in state.items()}
    misfits = [f'{k}: checkpoint {tuple(v.shape)} vs model {tuple(model_state[k].shape)}'
               for k, v in state.items()
               if k in model_state and hasattr(v, 'shape') and v.shape != model_state[k].shape]
    matched = sum(1 for k, v in model_state.items()
                  if k in state and getattr(state[k], 'shape', None) == v.shape)
    total = len(model_state)
    missing = [k for k in model_state if k not in state]
    too_few = matched < MIN_MATCHED_FRACTION * total
    if too_few or (strict and misfits):
        lines = [f'{name} does not fit the model this config builds: {matched} of {total} '
                 f'tensors match (at least {MIN_MATCHED_FRACTION:.0%} are required)']
        if misfits:
            lines.append(f'tensors of another shape: {len(misfits)}, e.g.\n    '
                         + '\n    '.join(misfits[:10]))
        if missing:
            lines.append(f'model tensors the checkpoint lacks: {len(missing)}, e.g. '
                         f'{", ".join(missing[:5])}')
        lines.append('Is this a checkpoint of another config (another backbone size, number of '
                     'classes or head)? Use the config it was trained with, or convert a foreign '
                     'backbone checkpoint with tools/convert_weights.py.')
        raise CheckpointMismatchError('\n  '.join(lines))
    return misfits


@HOOKS.register_module()
class CheckedLoadHook(Hook):
    """Checks every checkpoint the runner loads against the model before it is applied.

    Args:
        strict: also refuse tensors of another shape (see :func:`check_checkpoint_fits`).
            ``tools/test.py`` and ``--resume`` use ``True``; ``load_from`` in training uses
            ``False`` and logs the tensors it leaves at their initial values.
    """

    priority = 'LOWEST'  # after hooks that rewrite the loaded dict (e.g. EMA)

    def __init__(self, strict: bool = True):
        self.strict = strict

    def after_load_checkpoint(self, runner, checkpoint) -> None:
        name = runner._load_from or 'the checkpoint'
        strict = self.strict or bool(runner._resume)
        misfits = check_checkpoint_fits(_model_state(runner), checkpoint, name, strict)
        if misfits:
            runner.logger.warning(f'{name}: tensors of another shape, left at their initial '
                                  f'values ({len(misfits)}): ' + '; '.join(misfits))
