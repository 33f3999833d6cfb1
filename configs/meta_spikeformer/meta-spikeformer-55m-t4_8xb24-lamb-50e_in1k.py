# Meta-SpikeFormer 55M fine-tuned at T=4 from a T=1 checkpoint (Spike-Driven-Transformer-V2
# classification/train_finetune_from_t1_to_t4.sh): 8 GPUs x 24 images, LAMB lr 1.5e-5 (= 2e-5 x 192 / 256),
# 5 warm-up epochs, cosine to 1e-6, 50 epochs. Pass the T=1 checkpoint (trained here, or converted with
# tools/model_converters/biclab_to_mm.py):
#   python tools/train.py THIS_CONFIG --cfg-options load_from=work_dirs/<t1 run>/epoch_200.pth
# Without a teacher; the reference's hard distillation is meta-spikeformer-55m-t4-kd_8xb24-lamb-50e_in1k.py.
_base_ = './meta-spikeformer-55m_8xb128-lamb-200e_in1k.py'

model = dict(backbone=dict(T=4))
train_dataloader = dict(batch_size=24)
val_dataloader = dict(batch_size=24)
test_dataloader = val_dataloader

optim_wrapper = dict(optimizer=dict(lr=1.5e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=1e-3, by_epoch=True, end=5, convert_to_iter_based=True),
    dict(type='CosineAnnealingLR', eta_min=1e-6, by_epoch=True, begin=5, convert_to_iter_based=True),
]
train_cfg = dict(max_epochs=50)
auto_scale_lr = dict(base_batch_size=192)
load_from = None  # the T=1 checkpoint: --cfg-options load_from=PATH
