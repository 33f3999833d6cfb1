# Fully spiking Cascade Mask R-CNN on E-SpikeFormer 19M (T=1, SFA neurons), COCO 2017: the V3 reference's cascade
# detector (Spike-Driven-Transformer-V3 SDT_V3/Detection/configs/sdeformer_mask_rcnn/
# cascade_mask-rcnn_sdeformer_fpn_1x_coco.py). Three box stages, each a spiking 4-conv + 1-fc head regressing
# decoded boxes with a GIoU loss; an integer neuron (0..4) in front of every conv and fc of the neck and heads.
# Recipe: AdamW lr 2e-4, weight decay 0.05 (none on norm layers), 36 epochs, lr x0.1 after epochs 27 and 33.
#
# Changes from the reference:
# - strides: the backbone's stages 3 and 4 share stride 16, so the FPN levels have strides (4, 8, 16, 16, 32),
#   declared here as such (the reference declares 4..64 and RoIAlign 4..32, which misplaces the two coarsest
#   levels); anchor sizes keep mmdet's 32..512 progression through `base_sizes`.
# - the box heads' norm is BN (the reference's SyncBN needs a distributed GPU run); use SyncBN on GPUs with
#   --cfg-options model.roi_head.bbox_head.0.norm_cfg.type=SyncBN (and .1, .2).
# ImageNet weights: convert the released checkpoint once,
#   python tools/model_converters/biclab_to_mm.py RELEASED.pth checkpoints/e-spikeformer-19m_in1k_backbone.pth \
#       --family v3 --backbone-only
# or pass another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    'mmdet::_base_/models/cascade-mask-rcnn_r50_fpn.py', '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/mask-rcnn_adamw_1x.py', 'mmdet::_base_/default_runtime.py'
]

fpn_strides = [4, 8, 16, 16, 32]
neuron = dict(type='SFANeuron', D=4, norm=1)


def giou_stage(stds):
    """One cascade stage: a spiking 4-conv + 1-fc box head regressing decoded boxes (GIoU), its own coder stds."""
    return dict(
        type='spikeformer_mm.SpikeConvFCBBoxHead',
        num_shared_convs=4,
        num_shared_fcs=1,
        in_channels=256,
        conv_out_channels=256,
        fc_out_channels=1024,
        roi_feat_size=7,
        num_classes=80,
        bbox_coder=dict(type='DeltaXYWHBBoxCoder', target_means=[0., 0., 0., 0.], target_stds=stds),
        reg_class_agnostic=False,
        reg_decoded_bbox=True,
        norm_cfg=dict(type='BN', requires_grad=True),
        loss_cls=dict(type='CrossEntropyLoss', use_sigmoid=False, loss_weight=1.0),
        loss_bbox=dict(type='GIoULoss', loss_weight=10.0),
        neuron_cfg=neuron)


model = dict(
    backbone=dict(
        _delete_=True,
        type='spikeformer_mm.ESpikeFormer',
        arch='19M',
        out_indices=(1, 2, 3, 4),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/e-spikeformer-19m_in1k_backbone.pth')),
    neck=dict(type='spikeformer_mm.SpikeFPN', in_channels=[64, 128, 256, 360], num_outs=5,
              add_extra_convs=False, neuron_cfg=neuron),
    rpn_head=dict(type='spikeformer_mm.SpikeRPNHead', neuron_cfg=neuron,
                  anchor_generator=dict(strides=fpn_strides, base_sizes=[4, 8, 16, 32, 64])),
    roi_head=dict(
        bbox_roi_extractor=dict(featmap_strides=fpn_strides[:4]),
        bbox_head=[
            giou_stage([0.1, 0.1, 0.2, 0.2]),
            giou_stage([0.05, 0.05, 0.1, 0.1]),
            giou_stage([0.033, 0.033, 0.067, 0.067]),
        ],
        mask_roi_extractor=dict(featmap_strides=fpn_strides[:4]),
        mask_head=dict(type='spikeformer_mm.SpikeFCNMaskHead', neuron_cfg=neuron)))

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=max_epochs, by_epoch=True, milestones=[27, 33], gamma=0.1),
]
