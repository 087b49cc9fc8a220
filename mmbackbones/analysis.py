"""Measure zoo variants: parameters, MACs, activations, latency, training memory, achieved GFLOP/s.

Counting runs on the meta device (shapes only: no memory, no initialisation, a fraction of a
second per variant) with PyTorch's maintained analyser, ``torch.utils.flop_counter.FlopCounterMode``
(fvcore is not installed here and mmengine's analysis module is fvcore's older copy, tracing by JIT,
which the meta device does not support). It counts the matrix products of convolutions,
linear layers and attention (``bmm``/``sdpa``); element-wise work (norms, activations, the
window masks' additions) is not counted, as in every published table (torchvision, timm/fvcore,
the papers), so the numbers are comparable with them.

* **MACs**: one multiply-add counted once (FLOPs = 2 x MACs). FlopCounterMode reports FLOPs;
  they are halved here.
* **activations**: RegNet's definition (Radosavovic et al., "Designing Network Design Spaces",
  CVPR 2020, section 4): the size of the output tensors of all conv layers. Linear layers (a 1x1
  conv over tokens) are counted too, as fvcore's activation counter does, so transformers are
  comparable; for convolutional backbones this changes nothing. ``all_activations`` sums the
  outputs of every leaf module (norms, non-linearities, ...) as a second column.
* **deploy form**: a model with ``switch_to_deploy()`` (BatchNorm folded, re-parameterised
  blocks fused) is counted (MACs, activations) and timed after calling it; ``params`` are the
  training form's, the count papers and the zoo publish, and the training step uses the training
  form.

Nothing here is imported by ``import mmbackbones``: torch's profiling tools load on first use.
"""
import math
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn

from .zoo import build_backbone, get_variant

__all__ = ['Complexity', 'Row', 'count', 'count_module', 'analyze', 'gemm_peak_gflops',
           'train_step_peak_mb', 'step_peak_mb', 'interleaved_times',
           'format_rows', 'CSV_HEADER', 'MAC_NOTE']

CSV_HEADER = 'name,params,macs,activations,latency_ms,train_peak_mb,gflops_per_s,peak_fraction'
MAC_NOTE = ('MACs: multiply-adds, each counted once (FLOPs = 2 x MACs), per image, counted by '
            'torch.utils.flop_counter.FlopCounterMode; activations: outputs of all conv (and '
            'linear) layers per image, as RegNet defines them; all outputs: every leaf module.')


@dataclass
class Complexity:
    name: str
    family: str
    input_size: Tuple[int, int]
    params: int
    macs: int  # per image
    activations: int  # conv (and linear) outputs per image
    all_activations: int  # outputs of every leaf module per image


@dataclass
class Row(Complexity):
    batch: int = 1
    latency_ms: Optional[float] = None  # median per batch
    latency_iqr_ms: Optional[float] = None
    train_peak_mb: Optional[float] = None
    gflops_per_s: Optional[float] = None
    peak_fraction: Optional[float] = None
    times: List[float] = field(default_factory=list, repr=False)


def _deploy(model: nn.Module) -> nn.Module:
    if hasattr(model, 'switch_to_deploy'):
        model.switch_to_deploy()
    return model


def build_for_inference(name: str, device='cpu') -> nn.Module:
    """The variant in eval mode, in its deploy form where it has one."""
    with torch.device(device):
        model = build_backbone(name)
    return _deploy(model.eval())


def count_module(model: nn.Module, input_size: Tuple[int, int] = (224, 224),
                 deploy: bool = True) -> Tuple[int, int, int, int]:
    """``(params, macs, activations, all_activations)`` of any backbone module at ``input_size``
    (H, W), one image. Build it on the meta device (``with torch.device('meta')``) and this
    allocates nothing. ``deploy``: MACs and activations of the deploy form where the module has
    one (params are always the training form's)."""
    from torch.utils.flop_counter import FlopCounterMode
    model = model.eval()
    params = sum(p.numel() for p in model.parameters())  # before folding: the published count
    if deploy:
        model = _deploy(model)
    device = next(iter(model.parameters()), torch.empty(0)).device
    conv_like = (nn.modules.conv._ConvNd, nn.Linear)
    totals = {'conv': 0, 'all': 0}

    def hook(module, inputs, output):
        size = sum(o.numel() for o in (output if isinstance(output, (tuple, list)) else [output])
                   if isinstance(o, torch.Tensor))
        totals['all'] += size
        if isinstance(module, conv_like):
            totals['conv'] += size

    handles = [m.register_forward_hook(hook) for m in model.modules()
               if not any(True for _ in m.children())]
    counter = FlopCounterMode(display=False)
    try:
        with counter, torch.no_grad():
            model(torch.empty(1, 3, *input_size, device=device))
    finally:
        for h in handles:
            h.remove()
    return params, counter.get_total_flops() // 2, totals['conv'], totals['all']


def count(name: str, input_size: Tuple[int, int] = (224, 224)) -> Complexity:
    """Params, MACs and activations of variant ``name`` at ``input_size`` (H, W), one image,
    counted on the meta device."""
    with torch.device('meta'):
        model = build_backbone(name)
    params, macs, activations, all_activations = count_module(model, input_size)
    return Complexity(name=name, family=get_variant(name).family, input_size=tuple(input_size),
                      params=params, macs=macs, activations=activations,
                      all_activations=all_activations)


# ------------------------------------------------------------------------------ measuring
def _sync(device: torch.device):
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def gemm_peak_gflops(device='cpu', size: Optional[int] = None, repeats: int = 5) -> float:
    """This machine's float32 matrix-multiply throughput: the best of ``repeats`` square GEMMs,
    with torch's default settings (on a GPU those allow TF32 in convolutions but not in matmul,
    so a conv model can exceed this 'peak')."""
    device = torch.device(device)
    size = size or (4096 if device.type == 'cuda' else 1024)
    a = torch.randn(size, size, device=device)
    b = torch.randn(size, size, device=device)
    best = math.inf
    torch.mm(a, b)  # warm-up
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        best = min(best, time.perf_counter() - start)
    return 2 * size ** 3 / best / 1e9


def train_step_peak_mb(name: str, x: torch.Tensor) -> float:
    """Peak memory of one training step (forward of the multi-level features + backward of
    their sum; no optimiser state), training form, parameters and gradients included.

    CUDA: the caching allocator's ``max_memory_allocated``. CPU: the CPU allocator has no peak
    counter, so ``torch.distributed._tools.mem_tracker.MemTracker`` follows every tensor storage
    PyTorch creates (parameters, gradients, activations, temporaries) and reports the peak of
    their sum. It does not see memory a kernel library allocates on its own (oneDNN scratch
    pads) nor allocator fragmentation, so the process's RSS grows by more.
    """
    with torch.device(x.device):
        model = build_backbone(name).train()

    def step():
        outs = model(x)
        sum(o.float().mean() for o in outs).backward()

    return step_peak_mb(step, model, x.device)


def step_peak_mb(step, model: nn.Module, device) -> float:
    """Peak memory (MiB) while ``step()`` runs, ``model``'s parameters included; measured as
    :func:`train_step_peak_mb` says."""
    device = torch.device(device)
    if device.type == 'cuda':
        # other tensors on the device (other models being compared) are not this step's
        own = sum(t.numel() * t.element_size() for t in
                  list(model.parameters()) + list(model.buffers()) if t.device == device)
        torch.cuda.empty_cache()
        _sync(device)
        base = torch.cuda.memory_allocated(device) - own
        torch.cuda.reset_peak_memory_stats(device)
        step()
        _sync(device)
        peak = torch.cuda.max_memory_allocated(device) - base
    else:
        from torch.distributed._tools.mem_tracker import MemTracker
        tracker = MemTracker()
        tracker.track_external(model)
        with tracker:
            step()
        peak = tracker.get_tracker_snapshot('peak')[device]['Total']
    return peak / 2 ** 20


def interleaved_times(models: Sequence[nn.Module], x: torch.Tensor, warmup: int = 2,
                      repeats: int = 5, on_step=None) -> List[List[float]]:
    """Seconds per forward of each model on ``x``: ``warmup`` untimed runs each, then
    ``repeats`` rounds over all of them, the order rotating each round, so that load from other
    processes falls on all alike. ``on_step(index, 'warm-up' | 'round N')`` after each run."""
    device = x.device
    times = [[] for _ in models]
    with torch.inference_mode():
        for i, model in enumerate(models):
            for _ in range(warmup):
                model(x)
                if on_step:
                    on_step(i, 'warm-up')
        for r in range(repeats):
            k = r % len(models)
            for i in list(range(k, len(models))) + list(range(k)):
                _sync(device)
                start = time.perf_counter()
                models[i](x)
                _sync(device)
                times[i].append(time.perf_counter() - start)
                if on_step:
                    on_step(i, f'round {r + 1}')
    return times


def _quartiles(values: Sequence[float]) -> Tuple[float, float, float]:
    if len(values) == 1:
        return values[0], values[0], values[0]
    q1, q2, q3 = statistics.quantiles(values, n=4, method='inclusive')
    return q1, q2, q3


class _Progress:
    """A one-line progress bar on stderr (silent when disabled)."""

    def __init__(self, total: int, enabled: bool):
        self.total, self.done, self.enabled = max(total, 1), 0, enabled
        self.start = time.perf_counter()

    def step(self, what: str = ''):
        self.done += 1
        if not self.enabled:
            return
        width = 30
        filled = int(width * self.done / self.total)
        elapsed = time.perf_counter() - self.start
        eta = elapsed / self.done * (self.total - self.done)
        sys.stderr.write(f'\r[{"#" * filled}{"." * (width - filled)}] {self.done}/{self.total} '
                         f'{elapsed:.0f}s, ~{eta:.0f}s left {what[:40]:<40}')
        if self.done >= self.total:
            sys.stderr.write('\n')
        sys.stderr.flush()


def analyze(names: Sequence[str], input_size: Tuple[int, int] = (224, 224), batch: int = 1,
            device='cpu', warmup: int = 2, repeats: int = 5, latency: bool = True,
            train: bool = True, progress: bool = True) -> Tuple[List[Row], Optional[float]]:
    """Rows for ``names`` and the machine's GEMM GFLOP/s (None when nothing is timed).

    Latency: after ``warmup`` runs of each, the variants run in ``repeats`` interleaved rounds,
    the order rotating each round, so load from other processes falls on all of them alike;
    median and inter-quartile range per batch, eval mode, ``torch.inference_mode()``.
    """
    device = torch.device(device)
    steps = len(names) * (1 + (warmup + repeats if latency else 0) + (1 if train else 0))
    bar = _Progress(steps + (1 if latency else 0), progress)
    rows = []
    for name in names:
        rows.append(Row(**vars(count(name, input_size)), batch=batch))
        bar.step(f'count {name}')
    peak = None
    if latency:
        peak = gemm_peak_gflops(device)
        bar.step('GEMM peak')
        x = torch.randn(batch, 3, *input_size, device=device)
        models = [build_for_inference(r.name, device) for r in rows]
        times = interleaved_times(models, x, warmup, repeats,
                                  lambda i, what: bar.step(f'{what} {rows[i].name}'))
        del models
        for row, row_times in zip(rows, times):
            row.times = row_times
            q1, q2, q3 = _quartiles(row.times)
            row.latency_ms, row.latency_iqr_ms = q2 * 1e3, (q3 - q1) * 1e3
            row.gflops_per_s = 2 * row.macs * batch / q2 / 1e9
            row.peak_fraction = row.gflops_per_s / peak
    if train:
        x = torch.randn(batch, 3, *input_size, device=device)
        for row in rows:
            row.train_peak_mb = train_step_peak_mb(row.name, x)
            bar.step(f'train step {row.name}')
    return rows, peak


# ------------------------------------------------------------------------------ output
def _fmt(value, spec):
    return '' if value is None else format(value, spec)


def csv_lines(rows: Sequence[Row]) -> List[str]:
    """Machine-readable: exact counts (integers), milliseconds, MiB."""
    lines = [CSV_HEADER]
    for r in rows:
        lines.append(','.join([r.name, str(r.params), str(r.macs), str(r.activations),
                               _fmt(r.latency_ms, '.3f'), _fmt(r.train_peak_mb, '.1f'),
                               _fmt(r.gflops_per_s, '.2f'), _fmt(r.peak_fraction, '.4f')]))
    return lines


TABLE_COLUMNS = ('variant', 'params (M)', 'MACs (G)', 'activations (M)', 'all outputs (M)',
                 'latency ms (IQR)', 'train peak MiB', 'GFLOP/s', 'of GEMM peak')


def _cells(r: Row) -> List[str]:
    latency = '' if r.latency_ms is None else f'{r.latency_ms:.1f} ({r.latency_iqr_ms:.1f})'
    return [r.name, f'{r.params / 1e6:.2f}', f'{r.macs / 1e9:.3f}', f'{r.activations / 1e6:.2f}',
            f'{r.all_activations / 1e6:.2f}', latency, _fmt(r.train_peak_mb, '.0f'),
            _fmt(r.gflops_per_s, '.1f'),
            '' if r.peak_fraction is None else f'{100 * r.peak_fraction:.0f}%']


def format_rows(rows: Sequence[Row], fmt: str = 'table') -> str:
    if fmt == 'csv':
        return '\n'.join(csv_lines(rows))
    body = [_cells(r) for r in rows]
    if fmt == 'markdown':
        lines = ['| ' + ' | '.join(TABLE_COLUMNS) + ' |', '|' + '---|' * len(TABLE_COLUMNS)]
        lines += ['| ' + ' | '.join(c) + ' |' for c in body]
        return '\n'.join(lines)
    if fmt != 'table':
        raise ValueError(f"fmt={fmt!r}; valid formats are 'table', 'csv', 'markdown'")
    widths = [max(len(c[i]) for c in [list(TABLE_COLUMNS)] + body) for i in range(len(TABLE_COLUMNS))]
    return '\n'.join('  '.join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in
                               enumerate(zip(cells, widths)))
                     for cells in [list(TABLE_COLUMNS)] + body)


# ------------------------------------------------------------------------------ plots
def _fit(xs, ys):
    """Least-squares line (slope, intercept) and Pearson's r."""
    mx, my = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    sxy = sum((x - mx) * (y - my) for x, y in zip(xs, ys))
    syy = sum((y - my) ** 2 for y in ys)
    slope = sxy / sxx if sxx else 0.0
    r = sxy / math.sqrt(sxx * syy) if sxx and syy else float('nan')
    return slope, my - slope * mx, r


def correlations(rows: Sequence[Row]) -> Dict[str, float]:
    """Pearson's r of latency against MACs and against activations (timed rows only)."""
    timed = [r for r in rows if r.latency_ms is not None]
    if len(timed) < 3:
        return {}
    lat = [r.latency_ms for r in timed]
    return {'macs': _fit([r.macs / 1e9 for r in timed], lat)[2],
            'activations': _fit([r.activations / 1e6 for r in timed], lat)[2]}


def plot(rows: Sequence[Row], out_dir: str, title: str = '') -> List[str]:
    """PNG plots: latency vs MACs and vs activations (fitted lines, Pearson's r), and MACs and
    params by family. Returns the paths written."""
    import os
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    os.makedirs(out_dir, exist_ok=True)
    families = sorted({r.family for r in rows})
    colours = {f: plt.cm.tab10(i % 10) for i, f in enumerate(families)}
    paths = []
    timed = [r for r in rows if r.latency_ms is not None]
    for key, label, scale in (('macs', 'GMACs per image', 1e9),
                              ('activations', 'activations per image (M)', 1e6)):
        if len(timed) < 3:
            break
        fig, ax = plt.subplots(figsize=(6, 4.5), dpi=80)
        xs = [getattr(r, key) / scale for r in timed]
        ys = [r.latency_ms for r in timed]
        for fam in families:
            pts = [(x, y) for x, y, r in zip(xs, ys, timed) if r.family == fam]
            if pts:
                ax.scatter(*zip(*pts), s=18, color=colours[fam], label=fam)
        slope, icpt, r = _fit(xs, ys)
        lo, hi = min(xs), max(xs)
        ax.plot([lo, hi], [icpt + slope * lo, icpt + slope * hi], 'k--', lw=1,
                label=f'fit: r = {r:.3f}')
        ax.set_xlabel(label)
        ax.set_ylabel(f'latency, batch {timed[0].batch} (ms, median)')
        ax.set_title(f'latency vs {key} {title}'.strip(), fontsize=10)
        ax.legend(fontsize=7)
        fig.tight_layout()
        path = os.path.join(out_dir, f'latency_vs_{key}.png')
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    for key, label, scale in (('macs', 'GMACs per image', 1e9), ('params', 'params (M)', 1e6)):
        fig, ax = plt.subplots(figsize=(7, 0.25 * len(rows) + 1.2), dpi=80)
        ordered = sorted(rows, key=lambda r: (r.family, getattr(r, key)))
        ax.barh(range(len(ordered)), [getattr(r, key) / scale for r in ordered],
                color=[colours[r.family] for r in ordered])
        ax.set_yticks(range(len(ordered)), [r.name for r in ordered], fontsize=6)
        ax.invert_yaxis()
        ax.set_xlabel(label)
        ax.set_title(f'{label} by family {title}'.strip(), fontsize=10)
        fig.tight_layout()
        path = os.path.join(out_dir, f'{key}_by_family.png')
        fig.savefig(path)
        plt.close(fig)
        paths.append(path)
    return paths
