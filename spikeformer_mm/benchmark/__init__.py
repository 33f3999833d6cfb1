"""Measuring models on synthetic inputs: a spiking model against its ANN twin, and what the benchmark tools share.

The tools are thin command lines over these modules:

* ``tools/benchmark.py`` -- :mod:`.snn_vs_ann`: rounds of worker subprocesses taking turns, paired ratios, the
  report; :mod:`.worker`: the workers' protocol (run as ``python -m``, so neither is imported here);
  :class:`Measurement`: one model at one T, in this process;
* ``tools/benchmark_neurons.py`` -- :mod:`.neuron_timing`; ``tools/benchmark_energy_hook.py`` --
  :mod:`.energy_overhead`; ``tools/analysis_tools/profile_time_steps.py`` -- :mod:`.op_profile`;
* shared: :func:`ann_twin` (every spiking neuron replaced by its ANN activation); :mod:`.measure` (interleaved
  timing, per-call peak memory); :mod:`.cpu_allocator` (freed CPU memory kept for reuse, as ``tools/train.py`` and
  ``tools/test.py`` run); :mod:`.batches` (random training and inference batches); :func:`build_model` (a config's
  model); :func:`describe_neuron_backend` (which kernels run a model's neurons).
"""
from .ann_twin import ann_twin
from .batches import random_batch, synthetic_batch, task_of
from .cpu_allocator import reuse_freed_cpu_memory
from .measure import call_peak_memory_mb, interleaved_seconds, rss_follows_tensors
from .measurement import Measurement
from .model_from_config import build_model
from .neuron_backend import describe_neuron_backend

__all__ = ['ann_twin', 'random_batch', 'synthetic_batch', 'task_of', 'reuse_freed_cpu_memory',
           'call_peak_memory_mb', 'interleaved_seconds', 'rss_follows_tensors', 'Measurement', 'build_model',
           'describe_neuron_backend']
