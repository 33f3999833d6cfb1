# Swap: mmseg's stock UperNet (ResNet-50, ADE20K 512x512, 160k) with Meta-SpikeFormer 15M as its backbone;
# nothing else changes but what the swap implies (docs/architecture.md, "Feature strides in dense models").
# Backbone outputs 1-4: channels 64, 128, 256, 360 at strides 4, 8, 16, 16. UPerHead declares no strides (it
# resizes every level to the first); the auxiliary FCNHead reads input 2 (256 channels, stride 16).
# model.pretrained names the base's ResNet weights: None here. The backbone needs H and W divisible by 16: the
# whole-image test pads to a multiple of 16 (removed again before the logits are resized to the image).
_base_ = 'mmseg::upernet/upernet_r50_4xb4-160k_ade20k-512x512.py'

model = dict(
    pretrained=None,
    data_preprocessor=dict(test_cfg=dict(size_divisor=16)),
    backbone=dict(
        _delete_=True,
        type='spikeformer_mm.MetaSpikeFormer',
        arch='15M',
        T=1,
        out_indices=(1, 2, 3, 4),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/meta-spikeformer-15m_in1k_backbone.pth')),
    decode_head=dict(in_channels=[64, 128, 256, 360]),
    auxiliary_head=dict(in_channels=256))
