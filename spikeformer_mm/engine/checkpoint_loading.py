"""Checkpoint loading without running code from the file: ``torch.load(weights_only=True)`` plus an allow-list.

A pickled checkpoint can name any Python callable and have it called while it is read (``__reduce__``), so loading
a downloaded file with full unpickling lets the file run code. Here every load uses ``weights_only=True`` with the
types that real checkpoints hold allowed (:mod:`.checkpoint_safe_globals`); a checkpoint naming anything else is
refused with :class:`UnsafeCheckpointError`. Full unpickling happens only when asked for, per call (``unsafe=True``,
the tools' ``--unsafe-load``) or per process (``SPIKEFORMER_UNSAFE_LOAD=1``), and then a warning names the file.

* :func:`load_checkpoint_file`: this project's own loads (the converter, the tools).
* :func:`safe_checkpoint_loading`: a context in which mmengine's local checkpoint loading (``load_from``,
  ``resume``, ``init_cfg=dict(type='Pretrained')``, ``mmengine.runner.load_checkpoint`` and the toolboxes'
  inferencers, which all go through ``CheckpointLoader``) loads this way; optionally it also refuses a checkpoint
  that leaves weights of the model missing. Outside it mmengine is as it registered itself: importing
  ``spikeformer_mm`` changes nothing.
"""
import os
import os.path as osp
import pickle
import re
import warnings
from contextlib import contextmanager
from typing import Iterator, List, Optional

import torch
from mmengine.runner.checkpoint import CheckpointLoader

from .checkpoint_safe_globals import allowed_checkpoint_globals
from .complete_weights import complete_weights_required

UNSAFE_LOAD_ENV = 'SPIKEFORMER_UNSAFE_LOAD'
OPT_IN = ('pass --unsafe-load to the tool (tools/train.py, tools/test.py, tools/analysis_tools/energy.py, '
          f'tools/model_converters/biclab_to_mm.py) or set {UNSAFE_LOAD_ENV}=1 in the environment')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The checkpoint holds an object outside the allow-list: reading it would call code named by the file."""


class CorruptCheckpointError(RuntimeError):
    """The file is not a readable checkpoint (truncated, corrupt or not written by ``torch.save``)."""


class UnsafeLoadWarning(UserWarning):
    """A checkpoint is being loaded with full unpickling, on the user's explicit request."""


def unsafe_load_requested(unsafe: Optional[bool] = None) -> bool:
    """``unsafe`` if given, else whether ``SPIKEFORMER_UNSAFE_LOAD=1`` is set."""
    if unsafe is not None:
        return unsafe
    value = os.environ.get(UNSAFE_LOAD_ENV, '')
    if value not in ('', '0', '1'):
        raise ValueError(f'{UNSAFE_LOAD_ENV} must be 1 (allow full unpickling) or 0, got {value!r}')
    return value == '1'


# how torch's weights_only unpickler names what it refused: a global, a class to build, a function to call
_REFUSED = (r'GLOBAL (\S+) was not an allowed global', r'unsupported GLOBAL (\S+) whose module',
            r"but got <class '([^']+)'>", r'unrecognized function (\S+)')


def _refused_names(filename: str, error: Exception) -> List[str]:
    """What ``filename`` names outside the allow-list (empty if torch failed for another reason)."""
    try:  # every global of a zip checkpoint, found without unpickling; torch's message names only the first
        names = list(torch.serialization.get_unsafe_globals_in_checkpoint(filename))
    except Exception:  # the legacy format is not scanned, and an unreadable file has nothing to scan
        names = []
    for pattern in _REFUSED:
        names += [name for name in re.findall(pattern, str(error)) if name not in names]
    return names


def load_checkpoint_file(filename: str, map_location=None, unsafe: Optional[bool] = None):
    """``torch.load`` of a local file, ``weights_only=True`` with the checkpoint allow-list.

    Raises ``FileNotFoundError`` if there is no such file, :class:`UnsafeCheckpointError` (naming the refused
    globals and how to opt in) if the file holds anything outside the allow-list, and
    :class:`CorruptCheckpointError` if it cannot be read. With ``unsafe=True`` (or ``SPIKEFORMER_UNSAFE_LOAD=1``
    when ``unsafe`` is None) the file is fully unpickled after a :class:`UnsafeLoadWarning` naming it.
    """
    filename = osp.expanduser(os.fspath(filename))
    if not osp.isfile(filename):
        raise FileNotFoundError(f'checkpoint file not found: {filename}')
    if unsafe_load_requested(unsafe):
        warnings.warn(f'{filename}: loading with full unpickling (--unsafe-load / {UNSAFE_LOAD_ENV}=1): any code '
                      'this file names runs now', UnsafeLoadWarning, stacklevel=2)
        try:
            return torch.load(filename, map_location=map_location, weights_only=False)
        except Exception as error:  # torch reports a damaged file as EOFError, OSError, KeyError, RuntimeError...
            raise CorruptCheckpointError(f'{filename}: cannot read the checkpoint (truncated or corrupt?): '
                                         f'{_cause(error)}') from error
    with allowed_checkpoint_globals():
        try:
            return torch.load(filename, map_location=map_location, weights_only=True)
        except Exception as error:
            refused = _refused_names(filename, error)
            if refused:
                raise UnsafeCheckpointError(
                    f'{filename}: refused to load: the file names {", ".join(refused)}, outside the allow-list of '
                    'what mmengine and BICLab checkpoints hold (spikeformer_mm/engine/checkpoint_safe_globals.py); '
                    'unpickling it could run code from the file. Only if you trust this file, load it with full '
                    f'unpickling: {OPT_IN}.') from None
            raise CorruptCheckpointError(f'{filename}: cannot read the checkpoint (truncated or corrupt?): '
                                         f'{_cause(error)}') from error


def _cause(error: Exception) -> str:
    """One line on why torch failed: its weights_only wrapper puts the unpickler's own error last."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    if lines and lines[0].startswith('Weights only load failed'):
        lines = [line for line in lines if not line.startswith('Check the documentation')][-1:]
    return f'{type(error).__name__}: {lines[0]}' if lines else type(error).__name__


class _LastLoaded:
    """The file that mmengine's ``CheckpointLoader`` read last inside a context, for the missing-weights message."""

    def __init__(self):
        self.filename: Optional[str] = None


def _local_loader(unsafe: bool, last: _LastLoaded):
    def load(filename, map_location):
        last.filename = filename
        return load_checkpoint_file(filename, map_location, unsafe=unsafe)

    # mmengine logs "Loads checkpoint by <name[10:]> backend": local_weights_only / local_unpickling
    load.__name__ = 'load_from_local_unpickling' if unsafe else 'load_from_local_weights_only'
    return load


@contextmanager
def safe_checkpoint_loading(unsafe: Optional[bool] = None, require_complete_weights: bool = False) -> Iterator[None]:
    """Inside the context mmengine loads local checkpoints with :func:`load_checkpoint_file`.

    ``unsafe`` as in :func:`load_checkpoint_file` (decided once, on entry). With ``require_complete_weights``,
    loading weights into a model (``mmengine.runner.load_checkpoint``, ``Runner.load_checkpoint``, the toolboxes'
    ``init_model``/inferencers) raises :class:`~.complete_weights.MissingWeightsError` if the checkpoint leaves any
    of the model's weights missing or of another shape, naming them.
    """
    last = _LastLoaded()
    previous = CheckpointLoader._schemes['']
    CheckpointLoader.register_scheme(prefixes='', loader=_local_loader(unsafe_load_requested(unsafe), last),
                                     force=True)
    try:
        if require_complete_weights:
            with complete_weights_required(lambda: last.filename):
                yield
        else:
            yield
    finally:
        CheckpointLoader.register_scheme(prefixes='', loader=previous, force=True)
