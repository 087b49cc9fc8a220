"""One module (or package) per backbone family. Importing this package imports every family in
it, which registers its class, converters, reference adapters and zoo rows; a new family needs
no line here."""
import importlib
import pkgutil

from .base import BaseBackbone

__all__ = ['BaseBackbone']
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    if _info.name != 'base':
        _family = importlib.import_module(f'{__name__}.{_info.name}')
        for _name in _family.__all__:
            globals()[_name] = getattr(_family, _name)
            __all__.append(_name)
del _info, _family, _name
