"""Per-stage firing-rate maps of a spiking backbone, drawn as heatmaps over the input image.

A neuron's *firing rate* at a position is its spike count per time step divided by the most it can fire, ``D``
(1 for a binary LIF; ``D`` for an SFA neuron, whose integer level ``k`` stands for ``k`` spikes over ``D`` virtual
steps). So 0 means silent and 1 means saturated, for every neuron type. A stage's map is the rate averaged over
time, channels and all neurons of the stage, at the resolution of the stage's output: the downsampling neuron
that fires on the previous stage's grid is block-averaged onto it.
"""
from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from spikeformer_mm.ops import SpikingNeuron

# Each layer's summary rate below (above) which a layer is reported as dead (saturated).
DEAD_RATE = 1e-3
SATURATED_RATE = 1 - 1e-3


@dataclass
class FiringRecord:
    """Firing rates of one forward pass.

    Attributes:
        stage_maps: ``{'stages.i': [B, H_i, W_i]}`` mean firing rate per position of each stage, in [0, 1].
        layer_rates: ``{neuron name: rate}`` mean firing rate of each neuron module over the whole batch.
    """

    stage_maps: Dict[str, torch.Tensor] = field(default_factory=dict)
    layer_rates: Dict[str, float] = field(default_factory=dict)

    def dead_layers(self) -> List[str]:
        return [name for name, rate in self.layer_rates.items() if rate < DEAD_RATE]

    def saturated_layers(self) -> List[str]:
        return [name for name, rate in self.layer_rates.items() if rate > SATURATED_RATE]


def rate_map(neuron: SpikingNeuron, out: torch.Tensor) -> torch.Tensor:
    """Firing rate per position of one neuron's output: ``[T, B, C, H, W]`` or ``[B, C, H, W]`` -> ``[B, H, W]``."""
    rate = out.detach().float() * (neuron.norm / neuron.D)
    if rate.dim() == 5:
        rate = rate.mean(0)
    if rate.dim() != 4:
        raise ValueError(f'a firing map needs neuron outputs [T, B, C, H, W] or [B, C, H, W], got {tuple(out.shape)}')
    return rate.mean(1)


def _stage_of(name: str) -> Optional[str]:
    parts = name.split('.')
    return '.'.join(parts[:2]) if len(parts) > 2 and parts[0] == 'stages' else None


@torch.no_grad()
def record_firing(backbone: nn.Module, inputs: torch.Tensor) -> FiringRecord:
    """Run ``backbone(inputs)`` once and record the firing rates of its neurons, per stage and per layer.

    Args:
        backbone: a spiking backbone whose stages are ``backbone.stages`` (MetaSpikeFormer, ESpikeFormer,
            Spikeformer); its neurons must output ``[T, B, C, H, W]`` or ``[B, C, H, W]``.
        inputs: the preprocessed batch ``[B, 3, H, W]``.

    Returns:
        :class:`FiringRecord`; each stage map is on the grid of that stage's block outputs (its most common
        neuron resolution).
    """
    if not isinstance(getattr(backbone, 'stages', None), nn.ModuleList):
        raise TypeError(f'{type(backbone).__name__} has no `stages` ModuleList; pass a spiking backbone of '
                        'spikeformer_mm (model.backbone), not the whole detector or classifier')
    maps: Dict[str, List[torch.Tensor]] = {}
    sums: Dict[str, List[float]] = {}
    hooks = []

    def hook(name, module, args, out):
        rate = rate_map(module, out)
        sums.setdefault(name, []).append(rate.mean().item())
        maps.setdefault(_stage_of(name), []).append(rate)

    for name, module in backbone.named_modules():
        if isinstance(module, SpikingNeuron):
            if _stage_of(name) is None:
                raise ValueError(f'neuron {name!r} is outside `stages.<i>`: cannot assign it to a stage')
            hooks.append(module.register_forward_hook(lambda m, a, o, name=name: hook(name, m, a, o)))
    try:
        backbone(inputs)
    finally:
        for handle in hooks:
            handle.remove()
    if not maps:
        raise ValueError(f'{type(backbone).__name__} ran no spiking neuron (spikeformer_mm.ops.SpikingNeuron)')
    record = FiringRecord(layer_rates={name: float(np.mean(values)) for name, values in sums.items()})
    for stage, rates in maps.items():
        sizes = [tuple(r.shape[-2:]) for r in rates]
        grid = max(set(sizes), key=sizes.count)
        pooled = [r if r.shape[-2:] == grid else F.adaptive_avg_pool2d(r[:, None], grid)[:, 0] for r in rates]
        record.stage_maps[stage] = torch.stack(pooled).mean(0)
    return record


def _label(panel: np.ndarray, text: str, height: int) -> np.ndarray:
    band = np.full((height, panel.shape[1], 3), 255, np.uint8)
    cv2.putText(band, text, (2, height - 6), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    return np.concatenate([band, panel])


def panel_title(stage: str, rate: np.ndarray) -> str:
    """``'<stage> <mean rate>'``, plus ``' dead'`` if nothing in the map fires, ``' saturated'`` if all of it
    fires at its maximum."""
    title = f'{stage} {rate.mean():.3f}'
    if rate.max() == 0:
        return title + ' dead'
    if rate.min() == 1:
        return title + ' saturated'
    return title


def heatmap(rate: np.ndarray, size: Sequence[int]) -> np.ndarray:
    """Rates ``[h, w]`` in [0, 1] -> BGR jet colours ``[H, W, 3]`` (0 blue, 1 red), each cell a block of pixels."""
    levels = np.clip(np.rint(rate * 255), 0, 255).astype(np.uint8)
    colours = cv2.applyColorMap(levels, cv2.COLORMAP_JET)
    return cv2.resize(colours, (size[1], size[0]), interpolation=cv2.INTER_NEAREST)


def draw_firing_maps(image: np.ndarray, stage_maps: Dict[str, torch.Tensor], alpha: float = 0.5,
                     label_height: int = 18) -> np.ndarray:
    """The image, then one panel per stage: its firing-rate heatmap blended over the image, side by side.

    Args:
        image: the network's input image, BGR ``uint8 [H, W, 3]`` (as ``mmcv.imread`` gives it).
        stage_maps: ``{stage: [h, w]}`` rates in [0, 1] of this one image (``record.stage_maps[s][i]``).
        alpha: weight of the heatmap in the blend.
        label_height: pixels of the white band above each panel that names it (stage and mean rate, and
            "dead" / "saturated" when the whole stage is silent / fires at its maximum).

    Returns:
        BGR ``uint8 [label_height + H, (1 + len(stage_maps)) * W, 3]``; the scale is fixed (rate 0 blue, 1 red)
        so that stages and images compare.
    """
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f'image must be uint8 [H, W, 3] (BGR), got {image.dtype} {image.shape}')
    panels = [_label(image, 'input', label_height)]
    for stage, rate in stage_maps.items():
        rate = rate.cpu().numpy() if isinstance(rate, torch.Tensor) else np.asarray(rate)
        if rate.ndim != 2:
            raise ValueError(f'{stage}: one image\'s map [h, w] expected, got shape {rate.shape}')
        blend = cv2.addWeighted(image, 1 - alpha, heatmap(rate, image.shape[:2]), alpha, 0)
        panels.append(_label(blend, panel_title(stage, rate), label_height))
    return np.concatenate(panels, axis=1)
