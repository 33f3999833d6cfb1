"""Utilities around the models: the ANN twin of a spiking network and benchmark helpers."""
from .ann_twin import SPIKING_NEURONS, ann_twin

__all__ = ['SPIKING_NEURONS', 'ann_twin']
