"""The C++ neuron kernels (``csrc/sfa_cpu.cpp``, ``csrc/lif_cpu.cpp``), built on first use for this CPU's vector ISA.

On CPU, a ``torch.compile``d neuron call costs tens of us of dispatch before its loop runs, and inductor's loops
ran slower than aten's ReLU (``tools/benchmark_neurons.py`` with ``SPIKEFORMER_CPP=0`` times them); the
hand-written loops (``at::vec``, ``at::parallel_for``) are called through pybind in a few us. Each extension is
built once per machine and source version by ``torch.utils.cpp_extension.load`` (cached under
``TORCH_EXTENSIONS_DIR``, ~40 s); the name carries a hash of the source, so that two checkouts or versions of
the package keep a build each instead of rebuilding over each other.
``SPIKEFORMER_COMPILE=0``, ``SPIKEFORMER_CPP=0`` or a failed build (no C++ compiler) leave the
``torch.compile``/eager kernels of :mod:`.kernels` in charge.
"""
import hashlib
import os
import os.path as osp
import shutil
import sys
import warnings
from typing import Optional

import torch

KERNELS = ('sfa', 'lif')  # csrc/{kernel}_cpu.cpp

# compiler flags that make at::vec use each ISA (as ATen builds its CPU kernels)
ISA_FLAGS = {
    'AVX512': ['-mavx512f', '-mavx512bw', '-mavx512vl', '-mavx512dq', '-mfma', '-DCPU_CAPABILITY_AVX512',
               '-DCPU_CAPABILITY=AVX512'],
    'AVX2': ['-mavx2', '-mfma', '-DCPU_CAPABILITY_AVX2', '-DCPU_CAPABILITY=AVX2'],
}

_modules = {}  # kernel -> the built extension, or None once a build failed or the kernels are off


def isa_flags(capability: str) -> list:
    """Flags for torch's CPU capability (``'AVX512'``, ``'AVX2'``, ...); ``[]``: at::vec's portable code."""
    return ISA_FLAGS.get(capability, [])


def enabled() -> bool:
    """False when the environment turns the C++ kernels (or all compiled kernels) off."""
    return os.environ.get('SPIKEFORMER_COMPILE', '1') != '0' and os.environ.get('SPIKEFORMER_CPP', '1') != '0'


def module(kernel: str) -> Optional[object]:
    """The built extension of ``kernel`` (``'sfa'``: ``sfa_forward``/``sfa_backward``/``sfa_restore``, ``'lif'``:
    ``lif_forward``/``lif_backward``), or None if it is off or cannot be built."""
    if kernel not in KERNELS:
        raise ValueError(f'kernel must be one of {KERNELS}, got {kernel!r}')
    if kernel not in _modules:
        _modules[kernel] = _build(kernel) if enabled() else None
    return _modules[kernel]


def put_interpreters_ninja_on_path() -> None:
    """torch builds with the ``ninja`` on PATH; a virtualenv that is not activated (``.venv/bin/python ...``)
    has its pip-installed one off PATH: put the interpreter's scripts directory first if ninja is only there."""
    scripts = osp.dirname(sys.executable)
    if shutil.which('ninja') is None and shutil.which('ninja', path=scripts) is not None:
        os.environ['PATH'] = os.pathsep.join([scripts, os.environ.get('PATH', '')])


def _build(kernel: str):
    from torch.utils.cpp_extension import load
    capability = torch.backends.cpu.get_cpu_capability()
    put_interpreters_ninja_on_path()
    source = osp.join(osp.dirname(__file__), 'csrc', f'{kernel}_cpu.cpp')
    with open(source, 'rb') as f:
        version = hashlib.sha1(f.read()).hexdigest()[:10]
    try:
        return load(name=f'spikeformer_{kernel}_cpu_{capability.lower()}_{version}', sources=[source],
                    extra_cflags=['-O3', '-ffp-contract=off', '-fopenmp', *isa_flags(capability)],
                    extra_ldflags=['-fopenmp'], verbose=False)
    except Exception as error:  # no compiler, no ninja, ...: the torch.compile / eager kernels compute the same
        warnings.warn(f'building the C++ {kernel.upper()} kernels failed ({type(error).__name__}: {error}); '
                      'using the torch.compile/eager kernels')
        return None


def module_for(kernel: str, x: torch.Tensor) -> Optional[object]:
    """The extension of ``kernel`` if it serves ``x`` (float32 on CPU) and is available, else None; None inside
    ``torch.compile`` too, which traces the PyTorch kernels instead."""
    if x.device.type != 'cpu' or x.dtype != torch.float32 or torch.compiler.is_compiling():
        return None
    return module(kernel)
