from .checkpoint import checkpoint_module
from .drop_path import DropPath
from .mlp import Mlp
from .norm_act import build_act, build_norm
from .shortcut import add_residual, projection_shortcut
from .split_attention import SplitAttention

__all__ = ['DropPath', 'add_residual', 'Mlp', 'SplitAttention', 'build_act', 'build_norm', 'checkpoint_module',
           'projection_shortcut']
