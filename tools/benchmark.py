"""Speed and memory of a spiking model against its ANN twin, at one or more time-step counts.

    python tools/benchmark.py CONFIG [--T 1 4] [--batch 8] [--resolution 224 [W]] [--threads 2]
                              [--warmup 2] [--repeats 5] [--rounds 1] [--device auto|cpu|cuda] [--fuse-conv-bn]
                              [--json FILE] [--cfg-options k=v ...]

CONFIG is a classifier (mmpretrain), detector (mmdet) or segmentor (mmseg) config. For every T, the spiking model
("snn") and its ANN twin ("ann": every spiking neuron replaced by a ReLU, :func:`spikeformer_mm.benchmark.ann_twin`)
are each measured in a subprocess of their own (``--threads`` intra-op threads) on a random batch of ``--batch``
images:

* training memory: the peak memory a training step adds over what is resident before it (model, optimizer
  state, inputs): see :mod:`spikeformer_mm.benchmark.measure`; and the process's peak during the step (that plus
  the resident memory: interpreter, libraries, weights, optimizer state). Measured first, with glibc mapping every
  tensor on its own; the times are then measured as ``tools/train.py`` runs, reusing freed memory
  (:mod:`spikeformer_mm.benchmark.cpu_allocator`);
* inference: images/s of the network's forward pass (``mode='tensor'``, no grad, preprocessed inputs);
  a segmentor's data preprocessor pads to ``--resolution`` instead of the config's crop size. With
  ``--fuse-conv-bn`` (as in mmdet's benchmark) it runs on a copy of the model whose BatchNorms are folded into the
  convs before them (``mmcv.cnn.fuse_conv_bn``: the same outputs, ``tests/test_fuse_conv_bn.py``), for the
  twin alike; training is measured on the model as it is;
* training step: seconds of ``model.train_step`` with the config's optimizer (preprocess, forward, loss,
  backward, optimizer step).

The workers of a round take turns, one call each per repeat after ``--warmup`` untimed calls, so that a machine
whose speed drifts weighs on all of them alike: the time ratios are the medians of the ratios of calls timed in the
same turn (:mod:`spikeformer_mm.benchmark.snn_vs_ann`). ``--rounds N`` repeats this in N fresh sets of workers
(the SNN started first in odd rounds, the twin in even ones). All workers of a round stay resident together (four
at the default ``--T 1 4``).
The printed table and ``--json`` give the figures, the ratios (with the quartiles of the paired ones), the median
page faults and system CPU seconds of a training step (a step that faults its activations in again is what makes
CPU steps scale worse than linearly), and each round's per-call seconds, page faults and system seconds, as costs:
``inference`` ratios compare time per image, so 1.05 means 5% slower.
"""
import argparse
import json
import os.path as osp

import torch
from mmengine.config import DictAction

from spikeformer_mm.benchmark.snn_vs_ann import format_report, run_benchmark


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Benchmark a spiking model against its ANN twin')
    parser.add_argument('config', help='classifier, detector or segmentor config file')
    parser.add_argument('--T', type=int, nargs='+', default=[1, 4], help='time steps to measure (default: 1 4)')
    parser.add_argument('--batch', type=int, default=8, help='images per batch (default: 8)')
    parser.add_argument('--resolution', type=int, nargs='+', default=[224], metavar='SIZE',
                        help='input height and width, or one size for both (default: 224)')
    parser.add_argument('--threads', type=int, default=2, help='intra-op threads (default: 2)')
    parser.add_argument('--warmup', type=int, default=2, help='untimed runs before measuring (default: 2)')
    parser.add_argument('--repeats', type=int, default=5, help='measured runs; figures are medians (default: 5)')
    parser.add_argument('--rounds', type=int, default=1,
                        help='subprocesses per model and T, SNN and twin alternating; medians (default: 1)')
    parser.add_argument('--device', choices=['auto', 'cpu', 'cuda'], default='auto',
                        help='auto: cuda if torch sees a GPU, else cpu')
    parser.add_argument('--fuse-conv-bn', action='store_true',
                        help='time inference with every BatchNorm folded into the conv before it (both models)')
    parser.add_argument('--json', metavar='FILE', help='also write the results to FILE as JSON')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                        help='override settings in the config, as in tools/train.py')
    args = parser.parse_args(argv)
    check_args(parser, args)
    return args


def check_args(parser, args):
    if not osp.isfile(args.config):
        parser.error(f'config file not found: {args.config}')
    if len(args.resolution) > 2 or min(args.resolution) < 1:
        parser.error(f'--resolution takes one or two positive sizes (H [W]), got {args.resolution}')
    args.resolution = args.resolution * 2 if len(args.resolution) == 1 else args.resolution
    for name in ('batch', 'threads', 'repeats', 'rounds'):
        if getattr(args, name) < 1:
            parser.error(f'--{name} must be >= 1, got {getattr(args, name)}')
    if args.warmup < 1:
        parser.error(f'--warmup must be >= 1 (the first runs compile and allocate), got {args.warmup}')
    if min(args.T) < 1 or len(set(args.T)) != len(args.T):
        parser.error(f'--T takes distinct time-step counts >= 1, got {args.T}')
    if args.device == 'cuda' and not torch.cuda.is_available():
        parser.error('--device cuda, but torch sees no CUDA device')


def main(argv=None):
    args = parse_args(argv)
    report = run_benchmark(args)
    print(format_report(report))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump(report, f, indent=2)
    return report


if __name__ == '__main__':
    main()
