"""Spiking linear classification head: neuron over time -> Linear -> mean over time."""
from typing import Optional, Tuple

import torch
from mmpretrain.models.heads import ClsHead
from torch import nn

from spikeformer_mm.ops import SFANeuron, build_neuron, spike_driven_forward
from spikeformer_mm.registry import MODELS


@MODELS.register_module()
class SpikingLinearClsHead(ClsHead):
    """The spike-driven classifier head of Meta-SpikeFormer and E-SpikeFormer.

    ``S = neuron(x)`` over the time axis, ``logits = mean_T(Linear(S))``. The default neuron is the V2 LIF
    (threshold 1); E-SpikeFormer Base uses ``dict(type='SFANeuron', D=4, norm=1)`` (integers 0..4 into the Linear).
    With ``with_kd``, a second Linear ``fc_kd`` reads the same spikes, as the V2 reference's ``head_kd``
    (Spike-Driven-Transformer-V2 ``classification/models.py``, ``Spiking_vit_MetaFormer.forward``): it learns from a
    teacher (:class:`~spikeformer_mm.DistillImageClassifier`) and the logits are the average of the two.

    Args:
        num_classes: number of classes.
        in_channels: feature width C.
        neuron_cfg: the neuron in front of the Linear layer.
        with_kd: build the distillation Linear ``fc_kd``.
        spike_driven: with an SFA neuron, run the Linear on the ``D`` binary planes of its integer levels
            (spike-driven inference, equal to the integer path); also settable on a built model
            (``model.head.spike_driven = True``, next to ``model.backbone.spike_driven``).
        init_cfg: default truncated normal (std 0.02) for the Linear weight, zero bias, as the references.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of mmpretrain's ``ClsHead``.

    Shapes: ``feats[-1]`` ``[T, B, C]`` (or ``[B, C]`` as one step) -> logits ``[B, num_classes]``.
    """

    def __init__(self, num_classes: int, in_channels: int, neuron_cfg: Optional[dict] = None,
                 with_kd: bool = False, spike_driven: bool = False,
                 init_cfg: Optional[dict] = dict(type='TruncNormal', layer='Linear', std=0.02, bias=0.0),
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.neuron = build_neuron(neuron_cfg or dict(type='MultiStepLIF'))
        self.fc = nn.Linear(in_channels, num_classes)
        self.fc_kd = nn.Linear(in_channels, num_classes) if with_kd else None
        self.spike_driven = spike_driven

    def pre_logits(self, feats: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """Spikes of the last feature: ``[T, B, C]``."""
        x = feats[-1]
        if x.dim() == 2:
            x = x.unsqueeze(0)
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f'SpikingLinearClsHead expects [T, B, {self.in_channels}] or '
                             f'[B, {self.in_channels}] features, got shape {tuple(x.shape)}')
        return self.neuron(x)

    def forward(self, feats: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        spikes = self.pre_logits(feats)
        logits = self._linear(self.fc, spikes)
        if self.fc_kd is None:
            return logits
        return (logits + self._linear(self.fc_kd, spikes)) / 2

    def forward_with_kd(self, feats: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor, torch.Tensor]:
        """The class logits and the distillation logits, each ``[B, num_classes]`` (needs ``with_kd``)."""
        if self.fc_kd is None:
            raise ValueError('forward_with_kd needs a distillation Linear: build the head with with_kd=True')
        spikes = self.pre_logits(feats)
        return self._linear(self.fc, spikes), self._linear(self.fc_kd, spikes)

    def _linear(self, fc: nn.Linear, spikes: torch.Tensor) -> torch.Tensor:
        """``mean_T(fc(spikes))`` for spikes ``[T, B, C]``, as ``D`` binary planes when spike-driven."""
        if not self.spike_driven:
            return fc(spikes).mean(0)
        if not isinstance(self.neuron, SFANeuron):
            raise ValueError('spike_driven=True needs an SFA neuron in the head; '
                             f'got {type(self.neuron).__name__}, whose spikes are binary already')
        T, B = spikes.shape[:2]
        levels = torch.round(spikes * self.neuron.norm).flatten(0, 1)
        logits = spike_driven_forward(fc, levels, self.neuron.D, self.neuron.norm)
        return logits.view(T, B, -1).mean(0)
