"""The base class of spiking neurons: what the backbones, the energy counter and the ANN twin rely on."""
from typing import Optional

from torch import nn


class SpikingNeuron(nn.Module):
    """Base class of every spiking neuron; :class:`MultiStepLIF`, :class:`SFANeuron` and
    :class:`SpikingJellyNeuron` derive from it.

    A subclass registered in ``spikeformer_mm.registry.MODELS`` builds from any block's ``neuron_cfg``
    (:func:`build_neuron`), and the energy counter (:class:`spikeformer_mm.energy.EnergyCounter`) and the ANN twin
    (:func:`spikeformer_mm.benchmark.ann_twin`) find it by this type. What they need from it:

    * ``forward(x)`` returns a tensor of ``x``'s shape holding firing levels divided by :attr:`norm`, i.e. values in
      ``{0, 1/norm, ..., D/norm}``. A level ``k`` stands for ``k`` binary spikes: the energy counter charges a
      synaptic layer fed by it ``k`` accumulates per connection.
    * :attr:`D` (an int >= 1, default 1: binary spikes) and :attr:`norm` (> 0, default 1.0), as class or instance
      attributes.
    * :attr:`multi_step`, set by the class keyword (``class MyLIF(SpikingNeuron, multi_step=True)``): the input is
      time-major ``[T, ...]`` (T >= 1) and the neuron carries a membrane state from one step to the next. The
      energy counter then reports a firing rate per step, takes T from the time axis and charges one read and one
      write of the state per element and step. Default ``False``: stateless and elementwise, any input shape.
    * :meth:`ann_equivalent`: the module that takes its place in the ANN twin (``nn.ReLU()`` unless overridden).

    The project's own neurons have no parameters; a neuron may have some (a learnable time constant, e.g.
    :class:`~spikeformer_mm.ops.SpikingJellyNeuron` with spikingjelly's ``ParametricLIFNode``), which then train and
    are saved with the model and leave with the neuron in the ANN twin.
    """

    D: int = 1
    norm: float = 1.0
    multi_step: bool = False

    def __init_subclass__(cls, multi_step: Optional[bool] = None, **kwargs):
        super().__init_subclass__(**kwargs)
        if multi_step is not None:
            cls.multi_step = bool(multi_step)

    def ann_equivalent(self) -> nn.Module:
        """The activation that replaces this neuron in the ANN twin."""
        return nn.ReLU()
