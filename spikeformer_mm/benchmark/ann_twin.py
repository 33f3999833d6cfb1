"""The ANN twin of a spiking model: the same network with every spiking neuron replaced by its ANN activation."""
from torch import nn

from spikeformer_mm.ops import SpikingNeuron


def ann_twin(model: nn.Module) -> nn.Module:
    """Replace, in place, every spiking neuron of ``model`` (any :class:`~spikeformer_mm.ops.SpikingNeuron`) by its
    :meth:`~spikeformer_mm.ops.SpikingNeuron.ann_equivalent` (``nn.ReLU`` unless the neuron says otherwise); return
    ``model``.

    Nothing else changes: the layers, parameters, time axis (``[T, B, ...]`` tensors, T repeats of the input) and
    every tensor shape stay the same, so the twin measures what the spiking neurons cost against the cheapest
    activation. A neuron's own parameters (e.g. a ``ParametricLIFNode``'s tau in a
    :class:`~spikeformer_mm.ops.SpikingJellyNeuron`) go with it; no other parameter changes.

    Raises ``ValueError`` if ``model`` contains no spiking neuron.
    """
    if isinstance(model, SpikingNeuron):
        raise ValueError('ann_twin needs a model that contains neurons, not a neuron itself: '
                         'use its ann_equivalent() directly')
    names = [name for name, module in model.named_modules(remove_duplicate=False)
             if isinstance(module, SpikingNeuron)]
    if not names:
        raise ValueError(f'{type(model).__name__} has no spiking neuron (a SpikingNeuron, e.g. '
                         'MultiStepLIF, SFANeuron or SpikingJellyNeuron) to replace')
    for name in names:
        parent_name, _, child = name.rpartition('.')
        parent = model.get_submodule(parent_name)
        setattr(parent, child, getattr(parent, child).ann_equivalent())
    return model
