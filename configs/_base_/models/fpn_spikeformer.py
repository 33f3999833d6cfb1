# Semantic-FPN (mmseg's FPN neck + FPNHead) over a spiking backbone; the final config picks the backbone.
# The backbone feeds outputs 0, 1, 2, 4 (strides 2, 4, 8, 16; stage 3 also has stride 16 and is skipped, as in
# the V3 reference), channels [C0/2, C0, C1, C3], T-averaged to [B, C, H, W]. The logits come out at stride 2.
# The backbones need H and W divisible by 16: training crops are padded to 512x512, test images to a multiple of 16
# (cropped off again before the logits are resized to the image). Neck widths default to 15M's and 19M's.
_base_ = 'mmseg::_base_/models/fpn_r50.py'

model = dict(
    data_preprocessor=dict(size=(512, 512), test_cfg=dict(size_divisor=16)),
    pretrained=None,  # the backbone's init_cfg loads ImageNet weights; nothing is downloaded
    backbone=dict(_delete_=True, type='spikeformer_mm.MetaSpikeFormer', arch='15M', T=1, out_indices=(0, 1, 2, 4)),
    neck=dict(in_channels=[32, 64, 128, 360], out_channels=128),
    decode_head=dict(in_channels=[128, 128, 128, 128], feature_strides=[2, 4, 8, 16], num_classes=150))
