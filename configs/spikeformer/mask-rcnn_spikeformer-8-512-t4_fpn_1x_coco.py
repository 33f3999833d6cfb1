# Spikeformer 8-512 (T=4) in mmdet's stock Mask R-CNN (FPN, RPN, box and mask heads), COCO 2017.
# The backbone feeds outputs 1-4: tokenizer stages at strides 4, 8, 16 and the encoder at stride 16 (channels
# 128, 256, 512, 512), T-averaged; strides as declared in ../_base_/models/mask-rcnn_spikeformer_fpn.py.
# ImageNet weights: the last checkpoint of spikeformer-8-512-t4_8xb64-adamw-300e_in1k.py (its `backbone.` part),
# or another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    '../_base_/models/mask-rcnn_spikeformer_fpn.py', '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/mask-rcnn_adamw_1x.py', 'mmdet::_base_/default_runtime.py'
]

model = dict(
    backbone=dict(
        _delete_=True,
        type='spikeformer_mm.Spikeformer',
        arch='8-512',
        T=4,
        out_indices=(1, 2, 3, 4),
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/spikeformer-8-512-t4_8xb64-adamw-300e_in1k/epoch_300.pth')),
    neck=dict(in_channels=[128, 256, 512, 512]))
