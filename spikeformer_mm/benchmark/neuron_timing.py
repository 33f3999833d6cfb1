"""Time of the spiking neurons' passes against a ReLU on the same tensor (``tools/benchmark_neurons.py``).

Each op and its baseline are timed alternately, so that both see the same machine load; times are medians and a
ratio is the median of the ratios of the two calls of each repeat (:func:`summarize`).
"""
import statistics
from typing import Tuple

import torch
from spikingjelly.activation_based import surrogate
from torch import nn

from spikeformer_mm.ops import MultiStepLIF, SFANeuron
from spikeformer_mm.ops.spike_storage import pack_saved_tensor, unpack_saved_tensor

from .measure import interleaved_seconds
from .neuron_backend import describe_neuron_backend

LIF_SHAPE = (4, 8, 64, 56, 56)
SFA_SHAPE = (8, 64, 56, 56)
LIF_T1_SHAPE = (1, 8, 64, 56, 56)


def forward_backward_times(op, shape, warmup: int, repeats: int, backward: bool = True) -> Tuple[list, list]:
    """Seconds of ``op(x).backward(grad)`` and of the same with ``torch.relu`` in each repeat, timed alternately;
    with ``backward=False``, of ``op(x)`` under ``no_grad``.

    ``x`` has values in [0, 2) (around the LIF threshold and inside SFA's range); both share it and ``grad``.
    """
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(shape, generator=generator) * 2).requires_grad_()
    grad = torch.randn(shape, generator=generator)

    def runner(fn):
        def run():
            if not backward:
                with torch.no_grad():
                    return fn(x)
            x.grad = None
            fn(x).backward(grad)
        return run

    return tuple(interleaved_seconds([runner(op), runner(torch.relu)], warmup, repeats))


def restore_times(shape, warmup: int, repeats: int) -> Tuple[list, list]:
    """Seconds, in each repeat, of restoring an SFA (D=4) output of ``shape`` that autograd saved in 1 byte, and
    of a plain uint8 -> float32 cast of its saved bytes, timed alternately."""
    generator = torch.Generator().manual_seed(0)
    x = (torch.rand(shape, generator=generator) * 5).requires_grad_()
    packed = pack_saved_tensor(SFANeuron(D=4)(x))  # (its code bytes, norm, dtype, level shift)
    saved_bytes = packed[0]
    return tuple(interleaved_seconds(
        [lambda: unpack_saved_tensor(packed), lambda: saved_bytes.to(torch.float32)], warmup, repeats))


def per_step_lif(x: torch.Tensor, tau: float = 2.0, v_threshold: float = 1.0) -> torch.Tensor:
    """The reference's LIF as spikingjelly's ``torch`` backend runs it: a per-step loop under autograd.

    Charge ``h = v + (x[t] - v) / tau``, fire through the sigmoid surrogate (alpha 4), hard reset to 0 with the
    reset detached. ``[T, ...]`` -> spikes ``[T, ...]``.
    """
    fire = surrogate.Sigmoid(alpha=4.0)
    v = torch.zeros_like(x[0])
    spikes = []
    for x_t in x:
        h = v + (x_t - v) / tau
        spike = fire(h - v_threshold)
        v = h * (1 - spike.detach())
        spikes.append(spike)
    return torch.stack(spikes)


NEURON_ROWS = (  # name, op factory, shape, backward too, baseline, target
    ('MultiStepLIF (T=4)', MultiStepLIF, LIF_SHAPE, True, 'ReLU', '<= 3x'),
    ('per-step LIF loop, the reference (T=4)', lambda: per_step_lif, LIF_SHAPE, True, 'ReLU', '(reference)'),
    ('SFANeuron (D=4)', lambda: SFANeuron(D=4), SFA_SHAPE, True, 'ReLU', '<= 1.5x'),
    ('MultiStepLIF (T=1)', MultiStepLIF, LIF_T1_SHAPE, True, 'ReLU', '(training)'),
    ('MultiStepLIF (T=1), forward under no_grad', MultiStepLIF, LIF_T1_SHAPE, False, 'ReLU forward', '(inference)'))


def time_neurons(warmup: int, repeats: int) -> list:
    """Rows ``(name, shape, op seconds, baseline, baseline seconds, op / baseline, target)``: medians, the ratio
    the median of the ratios of the two calls of each repeat (baseline, target: text)."""
    rows = []
    for name, make_op, shape, backward, baseline, target in NEURON_ROWS:
        times = forward_backward_times(make_op(), shape, warmup, repeats, backward)
        rows.append((name, shape, *summarize(*times, baseline), target))
    times = restore_times(SFA_SHAPE, warmup, repeats)
    rows.append(('SFA output restored from its saved byte', SFA_SHAPE, *summarize(*times, 'uint8 -> float32 cast'),
                 '(backward)'))
    return rows


def summarize(op_times: list, baseline_times: list, baseline: str) -> tuple:
    """``(median op seconds, baseline, median baseline seconds, median paired ratio)``."""
    ratio = statistics.median(a / b for a, b in zip(op_times, baseline_times))
    return statistics.median(op_times), baseline, statistics.median(baseline_times), ratio


def format_rows(rows, threads: int) -> str:
    kernels = describe_neuron_backend(nn.ModuleList([MultiStepLIF(), SFANeuron()]), torch.device('cpu'))
    lines = [f'CPU, {threads} threads, torch {torch.__version__}; forward + backward unless stated; medians, the '
             'ratio: of the ratios of the calls timed in the same repeat',
             f'kernels: {kernels}', '',
             '| op | shape | op (ms) | baseline | baseline (ms) | op / baseline | target |',
             '|---|---|---|---|---|---|---|']
    for name, shape, seconds, baseline, baseline_seconds, ratio, target in rows:
        lines.append(f"| {name} | {list(shape)} | {seconds * 1e3:.2f} | {baseline} | {baseline_seconds * 1e3:.2f} | "
                     f'{ratio:.2f}x | {target} |')
    return '\n'.join(lines)
