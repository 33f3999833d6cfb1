# Meta-SpikeFormer 31M, ImageNet-1k at T=1, with the 55M model's recipe.
_base_ = './meta-spikeformer-55m_8xb128-lamb-200e_in1k.py'

model = dict(backbone=dict(arch='31M'), head=dict(in_channels=480))
