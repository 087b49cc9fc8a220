"""Work-dir safety for ``tools/train.py``: one training run per work dir, and ``--resume``
that says what it resumes from (or why it cannot).

A work dir belongs to one run: a new run into a work dir that holds another run's checkpoints
stops (:func:`refuse_previous_run`) unless it resumes that run or is told ``--overwrite``, which
moves the earlier run's files into a timestamped sub-folder (:func:`move_previous_run_aside`);
nothing is deleted. ``--resume-or-start`` resumes from the newest checkpoint that is intact
(:func:`checkpoint_problem`) and never starts over a work dir that holds checkpoints.

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
import zipfile

LOCK_NAME = '.lock'
LAST_CHECKPOINT = 'last_checkpoint'
# --overwrite moves an earlier run's files into <work dir>/<ASIDE_PREFIX><timestamp>/
ASIDE_PREFIX = 'previous_run_'

# Locks held by this process, by work dir; the open descriptors keep them alive.
_HELD = {}


class WorkDirBusyError(RuntimeError):
    """Another training run holds the work dir."""


class ResumeError(RuntimeError):
    """``--resume`` cannot find what to resume from."""


class WorkDirTakenError(RuntimeError):
    """The work dir holds the checkpoints of an earlier run, which a new run would overwrite."""


class WorkDirNotWritableError(OSError):
    """The work dir cannot be created or written."""


def ensure_writable(work_dir):
    """Create ``work_dir`` or raise :class:`WorkDirNotWritableError` naming it and the fix."""
    try:
        os.makedirs(work_dir, exist_ok=True)
        if not os.access(work_dir, os.W_OK | os.X_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
    except OSError as err:
        raise WorkDirNotWritableError(
            f'cannot write into the work dir {osp.abspath(work_dir)}: '
            f'{err.strerror or err}. Pick a folder you can write to with --work-dir DIR.') from None


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
    ensure_writable(work_dir)
    path = osp.join(work_dir, LOCK_NAME)
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as err:
        raise WorkDirNotWritableError(
            f'cannot write into the work dir {work_dir}: {path}: {err.strerror}. Pick a folder '
            'you can write to with --work-dir DIR.') from None
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
    """``*.pth`` names in ``work_dir``, oldest first."""
    found = glob.glob(osp.join(work_dir, '*.pth'))
    return sorted((osp.basename(p) for p in found), key=lambda n: (osp.getmtime(
        osp.join(work_dir, n)), n))


def checkpoint_problem(path):
    """``None`` for a checkpoint file that is complete, else what is wrong with it.

    ``torch.save`` writes a zip archive; its directory sits at the end of the file, so a
    truncated file has none, and every member carries a CRC (``testzip`` reads them all).
    Nothing is unpickled: whether the content fits the model is checked when it is loaded.
    """
    try:
        size = os.path.getsize(path)
    except OSError as err:
        return 'missing' if err.errno == errno.ENOENT else f'unreadable ({err.strerror})'
    if size == 0:
        return 'empty (0 bytes)'
    try:
        if not zipfile.is_zipfile(path):
            with open(path, 'rb') as f:
                head = f.read(2)
            if head == b'\x80\x02':  # torch's legacy (pre-1.6) format: loading will tell
                return None
            return (f'not a complete torch checkpoint ({size} bytes, no zip directory at its '
                    'end): truncated, or not written by torch.save')
        with zipfile.ZipFile(path) as archive:
            damaged = archive.testzip()
            names = archive.namelist()
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as err:
        return f'a damaged archive ({err})'
    if damaged:
        return f'damaged: {damaged} inside it fails its CRC check'
    if not any(n == 'data.pkl' or n.endswith('/data.pkl') for n in names):
        return 'a zip archive, but not a torch checkpoint (it has no data.pkl)'
    return None


def previous_run_files(work_dir):
    """The checkpoints and ``last_checkpoint`` of an earlier run in ``work_dir``."""
    if not osp.isdir(work_dir):
        return []
    found = _checkpoints_in(work_dir)
    if osp.exists(osp.join(work_dir, LAST_CHECKPOINT)):
        found.append(LAST_CHECKPOINT)
    return found


def refuse_previous_run(work_dir):
    """Raise :class:`WorkDirTakenError` when ``work_dir`` holds another run's checkpoints."""
    found = previous_run_files(work_dir)
    if not found:
        return
    shown = ', '.join(found[-6:]) + (f' and {len(found) - 6} more' if len(found) > 6 else '')
    raise WorkDirTakenError(
        f'work dir {work_dir} holds the checkpoints of an earlier run ({shown}); a new run '
        'would overwrite them and mix the two runs. Continue that run with --resume, start the '
        'new one in another folder with --work-dir DIR, or pass --overwrite to move the earlier '
        f'run\'s files into {osp.join(work_dir, ASIDE_PREFIX + "<timestamp>")}/ (nothing is '
        'deleted).')


def move_previous_run_aside(work_dir):
    """``--overwrite``: move everything in ``work_dir`` but the lock and earlier moved-aside
    folders into ``<work_dir>/previous_run_<timestamp>/``; return that folder (``None`` when
    there was nothing to move). Call it with the work dir locked."""
    entries = sorted(e for e in os.listdir(work_dir)
                     if e != LOCK_NAME and not e.startswith(ASIDE_PREFIX))
    if not entries:
        return None
    stamp = datetime.datetime.now().strftime('%Y%m%d_%H%M%S')
    aside = osp.join(work_dir, ASIDE_PREFIX + stamp)
    n = 1
    while osp.exists(aside):
        aside = osp.join(work_dir, f'{ASIDE_PREFIX}{stamp}_{n}')
        n += 1
    os.mkdir(aside)
    for entry in entries:
        os.rename(osp.join(work_dir, entry), osp.join(aside, entry))
    return aside


def _read_record(work_dir):
    """The path ``<work_dir>/last_checkpoint`` names (``''`` when empty), or ``None`` when
    there is no such record."""
    record = osp.join(work_dir, LAST_CHECKPOINT)
    if not osp.isfile(record):
        return None
    with open(record) as f:
        path = f.read().strip()
    if path and not osp.isabs(path) and not osp.isfile(path):
        path = osp.join(work_dir, path)
    return path


def _intact_hint(work_dir, exclude=()):
    """``--resume PATH`` for the newest intact checkpoint in ``work_dir``, or how to go on
    when there is none."""
    for name in reversed(_checkpoints_in(work_dir) if osp.isdir(work_dir) else []):
        path = osp.join(work_dir, name)
        if path not in exclude and checkpoint_problem(path) is None:
            return f'resume from the newest intact one with --resume {path}'
    return ('there is no intact checkpoint to resume from; start afresh with another '
            '--work-dir, or with --overwrite, which moves these files aside')


def latest_checkpoint(work_dir):
    """The checkpoint ``<work_dir>/last_checkpoint`` names, or ``None`` when the work dir has
    none. Raises :class:`ResumeError` when ``last_checkpoint`` is empty, names a missing file
    or a damaged one (then starting from scratch would silently throw the run away)."""
    path = _read_record(work_dir)
    if path is None:
        return None
    record = osp.join(work_dir, LAST_CHECKPOINT)
    problem = checkpoint_problem(path) if path else 'empty'
    if problem is None:
        return path
    present = _checkpoints_in(work_dir)
    if problem == 'missing':
        what = f'names {path}, which does not exist'
    elif path:
        what = f'names {path}, which is {problem}'
    else:
        what = 'is empty'
    hint = (f'Checkpoints in {work_dir}: {", ".join(present)}; {_intact_hint(work_dir, [path])}'
            if present else
            f'There is no *.pth in {work_dir}; start from scratch with another --work-dir '
            'or with --overwrite, which moves last_checkpoint aside')
    raise ResumeError(f'cannot resume: {record} {what}. {hint}.')


def resolve_resume(work_dir, fresh_if_none):
    """Checkpoint to resume from for ``--resume`` (``fresh_if_none=False``) or
    ``--resume-or-start`` (``True``).

    ``--resume`` takes the checkpoint ``last_checkpoint`` names, and stops when there is none
    or it is damaged. ``--resume-or-start`` takes it when it is intact, else the newest intact
    ``*.pth`` of the work dir (a run killed before it wrote ``last_checkpoint``, a checkpoint
    cut short by a full disk); ``None`` (start from scratch) only when the work dir holds no
    checkpoint at all. It raises :class:`ResumeError` rather than start over checkpoints that
    are all damaged.
    """
    if not fresh_if_none:
        found = latest_checkpoint(work_dir)
        if found is not None:
            return found
        present = _checkpoints_in(work_dir) if osp.isdir(work_dir) else []
        other = (f' It holds {", ".join(present)} but no last_checkpoint record; '
                 f'{_intact_hint(work_dir)}.' if present else '')
        raise ResumeError(
            f'--resume: no checkpoint in {work_dir} (there is no {LAST_CHECKPOINT} file).{other} '
            'To start fresh, run without --resume; --resume-or-start resumes when there is a '
            'checkpoint and starts from scratch when there is none.')

    recorded = _read_record(work_dir)
    present = [osp.join(work_dir, n) for n in reversed(_checkpoints_in(work_dir))] \
        if osp.isdir(work_dir) else []
    candidates = ([recorded] if recorded else []) + [p for p in present if p != recorded]
    skipped = []
    for path in candidates:
        problem = checkpoint_problem(path)
        if problem is None:
            for bad, why in skipped:
                print(f'[mmbackbones] --resume-or-start: skipping {bad}: {why}', file=sys.stderr)
            return path
        skipped.append((path, problem))
    if recorded is None and not present:
        return None  # nothing was ever saved here
    if not present:
        latest_checkpoint(work_dir)  # raises: names the record and what it points at
    listed = '; '.join(f'{p}: {why}' for p, why in skipped)
    raise ResumeError(
        f'--resume-or-start: no intact checkpoint in {work_dir} ({listed}), and starting from '
        'scratch would overwrite them. Start afresh with another --work-dir, or with '
        '--overwrite, which moves these files aside.')
