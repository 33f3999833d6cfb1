"""scikit-learn's handwritten digits (1,797 real 8x8 images, 10 classes) as an mmpretrain dataset."""
import numpy as np
from mmpretrain.datasets import BaseDataset

from spikeformer_mm.registry import DATASETS


@DATASETS.register_module()
class DigitsDataset(BaseDataset):
    """UCI handwritten digits from ``sklearn.datasets.load_digits``: ships inside scikit-learn, no download.

    A fixed, seeded split holds out ``test_fraction`` of the images for ``split='test'``. Each item carries
    ``img``: ``[8, 8, 3]`` uint8 (the 0..16 grey levels scaled to 0..255, repeated over 3 channels) and
    ``gt_label``. Resize in the pipeline for backbones that need larger inputs.
    """

    METAINFO = {'classes': tuple(str(i) for i in range(10))}

    def __init__(self, split: str = 'train', test_fraction: float = 0.25, seed: int = 0, **kwargs):
        if split not in ('train', 'test'):
            raise ValueError(f"DigitsDataset split must be 'train' or 'test', got {split!r}")
        if not 0 < test_fraction < 1:
            raise ValueError(f'test_fraction must be in (0, 1), got {test_fraction}')
        self.split = split
        self.test_fraction = test_fraction
        self.seed = seed
        kwargs.setdefault('test_mode', split == 'test')
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self):
        from sklearn.datasets import load_digits
        digits = load_digits()
        images = np.round(digits.images * (255.0 / 16.0)).astype(np.uint8)
        order = np.random.RandomState(self.seed).permutation(len(images))
        num_test = int(round(len(images) * self.test_fraction))
        indices = order[:num_test] if self.split == 'test' else order[num_test:]
        return [dict(img=np.repeat(images[i][..., None], 3, axis=2), gt_label=int(digits.target[i]))
                for i in indices]
