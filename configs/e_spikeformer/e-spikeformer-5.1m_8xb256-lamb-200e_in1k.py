# E-SpikeFormer 5.1M (V3 Model_Base, SFA D=4, T=1), ImageNet-1k: the reference's recipe (ARCH_SPEC §3.1,
# Model_Base/Train_Base.md): 8 GPUs x 256 images, LAMB lr 4.8e-3 (= 6e-4 x 2048 / 256), weight decay 0.05 off
# 1-D parameters, 5 warm-up epochs, cosine to 1e-6 per iteration, 200 epochs, RandAugment m9 mstd0.5 increasing,
# bicubic, random erasing 0.25, label smoothing 0.1, no mixup/cutmix. The reference trains with AMP: add --amp.
# Inference as D binary spikes per activation: --cfg-options model.backbone.spike_driven=True.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
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

optim_wrapper = dict(
    optimizer=dict(type='Lamb', lr=4.8e-3, weight_decay=0.05, trust_clip=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))
warmup_epochs = 5
max_epochs = 200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=2048)
