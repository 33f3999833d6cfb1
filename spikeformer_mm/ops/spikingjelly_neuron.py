"""Any spikingjelly 2.x neuron node (``LIFNode``, ``ParametricLIFNode``, ``IFNode``, ...) as a ``neuron_cfg``."""
import copy
import inspect
from typing import Optional, Union

import torch
from spikingjelly.activation_based import base, neuron, surrogate
from torch import nn

from spikeformer_mm.registry import MODELS

from .neuron import SpikingNeuron
from .spike_storage import mark_spikes


def _classes_in(namespace, base_cls: type) -> dict:
    return {name: obj for name, obj in vars(namespace).items()
            if isinstance(obj, type) and issubclass(obj, base_cls) and not name.startswith('_')}


def node_types() -> dict:
    """Name -> class of the neuron nodes in ``spikingjelly.activation_based.neuron`` that run in multi-step mode
    (abstract ``*BaseNode`` classes left out)."""
    return {name: cls for name, cls in sorted(_classes_in(neuron, base.StepModule).items())
            if issubclass(cls, nn.Module) and not name.endswith('BaseNode')
            and 'step_mode' in inspect.signature(cls).parameters}


def surrogate_types() -> dict:
    """Name -> class of spikingjelly's surrogate functions (``surrogate.ATan``, ``surrogate.Sigmoid``, ...)."""
    return {name: cls for name, cls in sorted(_classes_in(surrogate, surrogate.SurrogateFunctionBase).items())
            if cls is not surrogate.SurrogateFunctionBase}


def build_surrogate(cfg: Union[str, dict, nn.Module]) -> nn.Module:
    """``'ATan'``, ``dict(type='ATan', alpha=2.0)`` or a surrogate module -> spikingjelly surrogate module."""
    if isinstance(cfg, surrogate.SurrogateFunctionBase):
        return cfg
    args = dict(type=cfg) if isinstance(cfg, str) else copy.deepcopy(cfg)
    if not isinstance(args, dict) or 'type' not in args:
        raise ValueError(f"surrogate must be a name, a dict with a 'type' key or a spikingjelly surrogate module, "
                         f'got {cfg!r}')
    name = args.pop('type')
    types = surrogate_types()
    if name not in types:
        raise ValueError(f'unknown spikingjelly surrogate {name!r}; the valid ones: {", ".join(types)}')
    return types[name](**{key: _as_declared(types[name], key, value) for key, value in args.items()})


def _as_declared(cls: type, key: str, value):
    """An int where ``cls`` declares a float default becomes a float (spikingjelly asserts ``float`` types, and a
    config's ``tau=2`` means 2.0)."""
    param = inspect.signature(cls).parameters.get(key)
    if param is not None and isinstance(param.default, float) and isinstance(value, int) and not isinstance(
            value, bool):
        return float(value)
    return value


@MODELS.register_module()
class SpikingJellyNeuron(SpikingNeuron, multi_step=True):
    """A spikingjelly 2.x multi-step neuron node, with the project's neuron contract.

    ``dict(type='SpikingJellyNeuron', node='ParametricLIFNode', init_tau=2.0, v_reset=None,
    surrogate=dict(type='ATan', alpha=2.0), detach_reset=True)`` builds
    ``spikingjelly.activation_based.neuron.ParametricLIFNode(init_tau=2.0, v_reset=None,
    surrogate_function=surrogate.ATan(alpha=2.0), detach_reset=True, step_mode='m')`` as :attr:`node`.

    * The node's membrane is reset before and after every call: no state carries over between calls (each call
      is a whole ``[T, ...]`` sequence), so no ``functional.reset_net`` is needed, and no membrane tensor (with its
      autograd graph) outlives the call.
    * Its learnable parameters (``ParametricLIFNode``'s ``w``, i.e. tau) are parameters of this module: the
      optimizer trains them and checkpoints hold them (``<neuron>.node.w``).
    * Its output must be binary spikes (``D = 1``): the energy counter counts them as such and autograd keeps them
      in 1 byte per element under :func:`~spikeformer_mm.ops.compact_spike_storage`. A node that emits other
      values (e.g. ``TernaryIFNode``'s -1) is refused at its first such output; give a graded neuron its own
      :class:`SpikingNeuron` subclass with ``D`` and ``norm``.
    * In the ANN twin it becomes ``nn.ReLU`` (its parameters go with it).

    Args:
        node: the class name in ``spikingjelly.activation_based.neuron``.
        surrogate: the surrogate gradient: a class name in ``spikingjelly.activation_based.surrogate`` or a dict
            with ``type`` and its arguments (e.g. ``dict(type='Sigmoid', alpha=4.0)``); ``None``: the node's
            default.
        v_threshold: the node's threshold; ``None``: its default. Named here so that backbones that set a
            neuron's threshold (Meta-SpikeFormer's attention neuron) find it.
        **node_args: the node's other arguments (``tau``, ``v_reset`` (``None``: soft reset), ``detach_reset``,
            ``decay_input``, ...).

    Shapes: ``[T, ...]`` (T >= 1, the time-major layout of the backbones) -> spikes ``[T, ...]``.
    """

    def __init__(self, node: str = 'LIFNode', surrogate: Union[str, dict, nn.Module, None] = None,
                 v_threshold: Optional[float] = None, **node_args):
        super().__init__()
        types = node_types()
        if node not in types:
            raise ValueError(f'unknown spikingjelly neuron node {node!r}; the valid ones (in '
                             f'spikingjelly.activation_based.neuron): {", ".join(types)}')
        node_cls = types[node]
        if 'step_mode' in node_args:
            raise ValueError(f'SpikingJellyNeuron runs {node} in multi-step mode; remove '
                             f"step_mode={node_args['step_mode']!r}")
        args = dict(node_args)
        if v_threshold is not None:
            args['v_threshold'] = v_threshold
        if surrogate is not None:
            args['surrogate_function'] = build_surrogate(surrogate)
        accepted = [name for name in inspect.signature(node_cls).parameters if name != 'step_mode']
        unknown = [name for name in args if name not in accepted]
        if unknown:
            config_name = {'surrogate_function': 'surrogate'}  # what a config calls it
            raise ValueError(f'{node} takes no argument {", ".join(repr(config_name.get(n, n)) for n in unknown)}; '
                             f'its arguments: {", ".join(config_name.get(n, n) for n in accepted)}')
        self.node = node_cls(**{key: _as_declared(node_cls, key, value) for key, value in args.items()},
                             step_mode='m')

    @property
    def v_threshold(self):
        return getattr(self.node, 'v_threshold', None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 2 or x.shape[0] < 1:
            raise ValueError(f'SpikingJellyNeuron expects input of shape [T, ...] with T >= 1 and at least 2 dims, '
                             f'got shape {tuple(x.shape)}')
        self.node.reset()
        try:
            spikes = self.node(x)
        finally:
            self.node.reset()
        if not isinstance(spikes, torch.Tensor) or spikes.shape != x.shape:
            raise ValueError(f'{type(self.node).__name__} returned {_describe(spikes)} for an input of shape '
                             f'{tuple(x.shape)}; SpikingJellyNeuron needs spikes of the input shape')
        not_binary = (spikes != 0) & (spikes != 1)
        if bool(not_binary.any()):
            raise ValueError(f'{type(self.node).__name__} emitted {spikes[not_binary][0].item()!r}: '
                             'SpikingJellyNeuron serves nodes whose spikes are 0 or 1 (the energy counter and the '
                             '1-byte spike storage rely on it); give a graded neuron its own SpikingNeuron subclass '
                             'with D and norm (spikeformer_mm.ops.SpikingNeuron)')
        return mark_spikes(spikes)


def _describe(value) -> str:
    if isinstance(value, torch.Tensor):
        return f'a tensor of shape {tuple(value.shape)}'
    return f'a {type(value).__name__}'
