"""Load a semantic-segmentation label map and reject values outside the dataset's classes."""
import mmcv
import numpy as np
from mmengine import fileio
from mmseg.datasets.transforms import LoadAnnotations

from spikeformer_mm.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadCheckedSegAnnotations(LoadAnnotations):
    """mmseg's ``LoadAnnotations`` that first checks the raw label values, so bad label maps fail loudly.

    mmseg casts label maps to uint8 and shifts them for ``reduce_zero_label``; a stray value then silently
    becomes another class (or wraps around), or later crashes the loss with an index error. Here the raw map
    must hold only:

    * ``0..num_classes`` with ``reduce_zero_label`` (ADE20K: 0 = "other", ignored; 1..150 = the classes);
    * ``0..num_classes-1`` or ``ignore_index`` without it.

    Args:
        num_classes: number of classes the model predicts (150 for ADE20K).
        ignore_index: the "ignore" value of a raw map without ``reduce_zero_label``.
        **kwargs: ``LoadAnnotations`` arguments.

    Adds ``gt_seg_map`` ``[H, W]`` uint8 exactly as ``LoadAnnotations``; raises ``ValueError`` naming the file
    and the offending values. An image without ``seg_map_path`` (inference, e.g. ``mmseg.apis.inference_model``,
    which only strips transforms named ``LoadAnnotations``) passes through without a label map.
    """

    def __init__(self, num_classes: int, ignore_index: int = 255, **kwargs):
        super().__init__(**kwargs)
        self.num_classes = num_classes
        self.ignore_index = ignore_index

    def _load_seg_map(self, results: dict) -> None:
        if 'seg_map_path' not in results:
            return
        super()._load_seg_map(results)
        path = results['seg_map_path']
        raw = mmcv.imfrombytes(fileio.get(path, backend_args=self.backend_args), flag='unchanged',
                               backend=self.imdecode_backend)
        if raw.ndim != 2:
            raise ValueError(f'label map {path} must be a single-channel image, got shape {raw.shape}')
        values = np.unique(raw)
        if self.reduce_zero_label:
            bad = values[(values < 0) | (values > self.num_classes)]
            valid = f'0..{self.num_classes} (0 = ignored background, 1..{self.num_classes} = classes)'
        else:
            bad = values[((values < 0) | (values >= self.num_classes)) & (values != self.ignore_index)]
            valid = f'0..{self.num_classes - 1} or {self.ignore_index} (ignored)'
        if bad.size:
            raise ValueError(f'label map {path} has values {bad[:10].tolist()} outside {valid}; '
                             f'check that it is a {self.num_classes}-class label map')
