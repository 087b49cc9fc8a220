"""mmbackbones.analysis and tools/analyze.py against published complexity.

The truth is configs/published.json's "complexity" rows (torchvision's weight metadata, the
papers, timm's results tables; each row names its source): MACs within 2% for every row whose
variant is in the zoo, activations within 2% of RegNet's Table 3 / Figs. 15-16 where a row gives
them. A family that lands is covered by its rows alone. Counting is on the meta device, so a row
costs well under a second; the default run checks one row per kind, the rest run with -m slow.
"""
import csv
import importlib.util
import io
import json
import os.path as osp

import pytest

import mmbackbones
from mmbackbones.analysis import CSV_HEADER, count

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
with open(osp.join(ROOT, 'configs', 'published.json')) as _f:
    PUBLISHED = {k: v for k, v in json.load(_f)['complexity'].items() if not k.startswith('_')}
LANDED = sorted(n for n in PUBLISHED if n in mmbackbones.list_variants())
DEFAULT = {'resnet50', 'swin_tiny_patch4_window7_224'}  # one conv net, one transformer


def _cases(names):
    return [pytest.param(n, marks=() if n in DEFAULT else pytest.mark.slow, id=n) for n in names]


def test_the_default_rows_are_published_and_in_the_zoo():
    assert DEFAULT <= set(LANDED)


@pytest.mark.parametrize('name', _cases(LANDED))
def test_macs_match_the_published_count(name):
    row = PUBLISHED[name]
    got = count(name, tuple(row.get('input', (224, 224)))).macs / 1e9
    assert got == pytest.approx(row['gmacs'], rel=0.02), f"{name}: {got:.3f} G vs {row['gmacs']} G ({row['source']})"


@pytest.mark.parametrize('name', _cases(n for n in LANDED if 'activations_m' in PUBLISHED[n]))
def test_activations_match_regnets_table(name):
    row = PUBLISHED[name]
    got = count(name, tuple(row.get('input', (224, 224)))).activations / 1e6
    assert got == pytest.approx(row['activations_m'], rel=0.02), (name, got, row['activations_source'])


def test_counts_scale_with_the_input_and_params_are_the_zoo_rows():
    """Invariants: a fully convolutional net's MACs and activations scale with the pixel count;
    the parameter count is the zoo row's exact one."""
    small, big = count('resnet18', (128, 160)), count('resnet18', (256, 320))
    assert big.macs == 4 * small.macs  # sizes divisible by the stride 32: no rounding
    assert big.activations == 4 * small.activations
    assert big.all_activations > big.activations
    assert big.params == mmbackbones.get_variant('resnet18').params


def _tool():
    spec = importlib.util.spec_from_file_location('mmbackbones_analyze_tool',
                                                  osp.join(ROOT, 'tools', 'analyze.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tool_csv_run_end_to_end(tmp_path, capsys):
    """A tiny timed run: exact header, one row per variant, consistent derived columns, plots."""
    tool = _tool()
    rows = tool.main(['resnet18', 'resnest14d', 'res2net50_26w_4s', '--input', '64x64',
                      '--warmup', '0', '--repeats', '2', '--format', 'csv', '--plot', str(tmp_path)])
    out = capsys.readouterr()
    lines = out.out.strip().splitlines()
    assert lines[0] == CSV_HEADER
    table = list(csv.DictReader(io.StringIO(out.out)))
    assert [r['name'] for r in table] == ['resnet18', 'resnest14d', 'res2net50_26w_4s']
    for parsed, row in zip(table, rows):
        assert int(parsed['macs']) == count(row.name, (64, 64)).macs
        assert float(parsed['latency_ms']) > 0 and float(parsed['train_peak_mb']) > 0
        # the training step holds at least the parameters and their gradients (float32)
        assert float(parsed['train_peak_mb']) >= 2 * 4 * int(parsed['params']) / 2 ** 20
        gflops = 2 * int(parsed['macs']) / (float(parsed['latency_ms']) / 1e3) / 1e9
        assert float(parsed['gflops_per_s']) == pytest.approx(gflops, rel=1e-2)
    assert 'multiply-adds, each counted once' in out.err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        'latency_vs_activations.png', 'latency_vs_macs.png', 'macs_by_family.png',
        'params_by_family.png']


@pytest.mark.parametrize('argv, message', [
    (['resnet5O*'], "matches no zoo variant"),
    (['resnet18', '--input', '224'], 'expected HxW'),
    (['resnet18', '--format', 'json'], "invalid choice: 'json'"),
])
def test_tool_bad_input_is_named(argv, message, capsys):
    with pytest.raises(SystemExit):
        _tool().main(argv)
    assert message in capsys.readouterr().err


# ------------------------------------------------------------------- docs/model_zoo.md
def _gen_readme():
    spec = importlib.util.spec_from_file_location('mmbackbones_gen_readme',
                                                  osp.join(ROOT, 'tools', 'gen_readme.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _table_rows(text):
    return [[c.strip() for c in line.strip().strip('|').split('|')]
            for line in text.splitlines() if line.startswith('| `')]


def test_model_zoo_doc_lists_every_variant_with_its_weights_and_configs():
    """Fast staleness check (no counting): the rows, reference weights and configs of
    docs/model_zoo.md are the zoo's and the configs' now. Run `make readme` when this fails."""
    gen = _gen_readme()
    with open(gen.MODEL_ZOO) as f:
        committed = _table_rows(f.read())
    expected = gen.model_zoo_rows(counts=False)
    strip_counts = [[row[0], row[1]] + row[6:] for row in committed]
    assert strip_counts == [[row[0], row[1]] + row[6:] for row in expected], \
        'docs/model_zoo.md is out of date: run `make readme`'
    assert gen.configs_by_variant()['resnet50'][:1] == ['resnet50_cascade_maskrcnn']
    # the committed counts are the analyser's (checked for one row here, all with -m slow)
    row = next(r for r in committed if r[0] == '`resnet18`')
    c = count('resnet18')
    assert row[2:6] == [f'{c.params / 1e6:.2f}', f'{c.macs / 1e9:.3f}',
                        f'{c.activations / 1e6:.2f}', f'{c.all_activations / 1e6:.2f}']


@pytest.mark.slow
def test_model_zoo_doc_is_current():
    import subprocess
    import sys
    out = subprocess.run([sys.executable, osp.join(ROOT, 'tools', 'gen_readme.py'), '--check',
                          '--only', 'model_zoo'], capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr
