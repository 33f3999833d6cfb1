"""Spiking mmseg decode heads (registered in ``spikeformer_mm.registry.MODELS``)."""
from .spike_fpn_head import SpikeFPNHead

__all__ = ['SpikeFPNHead']
