"""Random data-loader batches of uint8 images for classifiers, detectors and segmentors: with ground truth for
training steps (:func:`synthetic_batch`), with image metadata only for inference (:func:`random_batch`).

A batch is what a toolbox's data loader yields after ``pseudo_collate``: ``dict(inputs=[uint8 [3, H, W], ...],
data_samples=[...])``, ready for ``model.data_preprocessor`` / ``model.train_step`` / ``model.test_step``.
"""
import torch

TASKS = {'mmpretrain': 'classifier', 'mmdet': 'detector', 'mmseg': 'segmentor'}


def task_of(default_scope) -> str:
    """The task of a config from its ``default_scope``: ``'classifier'``, ``'detector'`` or ``'segmentor'``."""
    if default_scope not in TASKS:
        raise ValueError(f'cannot tell the task of a config with default_scope={default_scope!r}: expected one of '
                         f'{", ".join(TASKS)} (a config inheriting mmpretrain::, mmdet:: or mmseg:: _base_ files)')
    return TASKS[default_scope]


def _images(batch_size: int, height: int, width: int, generator: torch.Generator) -> list:
    return [torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator)
            for _ in range(batch_size)]


def _classifier_samples(model, batch_size, height, width, generator):
    from mmpretrain.structures import DataSample
    labels = torch.randint(0, model.head.num_classes, (batch_size,), generator=generator)
    return [DataSample(metainfo=dict(img_shape=(height, width))).set_gt_label(int(label)) for label in labels]


def _detector_samples(model, batch_size, height, width, generator, boxes_per_image=5):
    from mmdet.structures import DetDataSample
    from mmdet.structures.mask import BitmapMasks
    from mmengine.structures import InstanceData
    samples = []
    for _ in range(batch_size):
        corners = torch.rand(boxes_per_image, 2, 2, generator=generator) * torch.tensor([width, height])
        x1y1, x2y2 = corners.min(1).values, corners.max(1).values + 8
        bboxes = torch.cat([x1y1, x2y2.minimum(torch.tensor([width, height]))], 1)
        masks = torch.zeros(boxes_per_image, height, width, dtype=torch.uint8)
        for mask, (x1, y1, x2, y2) in zip(masks, bboxes.int().tolist()):
            mask[y1:y2, x1:x2] = 1
        instances = InstanceData(
            bboxes=bboxes,
            labels=torch.randint(0, model.roi_head.bbox_head.num_classes, (boxes_per_image,), generator=generator),
            masks=BitmapMasks(masks.numpy(), height, width))
        shape = (height, width)
        samples.append(DetDataSample(gt_instances=instances, metainfo=dict(
            img_shape=shape, ori_shape=shape, pad_shape=shape, scale_factor=(1.0, 1.0))))
    return samples


def _segmentor_samples(model, batch_size, height, width, generator):
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    shape = (height, width)
    return [SegDataSample(
        gt_sem_seg=PixelData(data=torch.randint(0, model.decode_head.num_classes, (1, *shape), generator=generator)),
        metainfo=dict(img_shape=shape, ori_shape=shape, pad_shape=shape)) for _ in range(batch_size)]


_SAMPLES = dict(classifier=_classifier_samples, detector=_detector_samples, segmentor=_segmentor_samples)


def synthetic_batch(task: str, model, batch_size: int, height: int, width: int, seed: int = 0) -> dict:
    """A random batch for ``model`` (an mmpretrain classifier, mmdet detector or mmseg segmentor).

    Classifiers get one label per image, detectors 5 boxes with labels and box-shaped masks per image, segmentors a
    ``[1, H, W]`` label map; classes are drawn from the model's head. Returns ``dict(inputs, data_samples)``.
    """
    if task not in _SAMPLES:
        raise ValueError(f'task must be one of {", ".join(_SAMPLES)}, got {task!r}')
    generator = torch.Generator().manual_seed(seed)
    inputs = _images(batch_size, height, width, generator)
    return dict(inputs=inputs, data_samples=_SAMPLES[task](model, batch_size, height, width, generator))


def random_batch(scope: str, batch_size: int, shape, generator: torch.Generator) -> dict:
    """An inference batch for a model of the toolbox ``scope`` (``'mmpretrain'``, ``'mmdet'`` or ``'mmseg'``):
    ``batch_size`` random uint8 images ``[3, H, W]`` (``shape = (H, W)``, drawn from ``generator``) and data samples
    holding the image metadata that ``test_step`` reads, no ground truth."""
    H, W = shape
    inputs = _images(batch_size, H, W, generator)
    meta = dict(img_shape=(H, W), ori_shape=(H, W))
    if scope == 'mmdet':
        from mmdet.structures import DetDataSample
        samples = [DetDataSample(metainfo=dict(meta, scale_factor=(1.0, 1.0))) for _ in inputs]
    elif scope == 'mmseg':
        from mmseg.structures import SegDataSample
        samples = [SegDataSample(metainfo=dict(meta, pad_shape=(H, W), padding_size=[0, 0, 0, 0]))
                   for _ in inputs]
    elif scope == 'mmpretrain':
        from mmpretrain.structures import DataSample
        samples = [DataSample(metainfo=meta) for _ in inputs]
    else:
        raise ValueError(f"random inputs need a config with default_scope 'mmpretrain', 'mmdet' or 'mmseg', got "
                         f'{scope!r}; pass --dataset to use the config\'s test_dataloader instead')
    return dict(inputs=inputs, data_samples=samples)
