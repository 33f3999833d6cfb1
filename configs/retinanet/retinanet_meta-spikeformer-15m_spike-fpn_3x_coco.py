# Fully spiking RetinaNet on Meta-SpikeFormer 15M (T=1), COCO 2017 boxes: the reference's one-stage detector
# (Spike-Driven-Transformer-V3 SDT_V3/Detection/configs/sdt_mask_rcnn/retina_sdt-t_fpn_1x_coco.py). An integer
# neuron (0..4) in front of every conv of the FPN and of the RetinaNet head; focal loss for classes, L1 for
# boxes. Recipe: AdamW lr 2e-4, weight decay 0.05 (none on norm layers), 36 epochs, a 4000-iteration linear
# warm-up, then a linear decay to 1/100 of the lr.
#
# Changes from the reference:
# - schedule: the reference follows its warm-up with LinearLR(start_factor=0.01, by_epoch=True, begin=1, end=36),
#   whose end factor defaults to 1.0: after the warm-up the lr drops to 1/100 at epoch 1 and then climbs back to
#   the full lr at epoch 36, the opposite of a decay. Here the second LinearLR goes from 1.0 to 0.01 over the
#   36 epochs.
# - strides: the FPN starts at the stride-8 stage and adds two stride-2 convs on top of the last backbone
#   output, so with stages 3 and 4 both at stride 16 the levels have strides (8, 16, 16, 32, 64), declared here
#   as such (the reference declares 8..128); anchor sizes keep mmdet's 32..512 progression through `base_sizes`.
# - data: boxes only (the reference loaded masks it never used) and the box metric only.
# ImageNet weights: convert the released checkpoint once,
#   python tools/model_converters/biclab_to_mm.py RELEASED.pth checkpoints/meta-spikeformer-15m_in1k_backbone.pth \
#       --family v2 --backbone-only
# or pass another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    'mmdet::_base_/models/retinanet_r50_fpn.py', '../_base_/datasets/coco_instance.py',
    '../_base_/schedules/mask-rcnn_adamw_1x.py', 'mmdet::_base_/default_runtime.py'
]

neuron = dict(type='SFANeuron', D=4, norm=1)
model = dict(
    backbone=dict(
        _delete_=True,
        type='spikeformer_mm.MetaSpikeFormer',
        arch='15M',
        out_indices=(1, 2, 3, 4),
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/meta-spikeformer-15m_in1k_backbone.pth')),
    neck=dict(type='spikeformer_mm.SpikeFPN', in_channels=[64, 128, 256, 360], neuron_cfg=neuron),
    bbox_head=dict(
        type='spikeformer_mm.SpikeRetinaHead',
        neuron_cfg=neuron,
        anchor_generator=dict(strides=[8, 16, 16, 32, 64], base_sizes=[8, 16, 32, 64, 128])))

# Boxes only: no masks loaded, box metric only.
train_pipeline = [
    step if step['type'] != 'LoadAnnotations' else dict(type='LoadAnnotations', with_bbox=True)
    for step in _base_.train_pipeline
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=(1333, 800), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(metric='bbox')
test_evaluator = val_evaluator

max_epochs = 36
train_cfg = dict(max_epochs=max_epochs)
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=4000),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.01, by_epoch=True, begin=0, end=max_epochs),
]
