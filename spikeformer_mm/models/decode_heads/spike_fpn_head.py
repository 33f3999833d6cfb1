"""Spike-driven Semantic-FPN decode head (Spike-Driven-Transformer-V3
``SDT_V3/Segmentation/mmseg/models/decode_heads/fpn_head.py``, ``QFPNHead``)."""
import math
from typing import List, Sequence

import torch
import torch.nn.functional as F
from mmseg.models.decode_heads.decode_head import BaseDecodeHead
from torch import nn

from spikeformer_mm.ops import build_neuron
from spikeformer_mm.registry import MODELS

from ..layers import SpikeConvBN, fold_time


class SpikeScaleBranch(nn.Module):
    """``n`` x [spike -> 3x3 conv (no bias) -> BN -> (x2 bilinear upsample if ``upsample``)].

    Shapes: ``[T, B, C_in, H, W]`` -> ``[T, B, C, H * 2^n, W * 2^n]`` (or ``[T, B, C, H, W]`` without upsampling).
    """

    def __init__(self, in_channels: int, channels: int, num_convs: int, upsample: bool, neuron_cfg: dict,
                 align_corners: bool = False):
        super().__init__()
        self.convs = nn.ModuleList(
            SpikeConvBN(in_channels if k == 0 else channels, channels, 3, padding=1, neuron_cfg=neuron_cfg)
            for k in range(num_convs))
        self.upsample = upsample
        self.align_corners = align_corners

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv in self.convs:
            x = conv(x)
            if self.upsample:
                x = fold_time(lambda y: F.interpolate(y, scale_factor=2, mode='bilinear',
                                                      align_corners=self.align_corners), x)
        return x


@MODELS.register_module()
class SpikeFPNHead(BaseDecodeHead):
    """Semantic-FPN head with a spiking neuron before every conv, including the classifier.

    Branch i (stride ``s_i``) has ``max(1, log2(s_i / s_0))`` spiking 3x3 conv + BN layers, each followed by a x2
    bilinear upsample when ``s_i > s_0``, so every branch ends at stride ``s_0``. The branches are summed, then
    spike -> dropout -> 1x1 ``conv_seg``. The logits come out at stride ``s_0`` (2 for the spiking backbones'
    outputs 0, 1, 2, 4); mmseg resizes them to the label map.

    Args:
        feature_strides: the true stride of each selected input, finest first, powers of 2. They are checked
            against the inputs' sizes at run time.
        neuron_cfg: the spiking neuron before each conv; default SFA with D=4.
        **kwargs: :class:`mmseg.models.decode_heads.decode_head.BaseDecodeHead` arguments (``in_channels``,
            ``channels``, ``num_classes``, ``in_index``, ``dropout_ratio``, ``loss_decode``, ...), except
            ``conv_cfg``/``norm_cfg``/``act_cfg``: each conv is preceded by a spike and followed by BatchNorm.

    Shapes: inputs ``[B, C_i, H_i, W_i]`` (or time-major ``[T, B, C_i, H_i, W_i]``, averaged over T after the
    classifier) -> logits ``[B, num_classes, H_0, W_0]``.
    """

    def __init__(self, feature_strides: Sequence[int], neuron_cfg: dict = dict(type='SFANeuron', D=4),
                 **kwargs):
        unsupported = sorted({'conv_cfg', 'norm_cfg', 'act_cfg'} & set(kwargs))
        if unsupported:
            raise ValueError(f'SpikeFPNHead does not take {unsupported}: each of its convs is preceded by a spiking '
                             'neuron (neuron_cfg) and followed by BatchNorm')
        super().__init__(input_transform='multiple_select', **kwargs)
        strides = list(feature_strides)
        if len(strides) != len(self.in_channels):
            raise ValueError(f'feature_strides {strides} must have one entry per input '
                             f'(in_channels={self.in_channels})')
        if any(s < 1 or s & (s - 1) for s in strides) or strides != sorted(strides):
            raise ValueError(f'feature_strides must be ascending powers of 2, got {strides}')
        self.feature_strides = strides
        self.scale_heads = nn.ModuleList(
            SpikeScaleBranch(c, self.channels, max(1, int(math.log2(s // strides[0]))), s != strides[0],
                             neuron_cfg, self.align_corners)
            for c, s in zip(self.in_channels, strides))
        self.out_neuron = build_neuron(neuron_cfg)

    def _check_strides(self, xs: List[torch.Tensor]) -> None:
        """Each input must be ``s_0 / s_i`` times the size of input 0 (up to rounding)."""
        h0, w0 = xs[0].shape[-2:]
        for i, (x, s) in enumerate(zip(xs, self.feature_strides)):
            h, w = x.shape[-2:]
            ratio = self.feature_strides[0] / s
            if abs(h - h0 * ratio) >= 1 or abs(w - w0 * ratio) >= 1:
                raise ValueError(
                    f'SpikeFPNHead feature_strides={self.feature_strides} do not match the inputs: input {i} is '
                    f'{h}x{w}, but at stride {s} relative to input 0 ({h0}x{w0} at stride '
                    f'{self.feature_strides[0]}) it should be about {h0 * ratio:g}x{w0 * ratio:g}')

    def forward(self, inputs: Sequence[torch.Tensor]) -> torch.Tensor:
        xs = self._transform_inputs(inputs)
        self._check_strides(xs)
        time_major = xs[0].dim() == 5
        xs = [x if time_major else x.unsqueeze(0) for x in xs]
        out = self.scale_heads[0](xs[0])
        size = out.shape[-2:]
        for branch, x in zip(self.scale_heads[1:], xs[1:]):
            y = branch(x)
            if y.shape[-2:] != size:  # odd input sizes: upsampled branches can overshoot by a pixel
                y = fold_time(lambda z: F.interpolate(z, size=size, mode='bilinear',
                                                      align_corners=self.align_corners), y)
            out = out + y
        return fold_time(self.cls_seg, self.out_neuron(out)).mean(0)
