"""Data transforms (registered in ``spikeformer_mm.registry.TRANSFORMS``)."""
from .events import EventsToFrames, LoadEvents, ResizeFrames
from .seg_loading import LoadCheckedSegAnnotations

__all__ = ['LoadEvents', 'EventsToFrames', 'ResizeFrames', 'LoadCheckedSegAnnotations']
