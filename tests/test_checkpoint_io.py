"""Checkpoint I/O that the tools choose: weights_only loading with the allow-list, clear errors for unreadable files,
atomic writes, and mmengine left as it was once a context ends."""
import os

import numpy as np
import pytest
import torch
from mmengine.fileio import LocalBackend, get_file_backend
from mmengine.fileio import io as mmengine_io
from mmengine.runner.checkpoint import CheckpointLoader, _load_checkpoint, load_checkpoint, save_checkpoint
from torch import nn

import spikeformer_mm.engine.atomic_saving as atomic_saving
from spikeformer_mm.engine.atomic_saving import AtomicLocalBackend, atomic_checkpoint_saving
from spikeformer_mm.engine.checkpoint_loading import (
    CorruptCheckpointError,
    load_checkpoint_file,
    safe_checkpoint_loading,
)


def test_checkpoint_with_numpy_metadata_round_trips_with_weights_only(tmp_path):
    model = nn.Linear(3, 2)
    path = str(tmp_path / 'epoch_1.pth')
    # numpy scalars and arrays in meta are what weights_only=True refuses without the allow-list
    save_checkpoint({'state_dict': model.state_dict(),
                     'meta': {'epoch': np.int64(1), 'hist': np.arange(3), 'lr': np.float32(0.5)}}, path)
    with safe_checkpoint_loading():
        ckpt = _load_checkpoint(path, map_location='cpu')
        other = nn.Linear(3, 2)
        load_checkpoint(other, path, strict=True)
    assert ckpt['meta']['epoch'] == 1 and ckpt['meta']['hist'].tolist() == [0, 1, 2]
    assert ckpt['meta']['lr'] == np.float32(0.5) and ckpt['meta']['lr'].dtype == np.float32
    assert torch.equal(other.weight, model.weight)


def test_missing_checkpoint_names_the_path(tmp_path):
    with pytest.raises(FileNotFoundError, match=f'checkpoint file not found: {tmp_path}/nope.pth'):
        load_checkpoint_file(tmp_path / 'nope.pth')


@pytest.mark.parametrize('damage', ['truncated', 'empty', 'garbage'])
def test_unreadable_checkpoint_is_named(tmp_path, damage):
    path = tmp_path / 'epoch_3.pth'
    torch.save({'state_dict': nn.Linear(30, 20).state_dict(), 'meta': {'epoch': 3}}, path)
    data = path.read_bytes()
    path.write_bytes({'truncated': data[:len(data) // 2], 'empty': b'', 'garbage': b'not a checkpoint' * 8}[damage])
    with pytest.raises(CorruptCheckpointError, match=f'^{path}: cannot read the checkpoint \\(truncated or corrupt'):
        load_checkpoint_file(path)
    with safe_checkpoint_loading(), pytest.raises(CorruptCheckpointError, match=str(path)):
        load_checkpoint(nn.Linear(30, 20), str(path))  # the path mmengine's Runner and inferencers take


def test_contexts_restore_mmengine_even_after_an_error(tmp_path):
    loader, backend = CheckpointLoader._schemes[''], get_file_backend(str(tmp_path))
    with pytest.raises(FileNotFoundError):
        with safe_checkpoint_loading(require_complete_weights=True), atomic_checkpoint_saving():
            assert CheckpointLoader._schemes[''] is not loader
            assert isinstance(get_file_backend(str(tmp_path)), AtomicLocalBackend)
            mmengine_io.put(b'cached backend', str(tmp_path / 'x'))  # mmengine.fileio caches its backends
            load_checkpoint(nn.Linear(1, 1), str(tmp_path / 'nope.pth'))
    assert CheckpointLoader._schemes[''] is loader
    assert type(get_file_backend(str(tmp_path))) is type(backend) is LocalBackend
    assert not any(isinstance(b, AtomicLocalBackend) for b in mmengine_io.backend_instances.values())


def test_local_writes_are_atomic(tmp_path, monkeypatch):
    path = tmp_path / 'latest.pth'
    with atomic_checkpoint_saving():
        backend = get_file_backend(str(path))
        backend.put(b'old checkpoint', str(path))

        def crash(fd):
            raise OSError('disk full')

        monkeypatch.setattr(atomic_saving.os, 'fsync', crash)
        with pytest.raises(OSError, match='disk full'):
            save_checkpoint({'weights': torch.zeros(3)}, str(path))  # what the Runner's CheckpointHook calls
    assert path.read_bytes() == b'old checkpoint'
    assert os.listdir(tmp_path) == ['latest.pth']  # no temporary file left behind
