"""Spike-driven inference for the SFA (E-SpikeFormer) backbones.

An SFA activation ``s / norm`` with integer level ``s`` in ``{0..D}`` is emitted as ``D`` binary planes (virtual
time steps) whose sum is ``s``. Convolutions take the planes through
:func:`spikeformer_mm.ops.spike_driven_forward` (inside :class:`spikeformer_mm.models.layers.SpikeConvBN`);
attention products of two spike tensors expand both operands, ``a @ b = sum_ij a_i @ b_j / (norm_a * norm_b)``,
i.e. ``D^2`` binary AND-accumulate products.
"""
from typing import Tuple

import torch
from torch import nn

from spikeformer_mm.ops import SFANeuron, expand_to_spikes


class SpikeDrivenMixin:
    """The ``spike_driven`` switch of a backbone, settable at construction or on a built model.

    Setting it sets the same attribute on every sub-module that has one (``SpikeConvBN`` and the attention
    modules); those then run their SFA inputs as binary planes. Only SFA neurons have levels to expand.
    """

    @property
    def spike_driven(self) -> bool:
        return self._spike_driven

    @spike_driven.setter
    def spike_driven(self, value: bool) -> None:
        if value and not any(isinstance(m, SFANeuron) for m in self.modules()):
            raise ValueError('spike_driven=True needs SFA neurons (neuron_cfg=dict(type="SFANeuron", D=...)); '
                             'this model has none, and its spikes are binary already')
        self._spike_driven = bool(value)
        for module in self.modules():
            if module is not self and hasattr(module, 'spike_driven'):
                module.spike_driven = self._spike_driven


def spike_planes(s: torch.Tensor, neuron: SFANeuron) -> Tuple[torch.Tensor, float]:
    """An SFA output ``s = levels / norm`` ``[...]`` -> its binary planes ``[D, ...]`` and ``norm``."""
    return expand_to_spikes(torch.round(s * neuron.norm), neuron.D), neuron.norm


def planes_matmul(matmul: nn.Module, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``sum_ij matmul(a_i, b_j)`` over planes ``a: [Da, ..., n, k]`` and ``b: [Db, ..., k, m]`` -> ``[..., n, m]``.

    ``matmul`` (a :class:`SpikeMatMul`) is called once on the broadcast ``[Da, Db, ...]`` products, so its
    forward hooks see the planes themselves. Pass ``Da = 1`` or ``Db = 1`` for an operand that is a sum of
    earlier binary products (an integer count) rather than a spike tensor.
    """
    return matmul(a.unsqueeze(1), b.unsqueeze(0)).sum((0, 1))
