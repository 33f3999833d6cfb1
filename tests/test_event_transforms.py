"""Event-stream augmentations (before EventsToFrames) and EventMix (a batch augmentation of event frames)."""
import numpy as np
import pytest
import torch
from mmpretrain.registry import BATCH_AUGMENTS
from test_dvs import count_frames, random_events

from spikeformer_mm.datasets.transforms import (
    EventDrop,
    EventMix,
    EventSpatialJitter,
    EventsToFrames,
    RandomEventFlip,
    RandomEventTranslate,
    RandomTimeCrop,
)
from spikeformer_mm.registry import TRANSFORMS

SENSOR = (128, 128)


def stream(n=2000, seed=0):
    x, y, p, t = random_events(np.random.default_rng(seed), n, 0, 10 ** 6)
    return dict(t=t, x=x, y=y, p=p)


def apply(transform, events, sensor=SENSOR):
    return transform(dict(events={k: v.copy() for k, v in events.items()}, ori_shape=sensor))['events']


def kept_mask(original, result):
    """Which events of ``original`` are in ``result`` (events are unique by (t, x, y, p) here), checking that the
    result is a subset in the original order."""
    keys = [tuple(e) for e in zip(*(original[k] for k in 'txyp'))]
    index = {key: i for i, key in enumerate(keys)}
    positions = [index[e] for e in zip(*(result[k] for k in 'txyp'))]
    assert positions == sorted(positions)
    mask = np.zeros(len(keys), dtype=bool)
    mask[positions] = True
    return mask


def test_event_drop_drops_an_interval_an_area_or_random_events():
    events = stream()
    span = events['t'].max() - events['t'].min()
    seen = set()
    np.random.seed(0)
    drop = EventDrop(time_ratio=(0.2, 0.4), area_ratio=(0.1, 0.2), drop_ratio=(0.3, 0.5))
    for _ in range(40):
        kept = kept_mask(events, apply(drop, events))
        gone = ~kept
        if not gone.any():
            seen.add('identity')
            continue
        t, x, y = events['t'], events['x'], events['y']
        lo, hi = t[gone].min(), t[gone].max()
        if not (kept & (t >= lo) & (t <= hi)).any():
            seen.add('time')  # one interval of the stream, 20-40 % of its duration
            assert hi - lo <= 0.4 * span
            assert gone.mean() > 0.1
            continue
        x0, x1, y0, y1 = x[gone].min(), x[gone].max(), y[gone].min(), y[gone].max()
        if not (kept & (x >= x0) & (x <= x1) & (y >= y0) & (y <= y1)).any():
            seen.add('area')  # one rectangle covering 10-20 % of the sensor
            assert (x1 - x0 + 1) * (y1 - y0 + 1) <= 0.2 * 128 * 128 + 2 * 128
            continue
        seen.add('random')
        assert 0.25 < gone.mean() < 0.55
    assert seen == {'identity', 'time', 'area', 'random'}


def test_flip_mirrors_the_integrated_frames():
    events = stream()
    frames = count_frames(events['x'], events['y'], events['p'], 4)
    horizontal = apply(RandomEventFlip(prob=1.0), events)
    vertical = apply(RandomEventFlip(prob=1.0, direction='vertical'), events)
    np.testing.assert_array_equal(count_frames(horizontal['x'], horizontal['y'], horizontal['p'], 4),
                                  frames[..., ::-1])
    np.testing.assert_array_equal(count_frames(vertical['x'], vertical['y'], vertical['p'], 4), frames[..., ::-1, :])
    unchanged = apply(RandomEventFlip(prob=0.0), events)
    assert all(np.array_equal(unchanged[k], events[k]) for k in 'txyp')


def test_translate_moves_every_event_by_one_offset_and_drops_those_off_the_sensor():
    events = stream()
    np.random.seed(3)
    moved = apply(RandomEventTranslate(max_shift=20), events)
    np.random.seed(3)
    dx, dy = np.random.randint(-20, 21, size=2)
    on = (events['x'] + dx >= 0) & (events['x'] + dx < 128) & (events['y'] + dy >= 0) & (events['y'] + dy < 128)
    assert (dx, dy) != (0, 0) and not on.all()
    np.testing.assert_array_equal(moved['x'], events['x'][on] + dx)
    np.testing.assert_array_equal(moved['y'], events['y'][on] + dy)
    np.testing.assert_array_equal(moved['t'], events['t'][on])


def test_spatial_jitter_moves_events_by_integer_gaussian_offsets():
    events = stream(20000)
    np.random.seed(4)
    jittered = apply(EventSpatialJitter(sigma=2.0), events)
    np.random.seed(4)
    offsets = np.rint(np.random.normal(0.0, 2.0, size=(2, 20000))).astype(np.int64)
    x, y = events['x'] + offsets[0], events['y'] + offsets[1]
    on = (x >= 0) & (x < 128) & (y >= 0) & (y < 128)
    np.testing.assert_array_equal(jittered['x'], x[on])
    np.testing.assert_array_equal(jittered['y'], y[on])
    np.testing.assert_array_equal(jittered['p'], events['p'][on])
    assert jittered['x'].dtype == events['x'].dtype and 0.95 < on.mean() < 1
    assert abs(offsets.mean()) < 0.05 and 1.9 < offsets.std() < 2.2


def test_time_crop_keeps_one_window_of_the_stream():
    events = stream()
    span = events['t'].max() - events['t'].min()
    np.random.seed(5)
    for _ in range(5):
        kept = kept_mask(events, apply(RandomTimeCrop(ratio=(0.5, 0.7)), events))
        t = events['t']
        lo, hi = t[kept].min(), t[kept].max()
        assert kept[(t >= lo) & (t <= hi)].all()  # contiguous in time
        assert 0.45 * span <= hi - lo <= 0.7 * span


def test_a_result_with_too_few_events_leaves_the_sample_unchanged():
    events = stream(100)
    np.random.seed(0)
    far = apply(RandomEventTranslate(max_shift=100000, min_events=16), events)  # every event leaves the sensor
    assert all(np.array_equal(far[k], events[k]) for k in 'txyp')


def test_transforms_build_from_configs_and_check_their_arguments():
    assert isinstance(TRANSFORMS.build(dict(type='spikeformer_mm.EventDrop')), EventDrop)
    with pytest.raises(ValueError, match=r'time_ratio must be a range \(min, max\) with 0 <= min <= max <= 1'):
        EventDrop(time_ratio=(0.5, 0.2))
    with pytest.raises(ValueError, match="direction must be 'horizontal' or 'vertical'"):
        RandomEventFlip(direction='diagonal')
    with pytest.raises(ValueError, match='prob must be in'):
        RandomEventFlip(prob=2)
    with pytest.raises(ValueError, match='max_shift must be an integer >= 0'):
        RandomEventTranslate(max_shift=-1)
    with pytest.raises(ValueError, match='sigma must be > 0'):
        EventSpatialJitter(sigma=0)
    with pytest.raises(ValueError, match='0 < min'):
        RandomTimeCrop(ratio=(0, 1))
    with pytest.raises(ValueError, match='min_events must be an integer >= 1'):
        EventDrop(min_events=0)
    frames = EventsToFrames(2)(dict(events=stream(), ori_shape=SENSOR))
    with pytest.raises(KeyError, match='after LoadEvents and before EventsToFrames'):
        RandomEventFlip()(frames)


def test_eventmix_mixes_through_one_mask_and_weights_labels_by_event_share():
    torch.manual_seed(0)
    np.random.seed(0)
    inputs = torch.rand(4, 3, 2, 16, 16).round() * torch.tensor([1.0, 2.0, 0.0, 3.0]).view(4, 1, 1, 1, 1)
    scores = torch.eye(5)[[0, 1, 2, 3]]
    mix = BATCH_AUGMENTS.build(dict(type='spikeformer_mm.datasets.transforms.EventMix', alpha=1.0))
    assert isinstance(mix, EventMix)
    state = (torch.get_rng_state(), np.random.get_state())
    mixed, mixed_scores = mix(inputs, scores)
    torch.set_rng_state(state[0])
    np.random.set_state(state[1])
    lam = float(np.random.beta(1.0, 1.0))
    mask = mix.mask(lam, (3, 16, 16)).unsqueeze(1)
    partner = torch.randperm(4)
    assert mask.sum() == round(lam * 3 * 16 * 16) and set(mask.unique().tolist()) <= {0.0, 1.0}
    torch.testing.assert_close(mixed, inputs * mask + inputs[partner] * (1 - mask))
    for i in range(4):
        own, other = (inputs[i] * mask).sum(), (inputs[partner[i]] * (1 - mask)).sum()
        weight = own / (own + other) if own + other > 0 else torch.tensor(lam)
        expected = weight * scores[i] + (1 - weight) * scores[partner[i]]
        torch.testing.assert_close(mixed_scores[i], expected)
    torch.testing.assert_close(mixed_scores.sum(1), torch.ones(4))


def test_eventmix_mask_is_made_of_smooth_blobs():
    torch.manual_seed(1)
    mask = EventMix(grid=(2, 4, 4)).mask(0.5, (8, 64, 64))
    # neighbouring pixels agree far more often than in an independent (salt-and-pepper) mask, where half would
    same = (mask[:, 1:, :] == mask[:, :-1, :]).float().mean()
    assert same > 0.9


def test_eventmix_checks_its_inputs():
    with pytest.raises(ValueError, match='alpha must be > 0'):
        EventMix(alpha=0)
    with pytest.raises(ValueError, match=r'grid must be 3 positive integers \(t, h, w\)'):
        EventMix(grid=(4, 4))
    with pytest.raises(ValueError, match=r'expects event frames \[N, T, C, H, W\]'):
        EventMix()(torch.rand(2, 3, 8, 8), torch.eye(2))
    with pytest.raises(ValueError, match=r'one-hot scores \[N, num_classes\] for the 2 samples'):
        EventMix()(torch.rand(2, 3, 2, 8, 8), torch.eye(3))
