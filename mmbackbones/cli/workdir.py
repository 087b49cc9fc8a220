"""Work-dir safety for ``tools/train.py``: one training run per work dir, and ``--resume``
that says what it resumes from (or why it cannot).

The lock is a POSIX record lock (``fcntl.lockf``) on ``<work_dir>/.lock``. The kernel drops it
when the holding process ends, however it ends, so a lock file left behind by a crashed or
killed run never blocks the next one; the file's text (pid, host, command, start time) only
serves the message. Unlike ``flock``, a POSIX lock is not shared with forked children, so data
loader workers that outlive a killed trainer for a few seconds do not hold the work dir.
"""
import datetime
import errno
import glob
import json
import os
import os.path as osp
import shlex
import socket
import sys
import time

LOCK_NAME = '.lock'
LAST_CHECKPOINT = 'last_checkpoint'

# Locks held by this process, by work dir; the open descriptors keep them alive.
_HELD = {}


class WorkDirBusyError(RuntimeError):
    """Another training run holds the work dir."""


class ResumeError(RuntimeError):
    """``--resume`` cannot find what to resume from."""


def global_rank(launcher):
    """This process's rank, read from the launcher's environment (before any process group
    exists); 0 without a launcher."""
    if launcher in (None, 'none'):
        return 0
    for var in ('RANK', 'SLURM_PROCID', 'OMPI_COMM_WORLD_RANK', 'PMI_RANK'):
        if os.environ.get(var, '').isdigit():
            return int(os.environ[var])
    return 0


def _describe_holder(text, lock_path):
    try:
        info = json.loads(text)
    except ValueError:
        return (f'another process holds {lock_path} (it has not written its details yet, or '
                'wrote them in another format)'), None
    pid, host = info.get('pid'), info.get('host', '?')
    started = info.get('started', '?')
    ago = ''
    if isinstance(info.get('started_unix'), (int, float)):
        minutes = max(0, int(time.time() - info['started_unix'])) // 60
        ago = f', {minutes // 60} h {minutes % 60} min ago' if minutes >= 60 else \
            f', {minutes} min ago'
    line = f'pid {pid} on host {host}, started {started}{ago}\n  command: {info.get("command")}'
    return line, (pid, host)


def lock_work_dir(work_dir):
    """Take the work dir for this process or raise :class:`WorkDirBusyError` naming its
    holder. Creates the directory (and only ``.lock`` in it)."""
    import fcntl
    work_dir = osp.abspath(work_dir)
    if work_dir in _HELD:
        return
    os.makedirs(work_dir, exist_ok=True)
    path = osp.join(work_dir, LOCK_NAME)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as err:
        if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            # A filesystem without lock support: run unprotected rather than not at all.
            os.close(fd)
            print(f'[mmbackbones] warning: cannot lock {path} ({err.strerror}); nothing stops '
                  'a second run from writing into this work dir', file=sys.stderr)
            return
        text = os.pread(fd, 65536, 0).decode('utf-8', 'replace')
        os.close(fd)
        holder, who = _describe_holder(text, path)
        stop = 'stop it'
        if who and who[0] is not None:
            stop = f'stop it (kill {who[0]}' + (f' on {who[1]}' if who[1] != socket.gethostname()
                                                 else '') + ')'
        raise WorkDirBusyError(
            f'work dir {work_dir} is in use by another training run:\n  {holder}\n'
            'Two runs in one work dir would overwrite each other\'s checkpoints and logs. Wait '
            f'for it to finish, pick another --work-dir, or {stop} and rerun with --resume to '
            'continue from its last checkpoint.') from None
    now = time.time()
    info = dict(pid=os.getpid(), host=socket.gethostname(),
                command=' '.join(shlex.quote(a) for a in [sys.executable] + sys.argv),
                started=datetime.datetime.fromtimestamp(now).astimezone().strftime(
                    '%Y-%m-%d %H:%M:%S %Z'),
                started_unix=now)
    os.ftruncate(fd, 0)
    os.pwrite(fd, (json.dumps(info, indent=1) + '\n').encode(), 0)
    _HELD[work_dir] = fd


def unlock_work_dir(work_dir):
    """Release a lock taken by :func:`lock_work_dir` (process exit does it too)."""
    fd = _HELD.pop(osp.abspath(work_dir), None)
    if fd is not None:
        os.close(fd)


def _checkpoints_in(work_dir):
    found = glob.glob(osp.join(work_dir, '*.pth'))
    return sorted((osp.basename(p) for p in found), key=lambda n: osp.getmtime(
        osp.join(work_dir, n)))


def latest_checkpoint(work_dir):
    """The checkpoint ``<work_dir>/last_checkpoint`` names, or ``None`` when the work dir has
    none. Raises :class:`ResumeError` when ``last_checkpoint`` is empty or names a missing
    file (then starting from scratch would silently throw the run away)."""
    record = osp.join(work_dir, LAST_CHECKPOINT)
    if not osp.isfile(record):
        return None
    with open(record) as f:
        path = f.read().strip()
    if path and not osp.isabs(path) and not osp.isfile(path):
        path = osp.join(work_dir, path)
    if path and osp.isfile(path):
        return path
    present = _checkpoints_in(work_dir)
    hint = (f'Checkpoints in {work_dir}: {", ".join(present)}; resume from one with '
            f'--resume {osp.join(work_dir, present[-1])}' if present else
            f'There is no *.pth in {work_dir}; start from scratch with another --work-dir '
            'or after removing last_checkpoint')
    what = f'names {path}, which does not exist' if path else 'is empty'
    raise ResumeError(f'cannot resume: {record} {what}. {hint}.')


def resolve_resume(work_dir, fresh_if_none):
    """Checkpoint to resume from for ``--resume`` (``fresh_if_none=False``) or
    ``--resume-or-start`` (``True``: ``None`` means start from scratch)."""
    found = latest_checkpoint(work_dir)
    if found is not None or fresh_if_none:
        return found
    present = _checkpoints_in(work_dir) if osp.isdir(work_dir) else []
    other = (f' It holds {", ".join(present)} but no last_checkpoint record; resume from one '
             f'of them with --resume {osp.join(work_dir, present[-1])}.' if present else '')
    raise ResumeError(
        f'--resume: no checkpoint in {work_dir} (there is no {LAST_CHECKPOINT} file).{other} '
        'To start fresh, run without --resume; --resume-or-start resumes when there is a '
        'checkpoint and starts from scratch when there is none.')
