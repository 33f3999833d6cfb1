# E-SpikeFormer Large 171M (V3 Model_Large spikformer12_768, SFA D=4, T=1), ImageNet-1k fine-tuning: the
# reference's recipe (Spike-Driven-Transformer-V3 SDT_V3/Classification/Model_Large/Train_Large.md): the LAMB
# schedule of ../_base_/schedules/ (8 GPUs x 128 images, lr 2.4e-3 = 6e-4 x 1024 / 256, 10 warm-up epochs, cosine
# to 1e-6) for 150 epochs, with layer-wise lr decay 0.75 over the 12 blocks, drop path 0.1, mixup 0.8, cutmix 1.0,
# random erasing 0.25, label smoothing 0.1, model EMA (decay 0.99996). The backbone starts from the last
# checkpoint of the spike-masked-autoencoder pre-training spikmae_e-spikeformer-large-171m_8xb256-adamw-200e_in1k.py
# (its `backbone.` part, which loads strictly; docs/spikmae.md), or another path:
# --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs64_swin_224.py',
    '../_base_/schedules/imagenet_bs1024_lamb-200e.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    type='ImageClassifier',
    backbone=dict(
        type='spikeformer_mm.ESpikeFormerLarge', arch='171M', T=1, out_indices=-1, keep_time=True,
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', prefix='backbone.',
                      checkpoint='work_dirs/spikmae_e-spikeformer-large-171m_8xb256-adamw-200e_in1k/epoch_200.pth')),
    neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
    head=dict(
        type='spikeformer_mm.SpikingDistillClsHead',
        num_classes=1000,
        in_channels=768,
        with_kd=True,
        loss=dict(type='LabelSmoothLoss', label_smooth_val=0.1, mode='original'),
        topk=(1, 5)),
    train_cfg=dict(augments=[dict(type='Mixup', alpha=0.8), dict(type='CutMix', alpha=1.0)]))

train_dataloader = dict(batch_size=128)
val_dataloader = dict(batch_size=128)
test_dataloader = val_dataloader

optim_wrapper = dict(
    constructor='LearningRateDecayOptimWrapperConstructor', paramwise_cfg=dict(layer_decay_rate=0.75))
custom_hooks = [dict(type='EMAHook', momentum=4e-5, priority='ABOVE_NORMAL')]
train_cfg = dict(max_epochs=150)
