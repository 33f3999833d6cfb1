# E-SpikeFormer for event cameras, 5.6M, CIFAR10-DVS: T=8 event frames of 128x128, 10 classes, the usual 9:1 split
# of each class in file-index order. The Gesture config's model and recipe with the reference model's default
# D_Norm = 4 (the levels 0..4 divided by 4; the reference has no CIFAR10-DVS model) and, as the scenes are not
# chiral, a random horizontal flip added to the augmentation.
# Data: the unpacked per-class folders, from the environment variable CIFAR10_DVS_ROOT (default data/CIFAR10-DVS).
_base_ = './e-spikeformer-dvs-5.6m-t8_4xb16-adamw-200e_dvs128-gesture.py'

num_frames = 8
model = dict(
    data_preprocessor=dict(num_classes=10),
    backbone=dict(neuron_cfg=dict(norm=4)),
    head=dict(num_classes=10))

dataset_type = 'spikeformer_mm.CIFAR10DVSDataset'
data_root = '{{$CIFAR10_DVS_ROOT:data/CIFAR10-DVS}}'
train_pipeline = [
    dict(type='spikeformer_mm.LoadEvents'),
    dict(type='spikeformer_mm.RandomEventFlip', prob=0.5, direction='horizontal'),
    dict(type='spikeformer_mm.EventDrop'),
    dict(type='spikeformer_mm.RandomEventTranslate', max_shift=16),
    dict(type='spikeformer_mm.RandomTimeCrop', ratio=(0.8, 1.0)),
    dict(type='spikeformer_mm.EventsToFrames', num_frames=num_frames, split_by='number'),
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='train',
                                     pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(type=dataset_type, data_root=data_root, split='test'))
test_dataloader = val_dataloader
