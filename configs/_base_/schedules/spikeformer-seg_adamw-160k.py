# The reference segmentation recipe (Spike-Driven-Transformer-V3
# SDT_V3/Segmentation/configs/EFSDTv2/fpn_sdtv3_512x512_19M_ade20k.py): AdamW lr 1e-3, betas (0.9, 0.999), weight
# decay 0.005, decode head at 2x lr; linear warm-up over 1,500 iterations from 1e-6 x lr, then poly decay
# (power 1) to 160k.
_base_ = 'mmseg::_base_/schedules/schedule_160k.py'

optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='AdamW', lr=1e-3, betas=(0.9, 0.999), weight_decay=0.005),
    paramwise_cfg=dict(custom_keys={'decode_head': dict(lr_mult=2.0)}))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-6, by_epoch=False, begin=0, end=1500),
    dict(type='PolyLR', power=1.0, eta_min=0.0, by_epoch=False, begin=1500, end=160000)
]
train_cfg = dict(val_interval=8000)
default_hooks = dict(checkpoint=dict(interval=8000, max_keep_ckpts=3))
