"""Forward + backward time of the spiking neurons against a ReLU on the same tensor.

    python tools/benchmark_neurons.py [--threads 2] [--warmup 3] [--repeats 20]

Rows: the multi-step LIF at T=4 on ``[4, 8, 64, 56, 56]`` (spikeformer_mm's ``MultiStepLIF``, and the per-step
autograd loop that the reference implementation runs with spikingjelly's ``torch`` backend), and SFA (D=4) on
``[8, 64, 56, 56]``; each against ``torch.relu`` on the same tensor. A run is ``neuron(x).backward(grad)``; the last
two rows time the LIF at T=1 on ``[1, 8, 64, 56, 56]``, forward + backward (what a T=1 training step runs) and its
forward pass alone under ``no_grad`` (what T=1 inference runs). The neuron and the ReLU
are timed alternately (so both see the same machine load) and figures are medians over ``--repeats`` runs after
``--warmup`` runs (which also absorb ``torch.compile``). The issue's targets: LIF <= 3x ReLU, SFA <= 1.5x ReLU.
"""
import argparse
from typing import Tuple

import torch
from spikingjelly.activation_based import surrogate
from torch import nn

from spikeformer_mm.ops import MultiStepLIF, SFANeuron
from spikeformer_mm.utils.cpu_allocator import reuse_freed_cpu_memory
from spikeformer_mm.utils.measure import interleaved_median_seconds
from spikeformer_mm.utils.neuron_backend import describe_neuron_backend

LIF_SHAPE = (4, 8, 64, 56, 56)
SFA_SHAPE = (8, 64, 56, 56)
LIF_T1_SHAPE = (1, 8, 64, 56, 56)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Spiking neuron forward+backward vs ReLU')
    parser.add_argument('--threads', type=int, default=2, help='intra-op threads (default: 2)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed runs first (default: 3)')
    parser.add_argument('--repeats', type=int, default=20, help='timed runs; medians are reported (default: 20)')
    args = parser.parse_args(argv)
    if args.threads < 1 or args.warmup < 1 or args.repeats < 1:
        parser.error('--threads, --warmup and --repeats must be >= 1')
    return args


def forward_backward_seconds(op, shape, warmup: int, repeats: int, backward: bool = True) -> Tuple[float, float]:
    """Median seconds of ``op(x).backward(grad)`` and of the same with ``torch.relu``, timed alternately; with
    ``backward=False``, of ``op(x)`` under ``no_grad``.

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

    return tuple(interleaved_median_seconds([runner(op), runner(torch.relu)], warmup, repeats))


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


def measure(args):
    """Rows ``(name, shape, neuron seconds, ReLU seconds, target)`` (target: text for the table)."""
    return [(name, shape, *forward_backward_seconds(op, shape, args.warmup, args.repeats, backward), target)
            for name, op, shape, backward, target in (
                ('MultiStepLIF (T=4)', MultiStepLIF(), LIF_SHAPE, True, '<= 3x'),
                ('per-step LIF loop, the reference (T=4)', per_step_lif, LIF_SHAPE, True, '(reference)'),
                ('SFANeuron (D=4)', SFANeuron(D=4), SFA_SHAPE, True, '<= 1.5x'),
                ('MultiStepLIF (T=1)', MultiStepLIF(), LIF_T1_SHAPE, True, '(training)'),
                ('MultiStepLIF (T=1), forward under no_grad', MultiStepLIF(), LIF_T1_SHAPE, False, '(inference)'))]


def format_rows(rows, threads: int) -> str:
    kernels = describe_neuron_backend(nn.ModuleList([MultiStepLIF(), SFANeuron()]), torch.device('cpu'))
    lines = [f'CPU, {threads} threads, torch {torch.__version__}; forward + backward unless stated, median',
             f'kernels: {kernels}', '',
             '| neuron | shape | neuron (ms) | ReLU (ms) | neuron / ReLU | target |', '|---|---|---|---|---|---|']
    for name, shape, seconds, relu, target in rows:
        lines.append(f"| {name} | {list(shape)} | {seconds * 1e3:.2f} | {relu * 1e3:.2f} | {seconds / relu:.2f}x | "
                     f'{target} |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    reuse_freed_cpu_memory()  # as tools/train.py and tools/test.py run
    rows = measure(args)
    print(format_rows(rows, args.threads))
    return rows


if __name__ == '__main__':
    main()
