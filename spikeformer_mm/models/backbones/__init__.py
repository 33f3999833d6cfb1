"""Spiking backbones (registered in ``spikeformer_mm.registry.MODELS``)."""
from .base_spiking_backbone import BaseSpikingBackbone, SpikingStage
from .meta_spikeformer import MetaSpikeFormer

__all__ = ['BaseSpikingBackbone', 'SpikingStage', 'MetaSpikeFormer']
