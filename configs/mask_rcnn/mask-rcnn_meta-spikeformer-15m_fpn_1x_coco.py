# Meta-SpikeFormer 15M (T=1) in mmdet's stock Mask R-CNN (FPN, RPN, box and mask heads), COCO 2017.
# Strides: see ../_base_/models/mask-rcnn_spikeformer_fpn.py.
# ImageNet weights: convert the released checkpoint once,
#   python tools/model_converters/biclab_to_mm.py RELEASED.pth checkpoints/meta-spikeformer-15m_in1k_backbone.pth \
#       --family v2 --backbone-only
# or pass another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    '../_base_/models/mask-rcnn_spikeformer_fpn.py', '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/mask-rcnn_adamw_1x.py', 'mmdet::_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='spikeformer_mm.MetaSpikeFormer',
        arch='15M',
        out_indices=(1, 2, 3, 4),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/meta-spikeformer-15m_in1k_backbone.pth')),
    neck=dict(in_channels=[64, 128, 256, 360]))
