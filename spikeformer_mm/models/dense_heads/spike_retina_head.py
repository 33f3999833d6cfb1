"""Spiking RetinaNet head for mmdet: mmdet's RetinaHead with a neuron in front of each of its convs."""
from mmdet.models.dense_heads import RetinaHead

from spikeformer_mm.models.spike_input import SpikeInputsMixin
from spikeformer_mm.registry import MODELS

# mmdet's RetinaHead draws every conv from N(0, 0.01). Behind an integer neuron that silences the head: tower
# outputs of ~0.01 all round to 0 spikes, so the predictors see only zeros and their weights get no gradient.
# Kaiming (fan-in, ReLU gain) keeps the activations' scale from layer to layer, so the towers fire from the first
# step; the two predictors keep RetinaNet's small init (and the classifier its 1 % foreground prior on the bias).
SPIKING_RETINA_INIT = dict(
    type='Kaiming', layer='Conv2d', mode='fan_in', nonlinearity='relu', distribution='normal',
    override=[dict(type='Normal', name='retina_cls', std=0.01, bias_prob=0.01),
              dict(type='Normal', name='retina_reg', std=0.01)])


@MODELS.register_module()
class SpikeRetinaHead(SpikeInputsMixin, RetinaHead):
    """mmdet's ``RetinaHead`` made spike-driven: every stacked 3x3 conv of the classification and regression
    towers, and the two 3x3 predictors, fire a neuron on their input (the reference's ``SpikeRetinaHead``,
    Spike-Driven-Transformer-V3 ``SDT_V3/Detection/mmdet/models/dense_heads/spike_retina_head.py``, has the same
    layout).

    Same arguments as ``mmdet.models.dense_heads.RetinaHead`` plus ``neuron_cfg`` (an element-wise neuron; the
    default is the integer neuron of the other spiking heads, 0..4 un-normalised). The default ``init_cfg`` is
    :data:`SPIKING_RETINA_INIT` (the towers' convs Kaiming-initialised so that they fire at the start).

    Shapes per level: ``[B, C, H, W]`` -> scores ``[B, A * num_classes, H, W]``, box deltas ``[B, 4A, H, W]``
    (A anchors per position).
    """

    def __init__(self, *args, init_cfg: dict = SPIKING_RETINA_INIT, **kwargs):
        super().__init__(*args, init_cfg=init_cfg, **kwargs)
