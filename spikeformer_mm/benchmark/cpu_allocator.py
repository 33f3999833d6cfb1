"""Keep freed CPU tensor memory in the process, so that large tensors are not page-faulted in afresh every step.

PyTorch allocates CPU tensors with ``malloc``. glibc serves every block above its mmap threshold (32 MB at most)
with a fresh ``mmap``, which the kernel zero-fills page by page on first touch, and unmaps it again on ``free``.
A T = 4 step at batch 8 and 224x224 allocates tens of ~100 MB activations, so it spends more time in page faults
than in many of its convolutions.

:func:`reuse_freed_cpu_memory` makes glibc serve large blocks from its heap (``M_MMAP_MAX = 0``) and never return
freed heap memory to the kernel (``M_TRIM_THRESHOLD = -1``), so freed blocks are reused: what PyTorch's caching
allocator does on a GPU. A finite threshold is not enough: the largest ``mallopt`` takes, 2 GB, is less than what a
T = 4 step can free at the top of the heap (its activations), which glibc then returns to the kernel, to be
faulted in again by the next step. The price is that the process keeps its high-water mark plus some
fragmentation. ``tools/train.py``, ``tools/test.py`` and the benchmarks call it;
``SPIKEFORMER_MALLOC=default`` leaves glibc's defaults alone.
"""
import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # glibc mallopt parameter numbers (malloc.h)
M_MMAP_MAX = -4
DEFAULT_MMAP_MAX = 65536
_NEVER_TRIM = -1  # man mallopt: 'Setting M_TRIM_THRESHOLD to -1 disables trimming completely'


def _mallopt():
    if platform.system() != 'Linux':
        return None
    try:
        return ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl): nothing to tune
        return None


def reuse_freed_cpu_memory() -> bool:
    """Make glibc reuse freed memory for large blocks; True if it took effect (glibc, not opted out)."""
    mallopt = _mallopt()
    if mallopt is None or os.environ.get('SPIKEFORMER_MALLOC', '') == 'default':
        return False
    return bool(mallopt(M_MMAP_MAX, 0)) and bool(mallopt(M_TRIM_THRESHOLD, _NEVER_TRIM))


def allow_mmap() -> None:
    """Undo the ``M_MMAP_MAX = 0`` of :func:`reuse_freed_cpu_memory` (glibc's default number of mmaps)."""
    mallopt = _mallopt()
    if mallopt is not None:
        mallopt(M_MMAP_MAX, DEFAULT_MMAP_MAX)
