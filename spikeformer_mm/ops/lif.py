"""Multi-step leaky integrate-and-fire neuron (the Meta-SpikeFormer / V2 neuron) on spikingjelly 2.x."""
import importlib.util

import torch
from spikingjelly.activation_based import functional, surrogate
from torch import nn

from spikeformer_mm.registry import MODELS

BACKENDS = ('auto', 'torch', 'cuda', 'triton')


def _check_backend(backend: str) -> None:
    """Fail early, naming the problem, when ``backend`` cannot run on this machine."""
    if backend not in BACKENDS:
        raise ValueError(f'backend must be one of {BACKENDS}, got {backend!r}')
    if backend in ('cuda', 'triton') and not torch.cuda.is_available():
        raise ValueError(f'backend={backend!r} needs a CUDA device, and torch sees none; '
                         "use backend='auto' or 'torch'")
    if backend == 'triton' and importlib.util.find_spec('triton') is None:
        raise ValueError("backend='triton' needs the triton package (pip install 'spikeformer_mm[triton]')")


def _select_spikingjelly_cuda_implementation(backend: str) -> None:
    """Pin spikingjelly's CUDA LIF kernel choice (it otherwise reads SJ_LIF_CUDA_IMPLEMENTATION at import)."""
    from spikingjelly._ops.lif import _selection
    _selection._requested = 'auto' if backend == 'auto' else backend


@MODELS.register_module()
class MultiStepLIF(nn.Module):
    """Multi-step LIF neuron with hard reset and a sigmoid surrogate gradient.

    Dynamics per step (``v[0] = v_reset``, ``decay_input=True``)::

        H[t] = v[t-1] + (X[t] - (v[t-1] - v_reset)) / tau
        S[t] = H[t] >= v_threshold
        v[t] = v_reset if S[t] else H[t]
        dS/dH = alpha * sigmoid(alpha * (H - v_threshold)) * (1 - sigmoid(...))

    The membrane starts at rest on every call, so no state leaks between calls and no ``reset_net`` is needed.
    Runs spikingjelly's fused multi-step LIF op: its CPU kernel here, and on CUDA tensors its native CUDA or
    triton kernel (``backend='auto'`` lets spikingjelly pick; ``'cuda'``/``'triton'`` pin one; ``'torch'`` pins
    the PyTorch implementation). spikingjelly 2.x has no cupy kernels.

    Shapes: input ``[T, ...]`` (T >= 1, at least 2-D) -> binary spikes ``[T, ...]`` of the input's dtype.
    """

    def __init__(self, tau: float = 2.0, v_threshold: float = 1.0, v_reset: float = 0.0,
                 decay_input: bool = True, detach_reset: bool = True, surrogate_alpha: float = 4.0,
                 backend: str = 'auto'):
        super().__init__()
        if tau <= 1.0:
            raise ValueError(f'tau must be > 1, got {tau}')
        _check_backend(backend)
        if backend != 'auto' and backend != 'torch':
            _select_spikingjelly_cuda_implementation(backend)
        self.tau = float(tau)
        self.v_threshold = float(v_threshold)
        self.v_reset = float(v_reset)
        self.decay_input = decay_input
        self.detach_reset = detach_reset
        self.surrogate_alpha = float(surrogate_alpha)
        self.backend = backend
        self.surrogate = surrogate.Sigmoid(alpha=self.surrogate_alpha)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2:
            raise ValueError(f'MultiStepLIF expects input of shape [T, ...] with at least 2 dims, '
                             f'got shape {tuple(x.shape)}')
        if x.shape[0] < 1:
            raise ValueError('MultiStepLIF got T = 0 time steps; T must be >= 1')
        if self.backend == 'torch' and x.is_cuda:
            from spikingjelly._ops.lif.reference import multi_step
            v0 = torch.full_like(x[0], self.v_reset, dtype=torch.float32)
            spikes, _, _ = multi_step(x, v0, self.tau, self.decay_input, self.v_threshold, self.v_reset,
                                      self.surrogate, self.detach_reset)
            return spikes
        v0 = torch.full_like(x[0], self.v_reset, dtype=torch.float32)
        spikes, _, _ = functional.lif_multi_step(
            x, v0, self.tau, self.decay_input, self.v_threshold, self.v_reset, self.surrogate,
            self.detach_reset)
        return spikes

    def extra_repr(self) -> str:
        return (f'tau={self.tau}, v_threshold={self.v_threshold}, v_reset={self.v_reset}, '
                f'decay_input={self.decay_input}, detach_reset={self.detach_reset}, '
                f'surrogate_alpha={self.surrogate_alpha}, backend={self.backend!r}')
