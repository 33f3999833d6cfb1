# The reference detection recipe (V3 Detection configs): AdamW lr 2e-4 for 8 images per iteration, weight decay
# 0.05 (none on norm layers: the reference's `'norm'` key matched no parameter), 12 epochs, 1000-iteration
# linear warm-up, lr x0.1 after epochs 8 and 11.
_base_ = 'mmdet::_base_/schedules/schedule_1x.py'

param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='MultiStepLR', begin=0, end=12, by_epoch=True, milestones=[8, 11], gamma=0.1),
]
optim_wrapper = dict(
    optimizer=dict(_delete_=True, type='AdamW', lr=2e-4, betas=(0.9, 0.999), weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0))
auto_scale_lr = dict(base_batch_size=8)
