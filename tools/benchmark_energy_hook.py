"""Overhead of energy measurement on validation: time per batch of ``model.test_step`` (what a val loop runs per
iteration) without a counter, while an EnergyCounter is attached (what EnergyHook does during a measured loop),
and after it is detached (between measurements). Prints a table.

    python tools/benchmark_energy_hook.py [CONFIG ...] [--input-shape H W] [--batch-size B] [--repeats N]
        [--memory]

The settings are interleaved batch by batch and summarised by their medians, so that load from other processes
affects them alike. Both the wall time and this process's CPU time are measured; on a shared machine the CPU time
(with ``--threads 1``, the default) is the stable figure. Overhead = median(measuring) / median(plain) - 1; the
target is <= 10 %.
"""
import argparse

import torch

from spikeformer_mm.benchmark.energy_overhead import energy_counting_times

DEFAULT_CONFIGS = [
    'configs/meta_spikeformer/meta-spikeformer-15m_8xb128-lamb-200e_in1k.py',
    'configs/meta_spikeformer/meta-spikeformer-15m-t4_8xb24-lamb-50e_in1k.py',
    'configs/e_spikeformer/e-spikeformer-19m_8xb256-lamb-200e_in1k.py',
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark the cost of energy measurement during validation')
    parser.add_argument('configs', nargs='*', default=DEFAULT_CONFIGS, help='model configs')
    parser.add_argument('--input-shape', type=int, nargs=2, default=(224, 224), metavar=('H', 'W'))
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--repeats', type=int, default=5, help='timed batches per setting (after 1 warm-up)')
    parser.add_argument('--memory', action='store_true', help='also time the counter with the memory term')
    parser.add_argument('--threads', type=int, default=1, help='torch intra-op threads (default 1)')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"batch {args.batch_size} x {args.input_shape[0]}x{args.input_shape[1]}, median of {args.repeats}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'config':<52} {'setting':<20} {'wall s':>8} {'overhead':>9} {'CPU s':>8} {'overhead':>9}")
    for config in args.configs:
        medians = energy_counting_times(config, args.input_shape, args.batch_size, args.repeats, args.memory)
        wall0, cpu0 = medians['plain']
        for setting, (wall, cpu) in medians.items():
            print(f"{config.split('/')[-1][:52]:<52} {setting:<20} {wall:>8.3f} {wall / wall0 - 1:>+9.1%} "
                  f"{cpu:>8.3f} {cpu / cpu0 - 1:>+9.1%}")


if __name__ == '__main__':
    main()
