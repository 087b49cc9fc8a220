"""The documentation runs, and names only documents that exist.

Every Python or shell block of README.md and docs/*.md is run offline on tiny inputs, or carries
``<!-- no-doctest: reason -->`` (tests/doc_blocks.py describes the markers). No file of the
repository refers to a Markdown document, or a section of one, that is not there.
"""
import textwrap
from pathlib import Path

import pytest

from . import doc_blocks as db

PARSED = {path: db.parse_markdown(path) for path in db.doc_files()}

# Names of Markdown files that tools and tests write: outputs, not documents to read.
GENERATED_FILES = {
    'FILE.md': 'metavar of tools/benchmark.py --output',
    'bench.md': 'tests/test_benchmark_tool.py writes it under tmp_path',
    'comparison.md': 'tools/compare.py writes it into its work dir',
}
# This file's self-tests name invented documents on purpose.
NOT_SCANNED = {'tests/test_docs.py'}


def _blocks(kind):
    for path, (blocks, _) in PARSED.items():
        for block in blocks:
            if not block.runs:
                continue
            if kind == 'config' and block.marker.config:
                yield block
            elif kind == 'shell' and block.lang in db.SHELL_LANGS:
                yield block


def _block_params(kind):
    return [pytest.param(b, id=b.where, marks=[pytest.mark.slow] if b.marker.slow else [])
            for b in _blocks(kind)]


def _python_files():
    """One case per file (its blocks share a namespace); a second, slow one when the file has
    blocks marked slow, which then runs them all."""
    params = []
    for path, (blocks, _) in PARSED.items():
        python = [b for b in blocks if b.runs and b.lang in db.PYTHON_LANGS and not b.marker.config]
        if any(not b.marker.slow for b in python):
            params.append(pytest.param(path, False, id=db.display(path)))
        if any(b.marker.slow for b in python):
            params.append(pytest.param(path, True, id=f'{db.display(path)}+slow',
                                       marks=pytest.mark.slow))
    return params


# ------------------------------------------------------------------------------ the documents
def test_every_code_block_is_marked():
    unmarked = [f'{b.where} ({b.lang})' for blocks, _ in PARSED.values() for b in blocks
                if b.lang in db.CODE_LANGS and b.marker is None]
    assert not unmarked, ('code blocks without <!-- doctest --> or <!-- no-doctest: reason --> '
                          'on the line above their fence:\n' + '\n'.join(unmarked))


def test_markers_are_well_formed():
    problems = [p for _, found in PARSED.values() for p in found]
    assert not problems, '\n'.join(problems)


def test_readme_python_api_runs():
    blocks, _ = PARSED[db.ROOT / 'README.md']
    assert any(b.runs and b.lang in db.PYTHON_LANGS and not b.marker.config
               and 'import mmbackbones' in b.code for b in blocks), \
        "the README's Python API block must be marked <!-- doctest -->"


@pytest.mark.parametrize('path, with_slow', _python_files())
def test_python_blocks_run(path, with_slow, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # files a block writes land here
    blocks, _ = PARSED[path]
    db.run_python_blocks([b for b in blocks if b.runs and b.lang in db.PYTHON_LANGS
                          and not b.marker.config and (with_slow or not b.marker.slow)], {})


@pytest.mark.parametrize('block', _block_params('config'))
def test_config_blocks_build(block, tmp_path):
    db.check_config_block(block, tmp_path)


@pytest.mark.parametrize('block', _block_params('shell'))
def test_shell_blocks_run(block, tmp_path):
    before = db.repo_snapshot()
    out = db.run_shell_block(block, tmp_path)
    assert out.returncode == 0, (f'{block.where} exited {out.returncode}\n--- stdout\n'
                                 f'{out.stdout[-3000:]}\n--- stderr\n{out.stderr[-3000:]}')
    changed = sorted({entry[0] for entry in before ^ db.repo_snapshot()})
    assert not changed, f'{block.where} wrote into the repository: {changed}'
    if block.path.name == 'README.md':  # run as written, it must leave the user's data alone
        shared = [d for d in ('data', 'work_dirs') if (tmp_path / 'work' / d).exists()]
        assert not shared, f'{block.where} wrote into {shared} of the folder it ran in'


def test_each_doc_says_who_it_is_for():
    for path in sorted((db.ROOT / 'docs').glob('*.md')):
        first = path.read_text(encoding='utf-8').splitlines()[0]
        assert ' for ' in f' {first.lower()} ', \
            f'{db.display(path)}: the first line should say who the document is for: {first!r}'


def test_document_references_exist():
    problems = []
    for path in db.repository_files():
        if db.display(path) in NOT_SCANNED:
            continue
        for ref in db.find_references(path):
            if Path(ref.target).name in GENERATED_FILES:
                continue
            problem = db.reference_problems(ref)
            if problem and problem not in problems:  # a link's text may repeat its target
                problems.append(problem)
    assert not problems, 'references to documents that are not in the repository:\n' + \
        '\n'.join(problems)


# ------------------------------------------------------------------- the runner, on itself
def _markdown(tmp_path, text, name='doc.md'):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_parser_finds_unmarked_code_and_ignores_fences_without_language(tmp_path):
    path = _markdown(tmp_path, '''\
        ```
        a file tree, not code
        ```

        ```python
        x = 1
        ```

        <!-- no-doctest: needs a GPU -->
        ```bash
        nvidia-smi
        ```
        ''')
    blocks, problems = db.parse_markdown(path)
    assert not problems
    assert [(b.lang, b.line) for b in blocks] == [('python', 5), ('bash', 10)]
    assert blocks[0].marker is None
    assert blocks[1].marker.reason == 'needs a GPU' and not blocks[1].runs


@pytest.mark.parametrize('marker, message', [
    ('<!-- no-doctest -->', 'needs a reason'),
    ('<!-- doctest: fast -->', 'cannot read doctest setting'),
    ('<!-- doctest: replace "800" -> "64" -->', "replaces '800', which is not in the block"),
])
def test_parser_reports_bad_markers(tmp_path, marker, message):
    path = _markdown(tmp_path, f'{marker}\n```python\nx = 1\n```\n')
    _, problems = db.parse_markdown(path)
    assert len(problems) == 1 and message in problems[0], problems


def test_parser_reports_a_marker_that_marks_nothing(tmp_path):
    path = _markdown(tmp_path, '<!-- doctest -->\nSome prose.\n\n```python\nx = 1\n```\n')
    blocks, problems = db.parse_markdown(path)
    assert blocks[0].marker is None
    assert problems == [f'{db.display(path)}:1: marker not followed by a code block']


def test_python_blocks_share_a_namespace_and_apply_replacements(tmp_path):
    path = _markdown(tmp_path, '''\
        <!-- doctest: replace "800" -> "8" -->
        ```python
        size = 800
        ```

        <!-- doctest -->
        ```python
        size * 2  # -> 16
        ```
        ''')
    blocks, problems = db.parse_markdown(path)
    assert not problems
    namespace = {}
    db.run_python_blocks(blocks, namespace)
    assert namespace['size'] == 8


def test_expected_value_comment_is_checked(tmp_path):
    path = _markdown(tmp_path, '<!-- doctest -->\n```python\n\nlen([1, 2])  # -> 3\n```\n')
    blocks, _ = db.parse_markdown(path)
    with pytest.raises(AssertionError, match=r'doc\.md:4: len\(\[1, 2\]\) is 2; the document says 3'):
        db.run_python_blocks(blocks, {})


def test_reference_checker_flags_missing_documents_anchors_and_sections(tmp_path):
    (tmp_path / 'docs').mkdir()
    _markdown(tmp_path, '# Guide: for testers\n\n## The backbone contract\n', 'docs/guide.md')
    source = _markdown(tmp_path, '''\
        See [the guide](docs/guide.md), [its contract](docs/guide.md#the-backbone-contract)
        and docs/guide.md, 'The backbone contract'. Also https://example.com/x/NOTES.md.
        Broken: `docs/missing.md`, [anchor](docs/guide.md#nowhere),
        docs/guide.md, section 'No such section', [wrong base](guide.md).
        Written by a tool: `$WD/out.md`, `<work dir>/out.md`; [here](#no-heading).
        ''', 'README.md')
    refs = db.find_references(source)
    problems = [p for p in (db.reference_problems(r, tmp_path) for r in refs) if p]
    where = db.display(source)
    assert problems == [
        f'{where}:3: docs/guide.md has no heading with anchor #nowhere',
        f'{where}:3: docs/missing.md does not exist in the repository',
        f'{where}:4: guide.md does not exist in the repository',
        f"{where}:4: docs/guide.md has no section named 'No such section'",
        f'{where}:5: README.md has no heading with anchor #no-heading',
    ], problems
