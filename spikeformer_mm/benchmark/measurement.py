"""One model (the spiking one or its ANN twin) at one T, built, warmed up and timed in this process."""
import copy
import resource
import statistics
import time

import torch
from mmcv.cnn import fuse_conv_bn
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.registry import MODELS as ROOT_MODELS
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed

from .ann_twin import ann_twin
from .batches import synthetic_batch, task_of
from .cpu_allocator import reuse_freed_cpu_memory
from .measure import call_peak_memory_mb, rss_follows_tensors
from .neuron_backend import describe_neuron_backend

PHASES = ('infer', 'train')  # timed in this order


class Measurement:
    """``spec['model']`` (``'snn'`` or ``'ann'``, its twin) at ``spec['T']``, built in this process.

    ``spec`` keys: ``config`` (a classifier, detector or segmentor config file), ``cfg_options``, ``model``, ``T``,
    ``batch``, ``resolution`` ``[H, W]``, ``threads``, ``warmup``, ``repeats``, ``device``, ``fuse_conv_bn``.

    Building it warms it up (``warmup`` training steps) and measures its training memory over ``repeats`` steps
    (:attr:`figures`), with glibc mapping every tensor on its own (:mod:`.measure`); it then reuses freed memory
    as ``tools/train.py`` runs (:mod:`.cpu_allocator`), and :meth:`seconds` times one inference call or one
    training step.
    """

    def __init__(self, spec: dict):
        torch.set_num_threads(spec['threads'])
        self.device = device = torch.device(spec['device'])
        if device.type == 'cpu':
            rss_follows_tensors()  # before the first large tensor, so that the RSS tracks live tensors
        set_random_seed(0)
        cfg = Config.fromfile(spec['config'])
        cfg.merge_from_dict(spec['cfg_options'])
        cfg.model.backbone.T = spec['T']
        task = task_of(cfg.get('default_scope'))
        height, width = spec['resolution']
        if cfg.get('data_preprocessor') is not None:  # as mmengine's Runner does (mmpretrain configs set it here)
            cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
        if cfg.model.get('data_preprocessor', {}).get('size'):  # mmseg pads to its crop size: use the measured size
            cfg.model.data_preprocessor.size = (height, width)
        init_default_scope(cfg.default_scope)
        self.model = model = ROOT_MODELS.build(cfg.model)
        if spec['model'] == 'ann':
            ann_twin(model)
        model.to(device)
        optim_wrapper = build_optim_wrapper(model, cfg.optim_wrapper)
        data = synthetic_batch(task, model, spec['batch'], height, width)

        model.train()
        self._train = lambda: model.train_step(data, optim_wrapper)
        for _ in range(spec['warmup']):  # compiles the kernels and creates the optimizer state
            self._train()
        peaks, resident = zip(*(call_peak_memory_mb(self._train, device) for _ in range(spec['repeats'])))
        reused = device.type == 'cpu' and reuse_freed_cpu_memory()  # times as tools/train.py and tools/test.py run
        with torch.no_grad():
            self._prepared = model.data_preprocessor(data, False)
        self._infer_model = fuse_conv_bn(copy.deepcopy(model).eval()) if spec['fuse_conv_bn'] else model
        self.figures = dict(peak_mem_mb=statistics.median(peaks), resident_mem_mb=statistics.median(resident),
                            params=sum(p.numel() for p in model.parameters()), task=task,
                            cpu_allocator='glibc, freed memory reused' if reused else 'default',
                            neuron_backend=describe_neuron_backend(model, device))

    def seconds(self, phase: str) -> float:
        """Wall time of one call: ``'infer'`` (the network's ``mode='tensor'`` forward on the preprocessed batch,
        eval, no grad; on the folded copy with ``fuse_conv_bn``) or ``'train'`` (``model.train_step``).

        :attr:`last_call_usage` then holds the call's page faults (minor + major) and system CPU seconds: a step
        that faults in memory freed by the one before shows here first (see :mod:`.cpu_allocator`).
        """
        if phase not in PHASES:
            raise ValueError(f'phase must be one of {PHASES}, got {phase!r}')
        training = phase == 'train'
        self.model.train(training)  # the fused copy stays in eval mode
        call = self._train if training else lambda: self._infer_model(**self._prepared, mode='tensor')
        with torch.set_grad_enabled(training):
            self._synchronize()
            usage = resource.getrusage(resource.RUSAGE_SELF)
            start = time.perf_counter()
            call()
            self._synchronize()
            elapsed = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_SELF)
        faults = (after.ru_minflt + after.ru_majflt) - (usage.ru_minflt + usage.ru_majflt)
        self.last_call_usage = dict(page_faults=faults, system_s=after.ru_stime - usage.ru_stime)
        return elapsed

    def _synchronize(self) -> None:
        if self.device.type == 'cuda':
            torch.cuda.synchronize(self.device)
