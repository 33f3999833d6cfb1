"""Checkpoint I/O fixes installed on ``import spikeformer_mm``.

* Loading: torch >= 2.6 defaults ``torch.load`` to ``weights_only=True``, which cannot unpickle mmengine
  checkpoints (their ``meta`` holds message-hub state, numpy scalars, config dicts), so ``--resume`` and
  ``load_from`` fail. The local-file scheme of mmengine's ``CheckpointLoader`` is re-registered to load with
  ``weights_only=False``: only for local files the user names in a config or on the command line.
* Saving: mmengine writes checkpoints by opening the target and writing into it, so a crash mid-write leaves a
  truncated ``epoch_N.pth``. The local storage backend is re-registered to write to a temporary file in the same
  directory, fsync it and ``os.replace`` it over the target, so a file either has its old content or the new one.
"""
import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

import torch
from mmengine.fileio import LocalBackend, register_backend
from mmengine.runner.checkpoint import CheckpointLoader


def atomic_write_bytes(data: bytes, filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` atomically (temporary file + fsync + ``os.replace``)."""
    filepath = os.fspath(filepath)
    directory = osp.dirname(osp.abspath(filepath))
    os.makedirs(directory, exist_ok=True)
    fd, tmp_path = tempfile.mkstemp(prefix=f'.{osp.basename(filepath)}.', suffix='.tmp', dir=directory)
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_path, filepath)
    except BaseException:
        if osp.exists(tmp_path):
            os.remove(tmp_path)
        raise


class AtomicLocalBackend(LocalBackend):
    """mmengine's local storage backend whose ``put`` is atomic."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write_bytes(obj, filepath)


def load_local_checkpoint(filename: str, map_location=None):
    """Load a local checkpoint written by mmengine/torch, including its pickled metadata."""
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    return torch.load(filename, map_location=map_location, weights_only=False)


register_backend('local', AtomicLocalBackend, force=True, prefixes='')
CheckpointLoader.register_scheme(prefixes='', loader=load_local_checkpoint, force=True)
