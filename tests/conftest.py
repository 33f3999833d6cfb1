"""Test fixtures: the reference outputs and real data samples under ``tests/data`` (see its README)."""
import importlib.util
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
TEST_DATA_DIR = Path(__file__).resolve().parent / 'data'


def load_tool(name: str):
    """``tools/{name}.py`` as a module (``name`` may be ``'analysis_tools/...'``); the tools are scripts, not a
    package. Test files import it with ``from conftest import load_tool`` (pytest puts ``tests/`` on ``sys.path``)."""
    path = REPO_ROOT / 'tools' / f'{name}.py'
    spec = importlib.util.spec_from_file_location(f"spikeformer_tools_{name.replace('/', '_')}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='session')
def reference_dir() -> Path:
    """Outputs of the BICLab reference implementations and checkpoint key lists (``tests/data/reference``)."""
    return TEST_DATA_DIR / 'reference'


@pytest.fixture(scope='session')
def data_dir() -> Path:
    """Tiny real COCO / ADE20K / ImageNet samples (``tests/data/{coco_mini,ade20k_mini,imagenet_samples}``)."""
    return TEST_DATA_DIR


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
