"""What to say when weights named by a URL cannot be downloaded (no network, a firewall).

The scheme loaders (``https://``, and ``open-mmlab://``, ``mmcls://``, ``torchvision://``, which
resolve to one) call :func:`offline_error` with the URL and the file the download would have
filled; ``timm://`` has its own message (``convert._timm_state_dict``) in the same spirit.
"""
import os.path as osp

__all__ = ['WeightsOfflineError', 'offline_error']


class WeightsOfflineError(ConnectionError):
    """Weights named by a URL could not be downloaded and are not in the local cache."""


def offline_error(url, cache_path, err=None):
    """The :class:`WeightsOfflineError` for ``url`` that could not be downloaded to
    ``cache_path``: it names the URL, where to put the file by hand, and the ``--cfg-options``
    that point the config at a local copy instead."""
    reason = getattr(err, 'reason', None) or err
    reason = str(reason).strip().splitlines()[0] if reason and str(reason).strip() else \
        type(err).__name__ if err is not None else 'no network'
    name = osp.basename(cache_path)
    return WeightsOfflineError(
        f'{url}: cannot download the weights ({reason}) and they are not in the local cache. '
        f'Fetch the file where there is network and put it at {cache_path} (it is read from '
        'there from then on), or point the config at a local copy: --cfg-options '
        f'model.backbone.init_cfg.checkpoint=/path/to/{name} (any supported layout is detected).')
