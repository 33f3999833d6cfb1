"""spikeformer_mm: spiking vision transformers as OpenMMLab citizens.

Install with ``bash tools/setup_env.sh`` (it builds mmcv's compiled ops once); ``pip install -e .`` alone works
on a machine that already has mmcv 2.1.0 with ops.
"""
from setuptools import find_packages, setup

setup(
    name='spikeformer_mm',
    version='0.1.0',
    description='Spike-driven Transformers (Meta-SpikeFormer, E-SpikeFormer, Spikeformer) for '
    'mmpretrain, mmdet and mmseg',
    long_description=open('README.md', encoding='utf-8').read(),
    long_description_content_type='text/markdown',
    packages=find_packages(include=['spikeformer_mm', 'spikeformer_mm.*']),
    package_data={'spikeformer_mm.ops': ['csrc/*.cpp']},  # built on first use (spikeformer_mm/ops/cpp_kernels.py)
    python_requires='>=3.10',
    install_requires=[
        'torch==2.14.1',
        'torchvision==0.29.1',
        'mmengine==0.10.7',
        'mmcv==2.1.0',
        'mmdet==3.3.0',
        'mmsegmentation==1.2.2',
        'mmpretrain==1.2.0',
        'spikingjelly==2.0.0',
        'ftfy',  # imported by mmseg without being declared
        'regex',  # imported by mmseg without being declared
        'setuptools==80.9.0',  # pkg_resources: mmengine's `_base_ = "mmdet::..."` lookup
        'ninja',  # torch.utils.cpp_extension builds the C++ SFA kernels with it
        'scikit-learn',  # the digits demo dataset
    ],
    extras_require={
        'triton': ['triton'],  # MultiStepLIF(backend='triton') on CUDA (spikingjelly's triton kernel)
        'tests': ['pytest', 'ruff==0.17.6', 'timm==1.0.31'],  # timm: a TimmClassifier distillation teacher
    },
)
