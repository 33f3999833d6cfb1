# A tiny Meta-SpikeFormer (embed dims 16/32/64/96, T=1) trained from scratch on scikit-learn's handwritten digits
# (real 8x8 scans, upscaled to 32x32) on CPU, no download:
#   python tools/train.py configs/meta_spikeformer/meta-spikeformer-tiny_digits.py
# Top-1 on the held-out 449 test digits: configs/meta_spikeformer/README.md.
# Two departures from the ImageNet models, both because this network is tiny: LIF threshold 0.25 instead of 1 and
# one attention head instead of 8. With threshold 1 (a T=1 LIF fires only for inputs >= 2) and 8-wide heads over
# 2x2 tokens, Q(K^T V) never reaches the attention neuron's threshold, the projection's BatchNorms see constant
# input and the gradients explode (~1e30); the network then stays at chance for hundreds of steps.
_base_ = ['mmpretrain::_base_/default_runtime.py']

neuron = dict(type='MultiStepLIF', v_threshold=0.25)

model = dict(
    type='ImageClassifier',
    data_preprocessor=dict(num_classes=10, mean=[127.5] * 3, std=[127.5] * 3),
    backbone=dict(type='spikeformer_mm.MetaSpikeFormer', arch=dict(embed_dims=[16, 32, 64, 96], num_heads=1),
                  T=1, neuron_cfg=neuron, keep_time=True),
    neck=dict(type='spikeformer_mm.SpikingGlobalAvgPool'),
    head=dict(type='spikeformer_mm.SpikingLinearClsHead', num_classes=10, in_channels=96, neuron_cfg=neuron,
              topk=(1,)))

train_pipeline = [
    dict(type='Resize', scale=(32, 32), interpolation='bilinear'),
    dict(type='PackInputs'),
]
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    dataset=dict(type='spikeformer_mm.DigitsDataset', split='train', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=True))
val_dataloader = dict(
    batch_size=150,
    num_workers=0,
    dataset=dict(type='spikeformer_mm.DigitsDataset', split='test', pipeline=train_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False))
val_evaluator = dict(type='Accuracy', topk=(1,))
test_dataloader = val_dataloader
test_evaluator = val_evaluator

max_epochs = 10
# value clipping keeps Adam's second moments finite if a batch still produces exploding gradients
optim_wrapper = dict(optimizer=dict(type='AdamW', lr=2e-3, weight_decay=0.05),
                     clip_grad=dict(type='value', clip_value=1.0))
param_scheduler = [dict(type='CosineAnnealingLR', eta_min=1e-5, by_epoch=True, T_max=max_epochs,
                        convert_to_iter_based=True)]
train_cfg = dict(by_epoch=True, max_epochs=max_epochs, val_interval=max_epochs)
val_cfg = dict()
test_cfg = dict()
default_hooks = dict(logger=dict(interval=20), checkpoint=dict(interval=max_epochs))
randomness = dict(seed=0)
