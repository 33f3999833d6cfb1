# E-SpikeFormer 5.1M (V3 Model_Base, SFA D=4, T=1), ImageNet-1k: the reference's recipe
# (Spike-Driven-Transformer-V3 SDT_V3/Classification/Model_Base/Train_Base.md): the LAMB schedule of
# ../_base_/schedules/ at 8 GPUs x 256 images, so lr 4.8e-3 (= 6e-4 x 2048 / 256), with 5 warm-up epochs;
# RandAugment m9 mstd0.5 increasing, bicubic, random erasing 0.25, label smoothing 0.1, no mixup/cutmix.
# The reference trains with AMP: add --amp.
# Inference as D binary spikes per activation: --cfg-options model.backbone.spike_driven=True.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    '../_base_/schedules/imagenet_bs1024_lamb-200e.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(type='spikeformer_mm.ESpikeFormer', arch='5.1M', T=1, out_indices=-1, keep_time=True),
    neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
    head=dict(
        type='spikeformer_mm.SpikingLinearClsHead',
        num_classes=1000,
        in_channels=192,
        neuron_cfg=dict(type='SFANeuron', D=4, norm=1),
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)))

train_dataloader = dict(batch_size=256)
val_dataloader = dict(batch_size=256)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=4.8e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=5, convert_to_iter_based=True),
]
auto_scale_lr = dict(base_batch_size=2048)
