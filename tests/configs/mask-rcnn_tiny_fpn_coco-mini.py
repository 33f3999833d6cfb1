# Test-sized Mask R-CNN over the real E-SpikeFormer 10M config: a tiny backbone, 32-channel neck and heads, small
# images, a few iterations. The data root comes from COCO_ROOT (the tests point it at tests/data/coco_mini,
# which holds val2017 only, so training also reads the val split).
_base_ = '../../configs/mask_rcnn/mask-rcnn_e-spikeformer-10m_fpn_1x_coco.py'

width = 32
model = dict(
    backbone=dict(arch=dict(_delete_=True, embed_dims=[16, 32, 64, 96]), init_cfg=None),
    neck=dict(in_channels=[16, 32, 64, 96], out_channels=width),
    rpn_head=dict(in_channels=width, feat_channels=width),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=width),
        bbox_head=dict(in_channels=width, fc_out_channels=64),
        mask_roi_extractor=dict(out_channels=width),
        mask_head=dict(num_convs=2, in_channels=width, conv_out_channels=width)),
    train_cfg=dict(rpn_proposal=dict(nms_pre=500, max_per_img=200), rcnn=dict(sampler=dict(num=128))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=200)))

scale = (256, 192)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=3, num_workers=0, persistent_workers=False,
    dataset=dict(ann_file='annotations/instances_val2017.json', data_prefix=dict(img='val2017/'),
                 pipeline=train_pipeline))
test_dataloader = dict(num_workers=0, persistent_workers=False, dataset=dict(pipeline=test_pipeline))
val_dataloader = val_cfg = val_evaluator = None  # no validation during the few training iterations

train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=8, val_interval=1000)
param_scheduler = []
optim_wrapper = dict(optimizer=dict(lr=1e-3))  # 8 iterations must show learning
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=4), logger=dict(interval=1))
log_processor = dict(by_epoch=False, window_size=1)  # log each iteration's own loss
randomness = dict(seed=0)
