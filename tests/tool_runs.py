"""Several command-line runs of the repository's tools in ONE fresh interpreter, for the
tests of refusals: each run pays for the imports (torch, mmdet, ...) otherwise.

Every run is what ``python TOOL ARGS...`` in the repository root does: the tool file runs as
``__main__`` (runpy) with ``sys.argv = [TOOL, *ARGS]``; its exit status (``SystemExit``; an
uncaught exception prints its traceback and gives 1, as the interpreter does), stdout and stderr
are recorded per run. Runs start from the same ``os.environ`` and fresh warning filters.

    python tests/tool_runs.py RUNS.json  ->  prints a JSON list of [returncode, stdout, stderr]
"""
import contextlib
import io
import json
import os
import runpy
import subprocess
import sys
import traceback
import warnings

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _one(tool, args):
    out, err = io.StringIO(), io.StringIO()
    environ, argv, path = dict(os.environ), sys.argv, list(sys.path)
    sys.argv = [tool, *args]
    sys.path[0] = os.path.dirname(os.path.abspath(tool))  # as `python TOOL` sets it
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err), \
                warnings.catch_warnings():
            try:
                runpy.run_path(tool, run_name='__main__')
            except SystemExit as exit_:
                code = exit_.code
                if code is None:
                    code = 0
                elif not isinstance(code, int):
                    print(code, file=sys.stderr)
                    code = 1
            except BaseException:
                traceback.print_exc()
                code = 1
    finally:
        sys.argv, sys.path[:] = argv, path
        os.environ.clear()
        os.environ.update(environ)
    return [code, out.getvalue(), err.getvalue()]


def run_tools(runs, timeout=600, env=None):
    """``runs``: a list of [tool, [args...]]; the result: one subprocess.CompletedProcess
    per run (``args`` the command line), in order."""
    full_env = dict(os.environ, PYTHONUNBUFFERED='1', **(env or {}))
    proc = subprocess.run([sys.executable, __file__, json.dumps(runs)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, env=full_env)
    assert proc.returncode == 0 and proc.stdout, proc.stderr[-4000:]
    results = json.loads(proc.stdout.splitlines()[-1])
    return [subprocess.CompletedProcess([sys.executable, tool, *args], code, out, err)
            for (tool, args), (code, out, err) in zip(runs, results)]


if __name__ == '__main__':
    runs = json.loads(sys.argv[1])
    results = [_one(tool, args) for tool, args in runs]
    sys.stdout.write('\n' + json.dumps(results) + '\n')
