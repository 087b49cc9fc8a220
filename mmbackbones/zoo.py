"""The variant zoo: one row per standard variant of every family (docs/architecture.md, 'The variant zoo').

Family modules register their rows with :func:`register_variants` when they are imported,
so ``import mmbackbones`` fills the zoo. Rows are plain data: the backbone config, the names
of the reference implementations whose weights convert exactly, the exact backbone parameter
count (classifier head excluded) and the paper the variant comes from.
"""
import contextlib
import copy
import difflib
import fnmatch
from dataclasses import dataclass, field
from typing import Dict, List, Optional

__all__ = ['Variant', 'register_variants', 'list_variants', 'get_variant', 'build_backbone',
           'variant_table']


@dataclass(frozen=True)
class Variant:
    """One standard variant.

    Attributes:
        name: timm's model name where timm has the model, else the same style.
        family: registered class name (``'SwinTransformer'``).
        cfg: constructor arguments of that class.
        refs: reference implementations whose weights convert exactly: a model name for timm
            and torchvision, the backbone config dict for mmdet / mmseg / mmpretrain / mmyolo, e.g.
            ``{'timm': 'resnet50', 'mmdet': dict(type='ResNet', depth=50)}``. The parity
            battery and ``tools/benchmark.py`` build them from this (:mod:`mmbackbones.references`).
        params: exact backbone parameter count at the default ``out_indices``, head excluded.
        paper: where the variant comes from.
        test_input: (H, W) at which the registry-wide battery runs this variant.
        parity_sizes: input sizes at which features are compared with the references.
        slow: heavy variants whose battery cases only run with ``-m slow``.
        weights: published checkpoints of this variant that no reference library builds, by
            layout (``{'official': url}``), so that configs may name them; the family's tests
            check that layout's converter.
    """
    name: str
    family: str
    cfg: Dict
    refs: Dict[str, str] = field(default_factory=dict)
    params: Optional[int] = None
    paper: str = ''
    test_input: tuple = (224, 224)
    parity_sizes: tuple = ((224, 224), (160, 247))
    slow: bool = False
    weights: Dict[str, str] = field(default_factory=dict)

    def build_cfg(self, **overrides) -> Dict:
        cfg = dict(type=f'mmbackbones.{self.family}', **copy.deepcopy(self.cfg))
        cfg.update(overrides)
        return cfg


_VARIANTS: Dict[str, Variant] = {}
NAMED_SOURCES = ('timm', 'torchvision')  # a row names the model
# a row gives the backbone config dict (mmyolo: the optional `yolo` extra, a test reference)
OPENMMLAB_SOURCES = ('mmdet', 'mmseg', 'mmpretrain', 'mmyolo')
REFERENCE_SOURCES = NAMED_SOURCES + OPENMMLAB_SOURCES


def register_variants(variants: List[Variant]) -> None:
    for variant in variants:
        if variant.name in _VARIANTS:
            raise KeyError(f'variant {variant.name!r} is registered twice')
        for source, spec in variant.refs.items():
            named = source in NAMED_SOURCES
            if source not in REFERENCE_SOURCES or (
                    not isinstance(spec, str) if named else
                    not (isinstance(spec, dict) and 'type' in spec)):
                raise ValueError(f'variant {variant.name!r}: refs[{source!r}]={spec!r}; valid '
                                 f'sources are {REFERENCE_SOURCES}, timm and torchvision naming '
                                 "a model, the others giving a config dict with 'type'")
        _VARIANTS[variant.name] = variant


def list_variants(pattern: str = '*', family: Optional[str] = None) -> List[str]:
    """Sorted variant names matching a shell-style ``pattern`` (and ``family``, if given)."""
    return sorted(name for name, v in _VARIANTS.items()
                  if fnmatch.fnmatch(name, pattern) and (family is None or v.family == family))


def get_variant(name: str) -> Variant:
    try:
        return _VARIANTS[name]
    except KeyError:
        close = difflib.get_close_matches(name, list(_VARIANTS), n=5, cutoff=0.5)
        hint = f'; closest: {", ".join(close)}' if close else ''
        raise KeyError(f'unknown variant {name!r}{hint}. '
                       'mmbackbones.list_variants() lists them all') from None


def build_backbone(name: str, **overrides):
    """Build the backbone of variant ``name``; keyword arguments override its config."""
    from .registry import MODELS
    return MODELS.build(get_variant(name).build_cfg(**overrides))


@contextlib.contextmanager
def shapes_only():
    """Build modules for their structure only: on the meta device, with parameter
    initialisation turned off (``torch.nn.init``'s in-place initialisers and the
    ``reset_parameters`` of torch's layers do nothing inside).

    Meta tensors hold no values, so initialising them can only cost time; it is most of the
    time a meta-device build takes (the initialisers run through torch's Python
    decompositions there). Everything is restored on exit."""
    import torch
    from torch import nn
    saved = []

    def replace(owner, name, value):
        saved.append((owner, name, owner.__dict__[name]))
        setattr(owner, name, value)

    try:
        for name, fn in list(vars(nn.init).items()):
            if name.endswith('_') and not name.startswith('_') and callable(fn):
                replace(nn.init, name, lambda tensor, *args, **kwargs: tensor)
        for cls in {c for c in vars(nn).values() if isinstance(c, type)
                    and issubclass(c, nn.Module)} | {nn.modules.conv._ConvNd,
                                                      nn.modules.batchnorm._NormBase}:
            if 'reset_parameters' in cls.__dict__:
                replace(cls, 'reset_parameters', lambda self: None)
        with torch.device('meta'):
            yield
    finally:
        for owner, name, value in reversed(saved):
            setattr(owner, name, value)


def variant_table() -> str:
    """The README's model-zoo table, in Markdown (generated, never typed by hand)."""
    lines = ['| variant | class | params (M) | level channels | level strides | reference weights | source |',
             '|---|---|---|---|---|---|---|']
    for name in list_variants():
        v = _VARIANTS[name]
        with shapes_only():  # the levels' channels and strides are all the table reads
            model = build_backbone(name)
        refs = ', '.join(f'{k}: `{r["type"] if isinstance(r, dict) else r}`'
                         for k, r in v.refs.items())
        params = f'{v.params / 1e6:.2f}' if v.params else '?'
        lines.append(f'| `{name}` | {v.family} | {params} | {model.level_channels} | '
                     f'{model.level_strides} | {refs} | {v.paper} |')
    return '\n'.join(lines)
