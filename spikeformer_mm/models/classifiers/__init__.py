"""Classifiers (registered in ``spikeformer_mm.registry.MODELS``)."""
from .distill_classifier import DistillImageClassifier

__all__ = ['DistillImageClassifier']
