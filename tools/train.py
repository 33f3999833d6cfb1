"""Train a classifier, detector or segmentor from a config (mmpretrain, mmdet or mmseg).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp] [--cfg-options k=v ...]
                                 [--launcher {none,pytorch,slurm,mpi}]

Before anything is built, every data root, annotation file and image folder the run needs is checked (a missing
one is named). ``--launcher pytorch`` (tools/dist_train.sh, torchrun) also works without a GPU, over gloo.
"""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.runner import Runner

import spikeformer_mm  # noqa: F401  (checkpoint fixes; registries resolve lazily)
from spikeformer_mm.engine.cpu_distributed import prepare_cpu_distributed
from spikeformer_mm.engine.data_paths import check_data_paths


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a spiking model with mmengine')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and checkpoints')
    parser.add_argument('--resume', nargs='?', type=str, const='auto',
                        help='resume from CKPT, or from the latest checkpoint in the work dir if no CKPT is given')
    parser.add_argument('--amp', action='store_true', help='enable automatic mixed precision training')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, e.g. train_cfg.max_iters=10')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (torchrun sets the environment for "pytorch")')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args) -> Config:
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'config file not found: {args.config}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
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
    cfg = build_config(parse_args(argv))
    check_data_paths(cfg, ('train', 'val'))
    prepare_cpu_distributed(cfg)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return runner


if __name__ == '__main__':
    main()
