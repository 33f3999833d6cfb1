# Spikeformer 8-512 (T=4) + mmseg's FPN/FPNHead, ADE20K 512x512, 160k iterations at batch 16.
# The backbone feeds outputs 0, 1, 2, 4: tokenizer stages at strides 2, 4, 8 and the encoder at stride 16
# (channels 64, 128, 256, 512), T-averaged, as ../_base_/models/fpn_spikeformer.py expects.
# ImageNet weights: the last checkpoint of spikeformer-8-512-t4_8xb64-adamw-300e_in1k.py (its `backbone.` part),
# or another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    '../_base_/models/fpn_spikeformer.py', '../_base_/datasets/ade20k_checked.py',
    'mmseg::_base_/default_runtime.py', '../_base_/schedules/spikeformer-seg_adamw-160k.py'
]
crop_size = (512, 512)
model = dict(
    data_preprocessor=dict(size=crop_size, test_cfg=dict(size_divisor=16)),
    backbone=dict(
        _delete_=True,
        type='spikeformer_mm.Spikeformer',
        arch='8-512',
        T=4,
        out_indices=(0, 1, 2, 4),
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/spikeformer-8-512-t4_8xb64-adamw-300e_in1k/epoch_300.pth')),
    neck=dict(in_channels=[64, 128, 256, 512], out_channels=128))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'neck': dict(lr_mult=2.0)}))
