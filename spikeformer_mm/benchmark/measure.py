"""Timing and peak-memory measurement for benchmarks: calls timed in turn after warm-up, per-call peak memory.

Peak memory of a call is what the call adds on top of what is resident before it:

* CUDA: ``torch.cuda.max_memory_allocated()`` minus ``torch.cuda.memory_allocated()`` before the call.
* CPU (Linux): the process's peak resident set size (``VmHWM``, reset through ``/proc/self/clear_refs``) minus its
  resident set size before the call. PyTorch allocates CPU tensors with ``malloc``, and glibc keeps freed chunks of
  up to 32 MB in its heap, which would hide a call's allocations behind memory freed by an earlier call. Measuring
  first sets glibc's mmap threshold to 64 KB (``mallopt``, :func:`rss_follows_tensors`), so every tensor larger
  than that is mapped on allocation and unmapped on free, and RSS follows the live tensors. Call that before the
  process allocates its first large tensors (freed heap blocks would otherwise be reused and stay resident), and
  measure memory before :func:`~spikeformer_mm.benchmark.cpu_allocator.reuse_freed_cpu_memory` (for timing).
"""
import ctypes
import gc
import re
import time
from typing import Callable, List, Optional, Sequence, Tuple

import torch

from .cpu_allocator import allow_mmap

_M_MMAP_THRESHOLD = -3  # glibc's mallopt parameter number
_EXACT_MMAP_THRESHOLD = 64 * 1024


def interleaved_seconds(fns: Sequence[Callable[[], object]], warmup: int, repeats: int,
                        synchronize: Optional[Callable[[], None]] = None) -> List[List[float]]:
    """Wall times (s) of each of ``fns`` in every repeat, timed in turn within each repeat so that they see the same
    load: ``times[f][r]`` is function ``f`` in repeat ``r``. Each function is first called ``warmup`` times."""
    if warmup < 0 or repeats < 1:
        raise ValueError(f'need warmup >= 0 and repeats >= 1, got warmup={warmup}, repeats={repeats}')
    sync = synchronize or (lambda: None)
    for fn in fns:
        for _ in range(warmup):
            fn()
    times = [[] for _ in fns]
    for _ in range(repeats):
        for fn, fn_times in zip(fns, times):
            sync()
            start = time.perf_counter()
            fn()
            sync()
            fn_times.append(time.perf_counter() - start)
    return times


def _status_mb(key: str) -> float:
    with open('/proc/self/status') as status:
        return int(re.search(rf'^{key}:\s+(\d+) kB', status.read(), re.M).group(1)) / 1024


def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None)
    if not hasattr(libc, 'mallopt'):
        raise RuntimeError('CPU peak-memory measurement needs glibc (mallopt/malloc_trim), which this process '
                           'does not use')
    return libc


def rss_follows_tensors() -> None:
    """Map every allocation above 64 KB on its own (glibc), so that freeing a tensor lowers the RSS."""
    allow_mmap()
    _libc().mallopt(_M_MMAP_THRESHOLD, _EXACT_MMAP_THRESHOLD)


def _cpu_call_peak_mb(fn: Callable[[], object]) -> Tuple[float, float]:
    libc = _libc()
    rss_follows_tensors()
    gc.collect()
    libc.malloc_trim(0)
    try:
        with open('/proc/self/clear_refs', 'w') as clear_refs:
            clear_refs.write('5')  # reset VmHWM to the current RSS
    except OSError as error:
        raise RuntimeError(f'CPU peak-memory measurement needs Linux >= 4.0 (/proc/self/clear_refs): {error}')
    before = _status_mb('VmRSS')
    fn()
    return _status_mb('VmHWM') - before, before


def call_peak_memory_mb(fn: Callable[[], object], device: torch.device) -> Tuple[float, float]:
    """Run ``fn`` once; return (peak MB it added over the memory resident before it, that resident MB)."""
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        gc.collect()
        torch.cuda.reset_peak_memory_stats(device)
        before = torch.cuda.memory_allocated(device)
        fn()
        torch.cuda.synchronize(device)
        return (torch.cuda.max_memory_allocated(device) - before) / 2**20, before / 2**20
    if device.type == 'cpu':
        return _cpu_call_peak_mb(fn)
    raise ValueError(f'peak memory is measured on cpu or cuda devices, got {device}')
