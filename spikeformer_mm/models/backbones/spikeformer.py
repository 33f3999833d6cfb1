"""Spikeformer (Li, Lei and Yang 2022, arXiv 2211.10686) as an OpenMMLab backbone.

The paper's two ideas, designed here from its description (no official code exists):

* **Convolutional Tokenizer (CT)** instead of patch splitting: four stages of spike -> 3x3 conv -> BN -> 3x3/s2
  max-pool turn the input into tokens at stride 16 (the first stage sees the raw input, so it has no spike).
* **Spatio-temporal attention (STA)**: every token ``(t, n)`` attends to the tokens of *all* T time steps, i.e.
  the attention runs over ``T * N`` tokens, not over the N tokens of its own step (spatial-only) nor over the T
  steps of its own position (temporal-only); both of those are kept as ``attn_mode`` ablations.

Layout for ``arch['embed_dims'] = C`` and tokenizer widths ``(C/8, C/4, C/2, C)``:

=====  =====================================================  ========  ======
stage  layers                                                 channels  stride
=====  =====================================================  ========  ======
0      3x3 conv + BN (raw input) + max-pool                   C/8       2
1      spike 3x3 conv + BN + max-pool                         C/4       4
2      spike 3x3 conv + BN + max-pool                         C/2       8
3      spike 3x3 conv + BN + max-pool                         C         16
4      conv position embedding, ``depth`` STA blocks          C         16
=====  =====================================================  ========  ======

Inputs are images ``[B, C, H, W]`` (repeated T times, direct encoding) or event frames ``[B, T, C, H, W]`` (T equal
to the backbone's ``T``; no repetition), the batch that mmpretrain's ``ClsDataPreprocessor`` stacks from
``[T, 2, H, W]`` DVS samples. Inside, every tensor is time-major: event frames are transposed to
``[T, B, C, H, W]``.
"""
import copy
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

from spikeformer_mm.ops import SpikeMatMul, build_neuron
from spikeformer_mm.registry import MODELS

from ..layers import SpikeConvBN, SpikeMLP, TimeDropPath, fold_time
from .base_spiking_backbone import BaseSpikingBackbone

LIF = dict(type='MultiStepLIF', tau=2.0, v_threshold=1.0, detach_reset=True)
ATTN_MODES = ('spatiotemporal', 'spatial', 'temporal')


class TokenizerStage(nn.Module):
    """One CT stage: [spike ->] 3x3 conv -> BN -> 3x3/s2 max-pool.

    Shapes: ``[T, B, C_in, H, W]`` -> ``[T, B, C_out, H / 2, W / 2]``. ``neuron_cfg=None``: no spike (raw input).
    """

    def __init__(self, in_channels: int, out_channels: int, neuron_cfg: Optional[dict]):
        super().__init__()
        self.conv = SpikeConvBN(in_channels, out_channels, 3, padding=1, neuron_cfg=neuron_cfg)
        self.pool = nn.MaxPool2d(3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return fold_time(self.pool, self.conv(x))


class ConvPositionEmbedding(nn.Module):
    """Relative position embedding by convolution: ``x + BN(conv3x3(spike(x)))``.

    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]``.
    """

    def __init__(self, channels: int, neuron_cfg: dict):
        super().__init__()
        self.conv = SpikeConvBN(channels, channels, 3, padding=1, neuron_cfg=neuron_cfg)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x)


class SpatioTemporalAttention(nn.Module):
    """Spiking self-attention over space-time tokens, linear in the number of tokens.

    ``S = spike(x)``; ``Q, K, V = spike(BN(conv1x1(S)))`` in ``num_heads`` heads of width ``d = C / h``;
    ``A = Q (K^T V) * scale`` over token groups set by ``attn_mode``:

    * ``'spatiotemporal'`` (STA): one group of ``T * N`` tokens per sample and head; ``scale = qk_scale / T``,
      so that the key sum, which spans T times as many tokens as a spatial one, keeps the same magnitude;
    * ``'spatial'``: a group of N tokens per time step (Spikformer's attention), ``scale = qk_scale``;
    * ``'temporal'``: a group of T tokens per position, ``scale = qk_scale``.

    ``O = spike_{V_th=attn_threshold}(A)``, output ``BN(conv1x1(O))``. No softmax: K^T V (two spike tensors) first,
    then Q (spikes) times those counts, both through :class:`SpikeMatMul`.
    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]``.
    """

    def __init__(self, channels: int, num_heads: int, neuron_cfg: dict, attn_mode: str = 'spatiotemporal',
                 qk_scale: float = 0.125, attn_threshold: float = 0.5):
        super().__init__()
        if attn_mode not in ATTN_MODES:
            raise ValueError(f'attn_mode must be one of {ATTN_MODES}, got {attn_mode!r}')
        if channels % num_heads:
            raise ValueError(f'channels ({channels}) must be divisible by num_heads ({num_heads})')
        self.num_heads = num_heads
        self.attn_mode = attn_mode
        self.qk_scale = qk_scale
        self.input_neuron = build_neuron(neuron_cfg)
        self.q = SpikeConvBN(channels, channels, 1)
        self.k = SpikeConvBN(channels, channels, 1)
        self.v = SpikeConvBN(channels, channels, 1)
        self.q_neuron = build_neuron(neuron_cfg)
        self.k_neuron = build_neuron(neuron_cfg)
        self.v_neuron = build_neuron(neuron_cfg)
        self.kv_matmul = SpikeMatMul()
        self.qkv_matmul = SpikeMatMul()
        self.attn_neuron = build_neuron(neuron_cfg, v_threshold=attn_threshold)
        self.proj = SpikeConvBN(channels, channels, 1)

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, B, C, H, W]`` -> groups of tokens ``[..., n_tokens, d]`` for the attention mode."""
        T, B, C = x.shape[:3]
        x = x.reshape(T, B, self.num_heads, C // self.num_heads, -1).transpose(-1, -2)  # [T, B, h, N, d]
        if self.attn_mode == 'spatial':
            return x
        x = x.permute(1, 2, 0, 3, 4)  # [B, h, T, N, d]
        if self.attn_mode == 'spatiotemporal':
            return x.flatten(2, 3)  # [B, h, T*N, d]
        return x.transpose(2, 3)  # temporal: [B, h, N, T, d]

    def _untokens(self, x: torch.Tensor, shape: torch.Size) -> torch.Tensor:
        """Inverse of :meth:`_tokens`: back to ``shape = [T, B, C, H, W]``."""
        T, B, C, H, W = shape
        d = C // self.num_heads
        if self.attn_mode == 'spatiotemporal':
            x = x.reshape(B, self.num_heads, T, H * W, d)
        elif self.attn_mode == 'temporal':
            x = x.transpose(2, 3)
        if self.attn_mode != 'spatial':
            x = x.permute(2, 0, 1, 3, 4)  # [T, B, h, N, d]
        return x.transpose(-1, -2).reshape(T, B, C, H, W)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.input_neuron(x)
        q = self._tokens(self.q_neuron(self.q(s)))
        k = self._tokens(self.k_neuron(self.k(s)))
        v = self._tokens(self.v_neuron(self.v(s)))
        scale = self.qk_scale / x.shape[0] if self.attn_mode == 'spatiotemporal' else self.qk_scale
        attn = self.qkv_matmul(q, self.kv_matmul(k.transpose(-1, -2), v)) * scale
        return self.proj(self.attn_neuron(self._untokens(attn, x.shape)))


class STABlock(nn.Module):
    """Spikeformer encoder block: ``u = x + STA(x)``, ``y = u + MLP(u)`` (membrane shortcuts).

    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]``.
    """

    def __init__(self, channels: int, num_heads: int, mlp_ratio: float, neuron_cfg: dict,
                 attn_mode: str = 'spatiotemporal', drop_path: float = 0.0):
        super().__init__()
        self.attn = SpatioTemporalAttention(channels, num_heads, neuron_cfg, attn_mode)
        self.mlp = SpikeMLP(channels, neuron_cfg, mlp_ratio)
        self.drop_path = TimeDropPath(drop_path)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.attn(x))
        return x + self.drop_path(self.mlp(x))


@MODELS.register_module()
class Spikeformer(BaseSpikingBackbone):
    """Spikeformer backbone: convolutional tokenizer + spatio-temporal attention encoder, LIF neurons.

    Args:
        arch: ``'2-256'``, ``'4-384'``, ``'8-512'`` (encoder depth - width), or a dict with ``embed_dims`` (the
            encoder width C; the tokenizer widths are C/8, C/4, C/2, C) and optionally ``depth``, ``num_heads``,
            ``mlp_ratio`` (defaults 4, 8, 4).
        T: time steps. Images are repeated T times; event frames ``[B, T, C, H, W]`` must have exactly T steps.
        in_channels: 3 for images, 2 (polarities) for DVS event frames.
        neuron_cfg: spiking neuron with a ``v_threshold`` argument (overridden to 0.5 on the attention output);
            default a LIF with tau 2, threshold 1.
        attn_mode: ``'spatiotemporal'`` (STA, the paper's), ``'spatial'`` or ``'temporal'`` (ablations).
        out_indices: outputs among (0-3) the tokenizer stages at strides 2, 4, 8, 16 and (4) the encoder at
            stride 16. Default ``-1`` (the encoder).
        drop_path_rate: stochastic depth, linear over the encoder blocks.
        keep_time, frozen_stages, norm_eval, with_cp, init_cfg, pretrained: see
            :class:`BaseSpikingBackbone`.

    Shapes: ``[B, in_channels, H, W]`` or ``[B, T, in_channels, H, W]`` (H, W multiples of 16) -> tuple of
    ``[B, C_i, H / s_i, W / s_i]``, or ``[T, B, C_i, H / s_i, W / s_i]`` with ``keep_time=True``. Outputs are
    pre-spike membrane maps.
    """
    stage_strides = (2, 4, 8, 16, 16)
    arch_defaults = dict(depth=4, num_heads=8, mlp_ratio=4.0)
    arch_settings = {
        '2-256': dict(embed_dims=256, depth=2),
        '4-384': dict(embed_dims=384, depth=4),
        '8-512': dict(embed_dims=512, depth=8),
    }

    def __init__(self, arch: Union[str, dict] = '4-384', T: int = 4, in_channels: int = 3,
                 neuron_cfg: Optional[dict] = None, attn_mode: str = 'spatiotemporal',
                 out_indices: Union[int, Sequence[int]] = -1, keep_time: bool = False,
                 drop_path_rate: float = 0.0, frozen_stages: int = -1, norm_eval: bool = False, with_cp: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None,
                 pretrained: Optional[str] = None):
        super().__init__(T=T, in_channels=in_channels, out_indices=out_indices, keep_time=keep_time,
                         frozen_stages=frozen_stages, norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        arch = self._parse_arch(arch)
        neuron_cfg = copy.deepcopy(LIF if neuron_cfg is None else neuron_cfg)
        C = self.embed_dims = arch['embed_dims']
        widths = (C // 8, C // 4, C // 2, C)
        dpr = torch.linspace(0, drop_path_rate, arch['depth']).tolist()
        self.stages = nn.ModuleList([
            TokenizerStage(c_in, c_out, neuron_cfg if i else None)
            for i, (c_in, c_out) in enumerate(zip((in_channels,) + widths[:-1], widths))
        ])
        self.stages.append(nn.Sequential(
            ConvPositionEmbedding(C, neuron_cfg),
            *[STABlock(C, arch['num_heads'], arch['mlp_ratio'], neuron_cfg, attn_mode, dpr[i])
              for i in range(arch['depth'])]))
        self.out_channels = tuple(c for i, c in enumerate(widths + (C,)) if i in self.out_indices)
        self._freeze_stages()

    def _parse_arch(self, arch: Union[str, dict]) -> dict:
        arch = self.resolve_arch(arch)
        C, heads = arch['embed_dims'], arch['num_heads']
        if C % 8 or C % heads:
            raise ValueError(f'embed_dims must be divisible by 8 and by num_heads = {heads}, got {C}')
        return arch

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Images ``[B, C, H, W]`` (repeated T times) or event frames ``[B, T, C, H, W]`` -> tuple of outputs."""
        if x.dim() != 5:
            return super().forward(x)
        if x.shape[1] != self.T:
            raise ValueError(f'Spikeformer(T={self.T}) got event frames with {x.shape[1]} time steps (shape '
                             f'{tuple(x.shape)}, read as [B, T, C, H, W]); set T to the number of frames')
        self._check_input(x[:, 0])
        return self._forward_time_major(x.transpose(0, 1).contiguous())
