"""reuse_freed_cpu_memory: a step's large temporaries reuse freed memory instead of being page-faulted in again."""
import os
import subprocess
import sys

import pytest

from spikeformer_mm.benchmark.cpu_allocator import _mallopt

STEADY_STATE_FAULTS = '''
import resource, torch
from spikeformer_mm.benchmark.cpu_allocator import reuse_freed_cpu_memory
print(reuse_freed_cpu_memory())
def step():  # 40-80 MB temporaries, as in a forward/backward pass
    a = torch.ones(10_000_000)
    b = torch.cat([a, a])
    c = b * 2
    del a, b
    return c.sum()
step()
faults = []
for _ in range(7):
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    step()
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(sorted(faults)[3])  # the median step: glibc's heap occasionally places one block afresh
'''


def steady_state_faults(malloc_env: str):
    env = dict(os.environ, SPIKEFORMER_MALLOC=malloc_env)
    out = subprocess.run([sys.executable, '-c', STEADY_STATE_FAULTS], env=env, capture_output=True, text=True,
                         check=True).stdout.split()
    return out[0] == 'True', int(out[1])


@pytest.mark.skipif(_mallopt() is None, reason='needs glibc')
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    took_effect, faults_reused = steady_state_faults('')
    opted_out, faults_default = steady_state_faults('default')
    assert took_effect and not opted_out
    assert faults_default > 40_000  # 200 MB of 4 KB pages, faulted in afresh every step with glibc's defaults
    assert faults_reused < 0.05 * faults_default


TOP_OF_HEAP_FAULTS = '''
import ctypes, resource
from spikeformer_mm.benchmark.cpu_allocator import reuse_freed_cpu_memory
print(reuse_freed_cpu_memory())
libc = ctypes.CDLL(None)
libc.malloc.restype, libc.malloc.argtypes = ctypes.c_void_p, [ctypes.c_size_t]
libc.free.argtypes, libc.memset.argtypes = [ctypes.c_void_p], [ctypes.c_void_p, ctypes.c_int, ctypes.c_size_t]
size = 3 << 30
faults = []
for _ in range(3):  # nothing is allocated in between: the freed block is the top of the heap every time
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    block = libc.malloc(size)
    libc.memset(block, 1, size)
    libc.free(block)
    faults.append(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
print(*faults)
'''


@pytest.mark.skipif(_mallopt() is None, reason='needs glibc')
def test_more_than_2gb_freed_at_the_top_of_the_heap_is_kept():
    """What a T = 4 step frees at the top of the heap (its activations, over 2 GB for Meta-SpikeFormer 15M at batch
    8) stays in the process: the largest finite trim threshold mallopt takes, 2 GB, returned it to the kernel
    every step, to be faulted in again (786,400 faults per 3 GB here, every time)."""
    out = subprocess.run([sys.executable, '-c', TOP_OF_HEAP_FAULTS], capture_output=True, text=True,
                         check=True, env=dict(os.environ, SPIKEFORMER_MALLOC='')).stdout.split()
    took_effect, first, *again = out[0] == 'True', *map(int, out[1:])
    assert took_effect
    assert first > 0.9 * (3 << 30) / 4096  # faulted in once
    assert max(again) < 1000, f'the freed 3 GB were faulted in again: {again} page faults'
