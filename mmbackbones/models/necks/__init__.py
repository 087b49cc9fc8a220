"""Necks registered in the ``mmbackbones`` scope; each exposes ``out_channels`` (the channels of
every output, in output order), as the backbones do, so that a head can be sized from it.

As for the backbones, importing this package imports every module in it (which registers its
necks); a new neck module needs no line here."""
import importlib
import pkgutil

__all__ = []
for _info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
    _module = importlib.import_module(f'{__name__}.{_info.name}')
    for _name in _module.__all__:
        globals()[_name] = getattr(_module, _name)
        __all__.append(_name)
del _info, _module, _name
