# Spike-masked autoencoder pre-training of E-SpikeFormer Large 83M (SFA D=4, T=1) on ImageNet-1k: the reference's
# recipe (Spike-Driven-Transformer-V3 SDT_V3/Classification/Model_Large/Train_Large.md and main_pretrain.py,
# model spikmae_12_512): half of the 16x16 patches masked, 8 GPUs x 256 images, AdamW lr 1.2e-3 (= 1.5e-4 x 2048
# / 256), betas (0.9, 0.95), eps 1e-4, weight decay 0.05 on every parameter, 20 warm-up epochs, then cosine to
# 5e-6 at epoch 200; RandomResizedCrop (0.2-1, bicubic) and flips from mmpretrain's MAE data base. The reference
# trains with AMP: add --amp. The last checkpoint initialises
# e-spikeformer-large-83m_8xb196-lamb-100e_in1k.py (see docs/spikmae.md).
_base_ = [
    'mmpretrain::_base_/datasets/imagenet_bs512_mae.py',
    'mmpretrain::_base_/default_runtime.py',
]

model = dict(
    type='spikeformer_mm.SpikMAE',
    mask_ratio=0.5,
    backbone=dict(type='spikeformer_mm.SparseESpikeFormerLarge', arch='83M', T=1),
    neck=dict(type='spikeformer_mm.SpikMAEDecoder', in_channels=512, embed_dims=256, depth=4, num_heads=4,
              mlp_ratio=4.0, patch_size=16),
    head=dict(
        type='spikeformer_mm.SpikMAEPretrainHead',
        norm_pix=True,
        patch_size=16,
        loss=dict(type='PixelReconstructionLoss', criterion='L2')))

# restated: mmengine tags the base's collate_fn with `_scope_`, which mmengine's Runner then passes to the function
train_dataloader = dict(batch_size=256, collate_fn=dict(_delete_=True, type='default_collate'))

optim_wrapper = dict(
    optimizer=dict(type='AdamW', lr=1.5e-4 * 2048 / 256, betas=(0.9, 0.95), eps=1e-4, weight_decay=0.05))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-4, by_epoch=True, begin=0, end=20, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=5e-6, by_epoch=True, begin=20, end=200, convert_to_iter_based=True),
]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=200)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3))
randomness = dict(seed=0, diff_rank_seed=True)
auto_scale_lr = dict(base_batch_size=2048)
