"""Runtime pieces: checkpoint I/O fixes and hooks."""
from . import checkpoint  # noqa: F401  (installs weights_only-safe loading and atomic saving)
from . import hooks  # noqa: F401  (EnergyHook)
