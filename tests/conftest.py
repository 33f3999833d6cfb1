"""Shared test fixtures: where the shared reference outputs and real data samples live."""
import os
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get('SPIKEFORMER_SHARED', REPO_ROOT.parent / 'shared'))


@pytest.fixture(scope='session')
def shared_dir() -> Path:
    """``../shared`` beside the repository (override with SPIKEFORMER_SHARED)."""
    if not (SHARED_DIR / 'reference').is_dir():
        raise FileNotFoundError(f'shared reference folder not found at {SHARED_DIR}; '
                                'set SPIKEFORMER_SHARED to the folder holding reference/ and data/')
    return SHARED_DIR


@pytest.fixture(scope='session')
def reference_dir(shared_dir) -> Path:
    return shared_dir / 'reference'


@pytest.fixture(scope='session')
def data_dir(shared_dir) -> Path:
    return shared_dir / 'data'


@pytest.fixture(scope='module')
def one_thread():
    """One intra-op torch thread for a module's tests: on a shared CPU more threads only wait for each other."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(autouse=True)
def restore_default_scope():
    """Tests are independent of order: a Runner or ``init_default_scope`` in one test leaves mmengine's current
    default scope (e.g. 'mmdet') behind, which changes how later unscoped builds resolve; restore it after each."""
    from mmengine.registry import DefaultScope
    instances = DefaultScope._instance_dict.copy()
    yield
    DefaultScope._instance_dict.clear()
    DefaultScope._instance_dict.update(instances)
