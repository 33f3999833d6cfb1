# The ImageNet-1k training recipe of the Meta-SpikeFormer and E-SpikeFormer references (Spike-Driven-Transformer-V2
# classification/train.sh and main_finetune.py; Spike-Driven-Transformer-V3 SDT_V3/Classification/Model_Base/
# Train_Base.md): timm's LAMB with trust_clip, lr 2.4e-3 for 1024 images per iteration (the references' base lr
# 6e-4 x batch / 256), weight decay 0.05 except on 1-D parameters (norm weights and biases), a linear warm-up over
# 10 epochs from lr x 1e-3, then cosine to 1e-6, both updated every iteration; 200 epochs, validation every epoch.
# A config that trains longer or shorter sets train_cfg.max_epochs: the cosine stage has no `end`, so mmengine's
# Runner ends it at max_epochs. A config with another warm-up restates param_scheduler.
optim_wrapper = dict(
    optimizer=dict(type='Lamb', lr=2.4e-3, weight_decay=0.05, trust_clip=True),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0, flat_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=10, convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=200, val_interval=1)
val_cfg = dict()
test_cfg = dict()
auto_scale_lr = dict(base_batch_size=1024)
