"""Event-camera data: readers of the published formats, datasets, transforms and the path to the backbone.

Every event file is written by the test itself in the published layout: AEDAT 3.1 recordings with their labels
CSV and trial lists (DVS128 Gesture), big-endian AEDAT 2.0 files in class folders (CIFAR10-DVS).
"""
import struct

import numpy as np
import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.registry import DefaultScope
from mmpretrain.registry import MODELS

from spikeformer_mm.datasets import CIFAR10DVSDataset, DVS128GestureDataset
from spikeformer_mm.datasets.event_io import read_aedat31, read_cifar10_dvs
from spikeformer_mm.datasets.transforms import EventsToFrames, LoadEvents, ResizeFrames

AEDAT31_HEADER = b'#!AER-DAT3.1\r\n#Format: RAW\r\n#Source 1: DVS128\r\n#!END-HEADER\r\n'
AEDAT20_HEADER = b'#!AER-DAT2.0\r\n# This is a raw AE data file - do not edit\r\n'


def aedat31_packet(x, y, p, t, overflow=0, event_type=1):
    """One AEDAT 3.1 packet of 8-byte events: polarity events pack x << 17 | y << 2 | p << 1 | valid."""
    x, y, p, t = (np.asarray(a, dtype=np.int64) for a in (x, y, p, t))
    words = np.stack([(x << 17) | (y << 2) | (p << 1) | 1, t], axis=1).astype('<u4')
    n = len(words)
    return struct.pack('<HHIIIIII', event_type, 1, 8, 4, overflow, n, n, n) + words.tobytes()


def write_aedat20(path, x, y, p, t):
    """A CIFAR10-DVS file: big-endian (address, timestamp) pairs, address y << 8 | x << 1 | p (sensor axes)."""
    address = (np.asarray(y) << 8) | (np.asarray(x) << 1) | np.asarray(p)
    path.write_bytes(AEDAT20_HEADER + np.stack([address, t], axis=1).astype('>u4').tobytes())


def random_events(rng, n, t_start, t_end, columns=(0, 128)):
    t = np.sort(rng.integers(t_start, t_end, n))
    return rng.integers(*columns, n), rng.integers(0, 128, n), rng.integers(0, 2, n), t


def write_gesture_root(root, rng, recordings):
    """``recordings``: {split: {name: [(label 1..11, t_start, t_end, columns), ...]}}; returns the events."""
    written = {}
    for split, names in recordings.items():
        (root / f'trials_to_{split}.txt').write_text(''.join(f'{name}.aedat\n' for name in names) + '\n')
        for name, gestures in names.items():
            csv = 'class,startTime_usec,endTime_usec\n'
            packets, events = [], []
            for label, t_start, t_end, columns in gestures:
                csv += f'{label},{t_start},{t_end}\n'
                inside = random_events(rng, 300, t_start, t_end, columns)
                after = random_events(rng, 40, t_end, t_end + 500)  # between gestures: in no sample
                packets += [aedat31_packet(*inside), aedat31_packet(*after)]
                events.append(inside)
            (root / f'{name}_labels.csv').write_text(csv)
            (root / f'{name}.aedat').write_bytes(AEDAT31_HEADER + b''.join(packets))
            written[name] = events
    return written


def count_frames(x, y, p, num_frames, H=128, W=128):
    """Split-by-number integration written out: frame i takes events [i * n // T, (i + 1) * n // T)."""
    frames = np.zeros((num_frames, 2, H, W), dtype=np.float32)
    step = len(x) // num_frames
    for i in range(num_frames):
        sl = slice(i * step, (i + 1) * step if i < num_frames - 1 else len(x))
        np.add.at(frames[i], (p[sl], y[sl], x[sl]), 1)
    return frames


def test_aedat31_reader_matches_spikingjelly_and_the_written_events(tmp_path):
    from spikingjelly.datasets import load_aedat_v3
    rng = np.random.default_rng(0)
    x, y, p, t = random_events(rng, 500, 0, 2 ** 31 - 1)
    special = aedat31_packet([1, 2], [3, 4], [0, 1], [5, 6], event_type=0)  # not polarity events: skipped
    path = tmp_path / 'rec.aedat'
    path.write_bytes(AEDAT31_HEADER + aedat31_packet(x[:200], y[:200], p[:200], t[:200]) + special
                     + aedat31_packet(x[200:], y[200:], p[200:], t[200:], overflow=1))
    events = read_aedat31(path)
    reference = load_aedat_v3(path)
    for key in 'txyp':
        np.testing.assert_array_equal(events[key], reference[key])
    np.testing.assert_array_equal(events['x'], x)
    np.testing.assert_array_equal(events['y'], y)
    np.testing.assert_array_equal(events['p'], p)
    np.testing.assert_array_equal(events['t'], np.concatenate([t[:200], t[200:] + 2 ** 31]))


def test_cifar10_dvs_reader_applies_the_datasets_orientation(tmp_path):
    rng = np.random.default_rng(1)
    x, y, p, t = random_events(rng, 300, 0, 10 ** 6)
    path = tmp_path / 'cifar10_cat_7.aedat'
    write_aedat20(path, x, y, p, t)
    events = read_cifar10_dvs(path)
    np.testing.assert_array_equal(events['t'], t)
    np.testing.assert_array_equal(events['x'], 127 - y)
    np.testing.assert_array_equal(events['y'], 127 - x)
    np.testing.assert_array_equal(events['p'], 1 - p)


def test_readers_reject_other_files(tmp_path):
    other = tmp_path / 'notes.aedat'
    other.write_bytes(b'hello\n')
    with pytest.raises(ValueError, match='is not an AEDAT 3.x file'):
        read_aedat31(other)
    with pytest.raises(ValueError, match='is not an AEDAT 2.0 file'):
        read_cifar10_dvs(other)
    truncated = tmp_path / 'cut.aedat'
    truncated.write_bytes(AEDAT31_HEADER + aedat31_packet([1, 2], [1, 2], [0, 1], [1, 2])[:-4])
    with pytest.raises(ValueError, match='is truncated'):
        read_aedat31(truncated)


def test_gesture_dataset_samples_are_the_csv_windows_integrated_into_frames(tmp_path):
    rng = np.random.default_rng(2)
    written = write_gesture_root(tmp_path, rng, {
        'train': {'user01_fluorescent': [(3, 1000, 5000, (0, 128)), (11, 9000, 20000, (0, 128))]},
        'test': {'user02_led': [(1, 500, 800, (0, 128))]}})
    pipeline = [dict(type='spikeformer_mm.LoadEvents'), dict(type='spikeformer_mm.EventsToFrames', num_frames=5),
                dict(type='mmpretrain.PackInputs')]
    train = DVS128GestureDataset(str(tmp_path), split='train', pipeline=pipeline)
    test = DVS128GestureDataset(str(tmp_path), split='test', pipeline=pipeline)
    assert len(train) == 2 and len(test) == 1
    assert [train.get_data_info(i)['gt_label'] for i in range(2)] == [2, 10]
    assert train.metainfo['classes'][10] == 'other_gestures'
    for i, sample in enumerate([train[0], train[1]]):
        x, y, p, _ = written['user01_fluorescent'][i]
        assert sample['inputs'].shape == (5, 2, 128, 128)
        np.testing.assert_array_equal(sample['inputs'].numpy(), count_frames(x, y, p, 5))
    assert test[0]['data_samples'].gt_label.tolist() == [0]


def test_load_events_reads_a_recording_once_for_consecutive_samples(tmp_path, monkeypatch):
    from spikeformer_mm.datasets import event_io
    write_gesture_root(tmp_path, np.random.default_rng(6), {'train': {'user04_led': [
        (1, 0, 1000, (0, 128)), (2, 2000, 3000, (0, 128))], 'user05_led': [(3, 0, 1000, (0, 128))]}})
    reads = []
    monkeypatch.setitem(event_io.READERS, 'aedat3.1', lambda path: reads.append(path) or read_aedat31(path))
    dataset = DVS128GestureDataset(str(tmp_path), pipeline=[dict(type='spikeformer_mm.LoadEvents')])
    windows = [(dataset[i]['events']['t'].min(), dataset[i]['events']['t'].max()) for i in range(3)]
    assert [r.rsplit('/', 1)[-1] for r in reads] == ['user04_led.aedat', 'user05_led.aedat']
    assert windows[0][1] < 1000 and 2000 <= windows[1][0] and windows[2][1] < 1000


def test_gesture_dataset_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match='trials_to_train.txt not found'):
        DVS128GestureDataset(str(tmp_path))
    (tmp_path / 'trials_to_train.txt').write_text('user09_led.aedat\n')
    with pytest.raises(FileNotFoundError, match='lists user09_led.aedat, but .* is missing'):
        DVS128GestureDataset(str(tmp_path))
    with pytest.raises(ValueError, match=r"split must be one of \('train', 'test'\), got 'val'"):
        DVS128GestureDataset(str(tmp_path), split='val')
    write_gesture_root(tmp_path, np.random.default_rng(3), {'train': {'user03_led': [(12, 0, 100, (0, 128))]}})
    with pytest.raises(ValueError, match='class 12 is outside 1..11'):
        DVS128GestureDataset(str(tmp_path))


def test_cifar10_dvs_dataset_splits_each_class_in_file_index_order(tmp_path):
    rng = np.random.default_rng(4)
    for name in CIFAR10DVSDataset.METAINFO['classes']:
        (tmp_path / name).mkdir()
        for index in (0, 1, 2, 10, 11, 12, 13, 14, 15, 2 + 1000):
            write_aedat20(tmp_path / name / f'cifar10_{name}_{index}.aedat', *random_events(rng, 20, 0, 1000))
    train = CIFAR10DVSDataset(str(tmp_path), split='train', train_ratio=0.8)
    test = CIFAR10DVSDataset(str(tmp_path), split='test', train_ratio=0.8)
    assert len(train) == 80 and len(test) == 20 and len(CIFAR10DVSDataset(str(tmp_path), split='all')) == 100
    test_files = [test.get_data_info(i)['events_path'].rsplit('/', 1)[-1] for i in range(2)]
    assert test_files == ['cifar10_airplane_15.aedat', 'cifar10_airplane_1002.aedat']
    assert [test.get_data_info(i)['gt_label'] for i in range(0, 20, 2)] == list(range(10))


def test_cifar10_dvs_dataset_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match='class folder .*airplane not found'):
        CIFAR10DVSDataset(str(tmp_path))
    with pytest.raises(ValueError, match=r'train_ratio must be in \(0, 1\), got 1.5'):
        CIFAR10DVSDataset(str(tmp_path), train_ratio=1.5)


def test_transforms_check_their_inputs(tmp_path):
    with pytest.raises(ValueError, match="event_format must be one of .*got 'mp4'"):
        LoadEvents()(dict(events_path='x', event_format='mp4'))
    rec = tmp_path / 'r.aedat'
    rec.write_bytes(AEDAT31_HEADER + aedat31_packet([1], [1], [1], [100]))
    with pytest.raises(ValueError, match=r'no events in .*r.aedat within \[200, 300\) us'):
        LoadEvents()(dict(events_path=str(rec), event_format='aedat3.1', t_start=200, t_end=300))
    with pytest.raises(ValueError, match='1 events cannot fill 4 frames'):
        EventsToFrames(4)(LoadEvents()(dict(events_path=str(rec), event_format='aedat3.1')))
    with pytest.raises(ValueError, match='num_frames must be an integer >= 1'):
        EventsToFrames(0)


def test_resize_frames_averages_counts_over_each_output_pixel():
    frames = np.zeros((2, 2, 4, 4), dtype=np.float32)
    frames[1, 0, :2, :2] = 4
    out = ResizeFrames((2, 2))(dict(img=frames))
    assert out['img'].shape == (2, 2, 2, 2) and out['img_shape'] == (2, 2)
    assert out['img'][1, 0, 0, 0] == 4 and out['img'].sum() == 4


def test_event_batches_reach_the_backbone_and_a_classifier_learns_them(tmp_path):
    """Loader -> ClsDataPreprocessor ([B, T, 2, H, W]) -> Spikeformer classifier; the training loss falls."""
    torch.manual_seed(0)
    rng = np.random.default_rng(5)
    # Class 1 gestures fire on the left third of the sensor, class 2 on the right third.
    write_gesture_root(tmp_path, rng, {'train': {f'user0{i}_led': [
        (1, 1000, 4000, (0, 40)), (2, 6000, 9000, (88, 128))] for i in range(1, 4)}})
    pipeline = [dict(type='spikeformer_mm.LoadEvents'), dict(type='spikeformer_mm.EventsToFrames', num_frames=4),
                dict(type='spikeformer_mm.ResizeFrames', size=(32, 32)), dict(type='mmpretrain.PackInputs')]
    dataset = DVS128GestureDataset(str(tmp_path), pipeline=pipeline)
    batch = pseudo_collate([dataset[i] for i in range(len(dataset))])
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(dict(
            type='ImageClassifier',
            data_preprocessor=dict(num_classes=11),
            backbone=dict(type='spikeformer_mm.Spikeformer', arch=dict(embed_dims=32, depth=1, num_heads=4), T=4,
                          in_channels=2, keep_time=True),
            neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
            head=dict(type='spikeformer_mm.SpikingLinearClsHead', num_classes=11, in_channels=32)))
    data = model.data_preprocessor(batch, training=True)
    assert data['inputs'].shape == (6, 4, 2, 32, 32)
    torch.testing.assert_close(data['inputs'][2], batch['inputs'][2].float())
    optimizer = torch.optim.AdamW(model.parameters(), lr=3e-3)
    losses = []
    for _ in range(25):
        loss = model(**model.data_preprocessor(batch, training=True), mode='loss')['loss']
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[-1] < 0.2 * losses[0], losses
    with torch.no_grad():  # still in train mode: 25 steps leave the BN running statistics far from converged
        logits = model(model.data_preprocessor(batch)['inputs'], mode='tensor')
    assert logits.argmax(1).tolist() == [0, 1] * 3

