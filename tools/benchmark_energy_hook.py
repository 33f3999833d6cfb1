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
import statistics
import time

import torch
from mmengine.config import Config

import spikeformer_mm  # noqa: F401
from spikeformer_mm.energy import EnergyCounter
from spikeformer_mm.energy.model_inputs import build_model, random_batch

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


def benchmark(config: str, args) -> dict:
    """``{setting: (median wall seconds, median CPU seconds)}`` per batch."""
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = build_model(cfg)
    batch = random_batch(cfg.get('default_scope', 'mmengine'), args.batch_size, args.input_shape,
                         torch.Generator().manual_seed(0))
    counters = {'measuring': EnergyCounter(model)}
    if args.memory:
        counters['measuring + memory'] = EnergyCounter(model, memory=True)
    settings = ['plain', *counters, 'after detach']
    times = {setting: ([], []) for setting in settings}
    with torch.no_grad():
        for repeat in range(args.repeats + 1):
            for setting in settings:
                counter = counters.get(setting)
                if counter is not None:
                    counter.attach()
                wall, cpu = time.perf_counter(), time.process_time()
                model.test_step(batch)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                if counter is not None:
                    counter.detach()
                if repeat:  # the first round warms up (kernel compilation, allocator)
                    times[setting][0].append(wall)
                    times[setting][1].append(cpu)
    return {setting: (statistics.median(walls), statistics.median(cpus)) for setting, (walls, cpus) in times.items()}


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    print(f"batch {args.batch_size} x {args.input_shape[0]}x{args.input_shape[1]}, median of {args.repeats}, "
          f"torch threads {torch.get_num_threads()}")
    print(f"{'config':<52} {'setting':<20} {'wall s':>8} {'overhead':>9} {'CPU s':>8} {'overhead':>9}")
    for config in args.configs:
        medians = benchmark(config, args)
        wall0, cpu0 = medians['plain']
        for setting, (wall, cpu) in medians.items():
            print(f"{config.split('/')[-1][:52]:<52} {setting:<20} {wall:>8.3f} {wall / wall0 - 1:>+9.1%} "
                  f"{cpu:>8.3f} {cpu / cpu0 - 1:>+9.1%}")


if __name__ == '__main__':
    main()
