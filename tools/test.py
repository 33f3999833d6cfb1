"""Evaluate a checkpoint with the config's test loop and evaluator (COCO, ADE20K, ImageNet metrics, ...).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl] [--unsafe-load]
                                           [--allow-missing-weights] [--cfg-options k=v ...]
                                           [--launcher {none,pytorch,slurm,mpi}]

Before anything is built, every data root, annotation file and image folder the run needs is checked (a missing
one is named). ``--launcher pytorch`` (tools/dist_test.sh, torchrun) also works without a GPU, over gloo.
The checkpoint loads with ``weights_only=True`` (``--unsafe-load`` for a trusted legacy file that needs full
unpickling) and must hold every weight of the config's model (``--allow-missing-weights`` evaluates anyway).
"""
import argparse
import os.path as osp

from mmengine.config import Config
from mmengine.runner import Runner

import spikeformer_mm  # noqa: F401  (registries resolve lazily)
from spikeformer_mm.benchmark.cpu_allocator import reuse_freed_cpu_memory
from spikeformer_mm.engine.checkpoint_loading import safe_checkpoint_loading
from spikeformer_mm.engine.cpu_distributed import (
    exit_cpu_distributed_process,
    prepare_cpu_distributed,
    release_cpu_distributed,
)
from spikeformer_mm.engine.data_paths import check_data_paths
from spikeformer_mm.engine.runner_config import add_runner_args, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a spiking model with mmengine')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--allow-missing-weights', action='store_true',
                        help='evaluate even if the checkpoint leaves weights of the model missing (random)')
    add_runner_args(parser, 'test_dataloader.dataset.data_root=...')
    return parser.parse_args(argv)


def build_config(args) -> Config:
    if not osp.isfile(args.checkpoint):
        raise FileNotFoundError(f'checkpoint file not found: {args.checkpoint}')
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    if args.out is not None:
        cfg.test_evaluator = list(cfg.test_evaluator) if isinstance(cfg.test_evaluator, (list, tuple)) \
            else [cfg.test_evaluator]
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=args.out))
    return cfg


def main(argv=None) -> dict:
    args = parse_args(argv)
    cfg = build_config(args)
    check_data_paths(cfg, ('test',))
    prepare_cpu_distributed(cfg)
    with safe_checkpoint_loading(unsafe=args.unsafe_load or None,
                                 require_complete_weights=not args.allow_missing_weights):
        try:
            return Runner.from_cfg(cfg).test()
        finally:
            release_cpu_distributed()


if __name__ == '__main__':
    reuse_freed_cpu_memory()  # large CPU tensors reuse freed memory instead of fresh page faults every step
    main()
    exit_cpu_distributed_process()  # a finished gloo run skips the teardown that can abort it
