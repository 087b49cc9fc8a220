"""Argument checks and OpenMMLab defaults that every family shares.

Each check raises a ``ValueError`` that names the argument and its valid values, so that a
mistake in a config reads the same whichever family it is made in.
"""
from typing import Tuple

__all__ = ['DEFAULT_NORM', 'DEFAULT_ACT', 'check_choice', 'check_factor', 'int_pair', 'int_tuple',
           'openmmlab_norm_eval', 'openmmlab_scope']

# OpenMMLab's convnet defaults (mmdet/mmseg ResNet, mmcv ConvModule).
DEFAULT_NORM = dict(type='BN', requires_grad=True)
DEFAULT_ACT = dict(type='ReLU', inplace=True)


def check_choice(name: str, value, valid) -> None:
    """ValueError naming the argument and its valid values."""
    if value not in valid:
        raise ValueError(f'{name}={value!r}; valid values are {sorted_values(valid)}')


def check_factor(name: str, value) -> float:
    """A scaling factor (``deepen_factor``, ``widen_factor``, ``hidden_ratio``): a number > 0."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0:
        raise ValueError(f'{name}={value!r}; valid values are numbers > 0 (e.g. 0.33, 1.0)')
    return float(value)


def sorted_values(valid) -> list:
    try:
        return sorted(valid)
    except TypeError:  # mixed types
        return sorted(valid, key=str)


def int_tuple(name: str, values, length: int, minimum: int = 1,
              per: str = 'stage (num_stages={length})') -> Tuple[int, ...]:
    """``values`` as a tuple of ``length`` ints ``>= minimum``, one per stage."""
    if (not isinstance(values, (list, tuple)) or len(values) != length
            or not all(isinstance(v, int) and v >= minimum for v in values)):
        raise ValueError(f'{name}={values!r}; valid values are {length} ints >= {minimum}, '
                         f'one per {per.format(length=length)}')
    return tuple(values)


def int_pair(name: str, value) -> Tuple[int, int]:
    """An image or grid size ``(H, W)``: a positive int for both sides, or a tuple of one or
    two of them (mmcv's ``to_2tuple``, refusing what it would pass on)."""
    if isinstance(value, int):
        value = (value, value)
    elif isinstance(value, (tuple, list)) and len(value) == 1:
        value = (value[0], value[0])
    if not (isinstance(value, (tuple, list)) and len(value) == 2 and all(
            isinstance(v, int) and not isinstance(v, bool) and v > 0 for v in value)):
        raise ValueError(f'{name}={value!r}; valid values are a positive int or a tuple '
                         'of 1 or 2 of them (H, W)')
    return tuple(value)


def openmmlab_scope():
    """The name of mmengine's current default scope (``'mmdet'``, ``'mmseg'``,
    ``'mmpretrain'``, ...), or None: where OpenMMLab libraries' defaults differ, ours follow the
    library the model is built in."""
    try:
        from mmengine.registry import DefaultScope
    except ImportError:
        return None
    scope = DefaultScope.get_current_instance()
    return None if scope is None else scope.scope_name


def openmmlab_norm_eval() -> bool:
    """mmdet's convnets default to ``norm_eval=True``, mmseg's and mmpretrain's to ``False``:
    follow the default scope the model is built in, so that a pasted config keeps its meaning
    in each. A dict pasted from ``type='mmpretrain.X'`` into an mmdet config adds
    ``_scope_='mmpretrain'``: mmengine then builds it under mmpretrain's scope."""
    return openmmlab_scope() == 'mmdet'
