"""Parameters, MACs, activations, latency, training memory and achieved GFLOP/s of zoo variants.

    python tools/analyze.py 'resnet*' --format csv
    python tools/analyze.py resnet50 'swin_tiny*' --input 800x1216 --batch 2 --device cuda
    python tools/analyze.py 'res*' swin_tiny_patch4_window7_224 --plot docs/analysis
    python tools/analyze.py '*' --no-latency --no-train --format markdown   # counts only

PATTERNs are shell-style patterns over the zoo's variant names (all variants without one).
MACs count a multiply-add once (FLOPs = 2 x MACs), per image, with PyTorch's
``torch.utils.flop_counter.FlopCounterMode`` on the meta device; activations follow RegNet's
definition (outputs of all conv layers). Latency is timed in interleaved rounds across the
variants; the training step's peak memory is measured as docs/analysis.md, 'How it measures' says.
The logic lives in :mod:`mmbackbones.analysis`.
"""
import argparse
import fnmatch
import os.path as osp
import sys
from typing import List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402

from mmbackbones import analysis  # noqa: E402
from mmbackbones.zoo import list_variants  # noqa: E402


def _size(text: str):
    try:
        h, w = (int(v) for v in text.lower().split('x'))
        if h > 0 and w > 0:
            return h, w
    except ValueError:
        pass
    raise argparse.ArgumentTypeError(f'--input {text!r}: expected HxW with positive integers, '
                                     'e.g. 224x224')


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f'{text!r}: expected a positive integer')
    return int(text)


def _non_negative(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f'{text!r}: expected a non-negative integer')
    return int(text)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('patterns', nargs='*', metavar='PATTERN', default=['*'],
                        help='shell-style patterns over variant names (default: all)')
    parser.add_argument('--input', type=_size, default=(224, 224), metavar='HxW',
                        help='input size (default 224x224)')
    parser.add_argument('--batch', type=_positive, default=1, help='batch size for latency and '
                        'the training step (counts are per image; default 1)')
    parser.add_argument('--device', choices=('cpu', 'cuda'), default='cpu')
    parser.add_argument('--format', choices=('table', 'csv', 'markdown'), default='table')
    parser.add_argument('--plot', metavar='DIR', help='write PNG plots into DIR')
    parser.add_argument('--warmup', type=_non_negative, default=2, help='warm-up runs per variant')
    parser.add_argument('--repeats', type=_positive, default=5, help='timed rounds')
    parser.add_argument('--no-latency', action='store_true', help='skip timing (and GFLOP/s)')
    parser.add_argument('--no-train', action='store_true', help='skip the training step')
    parser.add_argument('--no-progress', action='store_true', help='no progress bar (it is drawn on stderr when that is a terminal)')
    args = parser.parse_args(argv)
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: no CUDA device is available here; use --device cpu')
    return args


def select(patterns: Sequence[str]) -> List[str]:
    """Variants matching any pattern, in zoo order; a pattern matching nothing is an error."""
    names = list_variants()
    selected = []
    for pattern in patterns:
        matched = [n for n in names if fnmatch.fnmatch(n, pattern)]
        if not matched:
            print(f'analyze.py: PATTERN {pattern!r} matches no zoo variant; '
                  'mmbackbones.list_variants() lists them all', file=sys.stderr)
            raise SystemExit(2)
        selected += [n for n in matched if n not in selected]
    return selected


def main(argv: Optional[Sequence[str]] = None):
    args = parse_args(argv)
    names = select(args.patterns)
    rows, peak = analysis.analyze(names, args.input, args.batch, args.device, args.warmup,
                                  args.repeats, latency=not args.no_latency,
                                  train=not args.no_train,
                                  progress=not args.no_progress and sys.stderr.isatty())
    print(analysis.format_rows(rows, args.format))
    h, w = args.input
    notes = [analysis.MAC_NOTE, f'Input {h}x{w}; latency per batch of {args.batch} on '
             f'{args.device} ({torch.get_num_threads()} threads), median (inter-quartile range) '
             f'of {args.repeats} interleaved rounds.']
    if peak is not None:
        notes.append(f'GEMM peak (float32 matmul) measured in this run: {peak:.1f} GFLOP/s.')
        r = analysis.correlations(rows)
        if r:
            notes.append(f"Pearson's r of latency: vs MACs {r['macs']:.3f}, "
                         f"vs activations {r['activations']:.3f}.")
    # Notes go to stderr for CSV so that stdout stays machine-readable.
    stream = sys.stderr if args.format == 'csv' else sys.stdout
    prefix = '' if args.format == 'table' else '\n'
    print(prefix + '\n'.join(notes), file=stream)
    if args.plot:
        for path in analysis.plot(rows, args.plot, f'({h}x{w}, {args.device})'):
            print(f'wrote {path}', file=sys.stderr)
    return rows


if __name__ == '__main__':
    main()
