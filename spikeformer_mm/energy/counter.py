"""Forward-hook counter of synaptic operations and firing statistics, for any ``nn.Module`` model.

What it hooks (nothing backbone-specific):

* **synaptic layers** -- ``nn.Conv1d/2d/3d``, ``nn.ConvTranspose1d/2d/3d``, ``nn.Linear`` and
  :class:`~spikeformer_mm.ops.SpikeMatMul` (attention products). Executed MACs come from shapes
  (``output elements x fan-in``; BatchNorm is treated as folded and not counted). Each call's input is
  classified by where it came from:

  - *spikes / integer levels*: the output of a spiking neuron (or a view of it). SOPs = MACs x mean level
    of the input (binary spikes: the firing rate; SFA: the integer level ``0..D``, i.e. ``D`` virtual binary
    steps). An input that is not a neuron output but holds only 0/1 values (e.g. SFA levels expanded into
    binary planes) also counts as spikes.
  - *affine function of spikes* (``fold_affine=True``): the output of a synaptic layer fed by spikes, passed
    only through BatchNorm, padding or further such layers (e.g. RepConv's 1x1 -> BN-and-pad -> dw 3x3 -> 1x1,
    or a depthwise conv followed by a pointwise conv). Folded at inference into one layer on the spikes, it
    costs additions only: SOPs = MACs x the chain's input spike level.
  - *real-valued*: anything else (the image, a residual stream, an ANN neck). Costs MACs. When the same
    input is repeated over the T time steps (direct encoding of a static image) it is counted once.

  For ``SpikeMatMul`` with two spike operands the count is the number of AND-accumulate events,
  ``sum_ikj a_ik b_kj`` in levels (exact, and unchanged by expanding either operand into binary planes); with
  one spike operand it is MACs x that operand's mean level; with none it is a real-valued MAC op.
* **spiking neurons** -- every :class:`~spikeformer_mm.ops.SpikingNeuron` (a user's registered one too): mean
  level and firing rate, the histogram of levels ``0..D`` when ``D > 1`` (e.g. SFA), and the rate per time step of
  multi-step neurons (e.g. :class:`~spikeformer_mm.ops.MultiStepLIF`).
* optionally the **memory traffic** of parameters (spikingjelly 2.x's ``NeuromorphicMemoryAccessCounter``:
  weight and bias reads, spike-triggered for binary inputs) plus the membrane state of multi-step neurons (one
  read and one write per neuron and time step; stateless neurons such as SFA have none).

Counts are accumulated as tensors on the model's device (no host synchronisation except for classifying
inputs that are not neuron outputs). Use as a context manager, or :meth:`attach` / :meth:`detach`; a detached
counter leaves no hook behind.
"""
import math
from collections import defaultdict
from typing import Dict, Optional

import torch
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm

from spikeformer_mm.ops import SpikeMatMul, SpikingNeuron

CONVS = (nn.Conv1d, nn.Conv2d, nn.Conv3d)
DECONVS = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)
SYNAPTIC = CONVS + DECONVS + (nn.Linear, SpikeMatMul)
AFFINE_LEAVES = CONVS + (nn.Linear, _BatchNorm, nn.Identity, nn.Dropout, nn.ZeroPad2d, nn.ConstantPad2d)

# tensor attribute: ('spikes', scale, D, mean level, numel), ('affine', mean level) or ('product',) (a SpikeMatMul
# output: counts, not spikes)
_SOURCE = '_spikeformer_energy_source'


def _source(x: torch.Tensor):
    """The mark a neuron or synaptic layer left on ``x`` or on the tensor ``x`` is a view of."""
    mark = getattr(x, _SOURCE, None)
    if mark is None and x._base is not None:
        mark = getattr(x._base, _SOURCE, None)
    return mark


def _mark(x, mark) -> None:
    """Mark ``x``, and the tensor it views when that holds the same elements (later views point to it)."""
    if isinstance(x, torch.Tensor):
        setattr(x, _SOURCE, mark)
        if x._base is not None and x._base.numel() == x.numel():
            setattr(x._base, _SOURCE, mark)


def layer_type(module: nn.Module) -> str:
    """Short kind of a synaptic layer: ``conv2d``, ``deconv2d``, ``linear``, ``matmul``."""
    if isinstance(module, SpikeMatMul):
        return 'matmul'
    if isinstance(module, DECONVS):
        return 'deconv' + type(module).__name__[-2:]
    return type(module).__name__.lower()


def synaptic_macs(module: nn.Module, args: tuple, out: torch.Tensor) -> int:
    """Multiply-accumulates of one call of a synaptic layer on the tensors it actually received."""
    if isinstance(module, SpikeMatMul):
        return out.numel() * args[0].shape[-1]
    if isinstance(module, nn.Linear):
        return out.numel() * module.in_features
    kernel = math.prod(module.kernel_size)
    if isinstance(module, DECONVS):
        return args[0].numel() * (module.out_channels // module.groups) * kernel
    return out.numel() * (module.in_channels // module.groups) * kernel


def _add(total, value: torch.Tensor, alpha: float = 1):
    """``total + alpha * value``, accumulated in float64 in place (``total`` starts as a Python 0)."""
    if not isinstance(total, torch.Tensor):
        total = torch.zeros(value.shape, dtype=torch.float64, device=value.device)
    return total.add_(value, alpha=alpha)


def _is_binary(x: torch.Tensor) -> bool:
    return x.dtype == torch.bool or bool(((x == 0) | (x == 1)).all())


def _affine_children_only(module: nn.Module) -> bool:
    """A container whose every leaf is affine at inference (conv, linear, BN, identity, dropout, padding)."""
    leaves = [m for m in module.modules() if not any(True for _ in m.children())]
    return bool(leaves) and module is not leaves[0] and all(isinstance(m, AFFINE_LEAVES) for m in leaves)


class _LayerStats:
    """Running sums of one synaptic layer (tensors stay on the device until :meth:`state`)."""

    def __init__(self, kind: str):
        self.kind = kind
        self.calls = 0
        self.macs = 0            # executed MACs, all calls, all frames
        self.real_macs = 0       # executed MACs of calls with a real-valued input
        self.charged_macs = 0.0  # real_macs, with inputs repeated over T counted once
        self.sops = 0.0
        self.inputs = set()

    def state(self) -> dict:
        return dict(type=self.kind, calls=self.calls, macs=self.macs, real_macs=self.real_macs,
                    charged_macs=float(self.charged_macs), sops=float(self.sops), inputs=sorted(self.inputs))


class _NeuronStats:
    """Running sums of one spiking neuron layer: elements, sum of levels, level histogram, per-step sums."""

    def __init__(self, neuron: SpikingNeuron):
        self.kind, self.D, self.norm, self.multi_step = type(neuron).__name__, neuron.D, neuron.norm, \
            neuron.multi_step
        if not isinstance(self.D, int) or self.D < 1 or not self.norm > 0:
            raise ValueError(f'{self.kind} needs an integer D >= 1 and norm > 0 (its output is levels 0..D '
                             f'divided by norm), got D={self.D!r}, norm={self.norm!r}')
        self.calls = 0
        self.numel = 0
        self.level_sum = 0.0
        self.hist = 0
        self.step_sums = None  # multi-step neurons: levels per time step, while every call has the same T

    def state(self) -> dict:
        if self.D == 1:
            hist = [self.numel - float(self.level_sum), float(self.level_sum)]
        else:
            hist = [float(v) for v in self.hist] if self.calls else [0.0] * (self.D + 1)
        steps = None if self.step_sums is None else [float(v) for v in self.step_sums[1]]
        return dict(type=self.kind, D=self.D, norm=self.norm, calls=self.calls, numel=self.numel,
                    level_sum=float(self.level_sum), hist=hist, step_sums=steps)


class EnergyCounter:
    """Count MACs, SOPs and firing statistics of ``model`` while attached.

    Args:
        model: any ``nn.Module``; its forward calls are counted (``model(x)``, or mmengine's
            ``model.test_step(data)``, which calls the model).
        time_steps: real time steps T of the model. Default: inferred from the time axis of the
            multi-step neurons' outputs, else from the first synaptic layer's frames per image (a backbone that
            repeats the image T times), else 1.
        fold_affine: count synaptic layers fed by an affine function of spikes (see the module docstring) as
            additions at the spikes' level. ``False`` counts every real-valued input as MACs.
        memory: also count parameter and membrane-state memory traffic (slower: spikingjelly's counter looks
            at every binary input).
        hist_samples: the SFA level histogram of a call is taken over at most this many evenly strided elements
            (a histogram costs ~25 sums per element on CPU); ``None``: all. Mean levels, and so SOPs, always use
            all elements.

    Example::

        with EnergyCounter(model) as counter:
            model(images)
        state = counter.state()   # plain numbers; see spikeformer_mm.energy.build_report
    """

    def __init__(self, model: nn.Module, time_steps: Optional[int] = None, fold_affine: bool = True,
                 memory: bool = False, hist_samples: Optional[int] = 4096):
        if time_steps is not None and (not isinstance(time_steps, int) or time_steps < 1):
            raise ValueError(f'time_steps must be a positive int or None, got {time_steps!r}')
        self.model = model
        self.fold_affine = fold_affine
        self.hist_samples = hist_samples or float('inf')
        self.memory = memory
        self._explicit_T = time_steps
        self._handles = []
        self._memory_mode = None
        self.reset()

    # ----------------------------------------------------------------------------------------------- set-up
    def reset(self) -> None:
        """Forget everything counted so far."""
        self.images = 0
        self._batch = 0
        self._multi_step_T = 0
        self._frames_T = None
        self._spike_frames_T = None
        self.layers: Dict[str, _LayerStats] = {}
        self.neurons: Dict[str, _NeuronStats] = {}
        self._state_bytes = defaultdict(int)
        self._memory_counter = None

    def attach(self) -> 'EnergyCounter':
        if self._handles:
            raise RuntimeError('EnergyCounter is already attached')
        self._handles.append(self.model.register_forward_pre_hook(self._root_pre_hook, with_kwargs=True))
        inside_neurons = {id(sub) for m in self.model.modules() if isinstance(m, SpikingNeuron)
                          for sub in m.modules() if sub is not m}  # e.g. a neuron's surrogate-gradient module
        for name, module in self.model.named_modules():
            if id(module) in inside_neurons:
                continue
            if isinstance(module, SYNAPTIC):
                self.layers.setdefault(name, _LayerStats(layer_type(module)))
                self._handles.append(module.register_forward_hook(
                    lambda m, args, out, name=name: self._synaptic_hook(name, m, args, out)))
            elif isinstance(module, SpikingNeuron):
                self.neurons.setdefault(name, _NeuronStats(module))
                self._handles.append(module.register_forward_hook(
                    lambda m, args, out, name=name: self._neuron_hook(name, m, args, out)))
            elif self.fold_affine and (isinstance(module, AFFINE_LEAVES) or _affine_children_only(module)):
                self._handles.append(module.register_forward_hook(self._affine_hook))
            elif self.fold_affine and not any(True for _ in module.children()):
                self._handles.append(module.register_forward_hook(self._nonlinear_hook))
        if self.memory:
            self._attach_memory_counter()
        return self

    def _attach_memory_counter(self) -> None:
        from spikingjelly.activation_based.op_counter import ModuleCounterMode, NeuromorphicMemoryAccessCounter
        if self._memory_counter is None:
            self._memory_counter = NeuromorphicMemoryAccessCounter()
        self._memory_mode = ModuleCounterMode([self._memory_counter], model=self.model)
        self._memory_mode.__enter__()

    def detach(self) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
        if self._memory_mode is not None:
            self._memory_mode.__exit__(None, None, None)
            self._memory_mode = None

    def __enter__(self) -> 'EnergyCounter':
        return self.attach()

    def __exit__(self, *exc) -> None:
        self.detach()

    # ---------------------------------------------------------------------------------------------- hooks
    def _root_pre_hook(self, module, args, kwargs):
        inputs = kwargs.get('inputs', args[0] if args else None)
        if isinstance(inputs, torch.Tensor):
            self._batch = inputs.shape[0] if inputs.dim() > 0 else 1
        elif isinstance(inputs, (list, tuple)):
            self._batch = len(inputs)
        else:
            raise TypeError(f'EnergyCounter cannot tell the number of images from the model input of type '
                            f'{type(inputs).__name__}; call the model with a tensor [B, ...] or a list')
        self.images += self._batch

    @property
    def time_steps(self) -> int:
        """T: the explicit value, else the time axis of multi-step neurons, else the frames per image of the first
        conv fed by spikes, else of the first layer, else 1."""
        return self._explicit_T or self._multi_step_T or self._spike_frames_T or self._frames_T or 1

    def _note_frames(self, module: nn.Module, x: torch.Tensor) -> None:
        """Frames per image (``x [T*B, ...]``) of the first synaptic layer and of the first conv fed by spikes
        (a time-major network folds T into the batch; its stem may run once per image, before any spike)."""
        if not self._batch or x.dim() == 0 or x.shape[0] % self._batch:
            return
        frames = x.shape[0] // self._batch
        if self._frames_T is None:
            self._frames_T = frames
        if self._spike_frames_T is None and isinstance(module, CONVS):
            mark = _source(x)
            if mark is not None and mark[0] == 'spikes':
                self._spike_frames_T = frames

    def _level_mean(self, x: torch.Tensor):
        """``(mean input level, input kind)`` for a synaptic input, or ``(None, 'real')``."""
        mark = _source(x)
        if mark is not None and mark[0] == 'spikes':
            _, scale, D, mean_level, numel = mark
            if x.numel() != numel:  # a part of the neuron's output
                mean_level = x.sum() * scale / x.numel()
            return mean_level, 'spikes' if D == 1 else 'integer'
        if mark is not None and mark[0] == 'affine':
            return mark[1], 'affine(spikes)'
        if mark is None and _is_binary(x):
            return x.sum() / x.numel(), 'spikes'
        return None, 'real'

    def _spike_levels(self, x: torch.Tensor):
        """``(x, scale, kind)`` when ``x`` is a spike tensor (levels = x * scale), else ``None``."""
        mark = _source(x)
        if mark is not None and mark[0] == 'spikes':
            return x, mark[1], 'spikes' if mark[2] == 1 else 'integer'
        if mark is None and _is_binary(x):
            return x, 1.0, 'spikes'
        return None

    def _repeats(self, x: torch.Tensor) -> int:
        """T if ``x`` is ``[T*B, ...]`` with the same frames at every time step (a static image), else 1."""
        T = self.time_steps
        if T == 1 or x.dim() == 0 or x.shape[0] != T * self._batch:
            return 1
        frames = x.reshape(T, -1)
        return T if bool((frames == frames[:1]).all()) else 1

    def _synaptic_hook(self, name: str, module: nn.Module, args: tuple, out) -> None:
        stats = self.layers[name]
        x = args[0]
        self._note_frames(module, x)
        macs = synaptic_macs(module, args, out)
        stats.calls += 1
        stats.macs += macs
        if macs == 0:
            return
        if isinstance(module, SpikeMatMul):
            value, alpha, kind = self._matmul_sops(args[0], args[1], macs)
            _mark(out, ('product',))
        else:
            value, kind = self._level_mean(x)
            alpha = macs
            if value is not None and self.fold_affine:
                _mark(out, ('affine', value))
        stats.inputs.add(kind)
        if value is None:
            stats.real_macs += macs
            stats.charged_macs += macs / self._repeats(x)
        else:
            stats.sops = _add(stats.sops, value, alpha)  # SOPs = alpha * value

    def _matmul_sops(self, a: torch.Tensor, b: torch.Tensor, macs: int):
        """``(value, alpha, input kind)`` with SOPs = alpha * value, or ``(None, 0, 'real')``."""
        spikes_a, spikes_b = self._spike_levels(a), self._spike_levels(b)
        if spikes_a is not None and spikes_b is not None:
            (a, scale_a, kind_a), (b, scale_b, kind_b) = spikes_a, spikes_b
            events = (a.sum(-2) * b.sum(-1)).sum()  # sum_ikj a_ik b_kj, in levels after the scales
            return events, scale_a * scale_b, f'{kind_a} x {kind_b}'
        for spikes in (spikes_a, spikes_b):
            if spikes is not None:
                x, scale, kind = spikes
                return x.sum(), macs * scale / x.numel(), kind
        return None, 0, 'real'

    def _neuron_hook(self, name: str, module: nn.Module, args: tuple, out: torch.Tensor) -> None:
        stats = self.neurons[name]
        scale, D = stats.norm, stats.D
        if stats.multi_step:
            T = out.shape[0]
            self._multi_step_T = max(self._multi_step_T, T)
            per_step = out.reshape(T, -1).sum(1) * scale
            level_sum = per_step.sum()
            if stats.calls == 0:
                stats.step_sums = (T, per_step.double())
            elif stats.step_sums is not None and stats.step_sums[0] == T:
                stats.step_sums = (T, stats.step_sums[1].add_(per_step))
            else:
                stats.step_sums = None
            if self.memory:  # membrane potential: one fp32 read and one write per neuron and time step
                self._state_bytes[name] += 2 * out.numel() * 4
        else:
            level_sum = out.sum() * scale
        if D > 1:  # the histogram (values k / scale in bin k) may be sampled; the level sum is exact
            flat = out.reshape(-1)
            stride = 1 if flat.numel() <= self.hist_samples else (flat.numel() // self.hist_samples) | 1
            hist = torch.histc(flat[::stride], bins=D + 1, min=-0.5 / scale, max=(D + 0.5) / scale)
            stats.hist = _add(stats.hist, hist)
        stats.calls += 1
        stats.numel += out.numel()
        stats.level_sum = _add(stats.level_sum, level_sum)
        _mark(out, ('spikes', scale, D, level_sum / out.numel(), out.numel()))

    def _affine_hook(self, module: nn.Module, args: tuple, out) -> None:
        mark = _source(args[0]) if args and isinstance(args[0], torch.Tensor) else None
        if mark is not None and mark[0] == 'affine':
            _mark(out, mark)

    @staticmethod
    def _nonlinear_hook(module: nn.Module, args: tuple, out) -> None:
        """Any other leaf (e.g. an in-place ReLU) ends an affine chain, even on the same tensor."""
        if isinstance(out, torch.Tensor) and getattr(out, _SOURCE, ('',))[0] == 'affine':
            delattr(out, _SOURCE)

    # ---------------------------------------------------------------------------------------------- state
    def state(self) -> dict:
        """Everything counted, as plain Python numbers (sums over all counted images), for a report."""
        memory = None
        if self.memory:
            counts = self._memory_counter.get_counts() if self._memory_counter is not None else {}
            root = type(self.model).__name__
            memory = {name: sum(counts.get(f'{root}.{name}', {}).values()) for name in self.layers}
            memory.update({name: self._state_bytes[name] for name in self.neurons})
        return dict(images=self.images, time_steps=self.time_steps,
                    layers={name: s.state() for name, s in self.layers.items()},
                    neurons={name: s.state() for name, s in self.neurons.items()},
                    memory_bytes=memory)
