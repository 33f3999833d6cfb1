"""Fused multi-step LIF and SFA kernels in plain PyTorch, compiled with ``torch.compile`` where it pays.

Each function is written once, as a straightforward loop over time steps; on CPU, inductor fuses a whole call into
one vectorised OpenMP loop (one read of the input, one write per output), which is what makes the neurons cost
about as much as a ReLU. Compilation happens on first use per time-step count and is cached on disk by inductor.
``SPIKEFORMER_COMPILE=0`` (or a failure to compile, e.g. no C++ compiler) selects the identical eager code.
"""
import math
import os
import warnings
from typing import Optional

import torch

# built once: creating a patch costs ~0.1 ms, entering it ~6 us
_KERNEL_DYNAMO_CONFIG = torch._dynamo.config.patch(specialize_int=True, specialize_float=True, recompile_limit=64)


class MaybeCompiled:
    """Call ``torch.compile(fn, dynamic=True)``; fall back to eager ``fn`` if compiling is off or fails.

    ``cpp.dynamic_threads``: the compiled loop always opens an OpenMP region and uses the threads set at run time.
    Otherwise inductor decides at compile time from the first input's size and the thread count then, and a
    kernel first compiled on a small tensor or under 1 thread (and cached on disk) stays single-threaded.

    ``specialize_float``: the neurons' float parameters (tau, thresholds, norm) are compile-time constants of the
    kernel (one compilation per parameter set, guarded). Otherwise dynamo passes each as a 0-d double tensor that
    the loop re-reads, and divides by, for every vector (it may alias an output, so it is not hoisted).
    ``recompile_limit``: every parameter set, time-step count and output selection is a compilation of its own;
    the default limit (8) would send a process that uses several (e.g. a test session) back to eager code.
    """

    def __init__(self, fn):
        self.fn = fn
        self.compiled = None
        self.disabled = os.environ.get('SPIKEFORMER_COMPILE', '1') == '0'

    def __call__(self, *args):
        if self.disabled or torch.compiler.is_compiling():
            return self.fn(*args)
        if self.compiled is None:
            self.compiled = torch.compile(self.fn, dynamic=True, options={'cpp.dynamic_threads': True})
        try:
            with _KERNEL_DYNAMO_CONFIG:  # read when dynamo (re)compiles, which happens inside the call
                return self.compiled(*args)
        except Exception as error:  # a compiler/toolchain failure: the eager code computes the same thing
            warnings.warn(f'torch.compile of {self.fn.__name__} failed ({type(error).__name__}: {error}); '
                          'using the eager kernel from now on')
            self.disabled = True
            return self.fn(*args)


def is_power_of_two(value: float) -> bool:
    """True if ``1 / value`` is exact, so that ``x * (1 / value) == x / value`` for every float ``x``."""
    return value > 0 and math.frexp(value)[0] == 0.5


def _div(x: torch.Tensor, divisor: float, exact_reciprocal: bool) -> torch.Tensor:
    """``x / divisor``, as a multiplication when that is exact (a vector division is much slower on CPU)."""
    return x * (1.0 / divisor) if exact_reciprocal else x / divisor


def membrane_dtype(dtype: torch.dtype) -> torch.dtype:
    """The LIF membrane's dtype for inputs of ``dtype``: float32 at least (half-precision membranes lose the small
    leak increments), float64 for float64 inputs (so that a float64 model computes in float64 throughout)."""
    return torch.promote_types(dtype, torch.float32)


LIF_SURROGATES = ('sigmoid', 'atan')  # the surrogate gradients the LIF kernels compute


def resting_potential(v_reset: Optional[float]) -> float:
    """Where the LIF membrane starts and what it leaks towards: ``v_reset``, or 0 with soft reset (``None``)."""
    return 0.0 if v_reset is None else v_reset


def _charge(v: torch.Tensor, x_t: torch.Tensor, tau: float, v_rest: float, decay_input: bool,
            exact_reciprocal: bool) -> torch.Tensor:
    """The charged membrane ``H[t]`` from the membrane ``v[t-1]`` and the input ``X[t]``."""
    if decay_input:
        return v + _div(x_t - (v - v_rest), tau, exact_reciprocal)
    return v - _div(v - v_rest, tau, exact_reciprocal) + x_t


def _after_firing(h: torch.Tensor, fired: torch.Tensor, v_threshold: float, v_reset: Optional[float]):
    """The membrane after a step: ``v_reset`` where it fired (hard reset), or ``H - v_threshold`` there (soft reset,
    ``v_reset=None``); ``H`` elsewhere."""
    if v_reset is None:
        return torch.where(fired, h - v_threshold, h)
    return torch.where(fired, v_reset, h)


def surrogate_gradient(x: torch.Tensor, surrogate: str, alpha: float) -> torch.Tensor:
    """``dS/dH`` at ``x = H - v_threshold``, as spikingjelly's surrogates of the same name define it:
    ``'sigmoid'``: ``a*sig(a*x)*(1-sig(a*x))``; ``'atan'``: ``(a/2) / (1 + (pi/2*a*x)^2)``."""
    if surrogate == 'sigmoid':
        sig = torch.sigmoid(alpha * x)
        return alpha * sig * (1 - sig)
    if surrogate == 'atan':
        z = x * (math.pi / 2 * alpha)
        return torch.reciprocal(1 + z * z) * (alpha / 2)  # in the C++ kernel's order of rounding
    raise ValueError(f'surrogate must be one of {LIF_SURROGATES}, got {surrogate!r}')


def lif_forward(x: torch.Tensor, tau: float, v_threshold: float, v_reset: Optional[float], decay_input: bool,
                with_levels: bool, tau_is_power_of_two: bool):
    """``x [T, ...]`` -> spikes ``[T, ...]`` (x's dtype) and the spikes as uint8 if ``with_levels`` (what autograd
    keeps of them, see :mod:`.spike_storage`). ``v_reset=None``: soft reset (subtract the threshold).

    The uint8 spikes are converted from the float ones: inductor vectorises that, not a bool -> uint8 cast.
    """
    v_rest = resting_potential(v_reset)
    v = torch.full_like(x[0], v_rest, dtype=membrane_dtype(x.dtype))
    spikes = []
    for t in range(x.shape[0]):
        h = _charge(v, x[t], tau, v_rest, decay_input, tau_is_power_of_two)
        fired = h >= v_threshold
        spikes.append(fired.to(x.dtype))
        v = _after_firing(h, fired, v_threshold, v_reset)
    spikes = torch.stack(spikes)
    return spikes, spikes.to(torch.uint8) if with_levels else None


def batch_norm_transform(x: torch.Tensor, scale: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``x * scale + shift`` (per-channel ``scale``/``shift`` broadcast over ``x``): a BatchNorm's training output.

    A multiplication, then an addition (inductor emits no fused multiply-add): :func:`lif_backward` repeats it
    to recompute the output bit-exactly from the BatchNorm's input.
    """
    return x * scale + shift


def lif_backward(grad_spikes: torch.Tensor, x: torch.Tensor, scale: Optional[torch.Tensor],
                 shift: Optional[torch.Tensor], tau: float, v_threshold: float, v_reset: Optional[float],
                 decay_input: bool, detach_reset: bool, alpha: float, tau_is_power_of_two: bool,
                 surrogate: str = 'sigmoid') -> torch.Tensor:
    """Gradient w.r.t. the input through time, with the surrogate ``dS/dH`` of :func:`surrogate_gradient`.

    The reset's gradient ``dv[t]/dH[t]``: hard reset ``1 - S`` (``+ (v_reset - H) * dS/dH`` unless
    ``detach_reset``); soft reset (``v_reset=None``) ``1`` (``- v_threshold * dS/dH`` unless ``detach_reset``).
    The charged membrane ``H`` is recomputed from the input ``x`` by the forward pass's own arithmetic (the same
    spikes and resets): reading ``x`` costs what reading a saved ``H`` would, and the forward pass writes nothing
    but spikes. With ``scale``/``shift``, ``x`` is a BatchNorm's input and the neuron's input is
    ``x * scale + shift`` (:func:`batch_norm_transform`).
    """
    v_rest = resting_potential(v_reset)
    v = torch.full_like(x[0], v_rest, dtype=membrane_dtype(x.dtype))
    charged = []
    for t in range(x.shape[0]):
        x_t = x[t] if scale is None else batch_norm_transform(x[t], scale, shift)
        charged.append(_charge(v, x_t, tau, v_rest, decay_input, tau_is_power_of_two))
        v = _after_firing(charged[-1], charged[-1] >= v_threshold, v_threshold, v_reset)
    carry = torch.zeros_like(charged[0])
    grads = []
    for t in range(len(charged) - 1, -1, -1):
        h_t = charged[t]
        spike_grad = surrogate_gradient(h_t - v_threshold, surrogate, alpha)
        if v_reset is None:
            grad_h = grad_spikes[t] * spike_grad + (
                carry if detach_reset else carry * (1 - v_threshold * spike_grad))
        else:
            reset_grad = (h_t < v_threshold).to(h_t.dtype)
            if not detach_reset:
                reset_grad = reset_grad + (v_reset - h_t) * spike_grad
            grad_h = grad_spikes[t] * spike_grad + carry * reset_grad
        grads.append(_div(grad_h, tau, tau_is_power_of_two) if decay_input else grad_h)
        carry = grad_h - _div(grad_h, tau, tau_is_power_of_two)
    grads.reverse()
    return torch.stack(grads).to(grad_spikes.dtype)


SFA_CODE_MAX_D = 127  # the largest D whose levels fit in an SFA code byte next to the window bit


def sfa_forward(x: torch.Tensor, D: int, norm: float, with_code: bool, code_has_levels: bool,
                norm_is_power_of_two: bool, tie_even: bool, strict_window: bool):
    """``round(clamp(x, 0, D)) / norm`` and, if ``with_code``, one uint8 code per element.

    Ties round half to even (``torch.round``) with ``tie_even``, else half up (``floor(c + 0.5)``). The code's
    bit 0 is the gradient window (what the backward needs): ``0 <= x <= D``, or ``0 < x < D`` with
    ``strict_window``; false for NaN and infinities either way. With ``code_has_levels`` (``D <= 127``), bits 1-7
    are the integer level (what autograd keeps of the output, see :mod:`.spike_storage`): one byte written
    instead of two. The code is converted from float values: inductor vectorises that, not a bool -> uint8 cast.
    The clamp is ``relu`` then ``clamp_max``: inductor emits ``clamp(x, 0, D)`` as two NaN-propagating
    ``maximum``/``minimum`` vector calls and ``relu`` as one plain ``clamp_min``; the values are the same, NaN
    included.
    """
    clamped = torch.clamp_max(torch.relu(x), D)
    levels = torch.round(clamped) if tie_even else torch.floor(clamped + 0.5)
    out = _div(levels, norm, norm_is_power_of_two)
    if not with_code:
        return out, None
    inside = ((x > 0) & (x < D)).to(x.dtype) if strict_window else (clamped == x).to(x.dtype)
    code = levels * 2 + inside if code_has_levels else inside
    return out, code.to(torch.uint8)


def sfa_backward(grad: torch.Tensor, code: torch.Tensor, norm: float, norm_is_power_of_two: bool) -> torch.Tensor:
    """Straight-through gradient ``1/norm`` inside the window (bit 0 of the forward's ``code``), 0 outside."""
    return _div(grad * (code & 1).to(grad.dtype), norm, norm_is_power_of_two)


def restore_levels(code: torch.Tensor, level_shift: int, norm: float, dtype: torch.dtype,
                   norm_is_power_of_two: bool) -> torch.Tensor:
    """uint8 ``code`` (any strides) -> ``(code >> level_shift) / norm`` in ``dtype``: the neuron's own output values,
    by the forward kernels' arithmetic, in one pass (eager code takes a pass per operation)."""
    levels = (code >> level_shift if level_shift else code).to(dtype)
    return _div(levels, norm, norm_is_power_of_two)


lif_forward_kernel = MaybeCompiled(lif_forward)
lif_backward_kernel = MaybeCompiled(lif_backward)
sfa_forward_kernel = MaybeCompiled(sfa_forward)
sfa_backward_kernel = MaybeCompiled(sfa_backward)
restore_levels_kernel = MaybeCompiled(restore_levels)
batch_norm_transform_kernel = MaybeCompiled(batch_norm_transform)
