"""Meta-SpikeFormer (Spike-Driven Transformer V2, ICLR 2024) as an OpenMMLab backbone.

Layout (Spike-Driven-Transformer-V2 ``classification/models.py``, ``Spiking_vit_MetaFormer``), for a 224x224
input and ``embed_dims = [C0, C1, C2, C3]``:

=====  ============================================  ========  ======  ==========
stage  layers                                        channels  stride  output
=====  ============================================  ========  ======  ==========
0      7x7/s2 encoding conv + BN, 1 conv block        C0/2      2       112x112
1      spike 3x3/s2 conv + BN, 1 conv block           C0        4       56x56
2      spike 3x3/s2 conv + BN, 2 conv blocks          C1        8       28x28
3      spike 3x3/s2 conv + BN, 6 transformer blocks   C2        16      14x14
4      spike 3x3/s1 conv + BN, 2 transformer blocks   C3        16      14x14
=====  ============================================  ========  ======  ==========

Every tensor between layers is a real-valued "membrane" map ``[T, B, C, H, W]``; each residual branch starts with
its own spiking neuron, so additions happen before any spike (membrane shortcuts).
"""
import copy
import inspect
from typing import Optional, Sequence, Union

import torch
from torch import nn

from spikeformer_mm.ops import RecomputableBatchNorm2d, SpikeMatMul, build_neuron
from spikeformer_mm.registry import MODELS

from ..layers import ChannelConv, SpikeConvBN, SpikeMLP, TimeDropPath, fold_time
from .base_spiking_backbone import BaseSpikingBackbone

V2_LIF = dict(type='MultiStepLIF', tau=2.0, v_threshold=1.0, detach_reset=True)


def _neuron_with_threshold(neuron_cfg: dict, v_threshold: float) -> nn.Module:
    """Build ``neuron_cfg`` with ``v_threshold`` overridden when the neuron type has a threshold (e.g. a LIF)."""
    neuron = build_neuron(neuron_cfg)
    if 'v_threshold' in inspect.signature(type(neuron)).parameters:
        neuron = build_neuron(neuron_cfg, v_threshold=v_threshold)
    return neuron


class SepConv(nn.Module):
    """Inverted separable conv (expansion 2): spike -> 1x1 C->2C -> BN -> spike -> dw 7x7 -> 1x1 2C->C -> BN.

    No BN or spike between the depthwise and the second pointwise conv (as in the reference).
    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]`` (a residual branch).
    """

    def __init__(self, channels: int, neuron_cfg: dict, expansion: int = 2, kernel_size: int = 7):
        super().__init__()
        hidden = channels * expansion
        self.pwconv1 = SpikeConvBN(channels, hidden, 1, neuron_cfg=neuron_cfg)
        self.neuron = build_neuron(neuron_cfg)
        self.dwconv = nn.Conv2d(hidden, hidden, kernel_size, padding=kernel_size // 2, groups=hidden, bias=False)
        self.pwconv2 = nn.Conv2d(hidden, channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.neuron(self.pwconv1(x))
        return fold_time(lambda y: self.bn(self.pwconv2(self.dwconv(y))), x)


class ConvBlock(nn.Module):
    """Conv-based SNN block: ``u = x + SepConv(x)``, ``y = u + ChannelConv(u)``.

    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]``.
    """

    def __init__(self, channels: int, neuron_cfg: dict, drop_path: float = 0.0):
        super().__init__()
        self.sep_conv = SepConv(channels, neuron_cfg)
        self.channel_conv = ChannelConv(channels, neuron_cfg, expansion=4)
        self.drop_path = TimeDropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.sep_conv(x))
        return x + self.drop_path(self.channel_conv(x))


class BNAndPad(nn.Module):
    """BatchNorm, then a one-pixel border filled with the BN's response to a zero input.

    The pad value ``beta - running_mean * gamma / sqrt(running_var + eps)`` uses the running statistics (also
    in training) and detached affine parameters, so that a following unpadded 3x3 conv sees the same border as a
    zero-padded conv placed before the BN. It is computed after the BN call, as the reference does
    (Spike-Driven-Transformer-V2 ``classification/models.py``, ``BNAndPadLayer.forward``): in training it sees the
    running statistics this very step has just updated. Evaluation does not depend on the order; every training
    step does. Shapes: ``[N, C, H, W]`` -> ``[N, C, H + 2, W + 2]``.
    """

    def __init__(self, channels: int):
        super().__init__()
        self.bn = nn.BatchNorm2d(channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        bn = self.bn
        normed = bn(x)
        pad = (bn.bias - bn.running_mean * bn.weight / torch.sqrt(bn.running_var + bn.eps)).detach()
        out = pad.view(1, -1, 1, 1).expand(x.shape[0], -1, x.shape[2] + 2, x.shape[3] + 2).contiguous()
        out[:, :, 1:-1, 1:-1] = normed
        return out


class RepConv(nn.Module):
    """Re-parameterisable conv: 1x1 C_in->C_in -> BN-and-pad -> depthwise 3x3 (unpadded) -> 1x1 C_in->C_out -> BN.

    Per frame: ``[N, C_in, H, W]`` -> ``[N, C_out, H, W]``; foldable into one 3x3 conv with bias at inference.
    """

    def __init__(self, in_channels: int, out_channels: int):
        super().__init__()
        self.pw_in = nn.Conv2d(in_channels, in_channels, 1, bias=False)
        self.bn_pad = BNAndPad(in_channels)
        self.dw = nn.Conv2d(in_channels, in_channels, 3, groups=in_channels, bias=False)
        self.pw_out = nn.Conv2d(in_channels, out_channels, 1, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.bn(self.pw_out(self.dw(self.bn_pad(self.pw_in(x)))))


class RepConvBN(nn.Sequential):
    """:class:`RepConv` followed by an outer BatchNorm (``conv``, ``bn``). Per frame ``[N, C, H, W]``."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = RepConv(channels, channels)
        self.bn = RecomputableBatchNorm2d(channels)  # the q/k/v neurons keep none of its output


class SpikeDrivenSelfAttention(nn.Module):
    """Spike-driven self-attention (SDSA-3 of the V2 paper), linear in the number of tokens.

    ``S = spike(x)``; ``Q, K, V = spike(RepConvBN(S))`` split into ``num_heads`` heads of width ``d = C / h``;
    ``A = Q (K^T V) * scale`` (K^T V first, through :class:`SpikeMatMul`); ``O = spike_{V_th=0.5}(A)``;
    output ``RepConvBN(O)``. No softmax, no position embedding.

    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]`` (a residual branch).
    """

    def __init__(self, channels: int, num_heads: int, neuron_cfg: dict, scale: float = 0.125,
                 attn_threshold: float = 0.5):
        super().__init__()
        self.num_heads = num_heads
        self.scale = scale
        self.head_neuron = build_neuron(neuron_cfg)
        self.q = RepConvBN(channels)
        self.k = RepConvBN(channels)
        self.v = RepConvBN(channels)
        self.q_neuron = build_neuron(neuron_cfg)
        self.k_neuron = build_neuron(neuron_cfg)
        self.v_neuron = build_neuron(neuron_cfg)
        self.kv_matmul = SpikeMatMul()
        self.qkv_matmul = SpikeMatMul()
        self.attn_neuron = _neuron_with_threshold(neuron_cfg, attn_threshold)
        self.proj = RepConvBN(channels)

    def _heads(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> ``[T, B, h, N, d]``."""
        T, B, C = x.shape[:3]
        return x.flatten(3).transpose(-1, -2).reshape(T, B, -1, self.num_heads, C // self.num_heads) \
            .transpose(2, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, C, H, W = x.shape
        s = self.head_neuron(x)
        q = self._heads(self.q_neuron(fold_time(self.q, s)))
        k = self._heads(self.k_neuron(fold_time(self.k, s)))
        v = self._heads(self.v_neuron(fold_time(self.v, s)))
        attn = self.qkv_matmul(q, self.kv_matmul(k.transpose(-1, -2), v)) * self.scale
        attn = attn.transpose(-1, -2).reshape(T, B, C, H, W)
        return fold_time(self.proj, self.attn_neuron(attn))


class TransformerBlock(nn.Module):
    """Transformer-based SNN block: ``u = x + SDSA(x)``, ``y = u + MLP(u)``.

    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]``.
    """

    def __init__(self, channels: int, num_heads: int, mlp_ratio: float, neuron_cfg: dict,
                 drop_path: float = 0.0):
        super().__init__()
        self.attn = SpikeDrivenSelfAttention(channels, num_heads, neuron_cfg)
        self.mlp = SpikeMLP(channels, neuron_cfg, mlp_ratio)
        self.drop_path = TimeDropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))


@MODELS.register_module()
class MetaSpikeFormer(BaseSpikingBackbone):
    """Meta-SpikeFormer (Spike-Driven Transformer V2) backbone.

    Args:
        arch: ``'15M'``, ``'31M'``, ``'55M'``, ``'123M'``, or a dict with ``embed_dims`` (4 widths) and optionally
            ``depths`` (blocks per stage, 5 entries), ``num_heads``, ``mlp_ratio``; missing keys take the
            defaults shared by the table (depths (1, 1, 2, 6, 2), 8 heads, MLP ratio 4).
        T: time steps (the image is repeated T times). The paper trains at T=1 and fine-tunes at T=4.
        neuron_cfg: spiking neuron config; default the V2 LIF (tau 2, threshold 1, hard reset, sigmoid surrogate).
            The attention-output neuron gets ``v_threshold=0.5`` if the neuron type has a threshold.
        out_indices: stage outputs to return, from (0) s2 after the first conv block, (1-4) stages 1-4 at strides
            4, 8, 16, 16. Default ``-1`` (stage 4).
        drop_path_rate: stochastic depth, linear over the 12 blocks (0 in the reference, which ignores it).
        in_channels, keep_time, frozen_stages, norm_eval, with_cp, init_cfg, pretrained: see
            :class:`BaseSpikingBackbone`.

    Shapes: ``[B, in_channels, H, W]`` (H, W multiples of 16) -> tuple of ``[B, C_i, H / s_i, W / s_i]``, or
    ``[T, B, C_i, H / s_i, W / s_i]`` with ``keep_time=True``. Outputs are pre-spike membrane maps.
    """
    converter_family = 'v2'
    arch_defaults = dict(depths=(1, 1, 2, 6, 2), num_heads=8, mlp_ratio=4.0)
    arch_settings = {
        '15M': dict(embed_dims=(64, 128, 256, 360)),
        '31M': dict(embed_dims=(96, 192, 384, 480)),
        '55M': dict(embed_dims=(128, 256, 512, 640)),
        '123M': dict(embed_dims=(192, 384, 768, 960)),
    }

    def __init__(self, arch: Union[str, dict] = '55M', T: int = 1, in_channels: int = 3,
                 neuron_cfg: Optional[dict] = None, out_indices: Union[int, Sequence[int]] = -1,
                 keep_time: bool = False, drop_path_rate: float = 0.0, frozen_stages: int = -1,
                 norm_eval: bool = False, with_cp: bool = False, init_cfg: Optional[Union[dict, list]] = None,
                 pretrained: Optional[str] = None):
        super().__init__(T=T, in_channels=in_channels, out_indices=out_indices, keep_time=keep_time,
                         frozen_stages=frozen_stages, norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        arch = self.parse_arch(arch, num_widths=4)
        self.embed_dims = arch['embed_dims']
        neuron_cfg = copy.deepcopy(V2_LIF if neuron_cfg is None else neuron_cfg)
        heads, ratio = arch['num_heads'], arch['mlp_ratio']
        self._build_metaformer_stages(
            self.embed_dims, arch['depths'], neuron_cfg, drop_path_rate,
            conv_block=lambda channels, dp: ConvBlock(channels, neuron_cfg, dp),
            transformer_block=lambda channels, dp: TransformerBlock(channels, heads, ratio, neuron_cfg, dp))
        self._freeze_stages()
