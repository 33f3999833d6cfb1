"""Build a spiking neuron from a config dict, independent of the toolbox's default scope."""
import copy

from torch import nn

from spikeformer_mm.registry import MODELS

from .neuron import SpikingNeuron


def build_neuron(cfg: dict, **overrides) -> nn.Module:
    """``dict(type='MultiStepLIF', v_threshold=0.5)`` or ``dict(type='SFANeuron', D=4)`` -> neuron module.

    ``overrides`` replace config keys (e.g. a block's own ``v_threshold``). The type is looked up in this
    package's registry (``'spikeformer_mm.X'`` works too), so building does not depend on whether mmdet,
    mmseg or mmpretrain is the current default scope. It must be a :class:`SpikingNeuron`, so that the energy
    counter and the ANN twin find it.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f"neuron_cfg must be a dict with a 'type' key, got {cfg!r}")
    args = copy.deepcopy(dict(cfg))
    args.update(overrides)
    name = args.pop('type')
    neuron_cls = MODELS.get(name) if isinstance(name, str) else name
    if neuron_cls is None:
        raise ValueError(f'unknown neuron type {name!r}: not registered in spikeformer_mm or mmengine '
                         "(spikeformer_mm's neurons: 'MultiStepLIF', 'SFANeuron')")
    if not (isinstance(neuron_cls, type) and issubclass(neuron_cls, SpikingNeuron)):
        raise TypeError(f'neuron type {name!r} is not a spikeformer_mm.ops.SpikingNeuron: derive the neuron class '
                        'from it, so that the energy counter and the ANN twin find it')
    return neuron_cls(**args)
