# E-SpikeFormer Large 83M (V3 Model_Large spikformer12_512, with the RepConv branch), ImageNet-1k: the
# reference's last ("distillation") stage (ARCH_SPEC §3.2): 8 GPUs x 196 images, LAMB lr 6.125e-3
# (= 1e-3 x 1568 / 256), 100 epochs, mixup 0.5, cutmix 1.0; warm-up is not stated there (10 epochs kept).
# Not reproduced: the hard distillation from a CAFormer-B36 teacher; both heads train on the labels.
_base_ = './e-spikeformer-large-171m_8xb128-lamb-150e_in1k.py'

model = dict(
    backbone=dict(arch='83M'),
    head=dict(in_channels=512),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.5), dict(type='CutMix', alpha=1.0)]))

train_dataloader = dict(batch_size=196)
val_dataloader = dict(batch_size=196)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=6.125e-3))
max_epochs = 100
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=10, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=10, end=max_epochs,
         convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=max_epochs)
auto_scale_lr = dict(base_batch_size=1568)
