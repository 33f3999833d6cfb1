"""Spike-driven FPN neck for Semantic-FPN segmentation (Spike-Driven-Transformer-V3
``SDT_V3/Segmentation/mmseg/models/necks/fpn.py``, ``QFPN``)."""
from typing import Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from torch import nn

from spikeformer_mm.registry import MODELS

from ..layers import SpikeConvBN, fold_time


@MODELS.register_module()
class SpikeSegFPN(BaseModule):
    """FPN whose every conv sees spikes, so the neck is spike-driven.

    For each input level i (finest first)::

        lateral_i = spike -> 1x1 conv C_i->C_out (bias) -> BN
        lateral_i += nearest-upsample(lateral_{i+1}) to lateral_i's size      (top-down, coarsest first)
        out_i     = spike -> 3x3 conv C_out->C_out (bias) -> BN

    No extra levels: one output per input, at the input's stride (the strides are whatever the backbone gives;
    two levels may share a stride).

    Args:
        in_channels: channels of each input level, finest first.
        out_channels: channels of every output level.
        neuron_cfg: the spiking neuron before each conv; default SFA with D=4 (levels 0..4, divided by 4).
        init_cfg: mmengine init config (Xavier-uniform convs by default, as mmseg's FPN).

    Shapes: a sequence of ``[B, C_i, H_i, W_i]`` -> tuple of ``[B, out_channels, H_i, W_i]``; time-major inputs
    ``[T, B, C_i, H_i, W_i]`` (a backbone with ``keep_time=True``) give time-major outputs.
    """

    def __init__(self, in_channels: Sequence[int], out_channels: int,
                 neuron_cfg: dict = dict(type='SFANeuron', D=4),
                 init_cfg: Optional[Union[dict, list]] = dict(type='Xavier', layer='Conv2d',
                                                                 distribution='uniform')):
        super().__init__(init_cfg=init_cfg)
        if not isinstance(in_channels, Sequence) or len(in_channels) == 0:
            raise ValueError(f'in_channels must be a non-empty sequence of ints, got {in_channels!r}')
        self.in_channels = list(in_channels)
        self.out_channels = out_channels
        self.lateral_convs = nn.ModuleList(
            SpikeConvBN(c, out_channels, 1, bias=True, neuron_cfg=neuron_cfg) for c in self.in_channels)
        self.fpn_convs = nn.ModuleList(
            SpikeConvBN(out_channels, out_channels, 3, padding=1, bias=True, neuron_cfg=neuron_cfg)
            for _ in self.in_channels)

    def _check_inputs(self, inputs: Sequence[torch.Tensor]) -> None:
        if len(inputs) != len(self.in_channels):
            raise ValueError(f'SpikeSegFPN expects {len(self.in_channels)} input levels (in_channels='
                             f'{self.in_channels}), got {len(inputs)}; check the backbone out_indices')
        dims = {x.dim() for x in inputs}
        if len(dims) != 1 or dims - {4, 5}:
            raise ValueError('SpikeSegFPN expects all inputs as [B, C, H, W] or all as [T, B, C, H, W], got '
                             f'shapes {[tuple(x.shape) for x in inputs]}')
        got = [x.shape[-3] for x in inputs]
        if got != self.in_channels:
            raise ValueError(f'SpikeSegFPN in_channels={self.in_channels} but the inputs have {got} channels')

    def forward(self, inputs: Sequence[torch.Tensor]) -> Tuple[torch.Tensor, ...]:
        self._check_inputs(inputs)
        time_major = inputs[0].dim() == 5
        xs = [x if time_major else x.unsqueeze(0) for x in inputs]
        laterals = [conv(x) for conv, x in zip(self.lateral_convs, xs)]
        for i in range(len(laterals) - 1, 0, -1):
            size = laterals[i - 1].shape[-2:]
            laterals[i - 1] = laterals[i - 1] + fold_time(
                lambda y: F.interpolate(y, size=size, mode='nearest'), laterals[i])
        outs = [conv(x) for conv, x in zip(self.fpn_convs, laterals)]
        return tuple(out if time_major else out.squeeze(0) for out in outs)
