from . import backbones, necks  # registers the families and necks

__all__ = ['backbones', 'necks']
