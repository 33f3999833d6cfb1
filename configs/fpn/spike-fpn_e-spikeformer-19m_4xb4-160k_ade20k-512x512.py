# E-SpikeFormer 19M (SFA, T=1) + spiking FPN neck and head (spike-driven end to end), ADE20K 512x512, 160k iters.
# No layer scale is added to the pre-trained blocks (the reference's 1e-6 layer scales switched them off).
# ImageNet backbone weights: tools/model_converters/biclab_to_mm.py SRC DST --family v3 --backbone-only
_base_ = [
    '../_base_/models/spike-fpn_spikeformer.py', '../_base_/datasets/ade20k_checked.py',
    'mmseg::_base_/default_runtime.py', '../_base_/schedules/spikeformer-seg_adamw-160k.py'
]
model = dict(
    backbone=dict(
        type='spikeformer_mm.ESpikeFormer',
        arch='19M',
        init_cfg=dict(type='Pretrained', checkpoint='checkpoints/e-spikeformer-19m_in1k_backbone.pth')))
