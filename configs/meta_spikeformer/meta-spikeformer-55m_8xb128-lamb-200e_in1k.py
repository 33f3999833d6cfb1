# Meta-SpikeFormer 55M, ImageNet-1k at T=1: the paper's pre-training recipe (ARCH_SPEC §2.6).
# 8 GPUs x 128 images, LAMB lr 2.4e-3 (= 6e-4 x 1024 / 256), weight decay 0.05 off 1-D parameters, 10 warm-up
# epochs, cosine to 1e-6 per iteration, 200 epochs (the reference's script; its eval script implies 300),
# RandAugment m9 mstd0.5 increasing, bicubic, random erasing 0.25, label smoothing 0.1, no mixup/cutmix.
# The reference trains with AMP: add --amp to tools/train.py.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(type='spikeformer_mm.MetaSpikeFormer', arch='55M', T=1, out_indices=-1, keep_time=True),
    neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
    head=dict(
        type='spikeformer_mm.SpikingLinearClsHead',
        num_classes=1000,
        in_channels=640,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(
    optimizer=dict(type='Lamb', lr=2.4e-3, weight_decay=0.05, trust_clip=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))
warmup_epochs = 10
max_epochs = 200
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=warmup_epochs, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=warmup_epochs, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
