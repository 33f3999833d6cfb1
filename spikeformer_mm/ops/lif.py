"""Multi-step leaky integrate-and-fire neuron (the Meta-SpikeFormer / V2 neuron) on spikingjelly 2.x."""
import importlib.util
from typing import Optional

import torch
from spikingjelly.activation_based import functional, surrogate

from spikeformer_mm.ops.neuron import SpikingNeuron
from spikeformer_mm.registry import MODELS

from . import cpp_kernels
from .batch_norm import bn_source_of
from .kernels import (
    LIF_SURROGATES,
    is_power_of_two,
    lif_backward_kernel,
    lif_forward_kernel,
    membrane_dtype,
    resting_potential,
)
from .spike_storage import mark_spikes

BACKENDS = ('auto', 'torch', 'cuda', 'triton')
# spikingjelly's surrogate of each name (its CUDA kernels run them) and its default alpha
SPIKINGJELLY_SURROGATES = {'sigmoid': (surrogate.Sigmoid, 4.0), 'atan': (surrogate.ATan, 2.0)}


def _check_backend(backend: str) -> None:
    """Fail early, naming the problem, when ``backend`` cannot run on this machine."""
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    if backend in ('cuda', 'triton') and not torch.cuda.is_available():
        raise ValueError(f'backend={backend!r} needs a CUDA device, and torch sees none; '
                         "use backend='auto' or 'torch'")
    if backend == 'triton' and importlib.util.find_spec('triton') is None:
        raise ValueError("backend='triton' needs the triton package (pip install 'spikeformer_mm[triton]')")


def select_implementation(backend: str, device: torch.device) -> str:
    """Which LIF implementation runs for ``backend`` on ``device``: ``'spikingjelly'`` or ``'fused'``.

    CUDA tensors go to spikingjelly's kernels (native CUDA / triton) unless ``backend='torch'``; everything
    else runs the fused PyTorch kernel.
    """
    return 'spikingjelly' if device.type == 'cuda' and backend != 'torch' else 'fused'


def _select_spikingjelly_cuda_implementation(backend: str) -> None:
    """Pin spikingjelly's CUDA LIF kernel choice (it otherwise reads SJ_LIF_CUDA_IMPLEMENTATION at import)."""
    from spikingjelly._ops.lif import _selection
    _selection._requested = 'auto' if backend == 'auto' else backend


def _forward(x: torch.Tensor, tau, v_threshold, v_reset, decay_input, with_levels, exact_reciprocal):
    """Plain ``x [T, N]`` -> ``(spikes [T, N], uint8 spikes or None)``: the C++ kernel on float32 CPU tensors,
    else the ``torch.compile``d one (same values)."""
    module = cpp_kernels.module_for('lif', x)
    if module is None:
        return lif_forward_kernel(x, tau, v_threshold, v_reset, decay_input, with_levels, exact_reciprocal)
    results = module.lif_forward(x, tau, v_threshold, v_reset, decay_input, with_levels, exact_reciprocal)
    return results[0], (results[1] if with_levels else None)


def _backward(grad_spikes: torch.Tensor, x: torch.Tensor, scale, shift, *params) -> torch.Tensor:
    """``grad_spikes`` and ``x`` (``[T, N]``, or a BatchNorm's input ``[T, B, C, HW]`` with ``scale``/``shift``
    ``[C, 1]``) -> the input's gradient in ``x``'s layout: the C++ kernel on float32 CPU tensors, else the
    ``torch.compile``d one."""
    module = cpp_kernels.module_for('lif', x)
    if module is None:
        return lif_backward_kernel(grad_spikes, x, scale, shift, *params)
    return module.lif_backward(grad_spikes, x, scale, shift, *params)


class _MultiStepLIFFunction(torch.autograd.Function):
    """Fused multi-step LIF -> (spikes, the same spikes as uint8 for autograd's compact storage).

    Saves for backward only what recomputes the membrane: its input or, when the input is the training output
    of a :class:`~spikeformer_mm.ops.RecomputableBatchNorm2d`, that BatchNorm's input (which the BatchNorm keeps
    anyway) and two ``[C]`` vectors. The forward pass writes nothing but spikes.
    """

    @staticmethod
    def forward(ctx, x, tau, v_threshold, v_reset, decay_input, detach_reset, surrogate_name, alpha):
        exact_reciprocal = is_power_of_two(tau)
        # the kernel sees a plain (non-view) [T, N] tensor: one compiled graph serves every layer shape
        spikes, levels = _forward(_flat_time_major(x), tau, v_threshold, v_reset, decay_input, True,
                                  exact_reciprocal)
        if ctx.needs_input_grad[0]:
            bn_source = bn_source_of(x)
            ctx.save_for_backward(*(bn_source or (x, None, None)))
        ctx.params = (tau, v_threshold, v_reset, decay_input, detach_reset, alpha, exact_reciprocal, surrogate_name)
        ctx.mark_non_differentiable(levels)
        # no zero-filled uint8 gradient for the levels on every backward pass (they are non-differentiable, so
        # backward runs only when the spikes have a gradient)
        ctx.set_materialize_grads(False)
        return spikes.view(x.shape), levels

    @staticmethod
    def backward(ctx, grad_spikes, grad_levels):
        x, scale, shift = ctx.saved_tensors
        if scale is None:  # the neuron's own input, as a plain [T, N] tensor
            x = _flat_time_major(x)
        # grad_spikes in the layout of x: [T, N], or [T, B, C, HW] for a BatchNorm's input
        grad_x = _backward(grad_spikes.contiguous().view(x.shape).detach(), x, scale, shift, *ctx.params)
        return grad_x.view(grad_spikes.shape), None, None, None, None, None, None, None


def _flat_time_major(x: torch.Tensor) -> torch.Tensor:
    """``[T, ...]`` -> a plain contiguous ``[T, N]`` tensor outside autograd (what the compiled kernels take)."""
    return x.contiguous().view(x.shape[0], -1).detach()


@MODELS.register_module()
class MultiStepLIF(SpikingNeuron, multi_step=True):
    """Multi-step LIF neuron: hard or soft reset, sigmoid or arctangent surrogate gradient.

    Dynamics per step (``decay_input=True``; the membrane starts at ``v_rest = v_reset``, or 0 with soft reset)::

        H[t] = v[t-1] + (X[t] - (v[t-1] - v_rest)) / tau
        S[t] = H[t] >= v_threshold
        v[t] = v_reset if S[t] else H[t]                  (hard reset)
        v[t] = H[t] - v_threshold if S[t] else H[t]       (soft reset, v_reset=None)
        dS/dH = alpha * sigmoid(alpha * (H - v_threshold)) * (1 - sigmoid(...))     (surrogate='sigmoid')
        dS/dH = (alpha / 2) / (1 + (pi / 2 * alpha * (H - v_threshold)) ** 2)      (surrogate='atan')

    These are spikingjelly 2.x's ``LIFNode`` dynamics with ``surrogate.Sigmoid(alpha)`` / ``surrogate.ATan(alpha)``
    (``surrogate_alpha=None``: spikingjelly's default, 4 for sigmoid, 2 for atan). The membrane starts at rest on
    every call, so no state leaks between calls and no ``reset_net`` is needed.
    Backends: on CUDA tensors ``'auto'`` runs spikingjelly 2.x's multi-step LIF op, which picks its native CUDA or
    triton kernel (``'cuda'``/``'triton'`` pin one; spikingjelly 2.x has no cupy kernels); on CPU, and with
    ``backend='torch'`` anywhere, a fused kernel (C++ ``csrc/lif_cpu.cpp`` for float32 CPU tensors, else
    ``torch.compile``d PyTorch; exact) that writes the spikes and their uint8 copy for autograd's storage in one
    pass and keeps only its input for the backward pass (which recomputes the membrane), or nothing of its own
    when the input comes from a :class:`~spikeformer_mm.ops.RecomputableBatchNorm2d` (it recomputes the input from
    the BatchNorm's). Every backend computes every reset and surrogate option.

    Shapes: input ``[T, ...]`` (T >= 1, at least 2-D) -> binary spikes ``[T, ...]`` of the input's dtype.
    """

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, v_reset: Optional[float] = 0.0,
                 decay_input: bool = True, detach_reset: bool = True, surrogate: str = 'sigmoid',
                 surrogate_alpha: Optional[float] = None, backend: str = 'auto'):
        super().__init__()
        if tau <= 1.0:
            raise ValueError(f'tau must be > 1, got {tau}')
        if surrogate not in LIF_SURROGATES:
            raise ValueError(f'surrogate must be one of {LIF_SURROGATES}, got {surrogate!r}; for any other '
                             "spikingjelly surrogate use dict(type='SpikingJellyNeuron', node='LIFNode', "
                             f"surrogate=dict(type=...))")
        surrogate_cls, default_alpha = SPIKINGJELLY_SURROGATES[surrogate]
        alpha = default_alpha if surrogate_alpha is None else float(surrogate_alpha)
        if not alpha > 0:
            raise ValueError(f'surrogate_alpha must be > 0, got {surrogate_alpha}')
        _check_backend(backend)
        if backend != 'auto' and backend != 'torch':
            _select_spikingjelly_cuda_implementation(backend)
        self.tau = float(tau)
        self.v_threshold = float(v_threshold)
        self.v_reset = None if v_reset is None else float(v_reset)
        self.decay_input = decay_input
        self.detach_reset = detach_reset
        self.surrogate = surrogate
        self.surrogate_alpha = alpha
        self.backend = backend
        self.surrogate_function = surrogate_cls(alpha=alpha)  # spikingjelly's CUDA path

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f'MultiStepLIF expects input of shape [T, ...] with at least 2 dims, '
                             f'got shape {tuple(x.shape)}')
        if x.shape[0] < 1:
            raise ValueError('MultiStepLIF got T = 0 time steps; T must be >= 1')
        if select_implementation(self.backend, x.device) == 'spikingjelly':
            v0 = torch.full_like(x[0], resting_potential(self.v_reset), dtype=membrane_dtype(x.dtype))
            spikes, _, _ = functional.lif_multi_step(
                x, v0, self.tau, self.decay_input, self.v_threshold, self.v_reset, self.surrogate_function,
                self.detach_reset)
            return mark_spikes(spikes)
        if not torch.is_grad_enabled():  # inference: the kernel alone, no autograd node (tens of us a call)
            spikes, _ = _forward(_flat_time_major(x), self.tau, self.v_threshold, self.v_reset, self.decay_input,
                                 False, is_power_of_two(self.tau))
            return mark_spikes(spikes.view(x.shape))
        spikes, levels = _MultiStepLIFFunction.apply(x, self.tau, self.v_threshold, self.v_reset,
                                                     self.decay_input, self.detach_reset, self.surrogate,
                                                     self.surrogate_alpha)
        return mark_spikes(spikes, levels=levels)

    def extra_repr(self) -> str:
        return (f'tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, '
                f'decay_input={self.decay_input}, detach_reset={self.detach_reset}, '
                f'surrogate={self.surrogate!r}, surrogate_alpha={self.surrogate_alpha}, backend={self.backend!r}')
