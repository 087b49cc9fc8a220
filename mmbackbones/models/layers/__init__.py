from .args import (DEFAULT_ACT, DEFAULT_NORM, check_choice, check_factor, int_pair, int_tuple,
                   openmmlab_norm_eval, openmmlab_scope)
from .checkpoint import checkpoint_module
from .conv_plugin import PluginMixin, build_conv, check_dcn, stage_plugins
from .drop_path import DropPath, drop_path_rates
from .init import init_transformer_weights
from .divisible import make_divisible_mobilenet, make_divisible_yolov5
from .inverted_residual import ConvNormAct, FusedMBConv, InvertedResidual
from .mlp import Mlp
from .norm_act import (LayerNorm2d, build_act, build_norm, freeze_layer_norms,
                       layer_norm_factory)
from .repvgg import RepVGGBlock, switch_to_deploy
from .residual import BottleneckExpansion, add_residual, projection_shortcut, split_strides
from .same_padding import PADDING_MODES, Conv2dSame, create_conv2d, pad_same, same_pad_amounts
from .split_attention import SplitAttention
from .squeeze_excite import SqueezeExcite, build_gate
from .windows import merge_windows, partition_windows

__all__ = ['DEFAULT_ACT', 'DEFAULT_NORM', 'DropPath', 'Mlp', 'PluginMixin', 'SplitAttention',
           'add_residual', 'build_act', 'build_conv', 'build_norm', 'check_choice', 'check_dcn',
           'checkpoint_module', 'drop_path_rates', 'int_tuple', 'openmmlab_norm_eval',
           'openmmlab_scope', 'projection_shortcut', 'split_strides', 'stage_plugins', 'RepVGGBlock',
           'switch_to_deploy']
# Inverted residual blocks (MobileNet, EfficientNet), squeeze-excite, TensorFlow 'SAME' padding.
__all__ += ['PADDING_MODES', 'Conv2dSame', 'ConvNormAct', 'FusedMBConv', 'InvertedResidual',
            'SqueezeExcite', 'build_gate', 'create_conv2d', 'make_divisible_mobilenet', 'pad_same',
            'same_pad_amounts']
# Channel-first LayerNorm (registered as mmbackbones.LN2d) and window partitioning (Swin, ViTDet).
__all__ += ['LayerNorm2d', 'merge_windows', 'partition_windows']
# The transformer families' default initialisation.
__all__ += ['init_transformer_weights']
__all__ += ['make_divisible_yolov5']
__all__ += ['BottleneckExpansion']
__all__ += ['check_factor', 'freeze_layer_norms', 'int_pair', 'layer_norm_factory']
