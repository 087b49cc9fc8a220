"""Activation checkpointing that leaves BatchNorm running statistics as without it."""
import contextlib
import functools

import torch
import torch.nn as nn
import torch.utils.checkpoint as cp
from torch.nn.modules.batchnorm import _BatchNorm


def checkpoint_module(module: nn.Module, *args):
    """``module(*args)`` with its activations recomputed in the backward pass.

    Plain checkpointing runs a training-mode BatchNorm forward twice, so its running statistics
    take two momentum steps per iteration; the recomputation here restores them afterwards.
    Outputs, gradients and statistics equal those of ``module(*args)``.
    """
    return cp.checkpoint(module, *args, use_reentrant=False,
                         context_fn=functools.partial(_contexts, module))


def _contexts(module):
    return contextlib.nullcontext(), _keep_running_stats(module)


@contextlib.contextmanager
def _keep_running_stats(module: nn.Module):
    saved = []
    for norm in module.modules():
        if isinstance(norm, _BatchNorm) and norm.training and norm.track_running_stats:
            for buf in (norm.running_mean, norm.running_var, norm.num_batches_tracked):
                if buf is not None:
                    saved.append((buf, buf.clone()))
    try:
        yield
    finally:
        with torch.no_grad():
            for buf, value in saved:
                buf.copy_(value)
