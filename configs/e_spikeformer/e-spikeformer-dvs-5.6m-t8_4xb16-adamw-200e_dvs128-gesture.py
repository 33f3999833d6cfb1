# E-SpikeFormer for event cameras, 5.6M (depth 2: 1 + 0 transformer blocks in stages 3 and 4), DVS128 Gesture:
# T=8 event frames of 128x128 (2 polarities), 11 classes. The model is the reference's
# Efficient_Spiking_Transformer_scaling_2_8M_gesture (Spike-Driven-Transformer-V3
# SDT_V3/DVS/Hardvs/models_Q_scaling_dvs.py): integer IF neurons with ceiling 4 divided by D_Norm = 8, the pre-head
# neuron undivided (integers 0..4 into the Linear), 5,604,315 parameters. The recipe is the defaults of the
# reference's SDT_V3/DVS/Hardvs/main_finetune.py (it publishes no Gesture command): AdamW, lr 6e-4 per 256 samples,
# weight decay 0.05, 10 warm-up epochs then cosine to 1e-6, label smoothing 0.1, model EMA 0.999, 200 epochs.
# Augmentation (the reference has none for Gesture): EventDrop, a random shift and a random time crop of the event
# stream; no flip, which would turn a left-hand gesture into its right-hand class.
# Data: the extracted DvsGesture folder, from the environment variable DVS_GESTURE_ROOT (default data/DvsGesture).
_base_ = 'mmpretrain::_base_/default_runtime.py'

num_frames = 8
neuron = dict(type='IntegerIFNeuron', D=4, norm=8)
model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(num_classes=11),  # stacks [T, 2, H, W] samples into [B, T, 2, H, W], unnormalised
    backbone=dict(type='spikeformer_mm.ESpikeFormerDVS', arch='5.6M', T=num_frames, in_channels=2,
                  neuron_cfg=neuron, keep_time=True),
    neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
    head=dict(
        type='spikeformer_mm.SpikingLinearClsHead',
        num_classes=11,
        in_channels=360,
        neuron_cfg=dict(neuron, norm=1),
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, )))

dataset_type = 'spikeformer_mm.DVS128GestureDataset'
data_root = '{{$DVS_GESTURE_ROOT:data/DvsGesture}}'
train_pipeline = [
    dict(type='spikeformer_mm.LoadEvents'),
    dict(type='spikeformer_mm.EventDrop'),
    dict(type='spikeformer_mm.RandomEventTranslate', max_shift=16),
    dict(type='spikeformer_mm.RandomTimeCrop', ratio=(0.8, 1.0)),
    dict(type='spikeformer_mm.EventsToFrames', num_frames=num_frames, split_by='number'),
    dict(type='PackInputs'),
]
test_pipeline = [
    dict(type='spikeformer_mm.LoadEvents'),
    dict(type='spikeformer_mm.EventsToFrames', num_frames=num_frames, split_by='number'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=16,
    num_workers=4,
    dataset=dict(type=dataset_type, data_root=data_root, split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=16,
    num_workers=4,
    dataset=dict(type=dataset_type, data_root=data_root, split='test', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1, ))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_epochs = 200
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=6e-4 * 64 / 256, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=10, end=max_epochs,
         convert_to_iter_based=True),
]
custom_hooks = [dict(type='EMAHook', momentum=1e-3, priority='ABOVE_NORMAL')]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=10)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=64)
