"""Time of the spiking neurons' passes against a ReLU on the same tensor.

    python tools/benchmark_neurons.py [--threads 2] [--warmup 3] [--repeats 20]

Rows: the multi-step LIF at T=4 on ``[4, 8, 64, 56, 56]`` (spikeformer_mm's ``MultiStepLIF``, and the per-step
autograd loop that the reference implementation runs with spikingjelly's ``torch`` backend), and SFA (D=4) on
``[8, 64, 56, 56]``; each against ``torch.relu`` on the same tensor. A run is ``neuron(x).backward(grad)``; the next
two rows time the LIF at T=1 on ``[1, 8, 64, 56, 56]``, forward + backward (what a T=1 training step runs) and its
forward pass alone under ``no_grad`` (what T=1 inference runs). The last row times what a convolution's backward
pass gets back for an SFA output that autograd saved in 1 byte (:func:`spikeformer_mm.ops.spike_storage.
unpack_saved_tensor`: the levels restored to float32) against a plain uint8 -> float32 cast of the same bytes.
Each op and its baseline are timed alternately (so both see the same machine load), ``--repeats`` times after
``--warmup`` runs (which also absorb ``torch.compile``): times are medians, ratios the median of the ratios of the
two runs of each repeat (as in ``tools/benchmark.py``: a shared machine's speed drifts between runs a few ms apart).
The targets (last column, docs/benchmarks.md): LIF <= 3x ReLU, SFA <= 1.5x ReLU.
"""
import argparse

import torch

from spikeformer_mm.benchmark import reuse_freed_cpu_memory
from spikeformer_mm.benchmark.neuron_timing import format_rows, time_neurons


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Spiking neuron forward+backward vs ReLU')
    parser.add_argument('--threads', type=int, default=2, help='intra-op threads (default: 2)')
    parser.add_argument('--warmup', type=int, default=3, help='untimed runs first (default: 3)')
    parser.add_argument('--repeats', type=int, default=20, help='timed runs; medians are reported (default: 20)')
    args = parser.parse_args(argv)
    if args.threads < 1 or args.warmup < 1 or args.repeats < 1:
        parser.error('--threads, --warmup and --repeats must be >= 1')
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    reuse_freed_cpu_memory()  # as tools/train.py and tools/test.py run
    rows = time_neurons(args.warmup, args.repeats)
    print(format_rows(rows, args.threads))
    return rows


if __name__ == '__main__':
    main()
