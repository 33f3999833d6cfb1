# Meta-SpikeFormer 55M at T=4 with the spiking FPN neck and head: its fpn_ twin with the neck and head swapped,
# fine-tuned from the spike-fpn T=1 run's last checkpoint (written there by tools/train.py).
_base_ = ['./fpn_meta-spikeformer-55m-t4_4xb4-160k_ade20k-512x512.py', '../_base_/models/spike-fpn_spikeformer.py']
model = dict(
    neck=dict(_base_.spike_fpn_neck, in_channels=_base_.model.neck.in_channels,
              out_channels=_base_.model.neck.out_channels),
    decode_head=dict(_base_.spike_fpn_head, in_channels=_base_.model.decode_head.in_channels,
                     channels=_base_.model.decode_head.channels))
load_from = 'work_dirs/spike-fpn_meta-spikeformer-55m_4xb4-160k_ade20k-512x512/iter_160000.pth'
