"""Spike-neuron ops shared by every backbone, neck and head."""
from .batch_norm import RecomputableBatchNorm2d
from .builder import build_neuron
from .integer_if import IntegerIFNeuron
from .lif import MultiStepLIF
from .neuron import SpikingNeuron
from .sfa import SFANeuron, sfa
from .spike_expansion import expand_to_spikes, spike_driven_forward
from .spike_matmul import SpikeMatMul
from .spike_storage import compact_spike_storage, mark_spikes
from .spikingjelly_neuron import SpikingJellyNeuron

__all__ = ['SpikingNeuron', 'MultiStepLIF', 'SFANeuron', 'SpikingJellyNeuron', 'IntegerIFNeuron', 'sfa',
           'expand_to_spikes', 'spike_driven_forward', 'build_neuron', 'SpikeMatMul', 'compact_spike_storage',
           'mark_spikes', 'RecomputableBatchNorm2d']
