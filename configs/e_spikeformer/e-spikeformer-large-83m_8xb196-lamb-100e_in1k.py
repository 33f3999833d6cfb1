# E-SpikeFormer Large 83M (V3 Model_Large spikformer12_512, with the RepConv branch), ImageNet-1k: the
# reference's last ("distillation") stage (Spike-Driven-Transformer-V3 SDT_V3/Classification/Model_Large/
# Train_Large.md): 8 GPUs x 196 images, LAMB lr 6.125e-3 (= 1e-3 x 1568 / 256), 5 warm-up epochs, 100 epochs,
# mixup 0.5, cutmix 1.0. Both heads train on the labels here; the reference's distillation of head_kd from a
# CAFormer-B36 teacher is e-spikeformer-large-83m-kd_8xb196-lamb-100e_in1k.py. The backbone starts from the last
# checkpoint of spikmae_e-spikeformer-large-83m_8xb256-adamw-200e_in1k.py (the reference pre-trains this size).
_base_ = './e-spikeformer-large-171m_8xb128-lamb-150e_in1k.py'

model = dict(
    backbone=dict(
        arch='83M',
        init_cfg=dict(checkpoint='work_dirs/spikmae_e-spikeformer-large-83m_8xb256-adamw-200e_in1k/epoch_200.pth')),
    head=dict(in_channels=512),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.5), dict(type='CutMix', alpha=1.0)]))

train_dataloader = dict(batch_size=196)
val_dataloader = dict(batch_size=196)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=6.125e-3))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=5, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=100)
auto_scale_lr = dict(base_batch_size=1568)
