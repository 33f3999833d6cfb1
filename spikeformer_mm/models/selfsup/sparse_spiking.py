"""SparK-style sparse execution of the spiking conv units on ``[T, B, C, H, W]`` maps, the mask passed explicitly.

As SparK (arXiv 2301.03580, §3.2) and the E-SpikeFormer Large pre-training (Spike-Driven-Transformer-V3
``SDT_V3/Classification/Model_Large/encoder.py``, ``SparseConv2d`` / ``SparseBatchNorm2d``): a convolution's output
is kept only at visible positions, and a BatchNorm normalises over the visible positions only; masked positions
hold 0. A spiking neuron maps 0 to 0, so they stay empty between layers, and a visible position reads 0 wherever
its receptive field covers a masked one: masked content reaches nothing.

mmpretrain's ``SparseConv2d`` / ``SparseBatchNorm2d`` read the mask from a class attribute
(``SparseHelper._cur_active``), one per process, and take ``[B, C, H, W]`` maps; here the mask is an argument
(two models in one process cannot see each other's mask) and the time axis is merged with the batch.
"""
import torch
from torch import nn

from ..backbones.e_spikeformer_large import LargeConvBlock
from ..layers import SpikeConvBN, fold_time


def visible_at(visible: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """The patch mask ``[B, h, w]`` (True = visible) at a map resolution ``height x width`` (multiples of h, w).

    Returns ``[B, height, width]`` bool: each patch covers a ``height / h x width / w`` block.
    """
    h, w = visible.shape[-2:]
    if height % h or width % w:
        raise ValueError(f'a {height}x{width} map does not divide into the {h}x{w} patch grid')
    return visible.repeat_interleave(height // h, 1).repeat_interleave(width // w, 2)


def sparse_batch_norm(bn: nn.BatchNorm2d, x: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """``bn`` over the visible positions of ``x [T, B, C, H, W]`` only; masked positions of the output are 0.

    ``visible``: ``[B, h, w]`` bool patch mask. In training the batch statistics (and the running-statistic
    update) come from the visible positions of every time step and image, as the reference's BatchNorm1d over the
    gathered ``[n, C]`` features.
    """
    keep = visible_at(visible, *x.shape[-2:]).expand(x.shape[0], -1, -1, -1)  # [T, B, H, W]
    channels_last = x.movedim(2, -1)  # [T, B, H, W, C]
    normed = bn(channels_last[keep][:, :, None, None]).flatten(1)  # [n, C]: BatchNorm2d on n 1x1 maps
    out = channels_last.new_zeros(channels_last.shape)
    out[keep] = normed
    return out.movedim(-1, 2)


def sparse_spike_conv_bn(unit: SpikeConvBN, x: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """A :class:`SpikeConvBN` (spike -> conv -> BN) run sparsely: ``[T, B, C_in, H, W]`` -> ``[T, B, C_out, H', W']``.

    The conv output outside the visible positions is dropped by :func:`sparse_batch_norm`.
    """
    if unit.neuron is not None:
        x = unit.neuron(x)
    return sparse_batch_norm(unit.bn, fold_time(unit.conv, x), visible)


def run_sparse_unit(unit: nn.Module, x: torch.Tensor, visible: torch.Tensor) -> torch.Tensor:
    """One unit of an E-SpikeFormer Large conv stage run sparsely: a downsampling :class:`SpikeConvBN` or a
    :class:`LargeConvBlock` (``x + DropPath(conv2(conv1(x)))``). ``[T, B, C, H, W]`` -> ``[T, B, C', H', W']``."""
    if isinstance(unit, SpikeConvBN):
        return sparse_spike_conv_bn(unit, x, visible)
    if isinstance(unit, LargeConvBlock):
        branch = unit.channel_conv
        hidden = sparse_spike_conv_bn(branch.conv1, x, visible)
        return x + unit.drop_path(sparse_spike_conv_bn(branch.conv2, hidden, visible))
    raise TypeError(f'no sparse version of {type(unit).__name__}: only SpikeConvBN and LargeConvBlock run sparsely')
