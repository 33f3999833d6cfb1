# Swap: mmdet's stock Mask R-CNN (ResNet-50, FPN, 1x) with Meta-SpikeFormer 15M as its backbone; nothing else
# changes but the strides and widths the swap implies (docs/architecture.md, "Feature strides in dense models").
# Backbone outputs 1-4: channels 64, 128, 256, 360 at strides 4, 8, 16, 16 (stages 3 and 4 share stride 16). The
# FPN adds a fifth level by a stride-2 max-pool: levels at strides 4, 8, 16, 16, 32.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

model = dict(
    backbone=dict(
        _delete_=True,
        type='spikeformer_mm.MetaSpikeFormer',
        arch='15M',
        T=1,
        out_indices=(1, 2, 3, 4),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/meta-spikeformer-15m_in1k_backbone.pth')),
    neck=dict(in_channels=[64, 128, 256, 360]),
    rpn_head=dict(anchor_generator=dict(strides=[4, 8, 16, 16, 32], base_sizes=[4, 8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=[4, 8, 16, 16]),
        mask_roi_extractor=dict(featmap_strides=[4, 8, 16, 16])))
