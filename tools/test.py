"""Evaluate a checkpoint with the config's test loop and evaluator (COCO, ADE20K, ImageNet metrics, ...).

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out RESULTS.pkl] [--cfg-options k=v ...]
                                           [--launcher {none,pytorch,slurm,mpi}]

Before anything is built, every data root, annotation file and image folder the run needs is checked (a missing
one is named). ``--launcher pytorch`` (tools/dist_test.sh, torchrun) also works without a GPU, over gloo.
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
    parser = argparse.ArgumentParser(description='Test a spiking model with mmengine')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out', help='dump the raw predictions to this pickle file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help='override settings in the config, e.g. test_dataloader.dataset.data_root=...')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (torchrun sets the environment for "pytorch")')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def build_config(args) -> Config:
    for path, what in ((args.config, 'config'), (args.checkpoint, 'checkpoint')):
        if not osp.isfile(path):
            raise FileNotFoundError(f'{what} file not found: {path}')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir') is None:
        cfg.work_dir = osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    cfg.load_from = args.checkpoint
    if args.out is not None:
        cfg.test_evaluator = list(cfg.test_evaluator) if isinstance(cfg.test_evaluator, (list, tuple)) \
            else [cfg.test_evaluator]
        cfg.test_evaluator.append(dict(type='DumpResults', out_file_path=args.out))
    return cfg


def main(argv=None) -> dict:
    cfg = build_config(parse_args(argv))
    check_data_paths(cfg, ('test',))
    prepare_cpu_distributed(cfg)
    return Runner.from_cfg(cfg).test()


if __name__ == '__main__':
    main()
