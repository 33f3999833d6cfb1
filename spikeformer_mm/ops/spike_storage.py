"""Keep the spikes that autograd saves for backward in 1 byte per element instead of 4.

A convolution after a spiking neuron saves its input (the spikes) for the weight gradient. Neurons tag their
outputs with :func:`mark_spikes` (values ``k / norm`` with integer levels ``k``: ``norm=1`` for binary spikes);
inside :func:`compact_spike_storage`, a saved tensor that is such an output, or a view of one, is stored as uint8
levels and restored bit-exactly (``k / norm`` in the original dtype, the neuron's own arithmetic) when the
backward pass needs it.
"""
import contextlib

import torch

_NORM_ATTR = '_spikeformer_spike_norm'


def mark_spikes(spikes: torch.Tensor, norm: float = 1.0) -> torch.Tensor:
    """Tag ``spikes`` (values ``k / norm``, integer ``0 <= k <= 255``) for compact storage; returns it.

    The tag goes on the tensor's storage owner (its ``_base`` if it is a view), so every view of it is found.
    """
    setattr(spikes if spikes._base is None else spikes._base, _NORM_ATTR, float(norm))
    return spikes


def _spike_norm(tensor: torch.Tensor):
    base = tensor._base if tensor._base is not None else tensor
    return getattr(base, _NORM_ATTR, None)


def _pack(tensor: torch.Tensor):
    norm = _spike_norm(tensor)
    if norm is None or not tensor.is_floating_point():
        return tensor
    levels = tensor if norm == 1.0 else torch.round(tensor * norm)
    return levels.to(torch.uint8), norm, tensor.dtype


def _unpack(packed):
    if isinstance(packed, torch.Tensor):
        return packed
    levels, norm, dtype = packed
    return levels.to(dtype) if norm == 1.0 else levels.to(dtype) / norm


@contextlib.contextmanager
def compact_spike_storage(enabled: bool = True):
    """Within this context, autograd stores tagged spikes as uint8 (no effect on values or gradients)."""
    if not enabled:
        yield
        return
    with torch.autograd.graph.saved_tensors_hooks(_pack, _unpack):
        yield
