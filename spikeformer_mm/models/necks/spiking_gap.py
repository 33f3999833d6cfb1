"""Global average pooling over space that keeps the time axis (the spiking classifiers' neck)."""
from typing import Tuple

import torch
from torch import nn

from spikeformer_mm.registry import MODELS


@MODELS.register_module()
class SpikingGlobalAvgPool(nn.Module):
    """Spatial mean of every input, keeping time: ``[T, B, C, H, W]`` -> ``[T, B, C]``.

    A 4-D input ``[B, C, H, W]`` (a backbone that already averaged over time) counts as one step: ``[1, B, C]``.
    Takes and returns a tuple, like mmpretrain's necks.
    """

    def forward(self, inputs: Tuple[torch.Tensor, ...]) -> Tuple[torch.Tensor, ...]:
        if not isinstance(inputs, tuple):
            raise TypeError(f'SpikingGlobalAvgPool expects a tuple of tensors, got {type(inputs).__name__}')
        outs = []
        for x in inputs:
            if x.dim() not in (4, 5):
                raise ValueError(f'SpikingGlobalAvgPool expects [T, B, C, H, W] or [B, C, H, W], '
                                 f'got shape {tuple(x.shape)}')
            pooled = x.mean(dim=(-2, -1))
            outs.append(pooled if x.dim() == 5 else pooled.unsqueeze(0))
        return tuple(outs)
