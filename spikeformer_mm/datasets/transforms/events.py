"""Event-stream transforms: read events, integrate them into T two-polarity frames, resize the frames.

A DVS pipeline is ``LoadEvents -> EventsToFrames(num_frames=T) [-> ResizeFrames] -> PackInputs``: ``PackInputs``
keeps the ``[T, 2, H, W]`` frames as they are, mmpretrain's ``ClsDataPreprocessor`` stacks them into a batch
``[B, T, 2, H, W]``, and the spiking backbone reads that as event frames (time-major inside, no repetition).
"""
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from mmcv.transforms import BaseTransform

from spikeformer_mm.registry import TRANSFORMS

from ..event_io import READERS, SENSOR_SIZES


@TRANSFORMS.register_module()
class LoadEvents(BaseTransform):
    """Read ``results['events_path']`` in ``results['event_format']`` (``'aedat3.1'`` or ``'cifar10-dvs'``).

    Keeps the events with ``t_start <= t < t_end`` when the item has that window. Adds ``events`` (dict of 1-D
    arrays ``t``, ``x``, ``y``, ``p``) and ``ori_shape`` (the sensor's ``(H, W)``). The last file read is kept, so
    consecutive samples of one recording (a DVS128 Gesture test pass, in order) read it once.
    """

    def __init__(self):
        self._last = (None, None)

    def _read(self, event_format: str, path: str) -> dict:
        if self._last[0] != (event_format, path):
            self._last = ((event_format, path), READERS[event_format](path))
        return self._last[1]

    def transform(self, results: dict) -> dict:
        event_format = results.get('event_format')
        if event_format not in READERS:
            raise ValueError(f'LoadEvents: event_format must be one of {tuple(READERS)}, got {event_format!r}')
        events = self._read(event_format, results['events_path'])
        if 't_start' in results:
            keep = (events['t'] >= results['t_start']) & (events['t'] < results['t_end'])
            events = {key: value[keep] for key, value in events.items()}
        if events['t'].size == 0:
            raise ValueError(f"LoadEvents: no events in {results['events_path']}"
                             + (f" within [{results['t_start']}, {results['t_end']}) us" if 't_start' in results
                                else ''))
        results['events'] = events
        results['ori_shape'] = SENSOR_SIZES[event_format]
        return results


@TRANSFORMS.register_module()
class EventsToFrames(BaseTransform):
    """Integrate ``results['events']`` into ``num_frames`` frames of per-pixel event counts, one channel per polarity.

    spikingjelly's ``integrate_events_by_fixed_frames_number``: ``split_by='number'`` gives every frame the same
    number of events, ``'time'`` the same duration. Replaces ``events`` by ``img``: float32 ``[T, 2, H, W]``, and
    sets ``img_shape``.
    """

    def __init__(self, num_frames: int, split_by: str = 'number'):
        if not isinstance(num_frames, int) or num_frames < 1:
            raise ValueError(f'num_frames must be an integer >= 1, got {num_frames!r}')
        if split_by not in ('number', 'time'):
            raise ValueError(f"split_by must be 'number' or 'time', got {split_by!r}")
        self.num_frames = num_frames
        self.split_by = split_by

    def transform(self, results: dict) -> dict:
        from spikingjelly.datasets import integrate_events_by_fixed_frames_number
        events = results.pop('events')
        if events['t'].size < self.num_frames:
            raise ValueError(f"EventsToFrames: {events['t'].size} events cannot fill {self.num_frames} frames "
                             f"({results.get('events_path', 'unknown file')})")
        H, W = results['ori_shape']
        frames = integrate_events_by_fixed_frames_number(events, self.split_by, self.num_frames, H, W)
        results['img'] = frames.astype(np.float32)
        results['img_shape'] = (H, W)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_frames={self.num_frames}, split_by={self.split_by!r})'


@TRANSFORMS.register_module()
class ResizeFrames(BaseTransform):
    """Resize ``img`` frames ``[T, C, H, W]`` to ``size = (h, w)`` with torch's ``interpolate``.

    ``mode='area'`` (default) averages event counts over each output pixel's footprint. Sets ``img_shape``.
    """

    def __init__(self, size: Sequence[int], mode: str = 'area'):
        if len(size) != 2:
            raise ValueError(f'size must be (height, width), got {size!r}')
        self.size = tuple(int(s) for s in size)
        self.mode = mode

    def transform(self, results: dict) -> dict:
        frames = results['img']
        if frames.ndim != 4:
            raise ValueError(f'ResizeFrames expects img frames [T, C, H, W], got shape {frames.shape}')
        resized = F.interpolate(torch.from_numpy(frames), size=self.size, mode=self.mode)
        results['img'] = resized.numpy()
        results['img_shape'] = self.size
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(size={self.size}, mode={self.mode!r})'
