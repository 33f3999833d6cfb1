"""Make a toolbox module spike-driven: a neuron fires on the input of every conv, deconv and fc layer.

The spiking detection necks and heads subclass mmdet's FPN, RPN, bbox and mask heads with
:class:`SpikeInputsMixin`, which runs :func:`add_input_neurons` once mmdet has built the layers. Each
``nn.Conv2d`` / ``nn.ConvTranspose2d`` / ``nn.Linear`` is replaced by :class:`SpikeInput` (neuron, then the layer),
so a hook on the layer sees spikes as its input, which is what the energy counter needs to count the layer as
spike-driven (synaptic accumulates, not MACs).
"""
import torch
from torch import nn

from spikeformer_mm.ops import build_neuron

SPIKE_LAYER_TYPES = (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)
DEFAULT_NEURON = dict(type='SFANeuron', D=4, norm=1)


class SpikeInput(nn.Module):
    """``layer(neuron(x))``: the wrapped layer only ever receives spikes.

    Attribute look-ups the wrapper cannot answer (``weight``, ``bias``, ``in_channels``, ...) are passed on to
    ``layer``, so toolbox code that inspects or initialises the conv/fc it built keeps working after wrapping.

    Shapes: those of ``layer``; the neuron is element-wise (any shape in, same shape out).
    """

    def __init__(self, layer: nn.Module, neuron_cfg: dict):
        super().__init__()
        neuron = build_neuron(neuron_cfg)
        if neuron.multi_step:
            raise ValueError('detection necks and heads see 4-D [B, C, H, W] features (time already averaged by '
                             'the backbone), so their neurons must be element-wise, e.g. '
                             f"dict(type='SFANeuron', D=4); {type(neuron).__name__} is multi-step and needs a "
                             'leading time axis')
        self.neuron = neuron
        self.layer = layer

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layer(self.neuron(x))

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            return getattr(super().__getattr__('layer'), name)


def add_input_neurons(module: nn.Module, neuron_cfg: dict) -> nn.Module:
    """Wrap, in place, every conv/deconv/fc below ``module`` in :class:`SpikeInput`; returns ``module``."""
    for name, child in module.named_children():
        if isinstance(child, SPIKE_LAYER_TYPES):
            setattr(module, name, SpikeInput(child, neuron_cfg))
        elif not isinstance(child, SpikeInput):
            add_input_neurons(child, neuron_cfg)
    return module


class SpikeInputsMixin:
    """Put first in the bases of a toolbox neck or head: ``class SpikeFPN(SpikeInputsMixin, FPN)``.

    Adds the keyword ``neuron_cfg`` (an element-wise neuron config, default :data:`DEFAULT_NEURON`) and, once the
    toolbox class has built its layers, wraps each conv/deconv/fc with :func:`add_input_neurons`.
    """

    def __init__(self, *args, neuron_cfg: dict = DEFAULT_NEURON, **kwargs):
        super().__init__(*args, **kwargs)
        add_input_neurons(self, neuron_cfg)
