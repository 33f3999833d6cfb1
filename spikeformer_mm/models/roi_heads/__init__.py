"""Spiking RoI box and mask heads for mmdet (registered in ``spikeformer_mm.registry.MODELS``)."""
from .spike_bbox_head import SpikeConvFCBBoxHead
from .spike_mask_head import SpikeFCNMaskHead

__all__ = ['SpikeConvFCBBoxHead', 'SpikeFCNMaskHead']
