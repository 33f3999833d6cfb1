"""Keep the spikes that autograd saves for backward in 1 byte per element instead of 4.

A convolution after a spiking neuron saves its input (the spikes) for the weight gradient. Neurons tag their
outputs with :func:`mark_spikes` (values ``k / norm`` with integer levels ``k``: ``norm=1`` for binary spikes);
inside :func:`compact_spike_storage`, a saved tensor that is such an output, or a view of one, is stored as uint8
levels and restored bit-exactly (``k / norm`` in the original dtype, the neuron's own arithmetic) when the
backward pass needs it. A neuron that already wrote its uint8 levels in its forward pass (or a code byte holding
them in its upper bits) hands them over with the tag, so packing costs no extra pass over the data.
"""
import contextlib
from typing import Optional

import torch

from . import cpp_kernels
from .kernels import is_power_of_two, restore_levels_kernel

_NORM_ATTR = '_spikeformer_spike_norm'
_LEVELS_ATTR = '_spikeformer_spike_levels'
_SHIFT_ATTR = '_spikeformer_spike_level_shift'


def mark_spikes(spikes: torch.Tensor, norm: float = 1.0, levels: Optional[torch.Tensor] = None,
                level_shift: int = 0) -> torch.Tensor:
    """Tag ``spikes`` (values ``k / norm``, integer ``0 <= k <= 255``) for compact storage; returns it.

    The tag goes on the tensor's storage owner (its ``_base`` if it is a view), so every view of it is found.
    ``levels``: the integers ``k`` as a contiguous uint8 tensor with the elements of that (contiguous) owner in
    order, if the neuron already has them; saved views of ``spikes`` are then stored as the matching views of it.
    ``level_shift``: ``levels`` holds ``k << level_shift`` plus other bits below, which are dropped on restoring.
    """
    base = spikes if spikes._base is None else spikes._base
    setattr(base, _NORM_ATTR, float(norm))
    if levels is not None:
        if levels.dtype != torch.uint8 or levels.numel() != base.numel() or not (
                levels.is_contiguous() and base.is_contiguous()):
            raise ValueError(f'levels must be a contiguous uint8 tensor with the {base.numel()} elements of the '
                             f'contiguous spikes, got {levels.dtype} {tuple(levels.shape)}')
        if not 0 <= level_shift < 8:
            raise ValueError(f'level_shift must be in [0, 8), got {level_shift}')
        setattr(base, _LEVELS_ATTR, levels.view(base.shape))
        setattr(base, _SHIFT_ATTR, level_shift)
    return spikes


def pack_saved_tensor(tensor: torch.Tensor):
    """Autograd's pack hook: a tagged spike tensor (or view) -> ``(uint8 levels, norm, dtype, level_shift)``;
    any other tensor is returned as it is."""
    base = tensor._base if tensor._base is not None else tensor
    norm = getattr(base, _NORM_ATTR, None)
    if norm is None or not tensor.is_floating_point():
        return tensor
    levels = getattr(base, _LEVELS_ATTR, None)
    if levels is not None:  # the neuron's own uint8 levels, viewed as ``tensor`` views its owner
        offset = tensor.storage_offset() - base.storage_offset()
        view = levels.as_strided(tensor.size(), tensor.stride(), offset)
        return view, norm, tensor.dtype, getattr(base, _SHIFT_ATTR)
    levels = tensor if norm == 1.0 else torch.round(tensor * norm)
    return levels.to(torch.uint8), norm, tensor.dtype, 0


def unpack_saved_tensor(packed):
    """Autograd's unpack hook: what :func:`pack_saved_tensor` returned -> the saved tensor's values, bit for bit,
    in its dtype and shape."""
    if isinstance(packed, torch.Tensor):
        return packed
    levels, norm, dtype, shift = packed
    if shift == 0 and norm == 1.0:  # binary spikes: a single cast
        return levels.to(dtype)
    exact = is_power_of_two(norm)
    module = _cpp_restore_for(levels, dtype)
    if module is not None:  # SFA levels: one C++ pass, no torch.compile dispatch
        if levels.is_contiguous():
            return module.sfa_restore(levels, shift, norm, exact)
        # a permuted view of all the levels (an attention product's transposed operand): the whole owner restored,
        # viewed with the same strides
        owner = levels._base
        return module.sfa_restore(owner, shift, norm, exact).as_strided(
            levels.size(), levels.stride(), levels.storage_offset() - owner.storage_offset())
    return restore_levels_kernel(levels, shift, norm, dtype, exact)


def _is_dense_permutation_of(view: torch.Tensor, owner: Optional[torch.Tensor]) -> bool:
    """True if ``view`` holds every element of the contiguous ``owner`` once, in permuted dimensions."""
    if owner is None or not owner.is_contiguous() or view.numel() != owner.numel() or (
            view.storage_offset() != owner.storage_offset()):
        return False
    expected = 1
    for stride, size in sorted((st, sz) for st, sz in zip(view.stride(), view.size()) if sz != 1):
        if stride != expected:
            return False
        expected *= size
    return True


def _cpp_restore_for(levels: torch.Tensor, dtype: torch.dtype):
    """The C++ SFA extension if it restores ``levels`` (on CPU, contiguous or a permuted view of all of its
    contiguous owner) to ``dtype`` (float32), else None."""
    if dtype != torch.float32 or levels.device.type != 'cpu' or torch.compiler.is_compiling() or not (
            levels.is_contiguous() or _is_dense_permutation_of(levels, levels._base)):
        return None
    return cpp_kernels.module('sfa')


@contextlib.contextmanager
def compact_spike_storage(enabled: bool = True):
    """Within this context, autograd stores tagged spikes as uint8 (no effect on values or gradients)."""
    if not enabled:
        yield
        return
    with torch.autograd.graph.saved_tensors_hooks(pack_saved_tensor, unpack_saved_tensor):
        yield
