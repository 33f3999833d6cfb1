# Meta-SpikeFormer 15M at T=4 with the spiking FPN neck and head, fine-tuned from the T=1 spiking segmentor (as in
# the reference): its fpn_ twin with the neck and head swapped, starting from the spike-fpn T=1 run. The T=1 weights
# load unchanged (T only repeats the input); load_from is where tools/train.py puts that run's last checkpoint.
_base_ = ['./fpn_meta-spikeformer-15m-t4_4xb4-160k_ade20k-512x512.py', '../_base_/models/spike-fpn_spikeformer.py']
model = dict(
    neck=dict(_base_.spike_fpn_neck, in_channels=_base_.model.neck.in_channels,
              out_channels=_base_.model.neck.out_channels),
    decode_head=dict(_base_.spike_fpn_head, in_channels=_base_.model.decode_head.in_channels,
                     channels=_base_.model.decode_head.channels))
load_from = 'work_dirs/spike-fpn_meta-spikeformer-15m_4xb4-160k_ade20k-512x512/iter_160000.pth'
