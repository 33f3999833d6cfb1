"""The OpenMMLab interface shared by the spiking backbones (Meta-SpikeFormer, E-SpikeFormer).

A subclass builds its network as ``self.stages``, an ``nn.ModuleList`` of :class:`SpikingStage` (or any module
mapping ``[T, B, C, H, W]`` to ``[T, B, C', H', W']``), one per candidate output, then calls
``self._freeze_stages()`` at the end of its ``__init__``. This base class supplies everything else:

* input validation: ``[B, in_channels, H, W]`` with H and W divisible by ``size_divisor``, clear errors otherwise;
* direct encoding: the image is repeated ``T`` times, ``[B, C, H, W]`` -> ``[T, B, C, H, W]``; the neuron-free
  layers that open the network (the stem's conv + BN) see the same frame at every step, so they run once per image
  and their output is repeated (:func:`run_units`);
* ``out_indices`` over the stages (negative indices allowed), returned as a tuple;
* outputs averaged over T (``[B, C, H, W]``, for stock necks) or kept time-major (``keep_time=True``);
* ``frozen_stages`` (stages ``0..frozen_stages`` get ``requires_grad=False`` and stay in eval mode) and
  ``norm_eval`` (every BatchNorm stays in eval mode), both re-applied by ``train()``;
* ``with_cp``: activation checkpointing of every downsampling layer and block while training (spikingjelly's
  ``memopt.checkpoint_module``: recomputed in the backward pass, BatchNorm statistics updated once);
* ``out_strides`` beside ``out_channels``, and a check at the first forward pass that the detector or segmentor
  holding the backbone declares those strides (:mod:`spikeformer_mm.models.stride_check`);
* mmseg's ``pretrained`` argument, and an error naming the command that makes a missing ``Pretrained`` checkpoint
  (:mod:`.pretrained`).
"""
from typing import Callable, Optional, Sequence, Tuple, Union

import torch
from mmengine.model import BaseModule
from spikingjelly.activation_based.memopt import checkpoint_module
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from spikeformer_mm.ops import compact_spike_storage
from spikeformer_mm.ops.batch_norm import counting_frames, forget_bn_source

from ..layers import SpikeConvBN
from ..stride_check import watch_feature_strides
from .pretrained import check_pretrained_files, init_cfg_with_pretrained


def repeat_frames(x: torch.Tensor, T: int) -> torch.Tensor:
    """One frame ``[1, B, ...]`` -> ``[T, B, ...]``, contiguous (``x`` itself when ``T == 1``)."""
    return x if T == 1 else x.expand(T, *x.shape[1:]).contiguous()


def is_per_frame(unit: nn.Module) -> bool:
    """Whether ``unit`` maps every time step on its own and the same way: a conv + BN with no neuron."""
    return isinstance(unit, SpikeConvBN) and unit.neuron is None


def run_units(units: Sequence[nn.Module], x: torch.Tensor, repeat: int = 1,
              call: Optional[Callable] = None) -> torch.Tensor:
    """Apply ``units`` in turn (each as ``call(unit, x)``, default ``unit(x)``) to ``x [T, B, ...]``.

    With ``repeat = T > 1``, ``x`` is one frame ``[1, B, ...]`` of a direct encoding: the leading per-frame units
    (:func:`is_per_frame`) run on it once, and their output is repeated ``T`` times before the first unit with a
    neuron (or at the end). The values are those of the units on ``T`` copies of the frame, and so are the
    running statistics of their BatchNorms (:func:`~spikeformer_mm.ops.batch_norm.counting_frames`).
    """
    for unit in units:
        if repeat > 1 and not is_per_frame(unit):
            x, repeat = repeat_frames(x, repeat), 1
        with counting_frames(unit, repeat):
            x = unit(x) if call is None else call(unit, x)
    return repeat_frames(x, repeat)


class SpikingStage(nn.Module):
    """A downsampling layer followed by a sequence of blocks, all time-major.

    Shapes: ``[T, B, C_in, H, W]`` -> ``[T, B, C_out, H / stride, W / stride]``; with ``repeat = T``, one frame
    ``[1, B, C_in, H, W]`` to repeat ``T`` times (see :func:`run_units`).
    """

    def __init__(self, downsample: nn.Module, blocks: Sequence[nn.Module]):
        super().__init__()
        self.downsample = downsample
        self.blocks = nn.ModuleList(blocks)

    @property
    def units(self) -> list:
        """The downsampling layer and the blocks, in order."""
        return [self.downsample, *self.blocks]

    def forward(self, x: torch.Tensor, repeat: int = 1) -> torch.Tensor:
        return run_units(self.units, x, repeat)


class BaseSpikingBackbone(BaseModule):
    """Base class of the time-major spiking backbones; see the module docstring for the contract.

    Args:
        T: number of time steps; the input image is repeated T times (direct encoding).
        in_channels: channels of the input image.
        out_indices: which stage outputs to return (int or sequence; negative counts from the end).
        keep_time: return ``[T, B, C, H, W]`` outputs instead of averaging over T to ``[B, C, H, W]``.
        frozen_stages: freeze stages ``0..frozen_stages`` (-1 freezes nothing).
        norm_eval: keep every BatchNorm in eval mode while training (frozen running statistics).
        with_cp: checkpoint every downsampling layer and block in training mode with gradients on: only their
            inputs are kept, everything inside is recomputed in the backward pass (about one more forward pass
            of compute for much less activation memory, e.g. for T = 4 fine-tuning). Outputs, gradients and
            BatchNorm running statistics are the same as without it.
        init_cfg: mmengine initialisation config, e.g. ``dict(type='Pretrained', checkpoint=...)``. A missing
            local checkpoint is an error at ``init_weights`` that says how to make it.
        pretrained: what mmseg's segmentors pass from ``model.pretrained``: a checkpoint path becomes
            ``init_cfg`` (deprecated, as in mmseg's backbones); a model-zoo name (``'open-mmlab://...'``, a
            ResNet) is an error telling to set ``model.pretrained=None``.

    Attributes: ``out_channels`` and ``out_strides``, one int per ``out_indices`` entry.

    Class attributes a subclass sets: ``num_stages`` (number of candidate outputs), ``stage_strides`` (the stride
    of each candidate output; default the MetaFormer layout's 2, 4, 8, 16, 16), ``size_divisor`` (the total
    stride: H and W of the input must be multiples of it) and ``converter_family`` (the family of
    ``tools/model_converters/biclab_to_mm.py`` that converts released weights, if any).
    """
    num_stages = 5
    stage_strides: Tuple[int, ...] = (2, 4, 8, 16, 16)
    size_divisor = 16
    converter_family: Optional[str] = None
    arch_settings: dict = {}
    arch_defaults: dict = {}

    def __init__(self, T: int = 1, in_channels: int = 3, out_indices: Union[int, Sequence[int]] = -1,
                 keep_time: bool = False, frozen_stages: int = -1, norm_eval: bool = False,
                 with_cp: bool = False, init_cfg: Optional[Union[dict, list]] = None,
                 pretrained: Optional[str] = None):
        super().__init__(init_cfg=init_cfg_with_pretrained(type(self).__name__, pretrained, init_cfg))
        if len(self.stage_strides) != self.num_stages:
            raise TypeError(f'{type(self).__name__}.stage_strides {self.stage_strides} must give the stride of '
                            f'each of its {self.num_stages} candidate outputs')
        if not isinstance(T, int) or T < 1:
            raise ValueError(f'T (time steps) must be an integer >= 1, got {T!r}')
        if not -1 <= frozen_stages < self.num_stages:
            raise ValueError(f'frozen_stages must be in [-1, {self.num_stages - 1}], got {frozen_stages}')
        self.T = T
        self.in_channels = in_channels
        self.out_indices = self._normalize_out_indices(out_indices)
        self.out_strides = tuple(self.stage_strides[i] for i in self.out_indices)
        self.keep_time = keep_time
        self.frozen_stages = frozen_stages
        self.norm_eval = norm_eval
        self.with_cp = with_cp
        watch_feature_strides(self)

    def init_weights(self) -> None:
        """mmengine's initialisation (``init_cfg``), after checking that a ``Pretrained`` checkpoint exists."""
        if not self.is_init:
            check_pretrained_files(self, self.converter_family)
        super().init_weights()

    @classmethod
    def resolve_arch(cls, arch: Union[str, dict]) -> dict:
        """A name of ``cls.arch_settings`` or a dict with ``embed_dims`` -> that dict over ``cls.arch_defaults``.

        An unknown name or key raises a ``KeyError`` that lists the valid ones; the subclass checks the values.
        """
        name = cls.__name__
        if isinstance(arch, str):
            if arch not in cls.arch_settings:
                raise KeyError(f'unknown {name} arch {arch!r}; valid names: {", ".join(cls.arch_settings)}, '
                               'or a dict with embed_dims')
            arch = cls.arch_settings[arch]
        if not isinstance(arch, dict) or 'embed_dims' not in arch:
            raise TypeError(f"arch must be a name or a dict with 'embed_dims', got {arch!r}")
        unknown = set(arch) - {'embed_dims', *cls.arch_defaults}
        if unknown:
            raise KeyError(f'unknown {name} arch keys {sorted(unknown)}; valid keys: embed_dims, '
                           f'{", ".join(cls.arch_defaults)}')
        return {**cls.arch_defaults, **arch}

    @classmethod
    def parse_arch(cls, arch: Union[str, dict], num_widths: int) -> dict:
        """:meth:`resolve_arch`, then check the widths of a MetaFormer-style pyramid.

        Raises a ``ValueError`` unless there are ``num_widths`` widths with an even first one, one depth per
        stage, and the transformer widths (``embed_dims[2:]``) divide into ``num_heads`` heads.
        """
        arch = cls.resolve_arch(arch)
        dims, depths, heads = tuple(arch['embed_dims']), tuple(arch['depths']), arch['num_heads']
        if len(dims) != num_widths or dims[0] % 2:
            raise ValueError(f'embed_dims must be {num_widths} widths with an even first one, got {dims}')
        if len(depths) != cls.num_stages:
            raise ValueError(f'depths must give the blocks of the {cls.num_stages} stages, got {depths}')
        if any(c % heads for c in dims[2:]):
            raise ValueError(f'embed_dims[2:] = {dims[2:]} must be divisible by num_heads = {heads}')
        return dict(arch, embed_dims=dims, depths=depths)

    def _build_metaformer_stages(self, embed_dims: Sequence[int], depths: Sequence[int], neuron_cfg: dict,
                                 drop_path_rate: float, conv_block: Callable, transformer_block: Callable) -> None:
        """The 5-stage layout shared by Meta-SpikeFormer and E-SpikeFormer, as ``self.stages``.

        The layout of Spike-Driven-Transformer-V2 ``classification/models.py``, ``Spiking_vit_MetaFormer``.

        Stage 0: 7x7/s2 encoding conv + BN (no spike) and ``depths[0]`` conv blocks at ``C0/2``; stages 1-2:
        spike 3x3/s2 conv + BN and conv blocks at ``C0``, ``C1``; stages 3-4: spike 3x3 conv (stride 2, then 1)
        + BN and transformer blocks at ``C2``, ``C3``. ``conv_block(channels, drop_path)`` and
        ``transformer_block(channels, drop_path)`` build one block; drop path grows linearly over all blocks.
        Also sets ``self.out_channels`` for the selected ``out_indices``.
        """
        C0, C1, C2, C3 = embed_dims
        num_blocks = sum(depths)
        rates = iter([drop_path_rate * i / max(num_blocks - 1, 1) for i in range(num_blocks)])

        def blocks(make, channels, depth):
            return [make(channels, next(rates)) for _ in range(depth)]

        def down(c_in, c_out, stride):
            return SpikeConvBN(c_in, c_out, 3, stride, 1, bias=True, neuron_cfg=neuron_cfg)

        self.stages = nn.ModuleList([
            SpikingStage(SpikeConvBN(self.in_channels, C0 // 2, 7, 2, 3, bias=True),
                         blocks(conv_block, C0 // 2, depths[0])),
            SpikingStage(down(C0 // 2, C0, 2), blocks(conv_block, C0, depths[1])),
            SpikingStage(down(C0, C1, 2), blocks(conv_block, C1, depths[2])),
            SpikingStage(down(C1, C2, 2), blocks(transformer_block, C2, depths[3])),
            SpikingStage(down(C2, C3, 1), blocks(transformer_block, C3, depths[4])),
        ])
        self.out_channels = tuple(c for i, c in enumerate((C0 // 2, C0, C1, C2, C3)) if i in self.out_indices)

    def _normalize_out_indices(self, out_indices: Union[int, Sequence[int]]) -> Tuple[int, ...]:
        if isinstance(out_indices, int):
            out_indices = [out_indices]
        if not isinstance(out_indices, Sequence) or len(out_indices) == 0:
            raise TypeError(f'out_indices must be an int or a non-empty sequence of ints, got {out_indices!r}')
        normalized = []
        for index in out_indices:
            if not isinstance(index, int) or not -self.num_stages <= index < self.num_stages:
                raise ValueError(f'out_indices entries must be ints in [{-self.num_stages}, '
                                 f'{self.num_stages - 1}], got {index!r}')
            normalized.append(index % self.num_stages)
        if len(set(normalized)) != len(normalized):
            raise ValueError(f'out_indices has duplicates: {tuple(out_indices)}')
        return tuple(sorted(normalized))

    def _check_input(self, x: torch.Tensor) -> None:
        if x.dim() != 4:
            raise ValueError(f'{type(self).__name__} expects images [B, C, H, W], got shape {tuple(x.shape)}')
        if x.shape[1] != self.in_channels:
            raise ValueError(f'{type(self).__name__} expects {self.in_channels} input channels, '
                             f'got shape {tuple(x.shape)}')
        H, W = x.shape[-2:]
        if H % self.size_divisor or W % self.size_divisor:
            raise ValueError(f'{type(self).__name__} needs H and W divisible by {self.size_divisor}, '
                             f'got {H}x{W}; pad or resize the input (e.g. size_divisor={self.size_divisor} '
                             'in the data preprocessor)')

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        """``[B, C, H, W]`` -> tuple of ``[B, C_i, H_i, W_i]`` (or ``[T, B, C_i, H_i, W_i]`` with keep_time)."""
        self._check_input(x)
        return self._forward_time_major(x.unsqueeze(0), repeat=self.T)

    def _forward_time_major(self, x: torch.Tensor, repeat: int = 1) -> Tuple[torch.Tensor, ...]:
        """Run the stages on ``[T, B, C, H, W]`` (or on one frame ``[1, B, C, H, W]`` to repeat ``repeat = T``
        times, see :func:`run_units`) and collect the ``out_indices`` outputs."""
        outs = []
        checkpointed = self.with_cp and self.training and torch.is_grad_enabled()
        with compact_spike_storage(torch.is_grad_enabled()):  # saved spikes in 1 byte, bit-exact
            for i, stage in enumerate(self.stages[:self.out_indices[-1] + 1]):
                if checkpointed:
                    x = self._checkpointed(stage, x, repeat)
                elif isinstance(stage, SpikingStage):
                    x = stage(x, repeat)
                else:
                    x = stage(repeat_frames(x, repeat))
                repeat = 1
                if i in self.out_indices:
                    outs.append(x if self.keep_time else x.mean(0))
        return tuple(outs)

    @staticmethod
    def _checkpointed(stage: nn.Module, x: torch.Tensor, repeat: int = 1) -> torch.Tensor:
        """Run ``stage`` with each of its units (downsampling layer, blocks) checkpointed."""
        if isinstance(stage, SpikingStage):
            units = stage.units
        elif isinstance(stage, nn.Sequential):
            units = list(stage)
        else:
            units = [stage]
        # the recomputation sees an untagged copy of the unit's input: the first pass must not use the tag
        return run_units(units, x, repeat, call=lambda unit, y: forget_bn_source(checkpoint_module(unit)(y)))

    def _freeze_stages(self) -> None:
        for stage in self.stages[:self.frozen_stages + 1]:
            stage.eval()
            for param in stage.parameters():
                param.requires_grad = False

    def train(self, mode: bool = True):
        super().train(mode)
        self._freeze_stages()
        if mode and self.norm_eval:
            for module in self.modules():
                if isinstance(module, _BatchNorm):
                    module.eval()
        return self
