"""Spiking backbones (registered in ``spikeformer_mm.registry.MODELS``)."""
from .base_spiking_backbone import BaseSpikingBackbone, SpikingStage
from .e_spikeformer import ESpikeFormer
from .e_spikeformer_dvs import ESpikeFormerDVS
from .e_spikeformer_large import ESpikeFormerLarge
from .meta_spikeformer import MetaSpikeFormer
from .spikeformer import Spikeformer

__all__ = ['BaseSpikingBackbone', 'SpikingStage', 'MetaSpikeFormer', 'ESpikeFormer', 'ESpikeFormerDVS',
           'ESpikeFormerLarge', 'Spikeformer']
