# Meta-SpikeFormer 15M (T=1) + spiking FPN neck and head (spike-driven end to end), ADE20K 512x512, 160k iters.
_base_ = [
    '../_base_/models/spike-fpn_spikeformer.py', '../_base_/datasets/ade20k_checked.py',
    'mmseg::_base_/default_runtime.py', '../_base_/schedules/spikeformer-seg_adamw-160k.py'
]
model = dict(
    backbone=dict(
        arch='15M',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/meta-spikeformer-15m_in1k_backbone.pth')))
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={'neck': dict(lr_mult=2.0)}))
