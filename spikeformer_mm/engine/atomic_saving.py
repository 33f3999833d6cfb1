"""Atomic checkpoint writes, for the tools that choose them (``tools/train.py``, the converter).

mmengine writes a checkpoint by opening the target and writing into it, so a crash mid-write leaves a truncated
``epoch_N.pth``. :func:`atomic_checkpoint_saving` swaps mmengine's local storage backend for one that writes to a
temporary file in the same directory, fsyncs it and ``os.replace``-s it over the target: a file then holds either
its old content or the new one. Outside the context mmengine's backends are the ones it registered itself.
"""
import os
import os.path as osp
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Union

from mmengine.fileio import LocalBackend
from mmengine.fileio import io as mmengine_io
from mmengine.fileio.backends import backends, prefix_to_backends


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


@contextmanager
def atomic_checkpoint_saving() -> Iterator[None]:
    """Inside the context, mmengine's ``save_checkpoint`` (and every local ``put``) writes atomically."""
    previous = backends['local'], prefix_to_backends['']
    cached_before = set(mmengine_io.backend_instances)
    backends['local'] = prefix_to_backends[''] = AtomicLocalBackend
    try:
        yield
    finally:
        backends['local'], prefix_to_backends[''] = previous
        # mmengine.fileio's functions cache backend instances; drop those created here so none outlives the context
        for key in set(mmengine_io.backend_instances) - cached_before:
            if isinstance(mmengine_io.backend_instances[key], AtomicLocalBackend):
                del mmengine_io.backend_instances[key]
