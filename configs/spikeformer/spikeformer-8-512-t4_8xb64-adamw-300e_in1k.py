# Spikeformer 8-512 on ImageNet-1k at T=4 (the image is repeated 4 times: direct encoding), 224x224.
# Recipe: mmpretrain's Swin ImageNet pipeline (RandAugment, mixup/cutmix, random erasing) and AdamW 300 epochs at
# batch 512, as Spikformer's ImageNet recipe; the Spikeformer paper's own hyper-parameters are not public as code.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    'mmpretrain::_base_/schedules/imagenet_bs1024_adamw_swin.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(type='spikeformer_mm.Spikeformer', arch='8-512', T=4, keep_time=True, drop_path_rate=0.1),
    neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
    head=dict(
        type='spikeformer_mm.SpikingLinearClsHead',
        num_classes=1000,
        in_channels=512,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

optim_wrapper = dict(optimizer=dict(lr=5e-4))
auto_scale_lr = dict(base_batch_size=512)
