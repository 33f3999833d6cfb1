"""Building blocks shared by the spiking backbones, necks and heads.

Tensors inside a backbone are time-major ``[T, B, C, H, W]``. Convolutions and BatchNorms run on the time and
batch axes merged (``[T*B, C, H, W]``), so BN statistics are shared across time steps; spiking neurons receive
``[T, B, ...]`` and run over the first axis.
"""
import torch
from mmcv.cnn.bricks import DropPath
from torch import nn

from spikeformer_mm.ops import RecomputableBatchNorm2d, SFANeuron, build_neuron, spike_driven_forward


def fold_time(module: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """Apply a per-frame ``module`` to ``[T, B, ...]`` by merging T and B: returns ``[T, B, ...']``."""
    T, B = x.shape[:2]
    y = module(x.flatten(0, 1))
    return y.view(T, B, *y.shape[1:])


class TimeDropPath(nn.Module):
    """Stochastic depth for ``[T, B, ...]`` tensors: drops a sample's branch at every time step together."""

    def __init__(self, drop_prob: float = 0.0):
        super().__init__()
        self.drop_path = DropPath(drop_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop_path(x.transpose(0, 1)).transpose(0, 1)


class SpikeConvBN(nn.Module):
    """Spike -> Conv2d -> BatchNorm2d: ``[T, B, C_in, H, W]`` -> ``[T, B, C_out, H', W']``.

    With ``neuron_cfg=None`` there is no spike (the encoding layer, which sees real-valued pixels). With
    ``spike_driven = True`` (set by the backbones) an SFA neuron's levels reach the conv as ``D`` binary planes
    (:func:`spikeformer_mm.ops.spike_driven_forward`): the same output, and the conv sees only 0/1 inputs.
    """
    spike_driven = False

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int = 0, groups: int = 1, bias: bool = False, neuron_cfg: dict = None):
        super().__init__()
        self.neuron = build_neuron(neuron_cfg) if neuron_cfg is not None else None
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, groups=groups,
                              bias=bias)
        self.bn = RecomputableBatchNorm2d(out_channels)  # a following LIF keeps none of its output

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.neuron is not None:
            x = self.neuron(x)
        if self.spike_driven and isinstance(self.neuron, SFANeuron):
            D, norm = self.neuron.D, self.neuron.norm
            return fold_time(lambda y: self.bn(spike_driven_forward(self.conv, torch.round(y * norm), D, norm)), x)
        return fold_time(lambda y: self.bn(self.conv(y)), x)


class ChannelConv(nn.Module):
    """The conv-based block's channel mixer: spike -> 3x3 C->rC -> BN -> spike -> 3x3 rC->C -> BN.

    ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]`` (the residual branch; the caller adds the shortcut).
    """

    def __init__(self, channels: int, neuron_cfg: dict, expansion: int = 4, bias: bool = False):
        super().__init__()
        hidden = channels * expansion
        self.conv1 = SpikeConvBN(channels, hidden, 3, padding=1, bias=bias, neuron_cfg=neuron_cfg)
        self.conv2 = SpikeConvBN(hidden, channels, 3, padding=1, bias=bias, neuron_cfg=neuron_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv2(self.conv1(x))


class SpikeMLP(nn.Module):
    """Token MLP as 1x1 convs: spike -> 1x1 C->rC (bias) -> BN -> spike -> 1x1 rC->C (bias) -> BN.

    ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]`` (the residual branch). Equivalent to the reference's Conv1d over
    flattened tokens with BatchNorm1d; checkpoint converters reshape ``[out, in, 1]`` weights to ``[out, in, 1, 1]``.
    """

    def __init__(self, channels: int, neuron_cfg: dict, mlp_ratio: float = 4.0):
        super().__init__()
        hidden = int(channels * mlp_ratio)
        self.fc1 = SpikeConvBN(channels, hidden, 1, bias=True, neuron_cfg=neuron_cfg)
        self.fc2 = SpikeConvBN(hidden, channels, 1, bias=True, neuron_cfg=neuron_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.fc1(x))
