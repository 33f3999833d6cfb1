"""Pictures of what a spiking network does: firing-rate maps over the input image."""
from .firing_map import FiringRecord, draw_firing_maps, record_firing

__all__ = ['FiringRecord', 'record_firing', 'draw_firing_maps']
