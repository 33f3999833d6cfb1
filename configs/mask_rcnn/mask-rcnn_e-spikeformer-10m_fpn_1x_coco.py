# E-SpikeFormer 10M (T=1, SFA neurons) in mmdet's stock Mask R-CNN, COCO 2017: the 19M config with the 10M
# backbone and, as in the reference's 10M detector, 192-channel FPN and heads and 768-wide box fcs.
# ImageNet weights: as for 19M (`--family v3 --backbone-only`), written to the path below or passed with
# --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = './mask-rcnn_e-spikeformer-19m_fpn_1x_coco.py'

model = dict(
    backbone=dict(arch='10M', init_cfg=dict(checkpoint='checkpoints/e-spikeformer-10m_in1k_backbone.pth')),
    neck=dict(in_channels=[48, 96, 192, 240], out_channels=192),
    rpn_head=dict(in_channels=192, feat_channels=192),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=192),
        bbox_head=dict(in_channels=192, fc_out_channels=768),
        mask_roi_extractor=dict(out_channels=192),
        mask_head=dict(in_channels=192, conv_out_channels=192)))
