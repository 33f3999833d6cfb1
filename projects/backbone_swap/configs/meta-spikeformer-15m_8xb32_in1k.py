# Swap: mmpretrain's stock ResNet-50 ImageNet classifier with Meta-SpikeFormer 15M as its backbone, and the
# spiking pooling and head that read its time axis (as configs/meta_spikeformer/ do); data, schedule and loss stay
# the base's. Images must have H and W divisible by 16 (224 is).
_base_ = 'mmpretrain::resnet/resnet50_8xb32_in1k.py'

model = dict(
    backbone=dict(
        _delete_=True, type='spikeformer_mm.MetaSpikeFormer', arch='15M', T=1, out_indices=-1, keep_time=True),
    neck=dict(_delete_=True, type='spikeformer_mm.SpikingGlobalAvgPool'),
    head=dict(type='spikeformer_mm.SpikingLinearClsHead', in_channels=360))
