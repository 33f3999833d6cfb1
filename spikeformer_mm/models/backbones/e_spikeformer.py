"""E-SpikeFormer (Spike-Driven Transformer V3, Model_Base family) as an OpenMMLab backbone.

Layout (Spike-Driven-Transformer-V3 ``SDT_V3/Classification/Model_Base/models.py``,
``Spiking_vit_MetaFormer_Spike_SepConv``), for a 224x224 input and ``embed_dims = [C0, C1, C2, C3]``; the same
stages, strides and candidate outputs as :class:`MetaSpikeFormer`, so a config swaps one for the other by ``type``
and ``arch``:

=====  ============================================  ========  ======  ==========
stage  layers                                        channels  stride  output
=====  ============================================  ========  ======  ==========
0      7x7/s2 encoding conv + BN, 1 conv block        C0/2      2       112x112
1      spike 3x3/s2 conv + BN, 1 conv block           C0        4       56x56
2      spike 3x3/s2 conv + BN, 2 conv blocks          C1        8       28x28
3      spike 3x3/s2 conv + BN, 6 transformer blocks   C2        16      14x14
4      spike 3x3/s1 conv + BN, 2 transformer blocks   C3        16      14x14
=====  ============================================  ========  ======  ==========

Neurons are SFA integer neurons (``round(clamp(x, 0, D)) / D``, ties to even as the reference's ``torch.round``).
The reference has no time axis; here tensors are time-major ``[T, B, C, H, W]`` with ``T = 1`` by default (SFA is
stateless, so T acts as a batch axis).
"""
import copy
from typing import Optional, Sequence, Union

import torch
from torch import nn

from spikeformer_mm.ops import SpikeMatMul, build_neuron
from spikeformer_mm.registry import MODELS

from ..layers import ChannelConv, SpikeConvBN, SpikeMLP, TimeDropPath
from .base_spiking_backbone import BaseSpikingBackbone
from .spike_driven import SpikeDrivenMixin, planes_matmul, spike_planes

SFA = dict(type='SFANeuron', D=4)


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """``[T, B, C, H, W]`` -> ``[T, B, h, N, C / h]``: channel ``c`` goes to head ``c // (C / h)``."""
    T, B, C = x.shape[:3]
    return x.reshape(T, B, num_heads, C // num_heads, -1).transpose(-1, -2)


class SpikeSepConv(nn.Module):
    """Spike separable conv: spike -> 1x1 C->2C -> BN -> spike -> dw kxk -> BN -> spike -> 1x1 2C->C -> BN.

    V3's change to V2's SepConv is the BN and spike after the depthwise conv. All convs are bias-free.
    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]`` (a residual branch).
    """

    def __init__(self, channels: int, kernel_size: int, neuron_cfg: dict, expansion: int = 2):
        super().__init__()
        hidden = channels * expansion
        self.pwconv1 = SpikeConvBN(channels, hidden, 1, neuron_cfg=neuron_cfg)
        self.dwconv = SpikeConvBN(hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden,
                                  neuron_cfg=neuron_cfg)
        self.pwconv2 = SpikeConvBN(hidden, channels, 1, neuron_cfg=neuron_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pwconv2(self.dwconv(self.pwconv1(x)))


class SpikeConvBlock(nn.Module):
    """Conv-based block: ``u = x + SpikeSepConv_7x7(x)``, ``y = u + ChannelConv(u)``.

    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]``.
    """

    def __init__(self, channels: int, neuron_cfg: dict, drop_path: float = 0.0):
        super().__init__()
        self.sep_conv = SpikeSepConv(channels, 7, neuron_cfg)
        self.channel_conv = ChannelConv(channels, neuron_cfg, expansion=4)
        self.drop_path = TimeDropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.sep_conv(x))
        return x + self.drop_path(self.channel_conv(x))


class EfficientSpikeAttention(nn.Module):
    """Efficient spike-driven self-attention (E-SDSA), quadratic in tokens, with a wide value path.

    ``Q = spike(BN(W_q spike(x)))``, ``K`` likewise (``C -> C``), ``V = spike(BN(W_v spike(x)))`` (``C -> r*C``);
    per head (``d = C / h``) ``A = (Q K^T) V * 2 / sqrt(d)``; output ``BN(W_o spike(A))`` (``r*C -> C``). All
    projections are bias-free 1x1 convs; both products go through :class:`SpikeMatMul`.

    With ``spike_driven = True`` Q, K and V run as ``D`` binary planes each: ``Q K^T`` is the sum of ``D^2``
    binary products (AND-accumulate), and its integer counts multiply the ``D`` binary planes of V (addition
    only). The result equals the integer path (exactly when D is a power of two); it holds a ``D^2``-fold
    ``N x N`` map per head, so it is meant for inference.

    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]`` (a residual branch).
    """
    spike_driven = False

    def __init__(self, channels: int, num_heads: int, neuron_cfg: dict, value_ratio: int = 4,
                 scale_factor: float = 1.0):
        super().__init__()
        self.num_heads = num_heads
        self.scale = scale_factor * 2 * (channels // num_heads) ** -0.5
        self.q_conv = SpikeConvBN(channels, channels, 1, neuron_cfg=neuron_cfg)
        self.k_conv = SpikeConvBN(channels, channels, 1, neuron_cfg=neuron_cfg)
        self.v_conv = SpikeConvBN(channels, channels * value_ratio, 1, neuron_cfg=neuron_cfg)
        self.q_neuron = build_neuron(neuron_cfg)
        self.k_neuron = build_neuron(neuron_cfg)
        self.v_neuron = build_neuron(neuron_cfg)
        self.qk_matmul = SpikeMatMul()
        self.attn_v_matmul = SpikeMatMul()
        self.proj_conv = SpikeConvBN(channels * value_ratio, channels, 1, neuron_cfg=neuron_cfg)

    def _spike_driven_product(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``(Q K^T) V`` from binary planes only."""
        q, q_norm = spike_planes(q, self.q_neuron)
        k, k_norm = spike_planes(k, self.k_neuron)
        v, v_norm = spike_planes(v, self.v_neuron)
        counts = planes_matmul(self.qk_matmul, q, k.transpose(-1, -2))
        counts = planes_matmul(self.attn_v_matmul, counts.unsqueeze(0), v)
        return counts / (q_norm * k_norm * v_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, _, H, W = x.shape
        q = split_heads(self.q_neuron(self.q_conv(x)), self.num_heads)
        k = split_heads(self.k_neuron(self.k_conv(x)), self.num_heads)
        v = split_heads(self.v_neuron(self.v_conv(x)), self.num_heads)
        if self.spike_driven:
            attn = self._spike_driven_product(q, k, v)
        else:
            attn = self.attn_v_matmul(self.qk_matmul(q, k.transpose(-1, -2)), v)
        attn = (attn * self.scale).transpose(-1, -2).reshape(T, B, -1, H, W)
        return self.proj_conv(attn)


class SpikeTransformerBlock(nn.Module):
    """Transformer-based block: ``u = x + SpikeSepConv_3x3(x)``, ``v = u + E-SDSA(u)``, ``y = v + MLP(v)``.

    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]``.
    """

    def __init__(self, channels: int, num_heads: int, mlp_ratio: float, neuron_cfg: dict,
                 drop_path: float = 0.0, attn_scale_factor: float = 1.0):
        super().__init__()
        self.sep_conv = SpikeSepConv(channels, 3, neuron_cfg)
        self.attn = EfficientSpikeAttention(channels, num_heads, neuron_cfg, scale_factor=attn_scale_factor)
        self.mlp = SpikeMLP(channels, neuron_cfg, mlp_ratio)
        self.drop_path = TimeDropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.sep_conv(x))
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))


@MODELS.register_module()
class ESpikeFormer(SpikeDrivenMixin, BaseSpikingBackbone):
    """E-SpikeFormer (Spike-Driven Transformer V3, Model_Base) backbone with SFA neurons.

    Args:
        arch: ``'2.7M'``, ``'5.1M'``, ``'10M'``, ``'19M'`` (the reference's
            ``Efficient_Spiking_Transformer_t/s/m/l``), or a dict with ``embed_dims`` (4 widths) and optionally
            ``depths`` (5 entries), ``num_heads``, ``mlp_ratio``, ``attn_scale_factor``; missing keys take the
            defaults ((1, 1, 2, 6, 2), 8 heads, MLP ratio 4, factor 1). ``attn_scale_factor`` multiplies the
            attention's scale ``2 / sqrt(d)``. ``(Q K^T) V`` sums over the N tokens, so the attention neuron
            needs ImageNet's N = 196 to fire; at 32 x 32 inputs (N = 4) it stays silent with factor 1, the BN
            after it sees a constant input and amplifies its gradient by ``1 / sqrt(eps)``, and training stalls
            (configs/e_spikeformer/e-spikeformer-tiny_digits.py). Small-image configs raise it.
        T: time steps (the image is repeated T times); the reference runs T = 1.
        neuron_cfg: the neuron; default ``dict(type='SFANeuron', D=4)``. ``D`` is the integer ceiling and the
            number of virtual time steps of spike-driven inference.
        out_indices: stage outputs to return, from (0) s2 after the first conv block, (1-4) stages 1-4 at strides
            4, 8, 16, 16. Default ``-1`` (stage 4).
        drop_path_rate: stochastic depth, linear over the 12 blocks (the reference builds DropPath but never
            applies it; here it is applied).
        spike_driven: run every SFA activation as ``D`` binary planes through the next synaptic layer
            (conv or attention product); also settable on a built model (``backbone.spike_driven = True``).
        in_channels, keep_time, frozen_stages, norm_eval, with_cp, init_cfg, pretrained: see
            :class:`BaseSpikingBackbone`.

    Differences from the reference: drop path is applied (the reference builds ``DropPath`` and never calls it);
    the dense-task backbones use this class as it is, whereas the reference's mmseg backbone
    (``SDT_V3/Segmentation/mmseg/models/backbones``) adds layer scales initialised to 1e-6 that its ImageNet
    checkpoint lacks, which nearly switches the pre-trained blocks off. The SFA neuron rounds as the reference
    does (half to even, gradient window ``0 <= x <= D``).

    Shapes: ``[B, in_channels, H, W]`` (H, W multiples of 16) -> tuple of ``[B, C_i, H / s_i, W / s_i]``, or
    ``[T, B, C_i, H / s_i, W / s_i]`` with ``keep_time=True``. Outputs are pre-spike membrane maps.
    """
    converter_family = 'v3'
    arch_defaults = dict(depths=(1, 1, 2, 6, 2), num_heads=8, mlp_ratio=4.0, attn_scale_factor=1.0)
    arch_settings = {
        '2.7M': dict(embed_dims=(24, 48, 96, 128)),
        '5.1M': dict(embed_dims=(32, 64, 128, 192)),
        '10M': dict(embed_dims=(48, 96, 192, 240)),
        '19M': dict(embed_dims=(64, 128, 256, 360)),
    }

    def __init__(self, arch: Union[str, dict] = '10M', T: int = 1, in_channels: int = 3,
                 neuron_cfg: Optional[dict] = None, out_indices: Union[int, Sequence[int]] = -1,
                 keep_time: bool = False, drop_path_rate: float = 0.0, frozen_stages: int = -1,
                 norm_eval: bool = False, with_cp: bool = False, spike_driven: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None,
                 pretrained: Optional[str] = None):
        super().__init__(T=T, in_channels=in_channels, out_indices=out_indices, keep_time=keep_time,
                         frozen_stages=frozen_stages, norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        arch = self.parse_arch(arch, num_widths=4)
        self.embed_dims = arch['embed_dims']
        neuron_cfg = copy.deepcopy(SFA if neuron_cfg is None else neuron_cfg)
        heads, ratio, factor = arch['num_heads'], arch['mlp_ratio'], arch['attn_scale_factor']
        self._build_metaformer_stages(
            self.embed_dims, arch['depths'], neuron_cfg, drop_path_rate,
            conv_block=lambda channels, dp: SpikeConvBlock(channels, neuron_cfg, dp),
            transformer_block=lambda channels, dp: SpikeTransformerBlock(channels, heads, ratio, neuron_cfg, dp,
                                                                         attn_scale_factor=factor))
        self.spike_driven = spike_driven
        self._freeze_stages()
