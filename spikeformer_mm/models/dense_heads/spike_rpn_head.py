"""Spiking RPN head for mmdet: mmdet's RPNHead with a neuron in front of each of its convs."""
from mmdet.models.dense_heads import RPNHead

from spikeformer_mm.models.spike_input import SpikeInputsMixin
from spikeformer_mm.registry import MODELS


@MODELS.register_module()
class SpikeRPNHead(SpikeInputsMixin, RPNHead):
    """mmdet's ``RPNHead`` made spike-driven: neuron -> 3x3 conv, then neuron -> 1x1 cls and neuron -> 1x1 reg.

    Same arguments as ``mmdet.models.dense_heads.RPNHead`` plus ``neuron_cfg`` (an element-wise neuron).

    Shapes per level: ``[B, C, H, W]`` -> scores ``[B, A, H, W]``, box deltas ``[B, 4A, H, W]`` (A anchors per
    position).
    """
