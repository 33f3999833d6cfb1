"""E-SpikeFormer Large's classifier: a real-valued Linear head plus an optional spiking distillation head."""
from typing import Optional, Tuple

import torch
from mmpretrain.models.heads import ClsHead
from torch import nn

from spikeformer_mm.ops import build_neuron
from spikeformer_mm.registry import MODELS

# Model_Large's pre-head neuron (spikformer.py, Multispike(norm=1)): integers 0..4, ties up, strict window
LARGE_HEAD_NEURON = dict(type='SFANeuron', D=4, norm=1, tie='up', window='strict')


@MODELS.register_module()
class SpikingDistillClsHead(ClsHead):
    """``logits = mean_T(fc(x))``, and with ``with_kd`` the average with ``mean_T(fc_kd(neuron(x)))``.

    The reference Model_Large (Spike-Driven-Transformer-V3 ``SDT_V3/Classification/Model_Large/spikformer.py``,
    ``Spikformer``) applies ``head`` to the pooled features *before* the spike (a
    real-valued classifier) and ``head_kd`` to ``Multispike(norm=1)`` of them (integers 0..D); it
    evaluates the average of the two, and its released checkpoints and parameter counts include both. Trained on
    its own, the head trains that average on the labels; inside :class:`~spikeformer_mm.DistillImageClassifier`,
    ``fc`` learns the labels and ``fc_kd`` the teacher.

    Args:
        num_classes: number of classes.
        in_channels: feature width C.
        with_kd: build the spiking distillation head ``fc_kd``.
        neuron_cfg: the neuron in front of ``fc_kd``; default Model_Large's,
            ``dict(type='SFANeuron', D=4, norm=1, tie='up', window='strict')``.
        init_cfg: default xavier-uniform Linear weights and zero bias, as the reference.
        **kwargs: ``loss``, ``topk``, ``cal_acc`` of mmpretrain's ``ClsHead``.

    Shapes: ``feats[-1]`` ``[T, B, C]`` (or ``[B, C]`` as one step) -> logits ``[B, num_classes]``.
    """

    def __init__(self, num_classes: int, in_channels: int, with_kd: bool = True,
                 neuron_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = dict(type='Xavier', layer='Linear', distribution='uniform', bias=0.0),
                 **kwargs):
        super().__init__(init_cfg=init_cfg, **kwargs)
        if num_classes <= 0:
            raise ValueError(f'num_classes must be positive, got {num_classes}')
        self.num_classes = num_classes
        self.in_channels = in_channels
        self.fc = nn.Linear(in_channels, num_classes)
        self.neuron = build_neuron(neuron_cfg or LARGE_HEAD_NEURON) if with_kd else None
        self.fc_kd = nn.Linear(in_channels, num_classes) if with_kd else None

    def pre_logits(self, feats: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        """The pooled last feature as ``[T, B, C]``."""
        x = feats[-1]
        if x.dim() == 2:
            x = x.unsqueeze(0)
        if x.dim() != 3 or x.shape[-1] != self.in_channels:
            raise ValueError(f'SpikingDistillClsHead expects [T, B, {self.in_channels}] or '
                             f'[B, {self.in_channels}] features, got shape {tuple(x.shape)}')
        return x

    def forward(self, feats: Tuple[torch.Tensor, ...]) -> torch.Tensor:
        if self.fc_kd is None:
            return self.fc(self.pre_logits(feats)).mean(0)
        logits, kd_logits = self.forward_with_kd(feats)
        return (logits + kd_logits) / 2

    def forward_with_kd(self, feats: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor, torch.Tensor]:
        """The class logits (``fc``, real-valued features) and the distillation logits (``fc_kd``, spikes), each
        ``[B, num_classes]`` (needs ``with_kd``)."""
        if self.fc_kd is None:
            raise ValueError('forward_with_kd needs the distillation head: build it with with_kd=True')
        x = self.pre_logits(feats)
        return self.fc(x).mean(0), self.fc_kd(self.neuron(x)).mean(0)
