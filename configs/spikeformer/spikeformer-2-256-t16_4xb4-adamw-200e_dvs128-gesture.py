# Spikeformer 2-256 (convolutional tokenizer + 2 spatio-temporal-attention blocks) on DVS128 Gesture, T=16 event
# frames of 128x128 (2 polarity channels), 11 classes. The recipe is Spikformer's DVS recipe (AdamW, 200 epochs,
# batch 16): the Spikeformer paper's own hyper-parameters are not public as code.
# Data: the extracted DvsGesture folder (trials_to_*.txt, user*.aedat, user*_labels.csv), from the environment
# variable DVS_GESTURE_ROOT (default data/DvsGesture). Nothing is downloaded.
_base_ = 'mmpretrain::_base_/default_runtime.py'

num_frames = 16
# The data preprocessor stacks the [T, 2, H, W] samples into [B, T, 2, H, W] event frames (no normalisation); the
# backbone reads 5-D inputs as event frames, without repeating them.
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(num_classes=11),
    backbone=dict(type='spikeformer_mm.Spikeformer', arch='2-256', T=num_frames, in_channels=2, keep_time=True),
    neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
    head=dict(type='spikeformer_mm.SpikingLinearClsHead', num_classes=11, in_channels=256, topk=(1,)))

dataset_type = 'spikeformer_mm.DVS128GestureDataset'
data_root = '{{$DVS_GESTURE_ROOT:data/DvsGesture}}'
# Training augments the event stream before integrating it: EventDrop, a random shift and a random time crop (no
# flip: a mirrored left-hand gesture is its right-hand class).
train_pipeline = [
    dict(type='spikeformer_mm.LoadEvents'),
    dict(type='spikeformer_mm.EventDrop'),
    dict(type='spikeformer_mm.RandomEventTranslate', max_shift=16),
    dict(type='spikeformer_mm.RandomTimeCrop', ratio=(0.8, 1.0)),
    dict(type='spikeformer_mm.EventsToFrames', num_frames=num_frames, split_by='number'),
    dict(type='PackInputs'),
]
pipeline = [
    dict(type='spikeformer_mm.LoadEvents'),
    dict(type='spikeformer_mm.EventsToFrames', num_frames=num_frames, split_by='number'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=4,
    num_workers=4,
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1,))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_epochs = 200
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1e-3, weight_decay=0.06),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-2, by_epoch=True, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=10, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=16)
