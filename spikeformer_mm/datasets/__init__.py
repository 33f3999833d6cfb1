"""Datasets and transforms."""
from . import transforms  # noqa: F401
from .ade20k import CheckedADE20KDataset
from .digits import DigitsDataset
from .dvs import CIFAR10DVSDataset, DVS128GestureDataset

__all__ = ['CheckedADE20KDataset', 'DigitsDataset', 'DVS128GestureDataset', 'CIFAR10DVSDataset']
