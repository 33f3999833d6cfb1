# The T=4 stage of the Meta-SpikeFormer recipe (pre-train at T=1, fine-tune at T=4): the fully spiking T=1
# detector, trained first with mask-rcnn_meta-spikeformer-15m_spike-fpn_1x_coco.py, fine-tuned with 4 time steps.
# The backbone repeats the image 4 times and averages its outputs over time; the neck and heads are unchanged.
# Schedule after the reference's fine-tune-from-COCO config: AdamW lr 2.5e-5, 5 epochs, warm-up, then linear
# decay to 1/100. Pass the T=1 checkpoint if it is elsewhere: --cfg-options load_from=PATH.
_base_ = './mask-rcnn_meta-spikeformer-15m_spike-fpn_1x_coco.py'

load_from = 'work_dirs/mask-rcnn_meta-spikeformer-15m_spike-fpn_1x_coco/epoch_12.pth'
custom_hooks = [dict(type='spikeformer_mm.LoadFromCheckHook')]  # a missing load_from: says which run makes it
model = dict(backbone=dict(T=4, init_cfg=None))
train_cfg = dict(max_epochs=5)
optim_wrapper = dict(optimizer=dict(lr=2.5e-5))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.001, by_epoch=False, begin=0, end=1000),
    dict(type='LinearLR', start_factor=1.0, end_factor=0.01, by_epoch=True, begin=0, end=5),
]
