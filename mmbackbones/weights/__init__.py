"""Shared checkpoint machinery: safe loading, the converter registry, layout detection.

Family converters live with their family (``mmbackbones/models/backbones/<family>.py``).
"""
from .checkpoint import (FORMS, GETATTR_PAIRS, LIMITS, SAFE_GLOBALS, NotACheckpointError,
                         UnsafeCheckpointError, install_mmengine_loader, safe_load)
from .convert import (SOURCES, SUPPORTED_SCHEMES, CheckpointSchemeError, HubOfflineError,
                      PretrainedMismatchError, convert, converters_for, detect_source,
                      install_url_loaders, load_pretrained, register_converter, rename_keys,
                      unwrap_state_dict)

__all__ = ['FORMS', 'GETATTR_PAIRS', 'LIMITS', 'SAFE_GLOBALS', 'SOURCES', 'SUPPORTED_SCHEMES',
           'CheckpointSchemeError', 'HubOfflineError', 'NotACheckpointError',
           'PretrainedMismatchError', 'UnsafeCheckpointError', 'convert', 'converters_for',
           'detect_source',
           'install_mmengine_loader', 'install_url_loaders', 'load_pretrained',
           'register_converter', 'rename_keys', 'safe_load', 'unwrap_state_dict']

