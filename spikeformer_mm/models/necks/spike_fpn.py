"""Spiking FPN for mmdet: mmdet's FPN with a neuron in front of every lateral, output and extra conv."""
from mmdet.models.necks import FPN

from spikeformer_mm.models.spike_input import SpikeInputsMixin
from spikeformer_mm.registry import MODELS


@MODELS.register_module()
class SpikeFPN(SpikeInputsMixin, FPN):
    """mmdet's ``FPN`` made spike-driven: every 1x1 lateral, 3x3 output and extra conv fires a neuron first.

    Same arguments as ``mmdet.models.necks.FPN`` plus ``neuron_cfg`` (an element-wise neuron; the default is the
    V3 reference's integer neuron, 0..4 un-normalised). The neuron behaves the same in train and eval (the
    reference's ``SpikeFPN``, Spike-Driven-Transformer-V3 ``SDT_V3/Detection/mmdet/models/necks/spike_fpn.py``,
    clamps to [0, 4] in training but to [0, 1] in eval).

    Extra levels come from mmdet's stride-2 1x1 max-pool (``add_extra_convs=False``), so with backbone features
    at strides (4, 8, 16, 16) and ``num_outs=5`` the outputs have strides (4, 8, 16, 16, 32): declare exactly
    those in the anchor generator and RoI extractors.

    Shapes: tuple of ``[B, C_i, H_i, W_i]`` -> tuple of ``num_outs`` tensors ``[B, out_channels, H_j, W_j]``.
    """
