"""The scikit-learn digits dataset behind the demo: real images, fixed disjoint splits, mmpretrain pipeline."""
import numpy as np
import pytest

from spikeformer_mm.datasets import DigitsDataset


def test_splits_partition_the_real_data():
    from collections import Counter

    from sklearn.datasets import load_digits

    def items(dataset):
        return Counter((dataset.get_data_info(i)['img'][..., 0].tobytes(), dataset.get_data_info(i)['gt_label'])
                       for i in range(len(dataset)))

    train, test = DigitsDataset(split='train'), DigitsDataset(split='test')
    assert len(train) == 1348 and len(test) == 449
    digits = load_digits()
    full = Counter((np.round(img * (255.0 / 16.0)).astype(np.uint8).tobytes(), int(label))
                   for img, label in zip(digits.images, digits.target))
    assert items(train) + items(test) == full
    assert test.test_mode and not train.test_mode
    assert sorted({test.get_data_info(i)['gt_label'] for i in range(len(test))}) == list(range(10))


def test_pipeline_produces_resized_inputs():
    dataset = DigitsDataset(split='test', pipeline=[dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')])
    item = dataset[0]
    assert tuple(item['inputs'].shape) == (3, 32, 32)
    info = dataset.get_data_info(0)
    assert info['img'].dtype == np.uint8 and info['img'].shape == (8, 8, 3) and info['img'].max() <= 255
    assert int(item['data_samples'].gt_label) == info['gt_label']


@pytest.mark.parametrize('kwargs, message', [(dict(split='val'), "'train' or 'test'"),
                                             (dict(test_fraction=1.5), 'test_fraction')])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DigitsDataset(**kwargs)
