# E-SpikeFormer 10M (SFA, T=1): widths [48, 96, 192, 240], neck in [24, 48, 96, 240] -> 128.
_base_ = './spike-fpn_e-spikeformer-19m_4xb4-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch='10M',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/e-spikeformer-10m_in1k_backbone.pth')),
    neck=dict(in_channels=[24, 48, 96, 240]))
train_cfg = dict(val_interval=2500)
