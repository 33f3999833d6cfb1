"""Spiking box head for mmdet: mmdet's ConvFCBBoxHead with a neuron in front of every conv and fc."""
from mmdet.models.roi_heads.bbox_heads import ConvFCBBoxHead

from spikeformer_mm.models.spike_input import SpikeInputsMixin
from spikeformer_mm.registry import MODELS


@MODELS.register_module()
class SpikeConvFCBBoxHead(SpikeInputsMixin, ConvFCBBoxHead):
    """mmdet's ``ConvFCBBoxHead`` made spike-driven: each shared/branch conv and fc, and the cls and reg
    predictors, fire a neuron on their input.

    Same arguments as ``mmdet.models.roi_heads.ConvFCBBoxHead`` plus ``neuron_cfg`` (an element-wise neuron);
    ``num_shared_fcs=2`` gives the spiking counterpart of ``Shared2FCBBoxHead``.

    Shapes: RoI features ``[R, C, 7, 7]`` -> class scores ``[R, num_classes + 1]``, deltas ``[R, 4 * num_classes]``
    (``[R, 4]`` when class-agnostic).
    """
