"""Matrix product as a module, for the attention products of the spiking transformers."""
import torch
from torch import nn


class SpikeMatMul(nn.Module):
    """``a @ b`` as a module, so that hooks (energy counting, spike checks) see attention products.

    Shapes: ``[..., n, k] @ [..., k, m]`` -> ``[..., n, m]``.
    """

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        return a @ b
