"""Spiking necks (registered in ``spikeformer_mm.registry.MODELS``)."""
from .spike_fpn import SpikeFPN
from .spike_seg_fpn import SpikeSegFPN
from .spiking_gap import SpikingGlobalAvgPool

__all__ = ['SpikingGlobalAvgPool', 'SpikeSegFPN', 'SpikeFPN']
