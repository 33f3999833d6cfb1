"""Build a spiking neuron from a config dict, independent of the toolbox's default scope."""
import copy
import inspect

from torch import nn

from spikeformer_mm.registry import MODELS

from .neuron import SpikingNeuron


def registered_neuron_types() -> list:
    """The names of the :class:`SpikingNeuron` classes in spikeformer_mm's registry (a user's registered ones too)."""
    MODELS.import_from_location()
    return sorted(name for name, cls in MODELS.module_dict.items()
                  if isinstance(cls, type) and issubclass(cls, SpikingNeuron))


def build_neuron(cfg: dict, **overrides) -> nn.Module:
    """``dict(type='MultiStepLIF', v_threshold=0.5)`` or ``dict(type='SFANeuron', D=4)`` -> neuron module.

    ``overrides`` replace config keys (e.g. a block's own ``v_threshold``). The type is looked up in this
    package's registry (``'spikeformer_mm.X'`` works too), so building does not depend on whether mmdet,
    mmseg or mmpretrain is the current default scope. It must be a :class:`SpikingNeuron`, so that the energy
    counter and the ANN twin find it. spikingjelly's neurons build through
    ``dict(type='SpikingJellyNeuron', node='LIFNode', ...)`` (:class:`~spikeformer_mm.ops.SpikingJellyNeuron`).
    An unknown type or argument is an error that names the valid ones.
    """
    if not isinstance(cfg, dict) or 'type' not in cfg:
        raise ValueError(f"neuron_cfg must be a dict with a 'type' key, got {cfg!r}")
    args = copy.deepcopy(dict(cfg))
    args.update(overrides)
    name = args.pop('type')
    neuron_cls = MODELS.get(name) if isinstance(name, str) else name
    if neuron_cls is None:
        raise ValueError(f'unknown neuron type {name!r}: not registered in spikeformer_mm or mmengine; the '
                         f'registered spiking neurons: {", ".join(registered_neuron_types())} '
                         "(spikingjelly's nodes: dict(type='SpikingJellyNeuron', node='LIFNode', ...))")
    if not (isinstance(neuron_cls, type) and issubclass(neuron_cls, SpikingNeuron)):
        raise TypeError(f'neuron type {name!r} is not a spikeformer_mm.ops.SpikingNeuron: derive the neuron class '
                        'from it, so that the energy counter and the ANN twin find it')
    params = inspect.signature(neuron_cls).parameters
    if not any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        unknown = [key for key in args if key not in params]
        if unknown:
            raise ValueError(f'{neuron_cls.__name__} takes no argument {", ".join(map(repr, unknown))}; its '
                             f'arguments: {", ".join(params)}')
    return neuron_cls(**args)
