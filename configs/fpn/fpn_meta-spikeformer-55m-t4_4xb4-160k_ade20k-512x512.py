# Meta-SpikeFormer 55M at T=4, fine-tuned from the T=1 segmentor's last checkpoint (written there by tools/train.py).
_base_ = './fpn_meta-spikeformer-55m_4xb4-160k_ade20k-512x512.py'
model = dict(backbone=dict(T=4, init_cfg=None))
load_from = 'work_dirs/fpn_meta-spikeformer-55m_4xb4-160k_ade20k-512x512/iter_160000.pth'
custom_hooks = [dict(type='spikeformer_mm.LoadFromCheckHook')]  # a missing load_from: says which run makes it
