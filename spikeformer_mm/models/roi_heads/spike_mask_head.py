"""Spiking mask head for mmdet: mmdet's FCNMaskHead with a neuron in front of every conv and the deconv."""
from mmdet.models.roi_heads.mask_heads import FCNMaskHead

from spikeformer_mm.models.spike_input import SpikeInputsMixin
from spikeformer_mm.registry import MODELS


@MODELS.register_module()
class SpikeFCNMaskHead(SpikeInputsMixin, FCNMaskHead):
    """mmdet's ``FCNMaskHead`` made spike-driven: the 3x3 convs, the 2x deconv and the 1x1 mask logits conv
    each fire a neuron on their input.

    Same arguments as ``mmdet.models.roi_heads.FCNMaskHead`` plus ``neuron_cfg`` (an element-wise neuron).

    Shapes: RoI features ``[R, C, 14, 14]`` -> mask logits ``[R, num_classes, 28, 28]`` (``[R, 1, 28, 28]`` when
    class-agnostic).
    """
