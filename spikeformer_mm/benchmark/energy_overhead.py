"""The cost of energy counting on validation batches (``tools/benchmark_energy_hook.py``)."""
import statistics
import time

import torch
from mmengine.config import Config

from spikeformer_mm.energy import EnergyCounter

from .batches import random_batch
from .model_from_config import build_model


def energy_counting_times(config: str, input_shape, batch_size: int, repeats: int, memory: bool) -> dict:
    """``{setting: (median wall seconds, median CPU seconds)}`` of ``model.test_step`` on one random batch of
    ``batch_size`` images of ``input_shape`` ``(H, W)``, in the settings ``'plain'``, ``'measuring'`` (an
    :class:`~spikeformer_mm.energy.EnergyCounter` attached), ``'measuring + memory'`` (with ``memory``) and
    ``'after detach'``, interleaved batch by batch over ``repeats`` rounds after one warm-up round."""
    cfg = Config.fromfile(config)
    torch.manual_seed(0)
    model = build_model(cfg)
    batch = random_batch(cfg.get('default_scope', 'mmengine'), batch_size, input_shape,
                         torch.Generator().manual_seed(0))
    counters = {'measuring': EnergyCounter(model)}
    if memory:
        counters['measuring + memory'] = EnergyCounter(model, memory=True)
    settings = ['plain', *counters, 'after detach']
    times = {setting: ([], []) for setting in settings}
    with torch.no_grad():
        for repeat in range(repeats + 1):
            for setting in settings:
                counter = counters.get(setting)
                if counter is not None:
                    counter.attach()
                wall, cpu = time.perf_counter(), time.process_time()
                model.test_step(batch)
                wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
                if counter is not None:
                    counter.detach()
                if repeat:  # the first round warms up (kernel compilation, allocator)
                    times[setting][0].append(wall)
                    times[setting][1].append(cpu)
    return {setting: (statistics.median(walls), statistics.median(cpus)) for setting, (walls, cpus) in times.items()}
