"""One image file -> the batch a model's data preprocessor makes of it, for the demos."""
from typing import Tuple

import mmcv
import numpy as np
import torch
from mmengine.structures import BaseDataElement
from torch import nn

# The spiking backbones downsample by 16 (32 with a detector's extra FPN level): a multiple of 32 needs no padding,
# so every stage map covers the whole image.
SIZE_DIVISOR = 32


def resize_to_multiple(image: np.ndarray, short_side: int) -> np.ndarray:
    """Resize a ``[H, W, 3]`` image so that its short side is about ``short_side`` and both sides are multiples of
    :data:`SIZE_DIVISOR` (aspect ratio kept to within one multiple)."""
    if short_side < SIZE_DIVISOR:
        raise ValueError(f'short_side must be >= {SIZE_DIVISOR}, got {short_side}')
    h, w = image.shape[:2]
    scale = short_side / min(h, w)
    size = [max(SIZE_DIVISOR, round(side * scale / SIZE_DIVISOR) * SIZE_DIVISOR) for side in (w, h)]
    return mmcv.imresize(image, tuple(size))


def load_image_batch(model: nn.Module, path: str, short_side: int) -> Tuple[np.ndarray, torch.Tensor]:
    """Read ``path`` (BGR), resize it (:func:`resize_to_multiple`) and pass it through ``model.data_preprocessor``
    (mean/std, channel order) as at test time.

    Returns:
        the resized BGR ``uint8 [H, W, 3]`` image and the model's input ``[1, 3, H, W]``.
    """
    image = resize_to_multiple(mmcv.imread(path), short_side)
    tensor = torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))
    batch = model.data_preprocessor({'inputs': [tensor], 'data_samples': [BaseDataElement()]}, False)
    return image, batch['inputs']
