from .checkpoint import (GETATTR_PAIRS, SAFE_GLOBALS, NotACheckpointError, UnsafeCheckpointError,
                         install_mmengine_loader, safe_load)
from .convert import (SOURCES, HubOfflineError, PretrainedMismatchError, convert, detect_source,
                      install_url_loaders, load_pretrained, register_converter, rename_keys,
                      unwrap_state_dict)

__all__ = ['GETATTR_PAIRS', 'SAFE_GLOBALS', 'SOURCES', 'HubOfflineError', 'NotACheckpointError',
           'PretrainedMismatchError', 'UnsafeCheckpointError', 'convert', 'detect_source',
           'install_mmengine_loader', 'install_url_loaders', 'load_pretrained',
           'register_converter', 'rename_keys', 'safe_load', 'unwrap_state_dict']

# Family converters register themselves on import.
from . import swin  # noqa: E402,F401
from . import res2net, resnest, resnet  # noqa: E402,F401
