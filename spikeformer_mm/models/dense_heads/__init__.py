"""Spiking dense heads for mmdet (registered in ``spikeformer_mm.registry.MODELS``)."""
from .spike_retina_head import SpikeRetinaHead
from .spike_rpn_head import SpikeRPNHead

__all__ = ['SpikeRPNHead', 'SpikeRetinaHead']
