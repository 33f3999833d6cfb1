"""mmengine hooks (registered in ``spikeformer_mm.registry.HOOKS``)."""
from .energy_hook import EnergyHook
from .load_from_check import LoadFromCheckHook

__all__ = ['EnergyHook', 'LoadFromCheckHook']
