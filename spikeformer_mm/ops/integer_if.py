"""The integer integrate-and-fire neuron of E-SpikeFormer's event-camera models (Spike-Driven Transformer V3)."""
from typing import Optional

import torch

from spikeformer_mm.registry import MODELS

from .neuron import SpikingNeuron
from .sfa import check_rounding
from .spike_storage import mark_spikes

MAX_STORED_D = 255  # levels above this do not fit the 1-byte copy autograd keeps of the output


def _fire(h: torch.Tensor, D: int, tie: str, window: str):
    """Membrane ``h`` -> integer levels ``round(clamp(h, 0, D))`` (as floats) and the gradient window mask."""
    c = h.clamp(0, D)
    levels = torch.round(c) if tie == 'even' else torch.floor(c + 0.5)
    inside = (h >= 0) & (h <= D) if window == 'inclusive' else (h > 0) & (h < D)
    return levels, inside


def _integrate(x: torch.Tensor, D: int, norm: float, tie: str, window: str, stateful: bool, keep_window: bool):
    """``x [T, N]`` -> outputs ``levels / norm [T, N]``, uint8 levels ``[T, N]`` and, if ``keep_window``, the
    bool window masks ``[T, N]``."""
    if not stateful:  # every step from rest: all steps at once
        s, inside = _fire(x, D, tie, window)
        levels = s.to(torch.uint8) if D <= MAX_STORED_D else None
        return s / norm, levels, (inside if keep_window else None)
    out = torch.empty_like(x)
    levels = torch.empty(x.shape, dtype=torch.uint8, device=x.device) if D <= MAX_STORED_D else None
    windows = torch.empty(x.shape, dtype=torch.bool, device=x.device) if keep_window else None
    v = torch.zeros_like(x[0])
    for t in range(x.shape[0]):
        h = v + x[t]
        s, inside = _fire(h, D, tie, window)
        out[t] = s / norm
        if levels is not None:
            levels[t] = s
        if keep_window:
            windows[t] = inside
        v = h - s  # soft reset by the emitted level (threshold 1)
    return out, levels, windows


class _IntegerIFFunction(torch.autograd.Function):
    """The neuron over ``[T, N]`` with its straight-through gradient; keeps only the 1-byte window masks.

    Backward, from the last step to the first: ``dL/dh[t] = g[t] * m[t] / norm + dL/dv[t] * r[t]`` with ``m`` the
    window mask, ``dL/dv[t] = dL/dh[t+1]`` (stateful) and ``r = 1 - m`` (the reset subtracts the level, whose
    gradient is ``m``) or ``r = 1`` when the reset is detached; ``dL/dx[t] = dL/dh[t]``.
    """

    @staticmethod
    def forward(ctx, x, D, norm, tie, window, stateful, detach_reset):
        out, levels, windows = _integrate(x.detach(), D, norm, tie, window, stateful, True)
        ctx.save_for_backward(windows)
        ctx.norm, ctx.stateful, ctx.detach_reset = norm, stateful, detach_reset
        if levels is not None:
            ctx.mark_non_differentiable(levels)
        ctx.set_materialize_grads(False)
        return out, levels

    @staticmethod
    def backward(ctx, grad_out, grad_levels):
        windows, = ctx.saved_tensors
        if not ctx.stateful:
            return grad_out * windows.to(grad_out.dtype) / ctx.norm, None, None, None, None, None, None
        grad_x = torch.empty_like(grad_out)
        carry = None
        for t in range(grad_out.shape[0] - 1, -1, -1):
            inside = windows[t].to(grad_out.dtype)
            g = grad_out[t] * inside / ctx.norm
            if carry is not None:
                g = g + (carry if ctx.detach_reset else carry * (1 - inside))
            grad_x[t] = g
            carry = g
        return grad_x, None, None, None, None, None, None


@MODELS.register_module()
class IntegerIFNeuron(SpikingNeuron, multi_step=True):
    """Integer integrate-and-fire neuron with soft reset (E-SpikeFormer's event-camera neuron).

    Per step, from rest (``v[0] = 0``) at every call::

        h[t] = v[t-1] + x[t]
        s[t] = round(clamp(h[t], 0, D))          # integer level 0..D
        v[t] = h[t] - s[t]                       # soft reset: the emitted level leaves the membrane
        out[t] = s[t] / norm
        backward: ds/dh = 1 inside the window (0 <= h <= D, or 0 < h < D), else 0

    The firing rule, ceiling and straight-through gradient are Spike-Driven-Transformer-V3
    ``SDT_V3/DVS/Hardvs/Qtrick_architecture/clock_driven/neuron.py``, ``Q_IFNode`` (with the ``quant`` surrogate of
    ``surrogate.py``, ceiling 4); the models divide its output by a per-model ``D_Norm``, here ``norm``. The
    reference calls the node once on the whole ``[T, B, ...]`` tensor and resets it after every batch, so its
    membrane never carries from one time step to the next: ``stateful=False`` computes exactly that (and equals
    :class:`SFANeuron` with the same ``D``, ``norm``, ``tie``, ``window``). ``stateful=True`` (default) integrates
    over the time axis as an IF neuron does, carrying each step's sub-threshold remainder to the next.

    Args:
        D: integer ceiling (the reference's 4).
        norm: divisor of the levels (the reference's ``D_Norm``: 4 by default, 1 for its HARDVS 19M model, 8 for
            its DVS128 Gesture model, always with ceiling 4); default ``D``.
        tie: ``'even'`` (``torch.round``, the reference) or ``'up'`` (``floor(h + 0.5)``), as :class:`SFANeuron`.
        window: gradient window, ``'inclusive'`` (``0 <= h <= D``, the reference) or ``'strict'``.
        stateful: carry the membrane across time steps (the input's first axis).
        detach_reset: take the reset out of the gradient (the reference keeps it: ``detach_reset=False``).

    Shapes: ``[T, ...]`` (at least 2-D) -> same shape, values in ``{0, 1/norm, ..., D/norm}``.
    """

    def __init__(self, D: int = 4, norm: Optional[float] = None, tie: str = 'even', window: str = 'inclusive',
                 stateful: bool = True, detach_reset: bool = False):
        super().__init__()
        if not isinstance(D, int) or D < 1:
            raise ValueError(f'IntegerIFNeuron needs an integer D >= 1, got D={D!r}')
        if norm is not None and not norm > 0:
            raise ValueError(f'IntegerIFNeuron needs norm > 0, got norm={norm!r}')
        check_rounding(tie, window)
        self.D = D
        self.norm = float(D if norm is None else norm)
        self.tie = tie
        self.window = window
        self.stateful = bool(stateful)
        self.detach_reset = bool(detach_reset)
        self.multi_step = self.stateful  # without a state, T is one more batch axis (for the energy counter)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f'IntegerIFNeuron expects input of shape [T, ...] with at least 2 dims, '
                             f'got shape {tuple(x.shape)}')
        flat = x.contiguous().view(x.shape[0], -1)
        args = (self.D, self.norm, self.tie, self.window, self.stateful)
        if torch.is_grad_enabled() and x.requires_grad:
            out, levels = _IntegerIFFunction.apply(flat, *args, self.detach_reset)
        else:
            out, levels, _ = _integrate(flat, *args, False)
        out = out.view(x.shape)
        return out if levels is None else mark_spikes(out, self.norm, levels)

    def extra_repr(self) -> str:
        return (f'D={self.D}, norm={self.norm:g}, tie={self.tie!r}, window={self.window!r}, '
                f'stateful={self.stateful}, detach_reset={self.detach_reset}')
