# AdamW with a cosine decay over 2 epochs of Fashion-MNIST, one warm-up epoch, as a small-data version of the
# references' AdamW/LAMB + cosine recipes (weight decay 0.05, no decay on norms and biases), on mmpretrain's runtime.
_base_ = 'mmpretrain::_base_/default_runtime.py'

max_epochs = 2
optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
    paramwise_cfg=dict(norm_decay_mult=0.0, bias_decay_mult=0.0))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=True, end=1, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, begin=1, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=1)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=100), checkpoint=dict(interval=1, max_keep_ckpts=1))
randomness = dict(seed=0)
# firing rates and energy per image on 2,000 test images, at every validation and test (tools/test.py on the
# final checkpoint gives those of the trained weights)
custom_hooks = [dict(type='spikeformer_mm.EnergyHook', max_images=2000, plot=False)]
