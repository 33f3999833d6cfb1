# Meta-SpikeFormer 15M at T=4, fine-tuned from the T=1 segmentor (as in the reference). The T=1 weights load
# unchanged (T only repeats the input); load_from is where tools/train.py puts the T=1 run's last checkpoint.
_base_ = './spike-fpn_meta-spikeformer-15m_4xb4-160k_ade20k-512x512.py'
model = dict(backbone=dict(T=4, init_cfg=None))
load_from = 'work_dirs/spike-fpn_meta-spikeformer-15m_4xb4-160k_ade20k-512x512/iter_160000.pth'
