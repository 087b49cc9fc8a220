"""Latency of zoo backbones against their reference implementations, same input, same process.

    python tools/benchmark.py swin_tiny_patch4_window7_224 --batch-sizes 1 8 --repeats 15
    python tools/benchmark.py resnet50 resnest50d --refs timm --output docs/bench.md
    python tools/benchmark.py swin_tiny_patch4_window7_224 --channels-last --threads 4
    python tools/benchmark.py resnet50 --deploy --refs timm,torchvision

With ``--deploy`` the first implementation, the one every ratio is taken against, is the deploy
form (``switch_to_deploy()``: BatchNorm folded), timed beside the training form ('ours-train')
and the deploy form in channels-last ('ours-deploy-cl', ``to_channels_last()``). A reference
with a re-parameterisation of its own (mmyolo's ``RepVGGBlock.switch_to_deploy``, timm's
``reparameterize_model``) is timed in both forms too: '<ref>-deploy' is a copy of it after that
switch, whose outputs are checked against the training form's (a note where they differ).

    python tools/benchmark.py efficientrep_s --deploy --refs mmyolo --size 640 640 --batch-sizes 1

Every implementation runs in eval mode under ``torch.inference_mode()`` and produces the
multi-level features a detector consumes (not the classifier path): ours is
``mmbackbones.build_backbone(variant)`` returning every level; each reference is the
one the variant's zoo row names, built and read by :mod:`mmbackbones.references` exactly as
the weight-parity tests do (``Reference.levels``: the same levels as ours, in our layout).

After warm-up runs, the implementations are timed in interleaved rounds (ours, ref1, ref2, then
ref1, ref2, ours, ...) so that noise from other processes falls on all of them alike. Reported:
the median and inter-quartile range of each, the ratio of medians ours/ref, and the spread
(q25-q75) of the per-round ratios, which shows how much of a difference is noise.

``--train`` times a training step instead: train mode, forward of the multi-level features and
backward of their sum (no optimiser), and reports each implementation's peak memory of one step
(``mmbackbones.analysis.step_peak_mb``: the CUDA allocator's peak, or on a CPU the peak of live
tensor storages). ``--with-cp`` turns on activation checkpointing on every side that has it:
ours and OpenMMLab's ``with_cp``, timm's ``set_grad_checkpointing()``; torchvision has none, so it
is left out of those rows.

    python tools/benchmark.py resnet50 --train --size 800 1216 --batch-sizes 2 --refs timm,mmdet
    python tools/benchmark.py resnet50 --train --with-cp --size 512 512 --batch-sizes 2

``--memory`` (inference only) adds each implementation's peak memory of one forward under
``torch.inference_mode()``, parameters included ('forward peak MiB'), measured by the same
``step_peak_mb`` with a forward-only step, after the timed rounds. On a CPU it counts the tensor
storages PyTorch creates at the operator level, not what a fused kernel allocates inside itself
(the flash attention kernel's tiles, but also the full score matrix inside torchvision's fused
``nn.MultiheadAttention`` path: an undercount there, docs/benchmarks.md shows by how much).

    python tools/benchmark.py vit_base_patch16_224 --memory --size 800 1216 --batch-sizes 1
"""
import argparse
import copy
import datetime
import gc
import os
import os.path as osp
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))

import torch  # noqa: E402
import torch.nn as nn  # noqa: E402

import mmbackbones  # noqa: E402
from mmbackbones.analysis import step_peak_mb  # noqa: E402
from mmbackbones.references import ReferenceUnavailable, build_reference  # noqa: E402
from mmbackbones.zoo import Variant, get_variant  # noqa: E402

REFERENCES = ('timm', 'torchvision', 'mmdet', 'mmseg', 'mmpretrain', 'mmyolo')


@dataclass
class Impl:
    name: str  # 'ours', 'timm', ...
    model_name: str  # what was built, for the table
    module: nn.Module
    forward: Callable[[torch.Tensor], Sequence[torch.Tensor]]
    times: List[float] = field(default_factory=list)  # seconds, one per round
    own_format: bool = False  # keeps its own memory format (converts its input itself)


def build_every_level(variant: Variant, **overrides) -> nn.Module:
    """``variant`` returning every level, as each reference does (``Reference.levels``), so
    that both sides return, and in training back-propagate from, the same features (a YOLO
    variant's default ``out_indices`` are its last three levels only)."""
    with torch.device('meta'):  # shapes only
        num_levels = mmbackbones.build_backbone(variant.name, **overrides).num_levels
    return mmbackbones.build_backbone(variant.name, out_indices=tuple(range(num_levels)),
                                      **overrides)


def build_ours(variant: Variant, with_cp: bool = False) -> Impl:
    model = build_every_level(variant, **({'with_cp': True} if with_cp else {}))
    return Impl('ours', variant.name, model, model)


def build_ours_deploy(variant: Variant) -> List[Impl]:
    """The deploy form first (ratios are taken against it), the training form, and the deploy
    form in channels-last."""
    deployed = build_every_level(variant).switch_to_deploy()
    training = build_every_level(variant).eval()
    channels_last = build_every_level(variant).switch_to_deploy().to_channels_last()
    return [Impl('ours', f'{variant.name}, deploy form', deployed, deployed),
            Impl('ours-train', 'training form', training, training),
            Impl('ours-deploy-cl', 'deploy form, channels_last', channels_last, channels_last,
                 own_format=True)]


def enable_checkpointing(impl: Impl) -> None:
    """Activation checkpointing on a reference, or ReferenceUnavailable where it has none."""
    if impl.name == 'timm' and hasattr(impl.module, 'set_grad_checkpointing'):
        try:
            impl.module.set_grad_checkpointing(True)
        except AssertionError as e:  # timm's way of saying it has none (HRNet)
            raise ReferenceUnavailable(f'timm ({impl.model_name}): {e}') from None
        return
    blocks = [m for m in impl.module.modules() if hasattr(m, 'with_cp')]
    if impl.name in ('mmdet', 'mmseg', 'mmpretrain', 'mmyolo') and blocks:
        for m in blocks:  # OpenMMLab's blocks read it at every forward
            m.with_cp = True
        return
    raise ReferenceUnavailable(f'{impl.name} ({impl.model_name}) has no activation checkpointing')


def build_ref(variant: Variant, source: str, size: Tuple[int, int]) -> Impl:
    """Raises ReferenceUnavailable where the row lists no such reference or it cannot be built."""
    ref = build_reference(variant, source, size)
    return Impl(source, ref.name, ref.model, ref.levels)


def reference_deploy(impl: Impl) -> Optional[Impl]:
    """A copy of a reference (same weights) after its library's own re-parameterisation, or
    None where it has none.

    OpenMMLab's convention is a ``switch_to_deploy()`` on each re-parameterisable block (what
    ``mmyolo.utils.switch_to_deploy`` calls on every ``RepVGGBlock``): called here on the
    outermost such modules. timm's is ``reparameterize_model``, for models whose modules have
    ``reparameterize()`` or ``fuse()``. torchvision has none.
    """
    model = impl.module
    if impl.name == 'timm':
        if not any(hasattr(m, 'reparameterize') or hasattr(m, 'fuse') for m in model.modules()):
            return None
        from timm.utils.model import reparameterize_model
        deployed = reparameterize_model(model)  # a copy
    else:
        switches = [m for m in model.modules() if callable(getattr(m, 'switch_to_deploy', None))]
        if impl.name == 'torchvision' or not switches:
            return None
        deployed = copy.deepcopy(model)
        own = [m for m in deployed.modules() if callable(getattr(m, 'switch_to_deploy', None))]
        inside = {id(d) for m in own for d in m.modules() if d is not m}
        for module in own:
            if id(module) not in inside:
                module.switch_to_deploy()
    deployed.eval()
    forward = impl.forward
    if getattr(forward, '__self__', None) is not None:  # Reference.levels, bound to the original
        ref = forward.__self__
        forward = type(ref)(ref.source, ref.name, deployed, ref.levels_fn).levels
    else:
        forward = deployed
    return Impl(f'{impl.name}-deploy', f'{impl.model_name}, its own switch_to_deploy',
                deployed, forward)


# ------------------------------------------------------------------------------ timing
def _sync(device: torch.device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def _shapes(outs) -> List[Tuple[int, ...]]:
    return [tuple(o.shape) for o in outs]


def train_step(impl: Impl, x: torch.Tensor) -> None:
    impl.module.zero_grad(set_to_none=True)
    sum(o.float().mean() for o in impl.forward(x)).backward()


def forward_step(impl: Impl, x: torch.Tensor) -> None:
    with torch.inference_mode():
        impl.forward(x)


def time_interleaved(impls: List[Impl], x: torch.Tensor, warmup: int, repeats: int,
                     train: bool = False) -> None:
    if train:
        run = train_step
        context = torch.enable_grad
    else:
        run = lambda impl, x: impl.forward(x)  # noqa: E731
        context = torch.inference_mode
    with context():
        for impl in impls:
            for _ in range(warmup):
                run(impl, x)
        _sync(x.device)
        for r in range(repeats):
            # Rotate the order every round so that no implementation always runs first
            # (right after another one has evicted its weights from the caches).
            k = r % len(impls)
            for impl in impls[k:] + impls[:k]:
                start = time.perf_counter()
                run(impl, x)
                _sync(x.device)
                impl.times.append(time.perf_counter() - start)


def _quartiles(values: Sequence[float]) -> Tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method='inclusive')
    return q1, q2, q3


def _rows(variant: Variant, batch: int, impls: List[Impl]) -> List[Dict]:
    ours = impls[0]
    ours_median = statistics.median(ours.times)
    rows = []
    for impl in impls:
        q1, median, q3 = _quartiles(impl.times)
        # Per-round ratios pair runs that were made moments apart, under the same load.
        paired = [a / b for a, b in zip(ours.times, impl.times)]
        p1, _, p3 = _quartiles(paired)
        rows.append(dict(variant=variant.name, batch=batch, impl=impl.name,
                         model=impl.model_name, median_ms=median * 1e3, iqr_ms=(q3 - q1) * 1e3,
                         ratio=ours_median / median, ratio_q1=p1, ratio_q3=p3,
                         runs=len(impl.times)))
    return rows


def benchmark_variant(variant: Variant, refs: Sequence[str], batch_sizes: Sequence[int],
                      size: Tuple[int, int], warmup: int, repeats: int, channels_last: bool,
                      device: torch.device, notes: List[str], deploy: bool = False,
                      train: bool = False, with_cp: bool = False,
                      memory: bool = False) -> List[Dict]:
    impls = build_ours_deploy(variant) if deploy else [build_ours(variant, with_cp)]
    for name in refs:
        try:
            impl = build_ref(variant, name, size)
            if with_cp:
                enable_checkpointing(impl)
            impls.append(impl)
            deployed = reference_deploy(impl) if deploy else None
            if deployed is not None:
                impls.append(deployed)
        except ReferenceUnavailable as e:
            notes.append(f'{variant.name}: {name} skipped: {e}')
            print(f'[{variant.name}] {name} skipped: {e}', file=sys.stderr)
    memory_format = torch.channels_last if channels_last else torch.contiguous_format
    for impl in impls:
        # not chained: some train() overrides (mmdet's Swin) return None
        impl.module.train() if train else impl.module.eval()
        if impl.own_format:
            impl.module.to(device=device)
        else:
            impl.module.to(device=device, memory_format=memory_format)

    rows = []
    for batch in batch_sizes:
        torch.manual_seed(0)
        x = torch.rand(batch, 3, *size, device=device).contiguous(memory_format=memory_format)
        with torch.inference_mode():
            outputs = {impl.name: list(impl.forward(x)) for impl in impls}
        expected = _shapes(outputs['ours'])
        for impl in impls[1:]:
            got = _shapes(outputs[impl.name])
            if got != expected:  # not the same work: time it, but flag it in the table
                notes.append(f'{variant.name} batch {batch}: {impl.name} features {got} '
                             f'differ from ours {expected}')
            trained = outputs.get(impl.name[:-len('-deploy')], ())
            if impl.name.endswith('-deploy') and _shapes(trained) == got:
                # a reference's deploy copy has its training form's weights: same outputs
                error = max((a - b).abs().max().item() for a, b in zip(trained, outputs[impl.name]))
                if error > 1e-4:
                    notes.append(f'{variant.name} batch {batch}: {impl.name} differs from its '
                                 f'training form by up to {error:.2g}')
        del outputs
        for impl in impls:
            impl.times = []
        time_interleaved(impls, x, warmup, repeats, train)
        batch_rows = _rows(variant, batch, impls)
        if train:
            for impl, row in zip(impls, batch_rows):
                row['peak_mb'] = step_peak_mb(lambda: train_step(impl, x), impl.module, device)
        elif memory:
            for impl, row in zip(impls, batch_rows):
                row['forward_peak_mb'] = step_peak_mb(lambda: forward_step(impl, x),
                                                      impl.module, device)
        print(format_table(batch_rows, header=not rows), flush=True)
        rows += batch_rows
    del impls
    gc.collect()
    return rows


# ------------------------------------------------------------------------------ output
COLUMNS = ('variant', 'batch', 'implementation', 'median ms', 'IQR ms', 'ours/ref',
           'per-round ours/ref (q25-q75)')


# row key -> column, for the optional memory columns
PEAK_COLUMNS = {'peak_mb': 'train-step peak MiB', 'forward_peak_mb': 'forward peak MiB'}


def _peaks(row: Dict) -> List[str]:
    return [key for key in PEAK_COLUMNS if key in row]


def _columns(rows: List[Dict]) -> Tuple[str, ...]:
    return COLUMNS + tuple(PEAK_COLUMNS[key] for key in (_peaks(rows[0]) if rows else ()))


def _cells(row: Dict) -> List[str]:
    plain = row['impl'] == 'ours' and row['model'] == row['variant']
    impl = row['impl'] if plain else f"{row['impl']} ({row['model']})"
    paired = '' if row['impl'] == 'ours' else f"{row['ratio_q1']:.2f}-{row['ratio_q3']:.2f}"
    cells = [row['variant'], str(row['batch']), impl, f"{row['median_ms']:.1f}",
             f"{row['iqr_ms']:.1f}", f"{row['ratio']:.2f}", paired]
    return cells + [f'{row[key]:.0f}' for key in _peaks(row)]


def format_table(rows: List[Dict], header: bool = True) -> str:
    cells = [_cells(r) for r in rows]
    columns = _columns(rows)
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ['  '.join(c.ljust(w) for c, w in zip(columns, widths))] if header else []
    lines += ['  '.join(c.ljust(w) for c, w in zip(r, widths)) for r in cells]
    return '\n'.join(lines)


def markdown_table(rows: List[Dict]) -> str:
    columns = _columns(rows)
    lines = ['| ' + ' | '.join(columns) + ' |',
             '|---|---:|---|---:|---:|---:|---:|' + '---:|' * (len(columns) - len(COLUMNS))]
    for row in rows:
        cells = _cells(row)
        cells[0] = f'`{cells[0]}`'
        lines.append('| ' + ' | '.join(cells) + ' |')
    return '\n'.join(lines)


def _cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _version(module: str) -> str:
    try:
        return __import__(module).__version__
    except Exception as e:
        return f'not importable ({type(e).__name__})'


def machine_description(device: torch.device) -> List[str]:
    cores = os.cpu_count()
    usable = len(os.sched_getaffinity(0)) if hasattr(os, 'sched_getaffinity') else cores
    lines = [f'CPU: {_cpu_model()}, {cores} logical cores ({usable} usable by this process)']
    if device.type == 'cuda':
        lines.append(f'GPU: {torch.cuda.get_device_name(device)}')
    lines.append(f'torch {torch.__version__} (intra-op threads: {torch.get_num_threads()}, '
                 f'inter-op: {torch.get_num_interop_threads()}), timm {_version("timm")}, '
                 f'torchvision {_version("torchvision")}, mmdet {_version("mmdet")}, '
                 f'Python {platform.python_version()}')
    return lines


def write_markdown(path: str, argv: Sequence[str], args, rows: List[Dict], notes: List[str],
                   device: torch.device, load: Tuple[Tuple[float, ...], Tuple[float, ...]],
                   date: str) -> None:
    fmt = 'channels_last' if args.channels_last else 'NCHW (contiguous)'
    if args.deploy:
        fmt += ' (ours-deploy-cl: channels_last)'
    mode = ('training step (train mode, forward + backward of the sum of the features'
            f'{", with_cp" if args.with_cp else ""})' if args.train else
            'eval mode, `torch.inference_mode()`' +
            ('; peak memory of one forward' if args.memory else ''))
    lines = [f'## Backbone {"training step" if args.train else "latency"}, {date}', '',
             f'`python tools/benchmark.py {" ".join(argv)}`', '']
    lines += [f'- {line}' for line in machine_description(device)]
    lines += [f'- load average (1 min) {load[0][0]:.2f} at start, {load[1][0]:.2f} at end',
              f'- input {args.size[0]}x{args.size[1]}, float32, {fmt}, device {device}; {mode}; '
              f'{args.warmup} warm-up runs each, then {args.repeats} '
              'interleaved rounds', '', markdown_table(rows), '']
    if notes:
        lines += ['Notes:', ''] + [f'- {n}' for n in notes] + ['']
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(lines) + '\n')


# ------------------------------------------------------------------------------ CLI
def _refs(text: str) -> List[str]:
    names = [n.strip() for n in text.split(',') if n.strip()]
    unknown = [n for n in names if n not in REFERENCES]
    if unknown:
        raise argparse.ArgumentTypeError(
            f'unknown reference {", ".join(map(repr, unknown))}; valid: {", ".join(REFERENCES)}')
    return names


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f'must be >= 1, got {value}')
    return value


def _non_negative(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f'must be >= 0, got {value}')
    return value


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Latency of zoo backbones vs their reference implementations.')
    parser.add_argument('variants', nargs='+', metavar='VARIANT',
                        help='zoo variant names (mmbackbones.list_variants())')
    parser.add_argument('--batch-sizes', nargs='+', type=_positive, default=[1, 8])
    parser.add_argument('--size', nargs=2, type=_positive, default=[224, 224], metavar=('H', 'W'))
    parser.add_argument('--repeats', type=_positive, default=15,
                        help='timed rounds; every implementation runs once per round')
    parser.add_argument('--warmup', type=_non_negative, default=3)
    parser.add_argument('--threads', type=_positive, default=None,
                        help="torch intra-op threads (default: torch's own choice)")
    parser.add_argument('--channels-last', action='store_true',
                        help='models and input in channels_last memory format, on all sides')
    parser.add_argument('--deploy', action='store_true',
                        help='time the deploy form (ratios against it), the training form and '
                        'the deploy form in channels_last')
    parser.add_argument('--refs', type=_refs, default=list(REFERENCES),
                        help=f'comma-separated references among {",".join(REFERENCES)} '
                        '(default: all that exist for the variant)')
    parser.add_argument('--device', default='cpu', help="'cpu' (default) or 'cuda[:N]'")
    parser.add_argument('--output', metavar='FILE.md', help='also write the table as Markdown')
    parser.add_argument('--train', action='store_true',
                        help='time a training step (forward + backward) and report its peak memory')
    parser.add_argument('--with-cp', action='store_true',
                        help='with --train: activation checkpointing on every side that has it')
    parser.add_argument('--memory', action='store_true',
                        help='also report the peak memory of one inference forward, parameters '
                        'included (--train reports its step peak anyway)')
    args = parser.parse_args(argv)
    if args.memory and args.train:
        parser.error('--memory is for inference; --train reports the peak of its step already')
    if args.with_cp and not args.train:
        parser.error('--with-cp needs --train (checkpointing only changes the training step)')
    if args.deploy and args.train:
        parser.error('--deploy and --train exclude each other: the deploy form is for inference '
                     'and refuses train()')
    for name in args.variants:
        try:
            get_variant(name)
        except KeyError as e:
            parser.error(e.args[0])
    try:
        args.device = torch.device(args.device)
    except RuntimeError as e:
        parser.error(f'--device: {e}')
    if args.device.type == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda: CUDA is not available')
    return args


def main(argv: Optional[Sequence[str]] = None) -> List[Dict]:
    """Run the benchmark; returns the table rows (one per variant, batch and implementation)."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parse_args(argv)
    threads = torch.get_num_threads()
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        return _run(args, argv)
    finally:
        torch.set_num_threads(threads)  # callers in the same process (tests) keep theirs


def _run(args, argv: List[str]) -> List[Dict]:
    date = datetime.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')
    for line in machine_description(args.device):
        print(line)
    load_start = os.getloadavg()
    rows, notes = [], []
    for name in args.variants:
        rows += benchmark_variant(get_variant(name), args.refs, args.batch_sizes,
                                  tuple(args.size), args.warmup, args.repeats,
                                  args.channels_last, args.device, notes, args.deploy,
                                  args.train, args.with_cp, args.memory)
    for note in notes:
        print(f'note: {note}')
    if args.output:
        write_markdown(args.output, argv, args, rows, notes, args.device,
                       (load_start, os.getloadavg()), date)
        print(f'wrote {args.output}')
    return rows


if __name__ == '__main__':
    main()
