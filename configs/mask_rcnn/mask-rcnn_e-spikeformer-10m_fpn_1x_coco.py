# E-SpikeFormer 10M (T=1) in mmdet's stock Mask R-CNN (FPN, RPN, box and mask heads), COCO 2017.
# Strides: see ../_base_/models/mask-rcnn_spikeformer_fpn.py.
# ImageNet weights: convert the released checkpoint once,
#   python tools/model_converters/biclab_to_mm.py RELEASED.pth checkpoints/e-spikeformer-10m_in1k_backbone.pth \
#       --family v3 --backbone-only
# or pass another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    '../_base_/models/mask-rcnn_spikeformer_fpn.py', '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/mask-rcnn_adamw_1x.py', 'mmdet::_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='spikeformer_mm.ESpikeFormer',
        arch='10M',
        out_indices=(1, 2, 3, 4),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/e-spikeformer-10m_in1k_backbone.pth')),
    # The reference's 10M detector is narrower: 192-channel FPN and heads, 768-wide box fcs.
    neck=dict(in_channels=[48, 96, 192, 240], out_channels=192),
    rpn_head=dict(in_channels=192, feat_channels=192),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=192),
        bbox_head=dict(in_channels=192, fc_out_channels=768),
        mask_roi_extractor=dict(out_channels=192),
        mask_head=dict(in_channels=192, conv_out_channels=192)))
