"""E-SpikeFormer Large (Spike-Driven Transformer V3, Model_Large: 83M / 171M) as an OpenMMLab backbone.

Layout (Spike-Driven-Transformer-V3 ``SDT_V3/Classification/Model_Large/spikformer.py``, ``Spikformer``), for a
224x224 input and ``embed_dims = [C0, C1, C2]``:

=====  ============================================  ========  ======  ==========
stage  layers                                        channels  stride  output
=====  ============================================  ========  ======  ==========
0      7x7/s2 encoding conv + BN, 1 conv block        C0/2      2       112x112
1      spike 3x3/s2 conv + BN, 1 conv block           C0        4       56x56
2      spike 3x3/s2 conv + BN, 2 conv blocks          C1        8       28x28
3      spike 3x3/s2 conv + BN, 12 transformer blocks  C2        16      14x14
=====  ============================================  ========  ======  ==========

The reference runs its transformer blocks on flattened tokens with 1-D convs; here they are 1x1 convs on the
``[T, B, C, H, W]`` map (the same maths; BatchNorm1d over tokens equals BatchNorm2d over H, W), so the stage
outputs are feature maps like :class:`ESpikeFormer`'s.
"""
import copy
import re
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn
from torch.func import functional_call

from spikeformer_mm.ops import SFANeuron, SpikeMatMul, build_neuron
from spikeformer_mm.registry import MODELS

from ..layers import ChannelConv, SpikeConvBN, SpikeMLP, TimeDropPath, fold_time
from .base_spiking_backbone import BaseSpikingBackbone, SpikingStage
from .e_spikeformer import split_heads
from .spike_driven import SpikeDrivenMixin, planes_matmul, spike_planes

# Model_Large's neuron (spikformer.py, Multispike): round half up, gradient only strictly inside (0, D)
SFA_LARGE = dict(type='SFANeuron', D=4, tie='up', window='strict')


class LargeConvBlock(nn.Module):
    """Model_Large conv block: ``y = x + ChannelConv(x)`` with biased 3x3 convs (no separable conv).

    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]``.
    """

    def __init__(self, channels: int, neuron_cfg: dict, drop_path: float = 0.0):
        super().__init__()
        self.channel_conv = ChannelConv(channels, neuron_cfg, expansion=4, bias=True)
        self.drop_path = TimeDropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.drop_path(self.channel_conv(x))


def _bn_affine(bn: nn.BatchNorm2d) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(scale, shift)`` with ``bn(x) = scale * x + shift`` under the running statistics."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


class SpikeRepConv(nn.Module):
    """spike -> 1x1 C_in->C_h -> BN -> 1x1 C_h->C_out -> BN, no spike in between (foldable into one 1x1 conv).

    With ``spike_driven = True`` (eval mode only) the two convs and two BNs are folded into one 1x1 conv, run
    through ``conv1.conv`` (``torch.func.functional_call`` with the folded weight, so its hooks see the ``D``
    binary planes) plus the folded bias: the only synaptic layer then receives spikes.

    Shapes: ``[T, B, C_in, H, W]`` -> ``[T, B, C_out, H, W]``.
    """
    spike_driven = False

    def __init__(self, in_channels: int, hidden_channels: int, out_channels: int, neuron_cfg: dict):
        super().__init__()
        self.conv1 = SpikeConvBN(in_channels, hidden_channels, 1, neuron_cfg=neuron_cfg)
        self.conv2 = SpikeConvBN(hidden_channels, out_channels, 1)

    def _folded(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """Weight ``[C_out, C_in, 1, 1]`` and bias ``[C_out]`` of conv1 -> BN -> conv2 -> BN."""
        scale1, shift1 = _bn_affine(self.conv1.bn)
        scale2, shift2 = _bn_affine(self.conv2.bn)
        w1, w2 = self.conv1.conv.weight.flatten(1), self.conv2.conv.weight.flatten(1)
        weight = (scale2[:, None] * w2) @ (scale1[:, None] * w1)
        return weight[:, :, None, None], scale2 * (w2 @ shift1) + shift2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        neuron = self.conv1.neuron
        if not (self.spike_driven and isinstance(neuron, SFANeuron)):
            return self.conv2(self.conv1(x))
        if self.training:
            raise RuntimeError('spike-driven SpikeRepConv folds its BatchNorms and needs eval mode')
        weight, bias = self._folded()

        def folded_conv(s: torch.Tensor) -> torch.Tensor:
            planes, norm = spike_planes(s, neuron)
            out = functional_call(self.conv1.conv, {'weight': weight}, (planes.flatten(0, 1),))
            return out.view(*planes.shape[:2], *out.shape[1:]).sum(0) / norm + bias.view(1, -1, 1, 1)

        return fold_time(folded_conv, neuron(x))


class LargeSpikeAttention(nn.Module):
    """Model_Large spike-driven self-attention, linear in tokens.

    ``Q, K, V = spike(BN(SpikeRepConv(x)))`` (hidden width ``1.5 C``); per head ``A = Q (K^T V) * scale``
    (``scale = 0.125``); output ``BN(SpikeRepConv(A))`` (the RepConv spikes A first). Both products go through
    :class:`SpikeMatMul`. With ``spike_driven = True``, ``K^T V`` is the sum of ``D^2`` binary products and its
    integer counts multiply the ``D`` binary planes of Q.

    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]`` (a residual branch).
    """
    spike_driven = False

    def __init__(self, channels: int, num_heads: int, neuron_cfg: dict, hidden_ratio: float = 1.5,
                 scale: float = 0.125):
        super().__init__()
        self.num_heads = num_heads
        self.scale = scale
        hidden = int(channels * hidden_ratio)
        for name in ('q', 'k', 'v', 'proj'):
            setattr(self, f'{name}_conv', SpikeRepConv(channels, hidden, channels, neuron_cfg))
            setattr(self, f'{name}_bn', nn.BatchNorm2d(channels))
        self.q_neuron = build_neuron(neuron_cfg)
        self.k_neuron = build_neuron(neuron_cfg)
        self.v_neuron = build_neuron(neuron_cfg)
        self.kv_matmul = SpikeMatMul()
        self.qkv_matmul = SpikeMatMul()

    def _spike_driven_product(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
        """``Q (K^T V)`` from binary planes only."""
        q, q_norm = spike_planes(q, self.q_neuron)
        k, k_norm = spike_planes(k, self.k_neuron)
        v, v_norm = spike_planes(v, self.v_neuron)
        counts = planes_matmul(self.kv_matmul, k.transpose(-1, -2), v)
        counts = planes_matmul(self.qkv_matmul, q, counts.unsqueeze(0))
        return counts / (q_norm * k_norm * v_norm)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        T, B, C, H, W = x.shape
        q = split_heads(self.q_neuron(fold_time(self.q_bn, self.q_conv(x))), self.num_heads)
        k = split_heads(self.k_neuron(fold_time(self.k_bn, self.k_conv(x))), self.num_heads)
        v = split_heads(self.v_neuron(fold_time(self.v_bn, self.v_conv(x))), self.num_heads)
        if self.spike_driven:
            attn = self._spike_driven_product(q, k, v)
        else:
            attn = self.qkv_matmul(q, self.kv_matmul(k.transpose(-1, -2), v))
        attn = (attn * self.scale).transpose(-1, -2).reshape(T, B, C, H, W)
        return fold_time(self.proj_bn, self.proj_conv(attn))


class LargeTransformerBlock(nn.Module):
    """Model_Large block: ``[x += RepConv(x)]``, ``x += gamma1 * Attn(x)``, ``y = x + gamma2 * MLP(x)``.

    ``rep_conv=True`` is the 83M ("base") choice: a leading ``SpikeRepConv`` C->C->C residual branch. ``gamma``
    are per-channel layer scales. Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]``.
    """

    def __init__(self, channels: int, num_heads: int, mlp_ratio: float, neuron_cfg: dict, rep_conv: bool,
                 layer_scale_init_value: float = 1e-6, drop_path: float = 0.0):
        super().__init__()
        self.rep_conv = SpikeRepConv(channels, channels, channels, neuron_cfg) if rep_conv else None
        self.attn = LargeSpikeAttention(channels, num_heads, neuron_cfg)
        self.mlp = SpikeMLP(channels, neuron_cfg, mlp_ratio)
        self.layer_scale1 = nn.Parameter(torch.full((channels,), float(layer_scale_init_value)))
        self.layer_scale2 = nn.Parameter(torch.full((channels,), float(layer_scale_init_value)))
        self.drop_path = TimeDropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.rep_conv is not None:
            x = x + self.drop_path(self.rep_conv(x))
        x = x + self.drop_path(self.layer_scale1.view(-1, 1, 1) * self.attn(x))
        return x + self.drop_path(self.layer_scale2.view(-1, 1, 1) * self.mlp(x))


@MODELS.register_module()
class ESpikeFormerLarge(SpikeDrivenMixin, BaseSpikingBackbone):
    """E-SpikeFormer Large (V3 Model_Large ``Spikformer``): 3 stages, 12 transformer blocks with layer scale.

    Args:
        arch: ``'83M'`` (``spikformer12_512``: [128, 256, 512], with the RepConv branch) or ``'171M'``
            (``spikformer12_768``: [196, 384, 768]), or a dict with ``embed_dims`` (3 widths) and optionally
            ``depths`` (4 entries, default (1, 1, 2, 12)), ``num_heads`` (8), ``mlp_ratio`` (4), ``rep_conv``
            (False).
        T: time steps (the image is repeated T times); the reference runs T = 1.
        neuron_cfg: the neuron; default ``dict(type='SFANeuron', D=4, tie='up', window='strict')`` (the "1x4"
            models; "1x8" is D=8).
        out_indices: stage outputs to return, from (0) s2 after the first conv block, (1-3) stages 1-3 at strides
            4, 8, 16. Default ``-1`` (stage 3).
        layer_scale_init_value: initial layer-scale value (1e-6, as the reference's fine-tuning model).
        drop_path_rate: stochastic depth, linear over the 16 blocks.
        spike_driven: run SFA activations as ``D`` binary planes through the next synaptic layer; also settable
            on a built model. Each ``SpikeRepConv`` (two 1x1 convs with no spike between) is then folded into one
            conv, so that every synaptic layer sees spikes; this needs eval mode.
        in_channels, keep_time, frozen_stages, norm_eval, with_cp, init_cfg, pretrained: see
            :class:`BaseSpikingBackbone`.

    The default neuron is the reference's own (``spikformer.py``, ``Multispike``): round half up, gradient
    window ``0 < x < D`` (``SFA_LARGE``). Differences from the reference: the 83M block's forward takes B, C, N
    from its input (the reference's ``Block.forward`` for the "base" choice uses undefined names and a global
    T = 4); drop path is applied and also covers the RepConv branch.

    Shapes: ``[B, in_channels, H, W]`` (H, W multiples of 16) -> tuple of ``[B, C_i, H / s_i, W / s_i]``, or
    ``[T, B, C_i, H / s_i, W / s_i]`` with ``keep_time=True``.
    """
    num_stages = 4
    converter_family = 'v3-large'
    stage_strides = (2, 4, 8, 16)
    arch_defaults = dict(depths=(1, 1, 2, 12), num_heads=8, mlp_ratio=4.0, rep_conv=False)
    arch_settings = {
        '83M': dict(embed_dims=(128, 256, 512), rep_conv=True),
        '171M': dict(embed_dims=(196, 384, 768)),
    }

    def __init__(self, arch: Union[str, dict] = '83M', T: int = 1, in_channels: int = 3,
                 neuron_cfg: Optional[dict] = None, out_indices: Union[int, Sequence[int]] = -1,
                 keep_time: bool = False, layer_scale_init_value: float = 1e-6, drop_path_rate: float = 0.0,
                 frozen_stages: int = -1, norm_eval: bool = False, with_cp: bool = False, spike_driven: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None,
                 pretrained: Optional[str] = None):
        super().__init__(T=T, in_channels=in_channels, out_indices=out_indices, keep_time=keep_time,
                         frozen_stages=frozen_stages, norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        arch = self.parse_arch(arch, num_widths=3)
        self.embed_dims = arch['embed_dims']
        neuron_cfg = copy.deepcopy(SFA_LARGE if neuron_cfg is None else neuron_cfg)
        C0, C1, C2 = self.embed_dims
        depths = arch['depths']
        dpr = iter(drop_path_rate * i / max(sum(depths) - 1, 1) for i in range(sum(depths)))

        def conv_blocks(channels, depth):
            return [LargeConvBlock(channels, neuron_cfg, next(dpr)) for _ in range(depth)]

        def down(c_in, c_out):
            return SpikeConvBN(c_in, c_out, 3, 2, 1, bias=True, neuron_cfg=neuron_cfg)

        def transformer_blocks(channels, depth):
            return [LargeTransformerBlock(channels, arch['num_heads'], arch['mlp_ratio'], neuron_cfg,
                                          arch['rep_conv'], layer_scale_init_value, next(dpr)) for _ in range(depth)]

        self.stages = nn.ModuleList([
            SpikingStage(SpikeConvBN(in_channels, C0 // 2, 7, 2, 3, bias=True), conv_blocks(C0 // 2, depths[0])),
            SpikingStage(down(C0 // 2, C0), conv_blocks(C0, depths[1])),
            SpikingStage(down(C0, C1), conv_blocks(C1, depths[2])),
            SpikingStage(down(C1, C2), transformer_blocks(C2, depths[3])),
        ])
        self.out_channels = tuple(c for i, c in enumerate((C0 // 2, C0, C1, C2)) if i in self.out_indices)
        self.spike_driven = spike_driven
        self._freeze_stages()

    def get_layer_depth(self, param_name: str, prefix: str = '') -> Tuple[int, int]:
        """``(layer id, number of layers)`` of a parameter, for mmpretrain's layer-wise lr decay.

        The conv stages and the last downsampling layer are layer 0, transformer block ``i`` is layer ``i + 1``, and
        parameters outside the backbone (not starting with ``prefix``, e.g. the head) are the last layer. The
        reference's decay script (``Model_Large/util/lr_decay_spikformer.py``) reads a ``model.depths`` that does
        not exist; this is the ViT convention.
        """
        num_layers = len(self.stages[-1].blocks) + 2
        if not param_name.startswith(prefix):
            return num_layers - 1, num_layers
        block = re.match(rf'stages\.{len(self.stages) - 1}\.blocks\.(\d+)\.', param_name[len(prefix):])
        return (int(block.group(1)) + 1 if block else 0), num_layers
