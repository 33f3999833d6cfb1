"""E-SpikeFormer for event cameras (Spike-Driven Transformer V3's DVS models) as an OpenMMLab backbone.

Spike-Driven-Transformer-V3 ``SDT_V3/DVS/Hardvs/models_Q_scaling_dvs.py``, ``Efficient_SpikeFormer_scaling``: the
Model_Base layout of :class:`ESpikeFormer` with its building blocks, and these differences:

* the input is ``T`` event frames ``[B, T, 2, H, W]`` (two polarities), read time-major, never repeated;
* every neuron is the integer IF neuron (:class:`~spikeformer_mm.ops.IntegerIFNeuron`, ceiling 4, divided by a
  per-model ``norm``, the reference's ``D_Norm``);
* one scalar ``depth`` sets the transformer blocks: ``int(0.75 * depth)`` in stage 3, ``int(0.25 * depth)`` in
  stage 4 (stages 0-2 keep 1, 1, 2 conv blocks);
* every transformer block scales its three residual branches by learnable per-channel layer scales (init 1e-6).

The classifier (spatial mean, integer neuron, Linear, mean over T) is
``SpikingGlobalAvgPool`` + ``SpikingLinearClsHead`` in the configs (``configs/e_spikeformer/*dvs*``).
"""
import copy
from typing import Optional, Sequence, Tuple, Union

import torch
from torch import nn

from spikeformer_mm.registry import MODELS

from .base_spiking_backbone import BaseSpikingBackbone
from .e_spikeformer import SpikeConvBlock, SpikeTransformerBlock

INTEGER_IF = dict(type='IntegerIFNeuron', D=4, norm=4)


class LayerScaleTransformerBlock(SpikeTransformerBlock):
    """:class:`SpikeTransformerBlock` with a per-channel scale on each of its three residual branches.

    ``u = x + g1 * SepConv(x)``, ``v = u + g2 * E-SDSA(u)``, ``y = v + g3 * MLP(v)``; ``g1, g2, g3`` are ``[C]``
    parameters initialised to ``layer_scale_init_value`` (the reference's ``layer_scale1..3``).

    Shapes: ``[T, B, C, H, W]`` -> ``[T, B, C, H, W]``.
    """

    def __init__(self, channels: int, num_heads: int, mlp_ratio: float, neuron_cfg: dict,
                 drop_path: float = 0.0, layer_scale_init_value: float = 1e-6):
        super().__init__(channels, num_heads, mlp_ratio, neuron_cfg, drop_path)
        for i in (1, 2, 3):
            setattr(self, f'layer_scale{i}', nn.Parameter(torch.full((channels,), float(layer_scale_init_value))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path(self.layer_scale1.view(-1, 1, 1) * self.sep_conv(x))
        x = x + self.drop_path(self.layer_scale2.view(-1, 1, 1) * self.attn(x))
        return x + self.drop_path(self.layer_scale3.view(-1, 1, 1) * self.mlp(x))


@MODELS.register_module()
class ESpikeFormerDVS(BaseSpikingBackbone):
    """E-SpikeFormer for event frames: integer IF neurons, layer-scaled transformer blocks, no input repetition.

    Args:
        arch: ``'19M'`` (depth 8: 6 + 2 transformer blocks, the reference's
            ``Efficient_Spiking_Transformer_scaling_8_19M`` for HARDVS), ``'5.6M'`` (depth 2: 1 + 0 blocks,
            ``..._scaling_2_8M_gesture`` for DVS128 Gesture), or a dict with ``embed_dims`` (4 widths) and optionally
            ``depth`` (default 8), ``num_heads`` (8), ``mlp_ratio`` (4).
        T: number of event frames; the input must have exactly T.
        in_channels: channels of a frame (2 polarities).
        neuron_cfg: every neuron of the backbone; default ``dict(type='IntegerIFNeuron', D=4, norm=4)`` (the
            reference's default ``D_Norm``; its HARDVS model uses ``norm=1``, its Gesture model ``norm=8``).
        layer_scale_init_value: initial value of the transformer blocks' layer scales.
        out_indices: outputs among (0) s2 after the first conv block, (1-4) stages 1-4 at strides 4, 8, 16, 16.
        drop_path_rate: stochastic depth, linear over all blocks (the reference builds ``DropPath`` in its blocks
            but never applies it, so its recipe is 0).
        keep_time, frozen_stages, norm_eval, with_cp, init_cfg, pretrained: see :class:`BaseSpikingBackbone`.

    Shapes: event frames ``[B, T, in_channels, H, W]`` (H, W multiples of 16) -> tuple of
    ``[B, C_i, H / s_i, W / s_i]``, or ``[T, B, C_i, H / s_i, W / s_i]`` with ``keep_time=True`` (the spiking
    classifier's input). Outputs are pre-spike membrane maps.
    """
    arch_defaults = dict(depth=8, num_heads=8, mlp_ratio=4.0)
    arch_settings = {
        '19M': dict(embed_dims=(64, 128, 256, 360), depth=8),
        '5.6M': dict(embed_dims=(64, 128, 256, 360), depth=2),
    }

    def __init__(self, arch: Union[str, dict] = '19M', T: int = 8, in_channels: int = 2,
                 neuron_cfg: Optional[dict] = None, layer_scale_init_value: float = 1e-6,
                 out_indices: Union[int, Sequence[int]] = -1, keep_time: bool = False, drop_path_rate: float = 0.0,
                 frozen_stages: int = -1, norm_eval: bool = False, with_cp: bool = False,
                 init_cfg: Optional[Union[dict, list]] = None, pretrained: Optional[str] = None):
        super().__init__(T=T, in_channels=in_channels, out_indices=out_indices, keep_time=keep_time,
                         frozen_stages=frozen_stages, norm_eval=norm_eval, with_cp=with_cp, init_cfg=init_cfg,
                         pretrained=pretrained)
        arch = self.parse_arch(arch, num_widths=4)
        self.embed_dims = arch['embed_dims']
        self.depths = arch['depths']
        neuron_cfg = copy.deepcopy(INTEGER_IF if neuron_cfg is None else neuron_cfg)
        heads, ratio = arch['num_heads'], arch['mlp_ratio']
        self._build_metaformer_stages(
            self.embed_dims, self.depths, neuron_cfg, drop_path_rate,
            conv_block=lambda channels, dp: SpikeConvBlock(channels, neuron_cfg, dp),
            transformer_block=lambda channels, dp: LayerScaleTransformerBlock(
                channels, heads, ratio, neuron_cfg, dp, layer_scale_init_value))
        self._freeze_stages()

    @classmethod
    def resolve_arch(cls, arch: Union[str, dict]) -> dict:
        """The arch over the defaults, with the scalar ``depth`` turned into the five stages' block counts
        ``(1, 1, 2, int(0.75 * depth), int(0.25 * depth))``."""
        arch = dict(super().resolve_arch(arch))
        depth = arch.pop('depth')
        if not isinstance(depth, int) or depth < 0:
            raise ValueError(f'ESpikeFormerDVS depth must be an integer >= 0 (stages 3 and 4 get '
                             f'int(0.75 * depth) and int(0.25 * depth) blocks), got {depth!r}')
        return dict(arch, depths=(1, 1, 2, int(0.75 * depth), int(0.25 * depth)))

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """Event frames ``[B, T, C, H, W]`` -> tuple of outputs (see the class docstring)."""
        if x.dim() != 5:
            raise ValueError(f'ESpikeFormerDVS expects event frames [B, T, {self.in_channels}, H, W], got shape '
                             f'{tuple(x.shape)}; build the samples with EventsToFrames (images need ESpikeFormer)')
        if x.shape[1] != self.T:
            raise ValueError(f'ESpikeFormerDVS(T={self.T}) got event frames with {x.shape[1]} time steps (shape '
                             f'{tuple(x.shape)}, read as [B, T, C, H, W]); set T to the number of frames')
        self._check_input(x[:, 0])
        return self._forward_time_major(x.transpose(0, 1).contiguous())
