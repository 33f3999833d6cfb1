"""Spike Firing Approximation (SFA): the integer neuron of E-SpikeFormer (V3)."""
from typing import Optional

import torch

from spikeformer_mm.ops.neuron import SpikingNeuron
from spikeformer_mm.registry import MODELS
from . import cpp_kernels
from .kernels import SFA_CODE_MAX_D, is_power_of_two, sfa_backward_kernel, sfa_forward_kernel
from .spike_storage import mark_spikes


def _forward(x: torch.Tensor, D: int, norm: float, with_code: bool, code_has_levels: bool):
    """Flat ``x [N]`` -> ``(out [N], code [N] uint8 or None)``: the C++ kernel on float32 CPU tensors, else the
    ``torch.compile``d one (same values)."""
    module = cpp_kernels.module_for('sfa', x)
    if module is not None:
        results = module.sfa_forward(x, D, norm, with_code, code_has_levels, is_power_of_two(norm))
        return results[0], (results[1] if with_code else None)
    return sfa_forward_kernel(x, D, norm, with_code, code_has_levels, is_power_of_two(norm))


def _backward(grad: torch.Tensor, code: torch.Tensor, norm: float) -> torch.Tensor:
    """Flat ``grad [N]`` and the forward's ``code [N]`` -> the input's gradient ``[N]``."""
    module = cpp_kernels.module_for('sfa', grad)
    if module is not None:
        return module.sfa_backward(grad, code, norm, is_power_of_two(norm))
    return sfa_backward_kernel(grad, code, norm, is_power_of_two(norm))


class _SFAFunction(torch.autograd.Function):
    """``round_half_up(clamp(x, 0, D)) / norm`` with the straight-through gradient ``1/norm`` on [0, D].

    Returns the output and, when ``with_levels``, the uint8 code that carries its integer levels in bits 1-7 (for
    autograd's storage of the output, see :mod:`.spike_storage`). Saves for backward only that code, whose bit 0 is
    the gradient window: 1 byte per element.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, D: int, norm: float, with_levels: bool):
        # the kernel sees a plain (non-view) flat tensor: one compiled graph serves every layer shape
        needs_grad = ctx.needs_input_grad[0]
        out, code = _forward(x.contiguous().view(-1).detach(), D, norm, needs_grad or with_levels, with_levels)
        if needs_grad:
            ctx.save_for_backward(code)
        ctx.norm = norm
        if with_levels:
            ctx.mark_non_differentiable(code)
        # no zero-filled uint8 gradient for the code on every backward pass (it is non-differentiable, so backward
        # runs only when the output has a gradient)
        ctx.set_materialize_grads(False)
        return out.view(x.shape), (code if with_levels else None)

    @staticmethod
    def backward(ctx, grad_out: torch.Tensor, grad_code):
        code, = ctx.saved_tensors
        grad_in = _backward(grad_out.contiguous().view(-1).detach(), code, ctx.norm)
        return grad_in.view(grad_out.shape), None, None, None


def sfa(x: torch.Tensor, D: int = 4, norm: Optional[float] = None) -> torch.Tensor:
    """Functional SFA; see :class:`SFANeuron`."""
    if D < 1:
        raise ValueError(f'SFA needs D >= 1, got D={D}')
    return _sfa(x, int(D), float(D if norm is None else norm))


def _sfa(x: torch.Tensor, D: int, norm: float) -> torch.Tensor:
    """SFA levels ``/ norm``, tagged for 1-byte storage when autograd may save them (D <= 127)."""
    if not torch.is_grad_enabled():  # inference: the kernel alone, no autograd node (~25 us a call) and no code
        out, _ = _forward(x.contiguous().view(-1), D, norm, False, False)
        return out.view(x.shape)
    compact = D <= SFA_CODE_MAX_D
    out, code = _SFAFunction.apply(x, D, norm, compact)
    return mark_spikes(out, norm, code, level_shift=1) if compact else out


@MODELS.register_module()
class SFANeuron(SpikingNeuron):
    """Spike Firing Approximation neuron: integer firing levels with a straight-through gradient.

    Forward: ``s = floor(clamp(x, 0, D) + 0.5)`` (round half up: 0.5 -> 1, 2.5 -> 3), output ``s / norm``
    (``norm`` defaults to ``D``; ``norm=1`` emits the raw integers 0..D, as in front of V3's classifier).
    Backward: ``1/norm`` where ``0 <= x <= D`` (inclusive) and 0 outside. Stateless.

    At inference each level ``s`` stands for ``s`` binary spikes over ``D`` virtual time steps
    (:func:`spikeformer_mm.ops.expand_to_spikes`).

    Shapes: any input ``[...]`` -> same shape, values in ``{0, 1/norm, ..., D/norm}``.
    """

    def __init__(self, D: int = 4, norm: Optional[float] = None):
        super().__init__()
        if not isinstance(D, int) or D < 1:
            raise ValueError(f'SFANeuron needs an integer D >= 1, got D={D!r}')
        if norm is not None and norm <= 0:
            raise ValueError(f'SFANeuron needs norm > 0, got norm={norm!r}')
        self.D = D
        self.norm = float(D if norm is None else norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _sfa(x, self.D, self.norm)

    def extra_repr(self) -> str:
        return f'D={self.D}, norm={self.norm:g}'
