from .checkpoint import checkpoint_module
from .conv_plugin import PluginMixin, build_conv, check_dcn, stage_plugins
from .drop_path import DropPath
from .mlp import Mlp
from .norm_act import build_act, build_norm
from .shortcut import add_residual, projection_shortcut
from .split_attention import SplitAttention

__all__ = ['PluginMixin', 'build_conv', 'check_dcn', 'stage_plugins', 'DropPath', 'add_residual', 'Mlp', 'SplitAttention', 'build_act', 'build_norm', 'checkpoint_module',
           'projection_shortcut']
