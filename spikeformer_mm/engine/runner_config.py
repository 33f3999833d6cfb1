"""Command-line handling shared by ``tools/train.py`` and ``tools/test.py``: the OpenMMLab arguments and config."""
import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction


def add_runner_args(parser: argparse.ArgumentParser, cfg_options_example: str) -> None:
    """``--work-dir``, ``--cfg-options``, ``--launcher`` and ``--local_rank``, as in mmdet/mmseg/mmpretrain, and
    ``--unsafe-load``."""
    parser.add_argument('--work-dir', help='the dir to save logs, checkpoints and metrics')
    parser.add_argument('--unsafe-load', action='store_true',
                        help='load checkpoints with full unpickling (weights_only=False): only for trusted files '
                             'that the default weights_only=True loading refuses; any code the file names runs')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction,
                        help=f'override settings in the config, e.g. {cfg_options_example}')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none',
                        help='job launcher (torchrun sets the environment for "pytorch")')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args: argparse.Namespace) -> Config:
    """Read ``args.config`` and apply ``--launcher``, ``--cfg-options`` and ``--work-dir`` (default
    ``./work_dirs/<config name>``)."""
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
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
    return cfg
