"""mmbackbones: detection and segmentation backbones for OpenMMLab 2.x under one contract.

``import mmbackbones`` registers every backbone family in the ``mmbackbones`` scope and
fills the variant zoo. It stays cheap: no timm import, no file I/O.
"""
from .version import __version__
from .registry import MODELS
from . import models  # registers every family and its zoo rows
from .weights import install_mmengine_loader, install_url_loaders
from .zoo import build_backbone, get_variant, list_variants

# Every checkpoint mmengine loads in this process (resume, load_from, URLs) goes through
# the safe loader.
install_mmengine_loader()
install_url_loaders()

__all__ = ['__version__', 'MODELS', 'build_backbone', 'get_variant', 'list_variants', 'models',
           'check_channels', 'derive_toy_config']


def __getattr__(name):
    # imported on first use: they pull in mmengine's config machinery
    if name == 'check_channels':
        from .channels import check_channels
        return check_channels
    if name == 'derive_toy_config':
        from .toy import derive_toy_config
        return derive_toy_config
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
