"""Spiking necks (registered in ``spikeformer_mm.registry.MODELS``)."""
from .spiking_gap import SpikingGlobalAvgPool

__all__ = ['SpikingGlobalAvgPool']
