"""Regenerate the README's generated sections from the zoo and the configs.

    python tools/gen_readme.py          # rewrite README.md in place
    python tools/gen_readme.py --check  # exit 1 if README.md is out of date
"""
import argparse
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(ROOT, 'README.md')


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


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--check', action='store_true', help='only check that README.md is up to date')
    args = parser.parse_args(argv)
    with open(README) as f:
        current = f.read()
    updated = render(current)
    if args.check:
        if updated != current:
            print('README.md is out of date: run `make readme`', file=sys.stderr)
            return 1
        return 0
    with open(README, 'w') as f:
        f.write(updated)
    return 0


if __name__ == '__main__':
    sys.exit(main())
