"""Where a training step's (or an inference call's) time goes as T grows, or between the spiking model and its
ANN twin: per-op self CPU time of each against the first, in one process.

    python tools/analysis_tools/profile_time_steps.py CONFIG [--model ann snn] [--phase train|infer] [--T 1 4]
                                                      [--steps 2] [--warmup 1] [--batch 8]
                                                      [--resolution 224 [W]] [--threads 2] [--top 25]
                                                      [--fuse-conv-bn] [--by-shape] [--cfg-options k=v ...]

Builds the model (``snn``, its ANN twin ``ann``, or both, in the order given) at every ``--T`` (ascending) as
``tools/benchmark.py`` does (the same synthetic batch, optimizer and CPU allocator), then profiles ``--steps`` calls
of each with ``torch.profiler``: training steps (``--phase train``, the default) or the benchmark's inference
call (``--phase infer``: the network's ``mode='tensor'`` forward, eval, no grad; with ``--fuse-conv-bn`` on a copy
whose BatchNorms are folded into the convs, as the benchmark's option). Each (model, T) first makes
``--warmup`` untimed calls (which fault in again what measuring the memory released and let the heap settle),
then they take turns call by call so that the machine's drift weighs on all of them alike. The models share one
heap here, unlike the benchmark's subprocesses: page faults can still inflate the larger T's ops. It prints the
total self CPU time and the median wall time per call of each (model, T) with the median ratio of the last to the
first over calls of the same turn, then the ``--top`` ops of the last, each with its time per call in every
column and its ratio to the first: with several Ts, an op whose ratio exceeds the T ratio is what makes a call
scale worse than linearly; with ``--model ann snn`` and one T, what the spiking model spends beyond its twin, free
of the variation between processes that the benchmark's paired ratios carry. ``--by-shape`` lists every op once
per shape of its tensor inputs (the batch, which grows with T, written ``N``), e.g.
``aten::mkldnn_convolution [N, 24, 112, 112] [96, 24, 3, 3]``: which layer of an op scales worse. CPU only (the
profiler's CPU times).
"""
import argparse
import os.path as osp
import sys

import torch
from mmengine.config import DictAction

from spikeformer_mm.benchmark.op_profile import format_table, profile_steps


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Per-op time of a training step or inference call at several T, '
                                                 'or of the SNN and its ANN twin, profiled in turns')
    parser.add_argument('config', help='classifier, detector or segmentor config file')
    parser.add_argument('--model', choices=['snn', 'ann'], nargs='+', default=['snn'],
                        help='the spiking model, its ANN twin, or both in turns (default: snn)')
    parser.add_argument('--phase', choices=['train', 'infer'], default='train',
                        help="what to profile: a training step, or the benchmark's inference call (default: train)")
    parser.add_argument('--T', type=int, nargs='+', default=[1, 4], help='time steps (default: 1 4)')
    parser.add_argument('--steps', type=int, default=2, help='profiled calls per model and T (default: 2)')
    parser.add_argument('--warmup', type=int, default=1, help='untimed calls per model and T first (default: 1)')
    parser.add_argument('--batch', type=int, default=8, help='images per batch (default: 8)')
    parser.add_argument('--resolution', type=int, nargs='+', default=[224], metavar='SIZE',
                        help='input height and width, or one size for both (default: 224)')
    parser.add_argument('--threads', type=int, default=2, help='intra-op threads (default: 2)')
    parser.add_argument('--top', type=int, default=25, help='ops to list (default: 25)')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='--phase infer: BatchNorms folded into the convs (as tools/benchmark.py --fuse-conv-bn)')
    parser.add_argument('--by-shape', action='store_true',
                        help='one row per op and shapes of its tensor inputs, the batch written N')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override settings in the config, as in tools/train.py')
    args = parser.parse_args(argv)
    if not osp.isfile(args.config):
        parser.error(f'config file not found: {args.config}')
    if len(args.resolution) > 2 or min(args.resolution) < 1:
        parser.error(f'--resolution takes one or two positive sizes (H [W]), got {args.resolution}')
    args.resolution = args.resolution * 2 if len(args.resolution) == 1 else args.resolution
    if len(set(args.model)) != len(args.model):
        parser.error(f'--model takes snn, ann or both once, got {args.model}')
    if min(args.T) < 1 or len(set(args.T)) != len(args.T) or len(args.T) * len(args.model) < 2:
        parser.error(f'--T takes two or more distinct time-step counts >= 1 (or one, with both models), '
                     f'got {args.T}')
    if args.fuse_conv_bn and args.phase == 'train':
        parser.error('--fuse-conv-bn folds the BatchNorms for inference: it needs --phase infer')
    for name in ('steps', 'warmup', 'batch', 'threads', 'top'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1, got {getattr(args, name)}')
    return args


def main(argv=None):
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    calls = 'training steps' if args.phase == 'train' else 'inference calls'
    print(f'{args.config}: {" and ".join(args.model)}, batch {args.batch}, {args.resolution[0]}x'
          f'{args.resolution[1]}, {args.threads} threads, {args.steps} profiled {calls} per model and T after '
          f'{args.warmup} untimed')
    print(format_table(*profile_steps(args), args.top, args.phase))


if __name__ == '__main__':
    sys.exit(main())
