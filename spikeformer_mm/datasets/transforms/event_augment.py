"""Random augmentations of an event stream, applied between ``LoadEvents`` and ``EventsToFrames``.

Each takes ``results['events']`` (dict of equal-length 1-D arrays ``t``, ``x``, ``y``, ``p``) on a sensor of
``results['ori_shape'] = (H, W)`` and returns the changed events; the randomness is numpy's global generator, as in
mmcv's transforms (seeded per dataloader worker by mmengine). A transform that would leave fewer than
``min_events`` events (fewer than the frames to fill) leaves the sample unchanged instead.

Written here rather than taken from ``tonic``: tonic 1.7 installs with this stack, but it brings about a dozen
packages (librosa, numba, llvmlite, soundfile, ...) for its audio and dataset code, its transforms take structured
arrays and a ``(W, H, 2)`` sensor size (each would need a wrapper converting this package's layout both ways), and
it has no EventMix; each augmentation below is a few array operations.
"""
from typing import Sequence, Tuple

import numpy as np
from mmcv.transforms import BaseTransform

from spikeformer_mm.registry import TRANSFORMS


def _check_range(name: str, value: Sequence[float], low: float, high: float) -> Tuple[float, float]:
    if len(value) != 2 or not low <= value[0] <= value[1] <= high:
        raise ValueError(f'{name} must be a range (min, max) with {low} <= min <= max <= {high}, got {value!r}')
    return float(value[0]), float(value[1])


class EventTransform(BaseTransform):
    """Base class: applies :meth:`augment` to the events and keeps the result if enough events remain.

    Args:
        min_events: the fewest events a result may keep; otherwise the sample is returned unchanged.
    """

    def __init__(self, min_events: int = 16):
        if not isinstance(min_events, int) or min_events < 1:
            raise ValueError(f'min_events must be an integer >= 1, got {min_events!r}')
        self.min_events = min_events

    def augment(self, events: dict, sensor: Tuple[int, int]) -> dict:
        """The augmented events (a new dict); ``sensor`` is ``(H, W)``."""
        raise NotImplementedError

    def transform(self, results: dict) -> dict:
        if 'events' not in results:
            raise KeyError(f'{type(self).__name__} needs results["events"]: put it after LoadEvents and before '
                           'EventsToFrames')
        events = self.augment(results['events'], tuple(results['ori_shape']))
        if events['t'].size >= self.min_events:
            results['events'] = events
        return results


def _select(events: dict, keep: np.ndarray) -> dict:
    return {key: value[keep] for key, value in events.items()}


def _on_sensor(events: dict, sensor: Tuple[int, int]) -> dict:
    """The events whose ``x``, ``y`` lie on the ``(H, W)`` sensor."""
    H, W = sensor
    return _select(events, (events['x'] >= 0) & (events['x'] < W) & (events['y'] >= 0) & (events['y'] < H))


@TRANSFORMS.register_module()
class EventDrop(EventTransform):
    """EventDrop (Gu et al., IJCAI 2021, arXiv:2106.05836): one of four choices, uniformly at random.

    * identity;
    * drop by time: remove the events of a random interval lasting a fraction (``time_ratio``) of the stream;
    * drop by area: remove the events of a random rectangle covering a fraction (``area_ratio``) of the sensor;
    * random drop: remove each event with a probability drawn from ``drop_ratio``.

    Fractions are drawn uniformly from their ``(min, max)`` ranges.
    """

    def __init__(self, time_ratio: Sequence[float] = (0.1, 0.5), area_ratio: Sequence[float] = (0.05, 0.3),
                 drop_ratio: Sequence[float] = (0.1, 0.5), min_events: int = 16):
        super().__init__(min_events)
        self.time_ratio = _check_range('time_ratio', time_ratio, 0, 1)
        self.area_ratio = _check_range('area_ratio', area_ratio, 0, 1)
        self.drop_ratio = _check_range('drop_ratio', drop_ratio, 0, 1)

    def augment(self, events: dict, sensor: Tuple[int, int]) -> dict:
        choice = np.random.randint(4)
        if choice == 0:
            return events
        if choice == 1:
            t = events['t']
            span = float(t.max() - t.min())
            length = np.random.uniform(*self.time_ratio) * span
            start = t.min() + np.random.uniform(0, span - length)
            return _select(events, (t < start) | (t > start + length))
        if choice == 2:
            H, W = sensor
            side = np.sqrt(np.random.uniform(*self.area_ratio))
            h, w = max(1, int(round(side * H))), max(1, int(round(side * W)))
            y0, x0 = np.random.randint(0, H - h + 1), np.random.randint(0, W - w + 1)
            inside = (events['x'] >= x0) & (events['x'] < x0 + w) & (events['y'] >= y0) & (events['y'] < y0 + h)
            return _select(events, ~inside)
        ratio = np.random.uniform(*self.drop_ratio)
        return _select(events, np.random.random_sample(events['t'].size) >= ratio)

    def __repr__(self) -> str:
        return (f'{type(self).__name__}(time_ratio={self.time_ratio}, area_ratio={self.area_ratio}, '
                f'drop_ratio={self.drop_ratio}, min_events={self.min_events})')


@TRANSFORMS.register_module()
class RandomEventFlip(EventTransform):
    """Mirror the stream with probability ``prob``: ``'horizontal'`` (``x -> W - 1 - x``) or ``'vertical'``.

    Not for DVS128 Gesture: a mirrored left-hand gesture is its right-hand class.
    """

    def __init__(self, prob: float = 0.5, direction: str = 'horizontal', min_events: int = 16):
        super().__init__(min_events)
        if not 0 <= prob <= 1:
            raise ValueError(f'prob must be in [0, 1], got {prob!r}')
        if direction not in ('horizontal', 'vertical'):
            raise ValueError(f"direction must be 'horizontal' or 'vertical', got {direction!r}")
        self.prob = prob
        self.direction = direction

    def augment(self, events: dict, sensor: Tuple[int, int]) -> dict:
        if np.random.random_sample() >= self.prob:
            return events
        key, size = ('x', sensor[1]) if self.direction == 'horizontal' else ('y', sensor[0])
        return dict(events, **{key: size - 1 - events[key]})

    def __repr__(self) -> str:
        return f'{type(self).__name__}(prob={self.prob}, direction={self.direction!r})'


@TRANSFORMS.register_module()
class RandomEventTranslate(EventTransform):
    """Shift every event by one random offset ``(dx, dy)``, each uniform in ``[-max_shift, max_shift]`` pixels;
    events shifted off the sensor are dropped."""

    def __init__(self, max_shift: int = 16, min_events: int = 16):
        super().__init__(min_events)
        if not isinstance(max_shift, int) or max_shift < 0:
            raise ValueError(f'max_shift must be an integer >= 0 (pixels), got {max_shift!r}')
        self.max_shift = max_shift

    def augment(self, events: dict, sensor: Tuple[int, int]) -> dict:
        dx, dy = np.random.randint(-self.max_shift, self.max_shift + 1, size=2)
        return _on_sensor(dict(events, x=events['x'] + dx, y=events['y'] + dy), sensor)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(max_shift={self.max_shift})'


@TRANSFORMS.register_module()
class EventSpatialJitter(EventTransform):
    """Move each event on its own by a rounded Gaussian offset of standard deviation ``sigma`` pixels in x and in
    y; events moved off the sensor are dropped."""

    def __init__(self, sigma: float = 1.0, min_events: int = 16):
        super().__init__(min_events)
        if not sigma > 0:
            raise ValueError(f'sigma must be > 0 (pixels), got {sigma!r}')
        self.sigma = float(sigma)

    def augment(self, events: dict, sensor: Tuple[int, int]) -> dict:
        n = events['x'].size
        jitter = np.rint(np.random.normal(0.0, self.sigma, size=(2, n))).astype(events['x'].dtype)
        return _on_sensor(dict(events, x=events['x'] + jitter[0], y=events['y'] + jitter[1]), sensor)

    def __repr__(self) -> str:
        return f'{type(self).__name__}(sigma={self.sigma})'


@TRANSFORMS.register_module()
class RandomTimeCrop(EventTransform):
    """Keep the events of a random time window lasting a fraction, uniform in ``ratio``, of the stream."""

    def __init__(self, ratio: Sequence[float] = (0.8, 1.0), min_events: int = 16):
        super().__init__(min_events)
        self.ratio = _check_range('ratio', ratio, 0, 1)
        if self.ratio[0] <= 0:
            raise ValueError(f'ratio must be a range (min, max) with 0 < min, got {ratio!r}')

    def augment(self, events: dict, sensor: Tuple[int, int]) -> dict:
        t = events['t']
        span = float(t.max() - t.min())
        length = np.random.uniform(*self.ratio) * span
        start = t.min() + np.random.uniform(0, span - length)
        return _select(events, (t >= start) & (t <= start + length))

    def __repr__(self) -> str:
        return f'{type(self).__name__}(ratio={self.ratio})'
