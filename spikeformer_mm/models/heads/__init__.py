"""Spiking heads (registered in ``spikeformer_mm.registry.MODELS``)."""
from .spiking_linear_cls_head import SpikingLinearClsHead

__all__ = ['SpikingLinearClsHead']
