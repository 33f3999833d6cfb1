"""Spiking heads (registered in ``spikeformer_mm.registry.MODELS``)."""
from .spiking_distill_cls_head import SpikingDistillClsHead
from .spiking_linear_cls_head import SpikingLinearClsHead

__all__ = ['SpikingLinearClsHead', 'SpikingDistillClsHead']
