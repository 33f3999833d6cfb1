# Meta-SpikeFormer 55M, ImageNet-1k at T=1: the reference's pre-training recipe (Spike-Driven-Transformer-V2
# classification/train.sh): 8 GPUs x 128 images and the LAMB schedule of ../_base_/schedules/ as it stands
# (200 epochs as in that script; its eval.sh loads checkpoint-299, which implies 300 were run), with RandAugment
# m9 mstd0.5 increasing, bicubic, random erasing 0.25, label smoothing 0.1, no mixup/cutmix.
# The reference trains with AMP: add --amp to tools/train.py.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    '../_base_/schedules/imagenet_bs1024_lamb-200e.py',
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
