"""Batch event frames for the spiking backbones, time-major."""
import torch
from mmpretrain.models import ClsDataPreprocessor

from spikeformer_mm.registry import MODELS


@MODELS.register_module()
class EventDataPreprocessor(ClsDataPreprocessor):
    """mmpretrain's ``ClsDataPreprocessor`` for event frames, returning them time-major.

    Each sample is ``[T, C, H, W]`` (``EventsToFrames`` + ``PackInputs``); the batch is stacked, optionally
    normalised per channel and batch-augmented (Mixup/CutMix act on the batch axis) as for images, then transposed
    to ``[T, B, C, H, W]``, the layout every spiking backbone of this package reads as event frames.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        data = super().forward(data, training)
        inputs: torch.Tensor = data['inputs']
        if inputs.dim() != 5:
            raise ValueError(f'EventDataPreprocessor expects samples of event frames [T, C, H, W] (a batch '
                             f'[B, T, C, H, W]), got a batch of shape {tuple(inputs.shape)}')
        data['inputs'] = inputs.transpose(0, 1).contiguous()
        return data
