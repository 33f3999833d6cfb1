"""Data transforms (registered in ``spikeformer_mm.registry.TRANSFORMS``)."""
from .event_augment import EventDrop, EventSpatialJitter, RandomEventFlip, RandomEventTranslate, RandomTimeCrop
from .event_mix import EventMix
from .events import EventsToFrames, LoadEvents, ResizeFrames
from .seg_loading import LoadCheckedSegAnnotations

__all__ = ['LoadEvents', 'EventsToFrames', 'ResizeFrames', 'LoadCheckedSegAnnotations', 'EventDrop',
           'RandomEventFlip', 'RandomEventTranslate', 'EventSpatialJitter', 'RandomTimeCrop', 'EventMix']
