"""Spike-driven inference for integer (SFA) activations: D binary planes instead of one integer tensor.

An SFA level ``s`` in ``{0..D}`` is emitted as ``D`` binary spikes over ``D`` virtual time steps, the first ``s``
of which fire. Any following linear synaptic layer ``W`` then satisfies ``W(s / norm) = sum_k W(b_k) / norm``, so
the layer runs on 0/1 inputs only (additions, no multiplications).
"""
import torch
from torch import nn


def expand_to_spikes(levels: torch.Tensor, D: int) -> torch.Tensor:
    """Integer levels ``[...]`` in ``{0..D}`` -> binary planes ``[D, ...]`` whose sum over dim 0 is ``levels``.

    Plane ``k`` (0-based) fires where ``levels > k``.
    """
    if D < 1:
        raise ValueError(f'expand_to_spikes needs D >= 1, got D={D}')
    rounded = torch.round(levels)
    if not torch.equal(rounded, levels) or levels.min() < 0 or levels.max() > D:
        raise ValueError(f'expand_to_spikes needs integer levels in 0..{D}; got values in '
                         f'[{levels.min().item():g}, {levels.max().item():g}] '
                         f'(non-integers: {bool((rounded != levels).any())})')
    steps = torch.arange(D, device=levels.device, dtype=levels.dtype).view(D, *([1] * levels.dim()))
    return (levels.unsqueeze(0) > steps).to(levels.dtype)


def _check_synaptic(layer: nn.Module) -> None:
    """Only Conv1d/Conv2d/Linear layers with zero padding are linear maps the expansion is exact for."""
    if isinstance(layer, nn.Linear):
        return
    if isinstance(layer, (nn.Conv1d, nn.Conv2d)):
        if layer.padding_mode != 'zeros':
            raise ValueError(f'spike-driven expansion needs zero padding, got {layer.padding_mode!r}')
        return
    raise TypeError(f'spike-driven expansion supports nn.Linear, nn.Conv1d and nn.Conv2d, '
                    f'got {type(layer).__name__}')


def spike_driven_forward(layer: nn.Module, levels: torch.Tensor, D: int, norm: float = None) -> torch.Tensor:
    """Run ``layer(levels / norm)`` as ``D`` binary passes: ``sum_k W(b_k) / norm + bias``.

    ``levels``: integer SFA levels ``[B, ...]`` in ``{0..D}``; ``norm`` defaults to ``D``. The ``D`` planes go
    through the layer as one batch of ``D*B``. Returns what ``layer(levels / norm)`` returns, up to float
    summation order.
    """
    norm = float(D if norm is None else norm)
    _check_synaptic(layer)
    planes = expand_to_spikes(levels, D)
    out = layer(planes.flatten(0, 1))  # the module itself, so its forward hooks see the 0/1 planes
    out = out.view(D, levels.shape[0], *out.shape[1:]).sum(0) / norm
    if layer.bias is not None and D != norm:  # the planes added the bias D times; keep it once
        shape = [1] * out.dim()
        shape[-1 if isinstance(layer, nn.Linear) else 1] = -1
        out = out + layer.bias.view(shape) * (1 - D / norm)
    return out
