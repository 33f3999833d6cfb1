# E-SpikeFormer 19M (V3 Model_Base), ImageNet-1k with the 5.1M model's recipe (the reference trains every
# Model_Base variant with the same script).
_base_ = './e-spikeformer-5.1m_8xb256-lamb-200e_in1k.py'

model = dict(backbone=dict(arch='19M'), head=dict(in_channels=360))
