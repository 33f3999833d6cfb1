# COCO 2017 instance segmentation (boxes and masks) for the spiking Mask R-CNN configs.
# The dataset folder comes from the environment variable COCO_ROOT (default data/coco); see data/README.md.
_base_ = 'mmdet::_base_/datasets/coco_instance.py'

data_root = '{{$COCO_ROOT:data/coco}}/'

# The reference recipe's DETR-style multi-scale training (flip, then either a multi-scale resize or a
# resize-crop-resize). The reference first shrank every image with Resize(853, 512), which blurs the up-scaled
# training images (train_pipeline of Spike-Driven-Transformer-V2 detection/configs/sdt_mask_rcnn/
# mask-rcnn_sdt-t_fpn_1x_coco.py and of the V3 SDT_V3/Detection configs); that step is left out.
multi_scales = [(480, 1333), (512, 1333), (544, 1333), (576, 1333), (608, 1333), (640, 1333), (672, 1333),
                (704, 1333), (736, 1333), (768, 1333), (800, 1333)]
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=0.5),
    dict(
        type='RandomChoice',
        transforms=[
            [dict(type='RandomChoiceResize', scales=multi_scales, keep_ratio=True)],
            [
                dict(type='RandomChoiceResize', scales=[(400, 1333), (500, 1333), (600, 1333)], keep_ratio=True),
                dict(type='RandomCrop', crop_type='absolute_range', crop_size=(384, 600),
                     allow_negative_crop=True),
                dict(type='RandomChoiceResize', scales=multi_scales, keep_ratio=True),
            ],
        ]),
    dict(type='PackDetInputs'),
]

# 4 images per GPU, as the reference (2 GPUs: 8 images per iteration for lr 2e-4).
train_dataloader = dict(batch_size=4, dataset=dict(data_root=data_root, pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(data_root=data_root))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
