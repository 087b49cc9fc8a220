"""The code blocks of the project's Markdown (README.md, docs/*.md), and how to run them.

A fenced block in Python or a shell is either run by the test suite or says why not, in an HTML
comment on the line above its fence (blank lines may separate them; rendered Markdown hides it):

    <!-- doctest -->                               run it in the default test run
    <!-- doctest: slow -->                         run it only with `-m slow` (make test-all)
    <!-- doctest: replace "800, 1216" -> "64, 96" -->
                                                   run it with that text replaced (big inputs
                                                   shown, tiny ones run); the text must occur
    <!-- doctest: config -->                       an mmdet/mmseg config fragment: loaded with
                                                   mmengine's Config, its model.backbone built
    <!-- doctest: setup "CMD" -->                  (shell) run CMD first, in the same directory:
                                                   what an earlier block or step left behind
    <!-- no-doctest: REASON -->                    never run; the reason is required

Settings combine with ';', e.g. ``<!-- doctest: slow; replace "20" -> "2" -->``.
A fence without a language is not code (file trees, logs) and needs no marker.

Python blocks of one file run in order in one namespace, so a block can use the names of the
blocks above it. A line ``EXPR  # -> VALUE`` asserts ``EXPR == VALUE``, so results shown in a
comment are checked too. Shell blocks run with ``bash -euo pipefail`` in a scratch directory
whose entries link to the repository's (``tools/``, ``configs/``, ...), so what they write
(``data/``, ``work_dirs/``, output files) lands in the scratch directory, and ``python`` is the
interpreter running the tests.
"""
import ast
import io
import os
import re
import shlex
import subprocess
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from typing import List, Optional, Tuple

ROOT = Path(__file__).resolve().parents[1]

PYTHON_LANGS = {'python', 'py', 'python3'}
SHELL_LANGS = {'bash', 'sh', 'shell'}
# Code in these languages needs a marker too, but cannot be run (prompts, output mixed in).
OTHER_CODE_LANGS = {'console', 'shell-session', 'zsh', 'pycon', 'ipython'}
CODE_LANGS = PYTHON_LANGS | SHELL_LANGS | OTHER_CODE_LANGS

_MARKER = re.compile(r'^\s*<!--\s*(no-doctest|doctest)\s*(?::(.*?))?\s*-->\s*$')
_FENCE_OPEN = re.compile(r'^(\s*)(`{3,}|~{3,})\s*([^`\s]*)[^`]*$')
_STRING = r'''"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*\''''
_SETTING = re.compile(rf'\s*(?:(slow|config)|replace\s+({_STRING})\s*->\s*({_STRING})'
                      rf'|setup\s+({_STRING}))\s*(?:;|$)')
VALID_SETTINGS = 'slow, config, replace "OLD" -> "NEW", setup "COMMAND" (separated by ";")'


@dataclass
class Marker:
    line: int
    run: bool
    reason: str = ''
    slow: bool = False
    config: bool = False
    replacements: List[Tuple[str, str]] = field(default_factory=list)
    setup: List[str] = field(default_factory=list)


@dataclass
class Block:
    path: Path
    line: int  # line of the opening fence, 1-based
    lang: str
    code: str
    marker: Optional[Marker]

    @property
    def where(self) -> str:
        return f'{display(self.path)}:{self.line}'

    @property
    def runs(self) -> bool:
        return self.marker is not None and self.marker.run

    def runnable_code(self) -> str:
        """The code with the marker's replacements applied; each must apply."""
        code = self.code
        for old, new in self.marker.replacements if self.marker else ():
            if old not in code:
                raise ValueError(f'{self.where}: the doctest marker replaces {old!r}, which is '
                                 'not in the block')
            code = code.replace(old, new)
        return code


def display(path: Path) -> str:
    try:
        return str(Path(path).resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def doc_files(root: Path = ROOT) -> List[Path]:
    return [root / 'README.md'] + sorted((root / 'docs').glob('*.md'))


def _parse_marker(text: str, line: int, where: str) -> Marker:
    match = _MARKER.match(text)
    kind, settings = match.group(1), (match.group(2) or '').strip()
    if kind == 'no-doctest':
        if not settings:
            raise ValueError(f'{where}:{line}: <!-- no-doctest --> needs a reason: '
                             '<!-- no-doctest: why it cannot run -->')
        return Marker(line=line, run=False, reason=settings)
    marker = Marker(line=line, run=True)
    pos = 0
    while pos < len(settings):
        setting = _SETTING.match(settings, pos)
        if setting is None or setting.end() == pos:
            raise ValueError(f'{where}:{line}: cannot read doctest setting {settings[pos:]!r}; '
                             f'valid settings: {VALID_SETTINGS}')
        flag, old, new, setup = setting.groups()
        if flag == 'slow':
            marker.slow = True
        elif flag == 'config':
            marker.config = True
        elif setup is not None:
            marker.setup.append(ast.literal_eval(setup))
        else:
            marker.replacements.append((ast.literal_eval(old), ast.literal_eval(new)))
        pos = setting.end()
    return marker


def parse_markdown(path: Path) -> Tuple[List[Block], List[str]]:
    """Every fenced block with a language, and the problems found (bad or dangling markers)."""
    lines = Path(path).read_text(encoding='utf-8').splitlines()
    where = display(path)
    blocks, problems = [], []
    pending: Optional[Marker] = None
    i = 0
    while i < len(lines):
        text = lines[i]
        if _MARKER.match(text):
            if pending is not None:
                problems.append(f'{where}:{pending.line}: marker not followed by a code block')
            try:
                pending = _parse_marker(text, i + 1, where)
            except ValueError as err:
                problems.append(str(err))
                pending = None
            i += 1
            continue
        fence = _FENCE_OPEN.match(text)
        if fence is None:
            if text.strip() and pending is not None:
                problems.append(f'{where}:{pending.line}: marker not followed by a code block')
                pending = None
            i += 1
            continue
        indent, ticks, lang = fence.group(1), fence.group(2), fence.group(3).lower()
        start, body = i + 1, []
        i += 1
        while i < len(lines):
            stripped = lines[i].strip()
            if stripped.startswith(ticks[0] * len(ticks)) and set(stripped) == {ticks[0]}:
                break
            body.append(lines[i][len(indent):] if lines[i].startswith(indent) else lines[i])
            i += 1
        i += 1  # past the closing fence
        if not lang:
            if pending is not None:
                problems.append(f'{where}:{pending.line}: marker on a fence without a language '
                                '(not code); give the fence a language or drop the marker')
            pending = None
            continue
        block = Block(Path(path), start, lang, '\n'.join(body) + '\n', pending)
        pending = None
        if block.lang in CODE_LANGS:
            if block.runs and block.lang in OTHER_CODE_LANGS:
                problems.append(f'{block.where}: a {block.lang} block cannot run; write it as '
                                'bash or python, or mark it no-doctest')
            elif block.runs and block.marker.config and block.lang not in PYTHON_LANGS:
                problems.append(f'{block.where}: "config" applies to python blocks only')
            elif block.runs and block.marker.setup and block.lang not in SHELL_LANGS:
                problems.append(f'{block.where}: "setup" applies to shell blocks only')
            if block.runs:
                try:
                    block.runnable_code()
                except ValueError as err:
                    problems.append(str(err))
        elif block.marker is not None:
            problems.append(f'{block.where}: marker on a {block.lang} block; only '
                            f'{sorted(CODE_LANGS)} blocks are markable')
        blocks.append(block)
    if pending is not None:
        problems.append(f'{where}:{pending.line}: marker not followed by a code block')
    return blocks, problems


# ---------------------------------------------------------------------------------- python
def _expectations(code: str, first_line: int, where: str) -> str:
    """Rewrite ``EXPR  # -> VALUE`` lines into checked calls (line numbers kept)."""
    lines = code.split('\n')
    tokens = tokenize.generate_tokens(io.StringIO(code).readline)
    for tok in tokens:
        if tok.type != tokenize.COMMENT or not tok.string.startswith('# ->'):
            continue
        row, col = tok.start
        source = lines[row - 1]
        expr, value = source[:col].strip(), tok.string[len('# ->'):].strip()
        indent = source[:len(source) - len(source.lstrip())]
        line = first_line + row - 1
        for part, name in ((expr, 'expression'), (value, 'value')):
            try:
                compile(f'({part})', where, 'eval')
            except SyntaxError:
                raise ValueError(f'{where}:{line}: "# ->" needs a one-line {name} on each '
                                 f'side, got {part!r}') from None
        lines[row - 1] = (f'{indent}__doc_expect__(({expr}), ({value}), {expr!r}, {value!r}, '
                          f'{line})')
    return '\n'.join(lines)


def run_python_blocks(blocks: List[Block], namespace: dict) -> None:
    """Run ``blocks`` in order in ``namespace``; tracebacks point at the Markdown lines."""
    def expect(actual, expected, expr, value, line):
        if actual != expected:
            raise AssertionError(f'{display(blocks[0].path)}:{line}: {expr} is {actual!r}; '
                                 f'the document says {value}')

    namespace.setdefault('__name__', '__doc_blocks__')
    namespace['__doc_expect__'] = expect
    for block in blocks:
        code = _expectations(block.runnable_code(), block.line + 1, display(block.path))
        # Pad so that the first code line has its line number in the Markdown file.
        compiled = compile('\n' * block.line + code, str(block.path), 'exec')
        exec(compiled, namespace)  # noqa: S102  (the project's own documentation)


# ---------------------------------------------------------------------------------- config
def _drop_delete_keys(value):
    if isinstance(value, dict):
        return {k: _drop_delete_keys(v) for k, v in value.items() if k != '_delete_'}
    if isinstance(value, (list, tuple)):
        return type(value)(_drop_delete_keys(v) for v in value)
    return value


def check_config_block(block: Block, tmp_dir: Path) -> None:
    """Load the fragment as an mmengine config, build its backbone in the config's scope
    (mmdet unless ``default_scope`` says otherwise) and check that a neck's ``in_channels``
    are the backbone's ``out_channels``."""
    import torch
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    path = tmp_dir / 'doc_config.py'
    path.write_text(block.runnable_code())
    cfg = Config.fromfile(str(path))  # runs custom_imports
    scope = cfg.get('default_scope', 'mmdet')
    if scope == 'mmdet':
        from mmdet.registry import MODELS
        from mmdet.utils import register_all_modules
    else:
        from mmseg.registry import MODELS
        from mmseg.utils import register_all_modules
    register_all_modules(init_default_scope=False)
    init_default_scope(scope)
    model = _drop_delete_keys(cfg.to_dict()['model'])
    with torch.device('meta'):  # shapes only: no weights are loaded or initialised
        backbone = MODELS.build(model['backbone'])
    neck = model.get('neck') or {}
    if 'in_channels' in neck:
        assert list(neck['in_channels']) == list(backbone.out_channels), (
            f'{block.where}: neck in_channels {neck["in_channels"]} are not the backbone\'s '
            f'out_channels {backbone.out_channels}')


# ----------------------------------------------------------------------------------- shell
# Not linked into the scratch directory: what a block writes there must stay there.
_NOT_LINKED = {'data', 'work_dirs', 'outputs', 'build', 'dist'}


def scratch_dir(tmp_dir: Path) -> Path:
    work = tmp_dir / 'work'
    work.mkdir()
    for entry in ROOT.iterdir():
        if entry.name.startswith('.') or entry.name in _NOT_LINKED \
                or entry.name.endswith('.egg-info'):
            continue
        (work / entry.name).symlink_to(entry)
    return work


def repo_snapshot():
    """(path, size, mtime) of every file in the repository but caches, to detect writes."""
    found = set()
    for dirpath, dirnames, filenames in os.walk(ROOT):
        dirnames[:] = [d for d in dirnames if d not in ('.git', '__pycache__', '.pytest_cache')]
        for name in filenames:
            full = os.path.join(dirpath, name)
            try:
                stat = os.stat(full)
            except FileNotFoundError:
                continue
            found.add((os.path.relpath(full, ROOT), stat.st_size, stat.st_mtime_ns))
    return found


def run_shell_block(block: Block, tmp_dir: Path, timeout: float = 600):
    work = scratch_dir(tmp_dir)
    bin_dir = tmp_dir / 'bin'
    bin_dir.mkdir()
    for name in ('python', 'python3'):  # `python` in a block is the interpreter under test
        # A script, not a symlink: a venv's interpreter finds its packages by its own path.
        wrapper = bin_dir / name
        wrapper.write_text(f'#!/bin/sh\nexec {shlex.quote(sys.executable)} "$@"\n')
        wrapper.chmod(0o755)
    env = dict(os.environ, PATH=f'{bin_dir}{os.pathsep}{os.environ.get("PATH", "")}',
               PYTHON=sys.executable, PYTHONPATH=str(work), OMP_NUM_THREADS='1',
               MPLBACKEND='Agg')
    setup = ''.join(f'{command}\n' for command in block.marker.setup)
    script = f'set -euo pipefail\n{setup}{block.runnable_code()}'
    return subprocess.run(['bash', '-c', script], cwd=work, env=env, capture_output=True,
                          text=True, timeout=timeout)


# ------------------------------------------------------------------------ document references
# `--output NAME.md` names a file a tool writes, not a document to read; so does a path in a
# variable's folder (`$WD/NAME.md`; `<work dir>/NAME.md` never matches, `/` precedes the name).
_OUTPUT_ARG = re.compile(r'--output[ =]\s*$')
_PLACEHOLDER_PARENT = re.compile(r'\$\{?$')
_URL = re.compile(r'\b[a-z][a-z0-9+.-]*://\S+')
_MD_PATH = re.compile(r'(?<![\w/.\-])((?:\.\.?/)*\w[\w./-]*?\.md)(?![\w-])(#[\w-]+)?')
_MD_LINK = re.compile(r'\]\(\s*<?([^)\s>]+\.md)(#[^)\s>]*)?>?(?:\s+"[^"]*")?\s*\)')
_ANCHOR_LINK = re.compile(r'\]\(\s*#([^)\s]+)\s*\)')  # a heading of the same page
_CITED_SECTION = re.compile(r'((?:\w[\w./-]*/)?\w[\w.-]*\.md),?\s+(?:section\s+)?'
                            r'[\'"\u2018\u201c]([^\'"\u2019\u201d\n]+)[\'"\u2019\u201d]')
SCANNED_SUFFIXES = {'.md', '.py', '.sh', '.txt', '.cfg', '.ini', '.toml', '.yml', '.yaml'}
SCANNED_NAMES = {'Makefile', 'Dockerfile'}
SKIPPED_DIRS = {'data', 'work_dirs', 'outputs', 'build', 'dist', '__pycache__'}


def repository_files(root: Path = ROOT) -> List[Path]:
    """Source, config and documentation files, without data, outputs and environments."""
    found = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if not d.startswith('.') and d not in SKIPPED_DIRS
            and not d.endswith('.egg-info')
            and not os.path.exists(os.path.join(dirpath, d, 'pyvenv.cfg')))
        for name in sorted(filenames):
            path = Path(dirpath) / name
            if path.suffix in SCANNED_SUFFIXES or name in SCANNED_NAMES:
                found.append(path)
    return found


def heading_slugs(path: Path) -> dict:
    """GitHub's anchor of every heading of a Markdown file -> the heading's text."""
    slugs, in_fence = {}, False
    for line in path.read_text(encoding='utf-8').splitlines():
        if re.match(r'^\s*(```|~~~)', line):
            in_fence = not in_fence
        match = None if in_fence else re.match(r'^#{1,6}\s+(.*?)\s*#*\s*$', line)
        if match:
            text = match.group(1)
            slug = re.sub(r'[^\w\- ]', '', text.lower().replace('`', '')).replace(' ', '-')
            slugs[slug] = text
    return slugs


@dataclass
class Reference:
    path: Path  # the file that refers
    line: int
    target: str  # as written
    anchor: str = ''
    section: str = ''  # a section cited by name
    link: bool = False  # a Markdown link: relative to the referring file only


def find_references(path: Path) -> List[Reference]:
    refs = []
    text = path.read_text(encoding='utf-8', errors='replace')
    for number, line in enumerate(text.splitlines(), 1):
        clean = _URL.sub(lambda m: ' ' * len(m.group()), line)
        links = set()
        if path.suffix == '.md':
            for match in _MD_LINK.finditer(clean):
                refs.append(Reference(path, number, match.group(1), (match.group(2) or '')[1:],
                                      link=True))
                links.add(match.start(1))
            for match in _ANCHOR_LINK.finditer(clean):
                refs.append(Reference(path, number, path.name, match.group(1), link=True))
        for match in _MD_PATH.finditer(clean):
            before = clean[:match.start(1)]
            if match.start(1) in links or _OUTPUT_ARG.search(before) \
                    or _PLACEHOLDER_PARENT.search(before):
                continue
            refs.append(Reference(path, number, match.group(1), (match.group(2) or '')[1:]))
        for match in _CITED_SECTION.finditer(clean):
            refs.append(Reference(path, number, match.group(1), section=match.group(2)))
    return refs


def resolve(ref: Reference, root: Path = ROOT) -> Optional[Path]:
    """The document a reference points at, or None. Links resolve against the referring
    file's folder (as GitHub renders them); paths in prose also against the repository root."""
    bases = [ref.path.parent] if ref.link else [ref.path.parent, root]
    for base in bases:
        candidate = (base / ref.target).resolve()
        if candidate.is_file():
            return candidate
    return None


def reference_problems(ref: Reference, root: Path = ROOT) -> Optional[str]:
    where = f'{display(ref.path)}:{ref.line}'
    target = resolve(ref, root)
    if target is None:
        return f'{where}: {ref.target} does not exist in the repository'
    if ref.anchor and ref.anchor not in heading_slugs(target):
        return f'{where}: {ref.target} has no heading with anchor #{ref.anchor}'
    if ref.section:
        titles = {t.strip('`').lower() for t in heading_slugs(target).values()}
        if ref.section.strip('`').lower() not in titles:
            return f'{where}: {ref.target} has no section named {ref.section!r}'
    return None
