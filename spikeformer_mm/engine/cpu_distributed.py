"""Distributed training and testing on CPU-only machines with mmengine's Runner (gloo backend).

mmengine's ``pytorch`` launcher calls ``torch.cuda.set_device(LOCAL_RANK)`` before ``init_process_group`` and
wraps the model in ``DistributedDataParallel(device_ids=[LOCAL_RANK])``; both fail without a GPU. When torch sees
no GPU, :func:`prepare_cpu_distributed` initialises the process group itself from the environment ``torchrun``
sets (mmengine then skips its own initialisation) and asks the Runner for a device-less DDP wrapper.

Ending such a process: torch 2.14's ``DistributedDataParallel`` keeps its process group, and with it gloo's
worker threads, alive after ``destroy_process_group``. A worker still freeing the tensors of the run's last
collective when the interpreter finalizes takes the GIL of a dying interpreter, and the process aborts after the
run has finished ("terminate called without an active exception", SIGABRT, torchrun reports the run failed).
:func:`exit_cpu_distributed_process` ends a finished gloo run without interpreter teardown.
"""
import logging
import os
import sys
from datetime import timedelta

import torch
import torch.distributed as dist
from mmengine.config import Config

_group_started_here = False  # set once prepare_cpu_distributed has initialised this process's group


def prepare_cpu_distributed(cfg: Config) -> None:
    """For ``cfg.launcher != 'none'`` on a machine without CUDA: init gloo and set a CPU ``model_wrapper_cfg``.

    Does nothing when the run is not distributed or a GPU is available (mmengine's own path then applies).
    """
    global _group_started_here
    if cfg.get('launcher', 'none') == 'none' or torch.cuda.is_available():
        return
    if cfg.launcher != 'pytorch':
        raise ValueError(f"distributed runs without a GPU support launcher='pytorch' (torchrun) only, "
                         f'got {cfg.launcher!r}')
    dist_cfg = cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})
    backend = dist_cfg.get('backend', 'gloo')
    if backend == 'nccl':  # mmdet/mmseg/mmpretrain default runtimes ask for nccl, which needs GPUs
        backend = 'gloo'
    dist_cfg['backend'] = backend
    if not dist.is_initialized():
        dist.init_process_group(backend=backend, timeout=timedelta(seconds=dist_cfg.get('timeout', 1800)))
        _group_started_here = True
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper


def release_cpu_distributed() -> None:
    """Destroy the process group, if one is up: the end of a tool's run, finished or failed."""
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def exit_cpu_distributed_process() -> None:
    """End this process now, with status 0, if :func:`prepare_cpu_distributed` started its process group.

    For the end of a tool's successful run (after :func:`release_cpu_distributed`): logs and standard streams
    are flushed, then ``os._exit`` skips interpreter teardown, where gloo's leftover worker threads can abort
    the process (module docstring). Returns without doing anything when no group was started here.
    """
    if not _group_started_here:
        return
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
