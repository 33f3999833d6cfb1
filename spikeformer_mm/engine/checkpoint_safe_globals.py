"""The allow-list for ``torch.load(weights_only=True)``: what real checkpoints of this project name beyond tensors
and Python builtins.

Found with ``torch.serialization.get_unsafe_globals_in_checkpoint`` on the files themselves:

* mmengine checkpoints as ``tools/train.py`` writes them: ``message_hub.log_scalars`` holds ``HistoryBuffer``
  objects whose histories are numpy arrays (float64 values, int64 counts), ``message_hub.runtime_info`` numpy
  scalars (``eta``). Unpickling an array or a scalar rebuilds its dtype, whose class torch must also allow (it
  never appears as a name in the file): the numeric ones are, so a scalar of any numeric type in ``meta`` loads. A
  ``HistoryBuffer`` also pickles its statistics methods as ``getattr(HistoryBuffer, 'min')`` (and ``max``,
  ``current``, ``mean``): ``builtins.getattr`` is answered by :func:`history_buffer_statistic`, which returns
  those four methods and refuses every other attribute, so the file cannot reach anything else through it;
* the released BICLab checkpoints (``{'model', 'optimizer', 'epoch', 'scaler', 'args'}``, ``args`` the training
  script's ``argparse.Namespace``: Spike-Driven-Transformer-V2 ``classification/util/misc.py``, ``save_model``).

The classes only store the values they are given (numpy arrays, scalars and dtypes, the history buffer's
attributes, the namespace's attributes); none of them runs anything named by the file.
"""
import argparse
import pickle
from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

HISTORY_BUFFER_STATISTICS = ('min', 'max', 'current', 'mean')


def history_buffer_statistic(owner, name: str):
    """``getattr`` as a checkpoint may use it: only ``HistoryBuffer``'s own statistics methods."""
    if owner is HistoryBuffer and name in HISTORY_BUFFER_STATISTICS:
        return getattr(HistoryBuffer, name)
    raise pickle.UnpicklingError(f'getattr({owner!r}, {name!r}) is not allowed in a checkpoint; only '
                                 f'HistoryBuffer.{{{", ".join(HISTORY_BUFFER_STATISTICS)}}} are')


_reconstruct, _scalar = np._core.multiarray._reconstruct, np._core.multiarray.scalar
NUMERIC_DTYPE_CLASSES = [type(np.dtype(t)) for t in (np.bool_, np.int8, np.int16, np.int32, np.int64, np.uint8,
                                                      np.uint16, np.uint32, np.uint64, np.float16, np.float32,
                                                      np.float64)]

CHECKPOINT_SAFE_GLOBALS = [
    HistoryBuffer,
    (history_buffer_statistic, 'builtins.getattr'),
    np.ndarray,
    np.dtype,
    *NUMERIC_DTYPE_CLASSES,
    _reconstruct,
    _scalar,
    # numpy 1.x pickled the same two functions from numpy.core (numpy >= 2: numpy._core)
    (_reconstruct, 'numpy.core.multiarray._reconstruct'),
    (_scalar, 'numpy.core.multiarray.scalar'),
    argparse.Namespace,
]


def allowed_global_names():
    """The pickle names of :data:`CHECKPOINT_SAFE_GLOBALS` (``module.qualname``), as torch reports refused ones."""
    return {entry[1] if isinstance(entry, tuple) else f'{entry.__module__}.{entry.__qualname__}'
            for entry in CHECKPOINT_SAFE_GLOBALS}


@contextmanager
def allowed_checkpoint_globals() -> Iterator[None]:
    """``torch.serialization.safe_globals`` with :data:`CHECKPOINT_SAFE_GLOBALS`, removing on exit only what it
    added (whatever the process allowed before stays allowed)."""
    before = set(torch.serialization.get_safe_globals())
    added = [entry for entry in CHECKPOINT_SAFE_GLOBALS if entry not in before]
    with torch.serialization.safe_globals(added):
        yield
