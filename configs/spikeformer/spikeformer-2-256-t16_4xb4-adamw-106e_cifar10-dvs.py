# Spikeformer 2-256 on CIFAR10-DVS, T=16 event frames of 128x128, 10 classes; the usual 9:1 split of each class in
# file-index order (900 train / 100 test). Spikformer's CIFAR10-DVS schedule (106 epochs).
# Data: the unpacked per-class folders (airplane/cifar10_airplane_0.aedat, ...), from the environment variable
# CIFAR10_DVS_ROOT (default data/CIFAR10-DVS). Nothing is downloaded.
_base_ = './spikeformer-2-256-t16_4xb4-adamw-200e_dvs128-gesture.py'

model = dict(data_preprocessor=dict(num_classes=10), head=dict(num_classes=10))

dataset_type = 'spikeformer_mm.CIFAR10DVSDataset'
data_root = '{{$CIFAR10_DVS_ROOT:data/CIFAR10-DVS}}'
# The Gesture config's augmentation plus a horizontal flip (CIFAR10-DVS scenes are not chiral).
train_pipeline = [
    dict(type='spikeformer_mm.LoadEvents'),
    dict(type='spikeformer_mm.RandomEventFlip', prob=0.5, direction='horizontal'),
    dict(type='spikeformer_mm.EventDrop'),
    dict(type='spikeformer_mm.RandomEventTranslate', max_shift=16),
    dict(type='spikeformer_mm.RandomTimeCrop', ratio=(0.8, 1.0)),
    dict(type='spikeformer_mm.EventsToFrames', num_frames=16, split_by='number'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='train',
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader

max_epochs = 106
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
