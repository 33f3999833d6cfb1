"""Event-camera classification datasets read from their published files (nothing downloads).

Each item is a reference to an event stream (``events_path``, ``event_format``, optionally a ``[t_start, t_end)``
window in microseconds) and ``gt_label``; :class:`spikeformer_mm.datasets.transforms.LoadEvents` reads the events
and :class:`~spikeformer_mm.datasets.transforms.EventsToFrames` integrates them into ``[T, 2, H, W]`` frames.
"""
import re
from pathlib import Path

import numpy as np
from mmpretrain.datasets import BaseDataset

from spikeformer_mm.registry import DATASETS

GESTURE_CLASSES = ('hand_clapping', 'right_hand_wave', 'left_hand_wave', 'right_arm_clockwise',
                   'right_arm_counter_clockwise', 'left_arm_clockwise', 'left_arm_counter_clockwise', 'arm_roll',
                   'air_drums', 'air_guitar', 'other_gestures')
CIFAR10_CLASSES = ('airplane', 'automobile', 'bird', 'cat', 'deer', 'dog', 'frog', 'horse', 'ship', 'truck')


def _check_split(dataset: str, split: str, valid: tuple) -> None:
    if split not in valid:
        raise ValueError(f'{dataset} split must be one of {valid}, got {split!r}')


@DATASETS.register_module()
class DVS128GestureDataset(BaseDataset):
    """IBM DVS128 Gesture (11 classes, 128 x 128) from the extracted ``DvsGesture.tar.gz``.

    ``data_root`` holds ``trials_to_train.txt`` / ``trials_to_test.txt`` (one ``userXX_<light>.aedat`` per line),
    the AEDAT 3.1 recordings and their ``userXX_<light>_labels.csv`` (``class,startTime_usec,endTime_usec``,
    classes 1..11). Every CSV row is one sample: the recording's events with ``start <= t < end``, as spikingjelly
    splits them. Labels are 0..10.
    """

    METAINFO = {'classes': GESTURE_CLASSES}

    def __init__(self, data_root: str, split: str = 'train', **kwargs):
        _check_split('DVS128GestureDataset', split, ('train', 'test'))
        self.split = split
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def load_data_list(self):
        root = Path(self.data_root)
        trials = root / f'trials_to_{self.split}.txt'
        if not trials.is_file():
            raise FileNotFoundError(f'{trials} not found: data_root must be the extracted DvsGesture folder '
                                    'holding trials_to_train.txt, trials_to_test.txt and the .aedat files')
        data_list = []
        for name in trials.read_text().split():
            recording = root / name
            labels = root / f'{recording.stem}_labels.csv'
            if not recording.is_file() or not labels.is_file():
                raise FileNotFoundError(f'{trials.name} lists {name}, but {recording} or {labels} is missing')
            rows = np.loadtxt(labels, dtype=np.int64, delimiter=',', skiprows=1, ndmin=2)
            for label, t_start, t_end in rows:
                if not 1 <= label <= len(GESTURE_CLASSES):
                    raise ValueError(f'{labels}: class {label} is outside 1..{len(GESTURE_CLASSES)}')
                data_list.append(dict(events_path=str(recording), event_format='aedat3.1',
                                      t_start=int(t_start), t_end=int(t_end), gt_label=int(label) - 1))
        return data_list


@DATASETS.register_module()
class CIFAR10DVSDataset(BaseDataset):
    """CIFAR10-DVS (10 classes, 128 x 128) from the published per-class ``.aedat`` (AEDAT 2.0) files.

    ``data_root`` holds one folder per class (``airplane/cifar10_airplane_0.aedat``, ...). The dataset has no
    official split: within each class, files in index order are cut at ``train_ratio`` (0.9: the first 900 of
    1000 train, the last 100 test), the usual protocol. ``split='all'`` keeps every file.
    """

    METAINFO = {'classes': CIFAR10_CLASSES}

    def __init__(self, data_root: str, split: str = 'train', train_ratio: float = 0.9, **kwargs):
        _check_split('CIFAR10DVSDataset', split, ('train', 'test', 'all'))
        if not 0 < train_ratio < 1:
            raise ValueError(f'train_ratio must be in (0, 1), got {train_ratio}')
        self.split = split
        self.train_ratio = train_ratio
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(ann_file='', data_root=data_root, **kwargs)

    def load_data_list(self):
        data_list = []
        for label, name in enumerate(CIFAR10_CLASSES):
            folder = Path(self.data_root) / name
            if not folder.is_dir():
                raise FileNotFoundError(f'CIFAR10-DVS class folder {folder} not found: data_root must hold the '
                                        f'folders {", ".join(CIFAR10_CLASSES)}')
            files = sorted(folder.glob('*.aedat'), key=lambda f: [int(n) for n in re.findall(r'\d+', f.stem)])
            num_train = int(round(len(files) * self.train_ratio))
            files = {'train': files[:num_train], 'test': files[num_train:], 'all': files}[self.split]
            data_list += [dict(events_path=str(f), event_format='cifar10-dvs', gt_label=label) for f in files]
        return data_list
