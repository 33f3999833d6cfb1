# E-SpikeFormer 19M (T=1, SFA neurons) in mmdet's stock Mask R-CNN (FPN, RPN, box and mask heads), COCO 2017:
# the Meta-SpikeFormer 15M config (same stage widths 64/128/256/360, same heads, data and schedule) with the
# E-SpikeFormer backbone. ImageNet weights: convert the released checkpoint once,
#   python tools/model_converters/biclab_to_mm.py RELEASED.pth checkpoints/e-spikeformer-19m_in1k_backbone.pth \
#       --family v3 --backbone-only
# or pass another path: --cfg-options model.backbone.init_cfg.checkpoint=PATH.
_base_ = './mask-rcnn_meta-spikeformer-15m_fpn_1x_coco.py'

model = dict(
    backbone=dict(type='spikeformer_mm.ESpikeFormer', arch='19M',
                  init_cfg=dict(checkpoint='checkpoints/e-spikeformer-19m_in1k_backbone.pth')))
