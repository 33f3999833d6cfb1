"""Spike Firing Approximation (SFA): the integer neuron of E-SpikeFormer (V3)."""
from typing import Optional

import torch

from spikeformer_mm.ops.neuron import SpikingNeuron
from spikeformer_mm.registry import MODELS

from . import cpp_kernels
from .kernels import SFA_CODE_MAX_D, is_power_of_two, sfa_backward_kernel, sfa_forward_kernel
from .spike_storage import mark_spikes

TIES = ('even', 'up')  # round half to even (torch.round), round half up (floor(x + 0.5))
WINDOWS = ('inclusive', 'strict')  # gradient on 0 <= x <= D, or on 0 < x < D


def check_rounding(tie: str, window: str) -> None:
    """Fail, naming the valid choices, on an unknown tie rule or gradient window."""
    if tie not in TIES:
        raise ValueError(f"SFA tie rule must be one of {TIES} ('even': round half to even as torch.round, "
                         f"'up': round half up as floor(x + 0.5)), got {tie!r}")
    if window not in WINDOWS:
        raise ValueError(f"SFA gradient window must be one of {WINDOWS} ('inclusive': 0 <= x <= D, "
                         f"'strict': 0 < x < D), got {window!r}")


def _forward(x: torch.Tensor, D: int, norm: float, with_code: bool, code_has_levels: bool, tie: str, window: str):
    """Flat ``x [N]`` -> ``(out [N], code [N] uint8 or None)``: the C++ kernel on float32 CPU tensors, else the
    ``torch.compile``d one (same values)."""
    args = (is_power_of_two(norm), tie == 'even', window == 'strict')
    module = cpp_kernels.module_for('sfa', x)
    if module is not None:
        results = module.sfa_forward(x, D, norm, with_code, code_has_levels, *args)
        return results[0], (results[1] if with_code else None)
    return sfa_forward_kernel(x, D, norm, with_code, code_has_levels, *args)


def _backward(grad: torch.Tensor, code: torch.Tensor, norm: float) -> torch.Tensor:
    """Flat ``grad [N]`` and the forward's ``code [N]`` -> the input's gradient ``[N]``."""
    module = cpp_kernels.module_for('sfa', grad)
    if module is not None:
        return module.sfa_backward(grad, code, norm, is_power_of_two(norm))
    return sfa_backward_kernel(grad, code, norm, is_power_of_two(norm))


class _SFAFunction(torch.autograd.Function):
    """``round(clamp(x, 0, D)) / norm`` with the straight-through gradient ``1/norm`` inside the window.

    Returns the output and, when ``with_levels``, the uint8 code that carries its integer levels in bits 1-7 (for
    autograd's storage of the output, see :mod:`.spike_storage`). Saves for backward only that code, whose bit 0 is
    the gradient window: 1 byte per element.
    """

    @staticmethod
    def forward(ctx, x: torch.Tensor, D: int, norm: float, with_levels: bool, tie: str, window: str):
        # the kernel sees a plain (non-view) flat tensor: one compiled graph serves every layer shape
        needs_grad = ctx.needs_input_grad[0]
        out, code = _forward(x.contiguous().view(-1).detach(), D, norm, needs_grad or with_levels, with_levels,
                             tie, window)
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
        return grad_in.view(grad_out.shape), None, None, None, None, None


def sfa(x: torch.Tensor, D: int = 4, norm: Optional[float] = None, tie: str = 'even',
        window: str = 'inclusive') -> torch.Tensor:
    """Functional SFA; see :class:`SFANeuron`."""
    if D < 1:
        raise ValueError(f'SFA needs D >= 1, got D={D}')
    check_rounding(tie, window)
    return _sfa(x, int(D), float(D if norm is None else norm), tie, window)


def _sfa(x: torch.Tensor, D: int, norm: float, tie: str, window: str) -> torch.Tensor:
    """SFA levels ``/ norm``, tagged for 1-byte storage when autograd may save them (D <= 127)."""
    if not torch.is_grad_enabled():  # inference: the kernel alone, no autograd node (~25 us a call) and no code
        out, _ = _forward(x.contiguous().view(-1), D, norm, False, False, tie, window)
        return out.view(x.shape)
    compact = D <= SFA_CODE_MAX_D
    out, code = _SFAFunction.apply(x, D, norm, compact, tie, window)
    return mark_spikes(out, norm, code, level_shift=1) if compact else out


@MODELS.register_module()
class SFANeuron(SpikingNeuron):
    """Spike Firing Approximation neuron: integer firing levels with a straight-through gradient.

    Forward: ``s = round(clamp(x, 0, D))``, output ``s / norm`` (``norm`` defaults to ``D``; ``norm=1`` emits the
    raw integers 0..D, as in front of V3's classifier). Backward: ``1/norm`` inside the gradient window, 0 outside.
    Stateless. The two reference families differ on ties and on the window's ends, and a converted checkpoint
    reproduces its model only with its own rules:

    - ``tie='even'``, ``window='inclusive'`` (default): round half to even (``torch.round``: 0.5 -> 0, 1.5 -> 2,
      2.5 -> 2), gradient on ``0 <= x <= D``. Spike-Driven-Transformer-V3
      ``SDT_V3/Classification/Model_Base/models.py``, ``MultiSpike``/``Quant``, and the detection and
      segmentation code (``.round()``).
    - ``tie='up'``, ``window='strict'``: round half up (``floor(c + 0.5)``: 0.5 -> 1, 2.5 -> 3), gradient on
      ``0 < x < D``. ``SDT_V3/Classification/Model_Large/spikformer.py``, ``Multispike``.

    Ties are common, not a corner case: an attention scale of exactly 0.5 (``2 / sqrt(16)``) puts integer
    attention products on halves. At inference each level ``s`` stands for ``s`` binary spikes over ``D``
    virtual time steps (:func:`spikeformer_mm.ops.expand_to_spikes`).

    Shapes: any input ``[...]`` -> same shape, values in ``{0, 1/norm, ..., D/norm}``.
    """

    def __init__(self, D: int = 4, norm: Optional[float] = None, tie: str = 'even', window: str = 'inclusive'):
        super().__init__()
        if not isinstance(D, int) or D < 1:
            raise ValueError(f'SFANeuron needs an integer D >= 1, got D={D!r}')
        if norm is not None and norm <= 0:
            raise ValueError(f'SFANeuron needs norm > 0, got norm={norm!r}')
        check_rounding(tie, window)
        self.D = D
        self.norm = float(D if norm is None else norm)
        self.tie = tie
        self.window = window

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return _sfa(x, self.D, self.norm, self.tie, self.window)

    def extra_repr(self) -> str:
        return f'D={self.D}, norm={self.norm:g}, tie={self.tie!r}, window={self.window!r}'
