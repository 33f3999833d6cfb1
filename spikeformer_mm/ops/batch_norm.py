"""BatchNorm2d whose training output a following LIF neuron recomputes instead of keeping.

A LIF neuron needs its input ``X`` again in the backward pass (the membrane is recomputed from it). When ``X`` is
a BatchNorm output, the BatchNorm already keeps its own input ``x`` for its backward pass, and in training
``X = x * scale + shift`` with per-channel ``scale = weight / sqrt(var + eps)`` and ``shift = bias - mean * scale``.
:class:`RecomputableBatchNorm2d` computes its training output by exactly that arithmetic and tags it with
``(x, scale, shift)`` (:func:`bn_source_of`); the neuron then keeps ``x``, which is alive anyway, and two ``[C]``
vectors instead of ``X``, and recomputes ``X`` bit-exactly in its backward kernel: 4 bytes less per element of
every such neuron, at every time step.

Outside training (or with gradients off, or on CUDA) the module is a plain ``nn.BatchNorm2d``: evaluation is
bit-identical to the stock layer, and its ``state_dict`` keys are the same.
"""
import contextlib
from typing import Optional, Tuple

import torch
from torch import nn

from .kernels import batch_norm_transform_kernel

_SOURCE_ATTR = '_spikeformer_bn_source'


class _BatchNormTraining(torch.autograd.Function):
    """``x [N, C, H, W]`` -> ``x * scale + shift`` with the batch-statistics gradient of BatchNorm.

    ``mean``/``invstd`` are the batch statistics (no gradient flows through them separately: the backward pass is
    aten's ``native_batch_norm_backward``, which differentiates through them as BatchNorm does).
    """

    @staticmethod
    def forward(ctx, x, weight, bias, mean, invstd, scale, shift, eps):
        ctx.save_for_backward(x, weight, mean, invstd)
        ctx.eps = eps
        return batch_norm_transform_kernel(x.detach(), scale.view(-1, 1, 1), shift.view(-1, 1, 1))

    @staticmethod
    def backward(ctx, grad_out):
        x, weight, mean, invstd = ctx.saved_tensors
        needs = ctx.needs_input_grad
        grad_x, grad_weight, grad_bias = torch.ops.aten.native_batch_norm_backward(
            grad_out.contiguous(), x, weight, None, None, mean, invstd, True, ctx.eps,
            [needs[0], weight is not None and needs[1], weight is not None and needs[2]])
        return grad_x, grad_weight, grad_bias, None, None, None, None, None


class RecomputableBatchNorm2d(nn.BatchNorm2d):
    """``nn.BatchNorm2d`` whose training output a :class:`~spikeformer_mm.ops.MultiStepLIF` can recompute.

    Training mode with gradients on, on CPU, in float32 or float64: batch statistics and running-statistic
    updates as ``nn.BatchNorm2d`` (momentum, cumulative average with ``momentum=None``, ``num_batches_tracked``),
    output ``x * scale + shift`` tagged for the neuron, gradients by aten's BatchNorm backward. Otherwise the stock
    forward. Shapes: ``[N, C, H, W]`` -> ``[N, C, H, W]``.
    """

    frames = 1  # identical copies of its input that each batch stands for (see :func:`counting_frames`)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not (self.training and torch.is_grad_enabled() and x.device.type == 'cpu' and x.dim() == 4
                and x.dtype in (torch.float32, torch.float64)):
            out = super().forward(x)  # also raises the stock error for a non-4-D input
            if self.training and self.frames > 1 and self.running_var is not None:
                with torch.no_grad():
                    self._recount_running_var(torch.var(x, dim=(0, 2, 3), correction=0), x,
                                              self._last_momentum())
            return out
        if self.track_running_stats and self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        momentum = self._last_momentum()
        x = x.contiguous()
        with torch.no_grad():
            # updates running_mean / running_var in place (unbiased variance), as the stock layer does
            mean, var = torch.batch_norm_update_stats(x, self.running_mean, self.running_var, momentum)
            if self.frames > 1 and self.running_var is not None:
                self._recount_running_var(var, x, momentum)
            invstd = torch.rsqrt(var + self.eps)
            scale = invstd if self.weight is None else self.weight * invstd
            shift = -mean * scale if self.bias is None else self.bias - mean * scale
        out = _BatchNormTraining.apply(x, self.weight, self.bias, mean, invstd, scale, shift, self.eps)
        setattr(out, _SOURCE_ATTR, (x.detach(), scale, shift, out._version))
        return out

    def _last_momentum(self) -> float:
        """The factor of this step's running-statistic update (after ``num_batches_tracked`` counted it)."""
        if self.momentum is not None:
            return self.momentum
        return 1.0 / float(self.num_batches_tracked) if self.num_batches_tracked is not None else 0.0

    def _recount_running_var(self, biased_var: torch.Tensor, x: torch.Tensor, momentum: float) -> None:
        """Correct the running variance's last update from ``n`` values per channel to ``frames * n``.

        The update added ``momentum * var * n / (n - 1)``; ``frames`` copies of the batch have the same mean and
        biased variance, only Bessel's factor ``N / (N - 1)`` (``N = frames * n``) differs.
        """
        n = x.numel() // x.shape[1]
        total = n * self.frames
        self.running_var.add_(biased_var * (momentum * (total / (total - 1) - n / (n - 1))))


@contextlib.contextmanager
def counting_frames(module: nn.Module, frames: int):
    """Within this context, each :class:`RecomputableBatchNorm2d` in ``module`` treats a training batch as
    ``frames`` identical copies of itself: its running statistics become what they would be on the input repeated
    ``frames`` times (the outputs and gradients are the same either way).

    Direct encoding runs the network's neuron-free stem once per image instead of once per time step; this keeps
    its BatchNorm's running variance equal to the reference's, which sees the image repeated T times.
    """
    layers = [m for m in module.modules() if isinstance(m, RecomputableBatchNorm2d)] if frames > 1 else []
    for layer in layers:
        layer.frames = frames
    try:
        yield
    finally:
        for layer in layers:
            del layer.frames


def bn_source_of(x: torch.Tensor) -> Optional[Tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """``(bn_input [T, B, C, HW], scale [C, 1], shift [C, 1])`` if ``x [T, B, C, H, W]`` is, unchanged and whole,
    the training output of a :class:`RecomputableBatchNorm2d` (``x == bn_input * scale + shift`` exactly), else
    ``None``."""
    base = x if x._base is None else x._base
    source = getattr(base, _SOURCE_ATTR, None)
    if source is None or x.dim() < 3 or not x.is_contiguous():
        return None
    bn_input, scale, shift, version = source
    if (base._version != version or x.numel() != base.numel() or x.storage_offset() != base.storage_offset()
            or x.shape[2] != scale.numel() or x.shape[0] * x.shape[1] != bn_input.shape[0]):
        return None
    T, B, C = x.shape[:3]
    return bn_input.view(T, B, C, -1), scale.view(C, 1), shift.view(C, 1)


def forget_bn_source(x: torch.Tensor) -> torch.Tensor:
    """Drop the tag of :func:`bn_source_of` from ``x`` (e.g. at an activation-checkpoint boundary, whose recomputed
    forward receives an untagged copy: both passes must save the same tensors); returns ``x``."""
    base = x if x._base is None else x._base
    if hasattr(base, _SOURCE_ATTR):
        delattr(base, _SOURCE_ATTR)
    return x
