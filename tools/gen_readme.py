"""Regenerate the README's generated sections and docs/model_zoo.md from the zoo and the configs.

    python tools/gen_readme.py          # rewrite README.md and docs/model_zoo.md in place
    python tools/gen_readme.py --check  # exit 1 if either is out of date
    python tools/gen_readme.py --check --only readme  # README.md only (no counting: fast)
"""
import argparse
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')
MODEL_ZOO = os.path.join(ROOT, 'docs/model_zoo.md')


def _paragraph(lines, start):
    """Header lines from ``start`` up to the first that ends a sentence, joined."""
    out = []
    for line in lines[start:]:
        out.append(line)
        if line.endswith('.'):
            break
    return ' '.join(out)


def config_table() -> str:
    """One row per config: its header's first sentence and its published numbers
    (configs/published.json, the one machine-readable copy)."""
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    from compare import format_published, load_published
    published = load_published()['configs']
    lines = ['| config | what | published result to expect |', '|---|---|---|']
    for path in sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py'))):
        with open(path) as f:
            header = []
            for line in f:
                if not line.startswith('#'):
                    break
                header.append(line[1:].strip())
        title = _paragraph(header, 0) if header else ''
        expected = format_published(published.get(os.path.basename(path)[:-3]))
        name = os.path.relpath(path, ROOT)
        lines.append(f'| [`{name}`]({name}) | {title} | {expected} |')
    return '\n'.join(lines)


def paper_table(suite: str) -> str:
    """A paper's comparison table (``paper_tables`` of configs/published.json): its rows next to
    the configs that reproduce them and the numbers their own sources publish
    (``tools/compare.py SUITE`` measures them)."""
    sys.path.insert(0, os.path.join(ROOT, 'tools'))
    from compare import LABELS, format_published, load_published
    published = load_published()
    table = published['paper_tables'][suite]
    lines = [f'From the {table["source"]}.', '',
             '| config | paper | paper params / GFLOPs | published for this config |',
             '|---|---|---|---|']
    for name, row in table['rows'].items():
        metrics = ' / '.join(f'{v:g} {LABELS[k]}' for k, v in row.items() if k in LABELS)
        path = f'configs/{name}.py'
        lines.append(f'| [`{path}`]({path}) | {metrics} | {row["params_m"]:g}M / '
                     f'{row["gflops"]:g}G | {format_published(published["configs"][name])} |')
    return '\n'.join(lines)


def sections():
    sys.path.insert(0, ROOT)
    from mmbackbones.zoo import variant_table
    return {'zoo': variant_table(), 'configs': config_table(),
            'convnext_vs_swin': paper_table('convnext_vs_swin')}


def render(text: str) -> str:
    for name, body in sections().items():
        pattern = re.compile(rf'(<!-- {name}:start -->\n).*?(<!-- {name}:end -->)', re.S)
        if not pattern.search(text):
            raise SystemExit(f'README.md lacks the markers <!-- {name}:start --> / <!-- {name}:end -->')
        text = pattern.sub(lambda m: m.group(1) + body + '\n' + m.group(2), text)
    return text


def _config_checkpoint(path, seen=()):
    """The ``scheme://name`` of a config's pretrained weights, following its local ``_base_``
    files (read as text: loading ~30 configs with mmengine takes half a minute)."""
    with open(path) as f:
        text = f.read()
    found = re.search(r"checkpoint\s*=\s*'(\w+)://([^'.]+)", text)
    if found:
        return found.groups()
    bases = re.findall(r"'\./([\w./]+\.py)'", text.split('model = ', 1)[0])
    # a shared backbone fragment (configs/_base_/backbones/) names the weights of its users
    for base in sorted(bases, key=lambda base: not base.startswith('_base_/')):
        base = os.path.join(os.path.dirname(path), base)
        if base not in seen and os.path.exists(base):
            found = _config_checkpoint(base, seen + (path,))
            if found:
                return found
    return None


def configs_by_variant():
    """{variant: [config names]}: the configs whose pretrained weights are that zoo row's."""
    sys.path.insert(0, ROOT)
    from mmbackbones.zoo import get_variant, list_variants
    out = {}
    for path in sorted(glob.glob(os.path.join(ROOT, 'configs', '*.py'))):
        checkpoint = _config_checkpoint(path)
        if not checkpoint:
            continue
        scheme, model = checkpoint
        for name in list_variants():
            if get_variant(name).refs.get(scheme) == model:
                out.setdefault(name, []).append(os.path.basename(path)[:-3])
    return out


MODEL_ZOO_HEADER = """# Model zoo: every variant's cost and where it is used — for users choosing a backbone

Generated by `make readme` (`tools/gen_readme.py`) from
`mmbackbones/zoo.py` and `configs/`; a test fails when this file is out of date. Do not edit it by
hand.

Counted per image at 224x224 (the ImageNet size the published counts use) on PyTorch's meta device
with `torch.utils.flop_counter.FlopCounterMode`, in the deploy form where a family has one:

- **params**: the backbone as built with its default `out_indices` (classifier head excluded).
- **GMACs**: billions of multiply-adds, each counted once (FLOPs = 2 x MACs); convolutions, linear
  layers and attention products, not element-wise work, like torchvision's and the papers' counts.
- **activations**: millions of output elements of all conv (and linear) layers, RegNet's
  definition; **all outputs**: of every leaf module (norms and non-linearities included).
- **reference weights**: the models whose checkpoints convert exactly; **configs**: the configs in
  `configs/` that start from that variant's weights.

Latency is not in this table: on a CPU it is not reproducible from run to run (and this file must
be), so measure it on your machine with `tools/analyze.py`; docs/analysis.md shows what it
measured here. The published counts these are tested against are in `configs/published.json`
under `complexity`.
"""


def model_zoo_rows(counts=True):
    """The table's rows, one per variant; without ``counts`` the count cells are left empty
    (what the fast staleness check compares)."""
    sys.path.insert(0, ROOT)
    from mmbackbones.zoo import get_variant, list_variants
    from mmbackbones.analysis import count
    configs = configs_by_variant()
    rows = []
    for name in list_variants():
        v = get_variant(name)
        c = count(name, (224, 224)) if counts else None
        refs = ', '.join(f'{k}: `{r["type"] if isinstance(r, dict) else r}`'
                         for k, r in v.refs.items())
        used = ', '.join(f'[`{n}`](../configs/{n}.py)' for n in configs.get(name, []))
        cells = ['', '', '', ''] if c is None else [
            f'{c.params / 1e6:.2f}', f'{c.macs / 1e9:.3f}', f'{c.activations / 1e6:.2f}',
            f'{c.all_activations / 1e6:.2f}']
        rows.append([f'`{name}`', v.family] + cells + [refs, used])
    return rows


MODEL_ZOO_COLUMNS = ['variant', 'class', 'params (M)', 'GMACs', 'activations (M)',
                     'all outputs (M)', 'reference weights', 'configs']


def model_zoo_doc(counts=True) -> str:
    lines = ['| ' + ' | '.join(MODEL_ZOO_COLUMNS) + ' |', '|' + '---|' * len(MODEL_ZOO_COLUMNS)]
    lines += ['| ' + ' | '.join(row) + ' |' for row in model_zoo_rows(counts)]
    return MODEL_ZOO_HEADER + '\n' + '\n'.join(lines) + '\n'


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--check', action='store_true', help='only check that the files are up to date')
    parser.add_argument('--only', choices=('readme', 'model_zoo'),
                        help='only README.md, or only docs/model_zoo.md')
    args = parser.parse_args(argv)
    targets = []
    if args.only != 'model_zoo':
        with open(README) as f:
            current = f.read()
        targets.append((README, current, render(current)))
    if args.only != 'readme':
        current = open(MODEL_ZOO).read() if os.path.exists(MODEL_ZOO) else ''
        targets.append((MODEL_ZOO, current, model_zoo_doc()))
    if args.check:
        stale = [os.path.relpath(path, ROOT) for path, current, updated in targets
                 if updated != current]
        if stale:
            print(f'{", ".join(stale)} out of date: run `make readme`', file=sys.stderr)
            return 1
        return 0
    for path, current, updated in targets:
        if updated != current:
            with open(path, 'w') as f:
                f.write(updated)
    return 0


if __name__ == '__main__':
    sys.exit(main())
