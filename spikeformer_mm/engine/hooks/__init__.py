"""mmengine hooks (registered in ``spikeformer_mm.registry.HOOKS``)."""
from .energy_hook import EnergyHook

__all__ = ['EnergyHook']
