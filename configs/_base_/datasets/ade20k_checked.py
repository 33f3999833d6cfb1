# mmseg's ADE20K settings (512x512 crops, RandomResize(2048, 512) x 0.5-2.0, cat_max_ratio 0.75, flip, photometric
# distortion; whole-image test at short side 512) with the layout and the label values checked:
# CheckedADE20KDataset fails on missing folders/label maps, LoadCheckedSegAnnotations on values outside 0..150.
# The dataset folder comes from the environment variable ADE20K_ROOT (default data/ade/ADEChallengeData2016).
_base_ = 'mmseg::_base_/datasets/ade20k.py'

data_root = '{{$ADE20K_ROOT:data/ade/ADEChallengeData2016}}'
crop_size = (512, 512)
dataset_type = 'spikeformer_mm.CheckedADE20KDataset'
load_annotations = dict(type='spikeformer_mm.LoadCheckedSegAnnotations', num_classes=150, reduce_zero_label=True)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    load_annotations,
    dict(type='RandomResize', scale=(2048, 512), ratio_range=(0.5, 2.0), keep_ratio=True),
    dict(type='RandomCrop', crop_size=crop_size, cat_max_ratio=0.75),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PhotoMetricDistortion'),
    dict(type='PackSegInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(2048, 512), keep_ratio=True),
    load_annotations,
    dict(type='PackSegInputs')
]
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(type='IoUMetric', iou_metrics=['mIoU'])  # reports aAcc, mIoU and mAcc
test_evaluator = val_evaluator
