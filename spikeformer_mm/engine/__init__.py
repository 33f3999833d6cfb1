"""Runtime pieces: hooks, and the checkpoint I/O that the tools choose (nothing here changes mmengine on import).

* :mod:`.checkpoint_loading`: ``weights_only=True`` loading with an allow-list, and a context that routes
  mmengine's local checkpoint loading through it;
* :mod:`.atomic_saving`: a context in which mmengine writes checkpoints atomically.
"""
from . import hooks  # noqa: F401  (EnergyHook)
from .atomic_saving import atomic_checkpoint_saving
from .checkpoint_loading import load_checkpoint_file, safe_checkpoint_loading

__all__ = ['atomic_checkpoint_saving', 'load_checkpoint_file', 'safe_checkpoint_loading']
