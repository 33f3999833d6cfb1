# Meta-SpikeFormer 31M fine-tuned at T=4 from its T=1 checkpoint (pass it with --cfg-options load_from=PATH).
_base_ = './meta-spikeformer-55m-t4_8xb24-lamb-50e_in1k.py'

model = dict(backbone=dict(arch='31M'), head=dict(in_channels=480))
