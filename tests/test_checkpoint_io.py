"""mmengine checkpoints load on torch >= 2.6 (weights_only default) and are written atomically."""
import os

import numpy as np
import pytest
import torch
from mmengine.fileio import get_file_backend
from mmengine.runner.checkpoint import _load_checkpoint, load_checkpoint, save_checkpoint
from torch import nn

import spikeformer_mm.engine.checkpoint as checkpoint_io


def test_checkpoint_with_pickled_metadata_round_trips(tmp_path):
    model = nn.Linear(3, 2)
    path = str(tmp_path / 'epoch_1.pth')
    # numpy scalars and arrays in meta are what weights_only=True refuses to unpickle
    save_checkpoint({'state_dict': model.state_dict(),
                     'meta': {'epoch': np.int64(1), 'hist': np.arange(3)}}, path)
    ckpt = _load_checkpoint(path, map_location='cpu')
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['hist'].tolist() == [0, 1, 2]
    other = nn.Linear(3, 2)
    load_checkpoint(other, path, strict=True)
    assert torch.equal(other.weight, model.weight)


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match='nope.pth'):
        _load_checkpoint(str(tmp_path / 'nope.pth'))


def test_local_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / 'latest.pth'
    backend = get_file_backend(str(path))
    assert isinstance(backend, checkpoint_io.AtomicLocalBackend)
    backend.put(b'old checkpoint', str(path))

    def crash(fd):
        raise OSError('disk full')

    monkeypatch.setattr(checkpoint_io.os, 'fsync', crash)
    with pytest.raises(OSError, match='disk full'):
        backend.put(b'new checkpoint, interrupted', str(path))
    assert path.read_bytes() == b'old checkpoint'
    assert os.listdir(tmp_path) == ['latest.pth']  # no temporary file left behind
