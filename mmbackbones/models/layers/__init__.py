from .args import DEFAULT_ACT, DEFAULT_NORM, check_choice, int_tuple, openmmlab_norm_eval
from .checkpoint import checkpoint_module
from .conv_plugin import PluginMixin, build_conv, check_dcn, stage_plugins
from .drop_path import DropPath, drop_path_rates
from .mlp import Mlp
from .norm_act import build_act, build_norm
from .repvgg import RepVGGBlock, switch_to_deploy
from .residual import add_residual, projection_shortcut, split_strides
from .split_attention import SplitAttention

__all__ = ['DEFAULT_ACT', 'DEFAULT_NORM', 'DropPath', 'Mlp', 'PluginMixin', 'SplitAttention',
           'add_residual', 'build_act', 'build_conv', 'build_norm', 'check_choice', 'check_dcn',
           'checkpoint_module', 'drop_path_rates', 'int_tuple', 'openmmlab_norm_eval',
           'projection_shortcut', 'split_strides', 'stage_plugins', 'RepVGGBlock',
           'switch_to_deploy']
