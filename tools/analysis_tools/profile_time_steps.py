"""Where a training step's (or an inference call's) time goes as T grows: per-op self CPU time at each T against
the first, in one process.

    python tools/analysis_tools/profile_time_steps.py CONFIG [--model snn|ann] [--phase train|infer] [--T 1 4]
                                                      [--steps 2] [--batch 8] [--resolution 224 [W]]
                                                      [--threads 2] [--top 25] [--fuse-conv-bn]
                                                      [--cfg-options k=v ...]

Builds the model (``snn``, or its ANN twin ``ann``) at every ``--T`` exactly as ``tools/benchmark.py`` does (same
synthetic batch, optimizer and CPU allocator), then profiles ``--steps`` calls of each with ``torch.profiler``:
training steps (``--phase train``, the default) or the benchmark's inference call (``--phase infer``: the
network's ``mode='tensor'`` forward, eval, no grad; with ``--fuse-conv-bn`` on a copy whose BatchNorms are folded
into the convs, as the benchmark's option). Each T first makes one untimed call (which faults in again
what measuring the memory released), then the time-step counts take turns call by call so that the machine's
drift weighs on all of them alike. The models
share one heap here, unlike the benchmark's subprocesses: page faults can still inflate the larger T's ops. It
prints the total self CPU time per call at each T and the ``--top`` ops of the largest T, each with its time per
call at every T and its ratio to the first T: an op whose ratio exceeds the T ratio is what makes a call scale
worse than linearly. CPU only (the profiler's CPU times).
"""
import argparse
import collections
import importlib.util
import logging
import os.path as osp
import sys

import torch
from mmengine.config import DictAction
from mmengine.logging import MMLogger
from torch.profiler import profile

TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))


def load_benchmark_tool():
    """``tools/benchmark.py`` as a module (its ``Measurement`` builds and warms up a model as the benchmark does)."""
    spec = importlib.util.spec_from_file_location('spikeformer_benchmark_tool', osp.join(TOOLS, 'benchmark.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Per-op time of a training step or inference call at several T, '
                                                 'profiled in turns')
    parser.add_argument('config', help='classifier, detector or segmentor config file')
    parser.add_argument('--model', choices=['snn', 'ann'], default='snn', help='the spiking model or its ANN twin')
    parser.add_argument('--phase', choices=['train', 'infer'], default='train',
                        help="what to profile: a training step, or the benchmark's inference call (default: train)")
    parser.add_argument('--T', type=int, nargs='+', default=[1, 4], help='time steps (default: 1 4)')
    parser.add_argument('--steps', type=int, default=2, help='profiled calls per T (default: 2)')
    parser.add_argument('--batch', type=int, default=8, help='images per batch (default: 8)')
    parser.add_argument('--resolution', type=int, nargs='+', default=[224], metavar='SIZE',
                        help='input height and width, or one size for both (default: 224)')
    parser.add_argument('--threads', type=int, default=2, help='intra-op threads (default: 2)')
    parser.add_argument('--top', type=int, default=25, help='ops to list (default: 25)')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='--phase infer: BatchNorms folded into the convs (as tools/benchmark.py --fuse-conv-bn)')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override settings in the config, as in tools/train.py')
    args = parser.parse_args(argv)
    if not osp.isfile(args.config):
        parser.error(f'config file not found: {args.config}')
    if len(args.resolution) > 2 or min(args.resolution) < 1:
        parser.error(f'--resolution takes one or two positive sizes (H [W]), got {args.resolution}')
    args.resolution = args.resolution * 2 if len(args.resolution) == 1 else args.resolution
    if min(args.T) < 1 or len(set(args.T)) < 2 or len(set(args.T)) != len(args.T):
        parser.error(f'--T takes two or more distinct time-step counts >= 1, got {args.T}')
    if args.fuse_conv_bn and args.phase == 'train':
        parser.error('--fuse-conv-bn folds the BatchNorms for inference: it needs --phase infer')
    for name in ('steps', 'batch', 'threads', 'top'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1, got {getattr(args, name)}')
    return args


def profile_steps(args) -> dict:
    """``{T: Counter(op -> self CPU microseconds per call)}``, the Ts' calls of ``args.phase`` profiled in turns."""
    benchmark = load_benchmark_tool()
    MMLogger.get_current_instance().setLevel(logging.WARNING)  # not the optimizer's line per parameter
    measurements = {T: benchmark.Measurement(dict(
        config=osp.abspath(args.config), cfg_options=args.cfg_options, model=args.model, T=T, batch=args.batch,
        resolution=args.resolution, threads=args.threads, warmup=1, repeats=1, device='cpu',
        fuse_conv_bn=args.fuse_conv_bn)) for T in args.T}
    for measurement in measurements.values():  # faults in again what measuring the memory released, untimed
        measurement.seconds(args.phase)
    totals = {T: collections.Counter() for T in args.T}
    for _ in range(args.steps):
        for T, measurement in measurements.items():
            with profile() as prof:
                measurement.seconds(args.phase)
            for event in prof.key_averages():
                totals[T][event.key] += event.self_cpu_time_total / args.steps
    return totals


def format_table(totals: dict, top: int, phase: str) -> str:
    first, last = min(totals), max(totals)
    sums = {T: sum(ops.values()) for T, ops in totals.items()}
    call = 'training step' if phase == 'train' else 'inference call'
    lines = [f'self CPU time per {call} (ms): ' + ', '.join(f'T={T} {s / 1e3:.0f}' for T, s in sums.items())
             + f'; T={last} / T={first}: {sums[last] / sums[first]:.2f}x', '',
             '| op | ' + ' | '.join(f'T={T} (ms)' for T in totals) + f' | T={last} / T={first} |',
             '|---|' + '---|' * (len(totals) + 1)]
    for op, _ in totals[last].most_common(top):
        ratio = totals[last][op] / totals[first][op] if totals[first][op] else float('inf')
        lines.append(f'| {op[:60]} | ' + ' | '.join(f'{ops[op] / 1e3:.1f}' for ops in totals.values())
                     + f' | {ratio:.2f}x |')
    return '\n'.join(lines)


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    calls = 'training steps' if args.phase == 'train' else 'inference calls'
    print(f'{args.config}: {args.model}, batch {args.batch}, {args.resolution[0]}x{args.resolution[1]}, '
          f'{args.threads} threads, {args.steps} profiled {calls} per T')
    print(format_table(profile_steps(args), args.top, args.phase))


if __name__ == '__main__':
    sys.exit(main())
