"""Name the kernels that run a model's spiking neurons on a device (for benchmark reports)."""
import torch
from spikingjelly.activation_based.functional import neuron_implementation
from torch import nn

from spikeformer_mm.ops import MultiStepLIF, SFANeuron, SpikingJellyNeuron, SpikingNeuron, cpp_kernels, kernels
from spikeformer_mm.ops.lif import select_implementation


def _fused_kernel(forward_kernel: kernels.MaybeCompiled) -> str:
    if forward_kernel.disabled:
        return 'fused PyTorch kernel, eager'
    return 'fused PyTorch kernel, torch.compile' + ('' if forward_kernel.compiled else ' (not run yet)')


def _cpu_or_fused_kernel(kernel: str, forward_kernel: kernels.MaybeCompiled, device: torch.device) -> str:
    if device.type == 'cpu' and cpp_kernels.module(kernel) is not None:
        return f'C++ kernel ({torch.backends.cpu.get_cpu_capability()}) for float32'
    return _fused_kernel(forward_kernel)


def _kernel(cls: type, neurons: list, device: torch.device) -> str:
    if issubclass(cls, MultiStepLIF):
        if any(select_implementation(m.backend, device) == 'spikingjelly' for m in neurons):
            return f"spikingjelly {neuron_implementation('lif', device)['implementation']} kernel"
        return _cpu_or_fused_kernel('lif', kernels.lif_forward_kernel, device)
    if issubclass(cls, SFANeuron):
        return _cpu_or_fused_kernel('sfa', kernels.sfa_forward_kernel, device)
    if issubclass(cls, SpikingJellyNeuron):  # the nodes' own multi-step forward
        return 'spikingjelly ' + ', '.join(dict.fromkeys(type(m.node).__name__ for m in neurons))
    return 'its own forward'


def describe_neuron_backend(model: nn.Module, device: torch.device) -> str:
    """E.g. ``'MultiStepLIF x77: C++ kernel (AVX512) for float32'``; ``'none (no spiking neuron)'``. One part per
    neuron class, in the order the model first uses them."""
    by_class = {}
    for module in model.modules():
        if isinstance(module, SpikingNeuron):
            by_class.setdefault(type(module), []).append(module)
    parts = [f'{cls.__name__} x{len(neurons)}: {_kernel(cls, neurons, device)}' for cls, neurons in by_class.items()]
    return '; '.join(parts) or 'none (no spiking neuron)'
