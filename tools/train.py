"""Train a classifier, detector or segmentor from a config (mmpretrain, mmdet or mmseg).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--unsafe-load] [--cfg-options k=v ...]
                                 [--launcher {none,pytorch,slurm,mpi}]

Before anything is built, every data root, annotation file and image folder the run needs is checked (a missing
one is named). ``--launcher pytorch`` (tools/dist_train.sh, torchrun) also works without a GPU, over gloo.
Checkpoints (``--resume``, ``load_from``, ``init_cfg=dict(type='Pretrained')``) load with ``weights_only=True``
(``--unsafe-load`` for a trusted legacy file that needs full unpickling); checkpoints are written atomically.
"""
import argparse

from mmengine.config import Config
from mmengine.runner import Runner

import spikeformer_mm  # noqa: F401  (registries resolve lazily)
from spikeformer_mm.benchmark.cpu_allocator import reuse_freed_cpu_memory
from spikeformer_mm.engine.atomic_saving import atomic_checkpoint_saving
from spikeformer_mm.engine.checkpoint_loading import safe_checkpoint_loading
from spikeformer_mm.engine.cpu_distributed import (
    exit_cpu_distributed_process,
    prepare_cpu_distributed,
    release_cpu_distributed,
)
from spikeformer_mm.engine.data_paths import check_data_paths
from spikeformer_mm.engine.runner_config import add_runner_args, load_config


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a spiking model with mmengine')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir if no CKPT is given')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision training')
    add_runner_args(parser, 'train_cfg.max_iters=10')
    return parser.parse_args(argv)


def build_config(args) -> Config:
    cfg = load_config(args)
    if args.amp:
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None) -> Runner:
    args = parse_args(argv)
    cfg = build_config(args)
    check_data_paths(cfg, ('train', 'val'))
    prepare_cpu_distributed(cfg)
    # the model's init_cfg, load_from and resume all load inside runner.train()
    with safe_checkpoint_loading(unsafe=args.unsafe_load or None), atomic_checkpoint_saving():
        runner = Runner.from_cfg(cfg)
        try:
            runner.train()
        finally:
            release_cpu_distributed()
    return runner


if __name__ == '__main__':
    reuse_freed_cpu_memory()  # large CPU tensors reuse freed memory instead of fresh page faults every step
    main()
    exit_cpu_distributed_process()  # a finished gloo run skips the teardown that can abort it
