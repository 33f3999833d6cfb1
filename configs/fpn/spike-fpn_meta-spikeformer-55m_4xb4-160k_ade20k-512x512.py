# Meta-SpikeFormer 55M (T=1): widths [128, 256, 512, 640], neck in [64, 128, 256, 640] -> 256.
_base_ = './spike-fpn_meta-spikeformer-15m_4xb4-160k_ade20k-512x512.py'
model = dict(
    backbone=dict(
        arch='55M',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/meta-spikeformer-55m_in1k_backbone.pth')),
    neck=dict(in_channels=[64, 128, 256, 640], out_channels=256),
    decode_head=dict(in_channels=[256, 256, 256, 256]))
