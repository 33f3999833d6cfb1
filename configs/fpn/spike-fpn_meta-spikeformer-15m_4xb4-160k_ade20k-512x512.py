# Meta-SpikeFormer 15M (T=1) with the spiking FPN neck and head (spike-driven end to end), ADE20K 512x512, 160k
# iterations: its fpn_ twin with the neck and head swapped.
_base_ = ['./fpn_meta-spikeformer-15m_4xb4-160k_ade20k-512x512.py', '../_base_/models/spike-fpn_spikeformer.py']
model = dict(
    neck=dict(_base_.spike_fpn_neck, in_channels=_base_.model.neck.in_channels,
              out_channels=_base_.model.neck.out_channels),
    decode_head=dict(_base_.spike_fpn_head, in_channels=_base_.model.decode_head.in_channels,
                     channels=_base_.model.decode_head.channels))
