"""Say how to make a checkpoint file that a config names but that does not exist yet.

The configs name two kinds of local checkpoints:

* another run's output, ``work_dirs/<config name>/<epoch_N|iter_N>.pth`` (mmengine's default work dir is
  ``work_dirs/`` plus the config's file name): made by training that config;
* a converted BICLab release, e.g. ``checkpoints/meta-spikeformer-15m_in1k_backbone.pth``: made by
  ``tools/model_converters/biclab_to_mm.py``.
"""
import glob
import os
import os.path as osp
import re
from typing import Optional

_RUN_OUTPUT = re.compile(r'(?:^|/)work_dirs/([^/]+)/[^/]+\.pth$')


def is_local_path(checkpoint: str) -> bool:
    """Whether mmengine reads ``checkpoint`` from the local disk (no ``scheme://`` prefix)."""
    return '://' not in checkpoint


def how_to_make(checkpoint: str, converter_family: Optional[str] = None) -> str:
    """One sentence on how to produce the missing file ``checkpoint``.

    A ``work_dirs/<name>/...`` file is the output of training the config ``<name>.py`` (looked up under
    ``configs/`` of the working directory, the repository root for the tools); any other file is the conversion of
    a released checkpoint of ``converter_family`` (``'v2'``, ``'v3'``, ``'v3-large'``), if one is given.
    """
    run = _RUN_OUTPUT.search(checkpoint.replace(os.sep, '/'))
    if run:
        name = run.group(1)
        found = sorted(glob.glob(osp.join('configs', '**', f'{name}.py'), recursive=True))
        config = found[0] if found else f'CONFIG (the config file {name}.py)'
        return f'it is written by training {name}.py: run python tools/train.py {config} first'
    if converter_family:
        return ('convert the released BICLab checkpoint once: python tools/model_converters/biclab_to_mm.py '
                f'RELEASED.pth {checkpoint} --family {converter_family} --backbone-only')
    return 'put the checkpoint there, or point the config at it'
