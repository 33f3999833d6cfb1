# Meta-SpikeFormer 55M (T=1) in mmdet's stock Mask R-CNN (FPN, RPN, box and mask heads), COCO 2017: the 15M config
# with the 55M backbone. ImageNet weights: as there (`--family v2 --backbone-only`), written to the path below or
# passed with --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = './mask-rcnn_meta-spikeformer-15m_fpn_1x_coco.py'

model = dict(
    backbone=dict(arch='55M', init_cfg=dict(checkpoint='checkpoints/meta-spikeformer-55m_in1k_backbone.pth')),
    neck=dict(in_channels=[128, 256, 512, 640]))
