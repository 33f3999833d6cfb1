"""Fused multi-step LIF and SFA kernels in plain PyTorch, compiled with ``torch.compile`` where it pays.

Each function is written once, as a straightforward loop over time steps; on CPU, inductor fuses a whole call into
one vectorised OpenMP loop (one read of the input, one write per output), which is what makes the neurons cost
about as much as a ReLU. Compilation happens on first use per time-step count and is cached on disk by inductor.
``SPIKEFORMER_COMPILE=0`` (or a failure to compile, e.g. no C++ compiler) selects the identical eager code.
"""
import os
import warnings

import torch


class MaybeCompiled:
    """Call ``torch.compile(fn, dynamic=True)``; fall back to eager ``fn`` if compiling is off or fails."""

    def __init__(self, fn):
        self.fn = fn
        self.compiled = None
        self.disabled = os.environ.get('SPIKEFORMER_COMPILE', '1') == '0'

    def __call__(self, *args):
        if self.disabled or torch.compiler.is_compiling():
            return self.fn(*args)
        if self.compiled is None:
            self.compiled = torch.compile(self.fn, dynamic=True)
        try:
            return self.compiled(*args)
        except Exception as error:  # a compiler/toolchain failure: the eager code computes the same thing
            warnings.warn(f'torch.compile of {self.fn.__name__} failed ({type(error).__name__}: {error}); '
                          'using the eager kernel from now on')
            self.disabled = True
            return self.fn(*args)


def lif_forward(x: torch.Tensor, tau: float, v_threshold: float, v_reset: float, decay_input: bool,
                keep_h: bool):
    """``x [T, ...]`` -> spikes ``[T, ...]`` (x's dtype) and, if ``keep_h``, the charged membrane ``H [T, ...]``."""
    v = torch.full_like(x[0], v_reset, dtype=torch.float32)
    spikes, charged = [], []
    for t in range(x.shape[0]):
        if decay_input:
            h = v + (x[t] - (v - v_reset)) / tau
        else:
            h = v - (v - v_reset) / tau + x[t]
        fired = h >= v_threshold
        v = torch.where(fired, v_reset, h)
        spikes.append(fired.to(x.dtype))
        if keep_h:
            charged.append(h)
    return torch.stack(spikes), (torch.stack(charged) if keep_h else None)


def lif_backward(grad_spikes: torch.Tensor, h: torch.Tensor, tau: float, v_threshold: float, v_reset: float,
                 decay_input: bool, detach_reset: bool, alpha: float) -> torch.Tensor:
    """Gradient w.r.t. ``x`` through time, with the sigmoid surrogate ``dS/dH = a*sig(a(H-th))*(1-sig(a(H-th)))``."""
    carry = torch.zeros_like(h[0])
    grads = []
    for t in range(h.shape[0] - 1, -1, -1):
        h_t = h[t]
        sig = torch.sigmoid(alpha * (h_t - v_threshold))
        surrogate = alpha * sig * (1 - sig)
        reset_grad = (h_t < v_threshold).to(h.dtype)
        if not detach_reset:
            reset_grad = reset_grad + (v_reset - h_t) * surrogate
        grad_h = grad_spikes[t] * surrogate + carry * reset_grad
        grads.append(grad_h / tau if decay_input else grad_h)
        carry = grad_h - grad_h / tau
    grads.reverse()
    return torch.stack(grads).to(grad_spikes.dtype)


def sfa_forward(x: torch.Tensor, D: int, norm: float):
    """``round_half_up(clamp(x, 0, D)) / norm`` and the uint8 mask ``0 <= x <= D`` of the gradient window.

    The mask is uint8 rather than bool: inductor vectorises the fused loop only then (3x faster on CPU).
    """
    return torch.floor(x.clamp(0, D) + 0.5) / norm, ((x >= 0) & (x <= D)).to(torch.uint8)


def sfa_backward(grad: torch.Tensor, inside: torch.Tensor, norm: float) -> torch.Tensor:
    """Straight-through gradient ``1/norm`` inside the window, 0 outside."""
    return grad * inside.to(grad.dtype) / norm


lif_forward_kernel = MaybeCompiled(lif_forward)
lif_backward_kernel = MaybeCompiled(lif_backward)
sfa_forward_kernel = MaybeCompiled(sfa_forward)
sfa_backward_kernel = MaybeCompiled(sfa_backward)
