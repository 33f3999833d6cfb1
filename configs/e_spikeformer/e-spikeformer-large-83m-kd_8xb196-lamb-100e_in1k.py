# E-SpikeFormer Large 83M, the reference's distillation stage (Spike-Driven-Transformer-V3 SDT_V3/Classification/
# Model_Large/Train_Large.md; recipe in the base config) with its spiking head_kd trained against an ANN teacher:
# the class head `fc` learns the labels, `fc_kd` hard targets from the teacher (loss = 0.5 * CE(fc, labels) +
# 0.5 * CE(fc_kd, teacher argmax)), evaluation averages the two heads. The reference's teacher is CAFormer-B36
# (in21k-ft-1k); any stronger ImageNet-1k classifier with the same class order and ImageNet mean/std stands in:
#   python tools/train.py THIS_CONFIG --cfg-options model.teacher_checkpoint=PATH/teacher.pth
# The backbone starts from the 83M pre-training, as in the base config; to start from a fine-tuned checkpoint
# instead, as the reference's distillation stage does, add load_from=PATH model.backbone.init_cfg=None.
# The teacher is frozen, shared with the EMA model and not saved into the checkpoints.
_base_ = './e-spikeformer-large-83m_8xb196-lamb-100e_in1k.py'

model = dict(
    type='spikeformer_mm.DistillImageClassifier',
    teacher_cfg='mmpretrain::convnext/convnext-base_32xb128_in1k.py',
    teacher_checkpoint=None,  # required: --cfg-options model.teacher_checkpoint=PATH
    distillation_type='hard',
    alpha=0.5,
    tau=1.0)
