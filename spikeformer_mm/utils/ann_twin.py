"""The ANN twin of a spiking model: the same network with every spiking neuron replaced by a ReLU."""
from torch import nn

from spikeformer_mm.ops import MultiStepLIF, SFANeuron

SPIKING_NEURONS = (MultiStepLIF, SFANeuron)


def ann_twin(model: nn.Module) -> nn.Module:
    """Replace, in place, every spiking neuron (:data:`SPIKING_NEURONS`) of ``model`` by ``nn.ReLU``; return it.

    Nothing else changes: the layers, parameters, time axis (``[T, B, ...]`` tensors, T repeats of the input) and
    every tensor shape stay the same, so the twin measures what the spiking neurons cost against the cheapest
    activation. Neurons have no parameters, so the parameter count is unchanged.

    Raises ``ValueError`` if ``model`` contains no spiking neuron.
    """
    if isinstance(model, SPIKING_NEURONS):
        raise ValueError('ann_twin needs a model that contains neurons, not a neuron itself: '
                         'use nn.ReLU() directly')
    names = [name for name, module in model.named_modules(remove_duplicate=False)
             if isinstance(module, SPIKING_NEURONS)]
    if not names:
        raise ValueError(f'{type(model).__name__} has no spiking neuron '
                         f'({", ".join(cls.__name__ for cls in SPIKING_NEURONS)}) to replace by a ReLU')
    for name in names:
        parent_name, _, child = name.rpartition('.')
        setattr(model.get_submodule(parent_name), child, nn.ReLU())
    return model
