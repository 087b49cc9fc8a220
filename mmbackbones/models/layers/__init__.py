from .drop_path import DropPath
from .mlp import Mlp

__all__ = ['DropPath', 'Mlp']
