"""An mmpretrain ``ImageClassifier`` (the student) that also learns from a frozen teacher classifier.

The losses follow DeiT's ``DistillationLoss`` as the BICLab references use it (Spike-Driven-Transformer-V2
``classification/util/kd_loss.py``, ``DistillationLoss``; arXiv 2012.12877 Sec. 4):
``loss = (1 - alpha) * base(class_logits, labels) + alpha * distill(kd_logits, teacher_logits)`` with

* ``hard``: cross-entropy of ``kd_logits`` against ``teacher_logits.argmax(1)``;
* ``soft``: ``KL(softmax(teacher / tau) || softmax(kd / tau)) * tau^2``, summed and divided by the number of
  logits ``B * num_classes`` (DeiT's normalisation).
"""
import os.path as osp
from typing import Dict, List, Optional, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.hub import get_config
from mmengine.runner.checkpoint import load_state_dict
from mmpretrain.models import ImageClassifier
from mmpretrain.registry import MODELS as MMPRETRAIN_MODELS
from mmpretrain.structures import DataSample
from torch import nn

from spikeformer_mm.engine.checkpoint_loading import load_checkpoint_file
from spikeformer_mm.registry import MODELS

DISTILLATION_TYPES = ('hard', 'soft')


def check_teacher_checkpoint(teacher_checkpoint: Optional[str]) -> None:
    """Raise a ``ValueError``/``FileNotFoundError`` naming the fix unless ``teacher_checkpoint`` is a file."""
    if teacher_checkpoint is None:
        raise ValueError('DistillImageClassifier needs teacher_checkpoint: the path of a local checkpoint of the '
                         'teacher (e.g. --cfg-options model.teacher_checkpoint=PATH); nothing is downloaded')
    if not osp.isfile(teacher_checkpoint):
        raise FileNotFoundError(f'teacher checkpoint {teacher_checkpoint!r} does not exist: download or train the '
                                'teacher and pass its local path as model.teacher_checkpoint')


def build_teacher(teacher_cfg: Union[str, dict], teacher_checkpoint: Optional[str]) -> nn.Module:
    """Build an mmpretrain classifier from a config path (``'mmpretrain::...'`` too) or a model dict, load a
    local checkpoint into it (strict, ``weights_only=True``) and freeze it in eval mode."""
    check_teacher_checkpoint(teacher_checkpoint)
    if isinstance(teacher_cfg, str):
        config = get_config(teacher_cfg) if '::' in teacher_cfg else Config.fromfile(teacher_cfg)
        teacher_cfg = config.model
    teacher_cfg = dict(teacher_cfg)
    teacher_cfg.pop('init_cfg', None)  # the checkpoint provides every weight: no pretrained download
    teacher = MMPRETRAIN_MODELS.build(teacher_cfg)
    checkpoint = load_checkpoint_file(teacher_checkpoint, map_location='cpu')
    state_dict = checkpoint.get('state_dict', checkpoint)
    # a checkpoint saved from a (Distributed)DataParallel wrapper prefixes every key with 'module.'
    state_dict = {key[len('module.'):] if key.startswith('module.') else key: value
                  for key, value in state_dict.items()}
    try:
        load_state_dict(teacher, state_dict, strict=True)
    except RuntimeError as error:
        raise ValueError(f'teacher checkpoint {teacher_checkpoint!r} does not fit the teacher config: {error}\n'
                         'pass the config the checkpoint was trained with as model.teacher_cfg') from error
    teacher.requires_grad_(False)
    return teacher.eval()


def distillation_loss(kd_logits: torch.Tensor, teacher_logits: torch.Tensor, distillation_type: str,
                      tau: float = 1.0) -> torch.Tensor:
    """The distillation term for ``kd_logits`` and ``teacher_logits``, both ``[B, num_classes]``."""
    if distillation_type == 'hard':
        return F.cross_entropy(kd_logits, teacher_logits.argmax(dim=1))
    log_p_student = F.log_softmax(kd_logits / tau, dim=1)
    log_p_teacher = F.log_softmax(teacher_logits / tau, dim=1)
    kl = F.kl_div(log_p_student, log_p_teacher, reduction='sum', log_target=True)
    return kl * tau * tau / kd_logits.numel()


class FrozenTeacher:
    """Holds the teacher outside the student's module tree; copies of the student (``EMAHook``'s averaged model,
    ``copy.deepcopy``) share the one frozen teacher instead of duplicating its weights."""

    def __init__(self, module: nn.Module):
        self.module = module

    def __deepcopy__(self, memo) -> 'FrozenTeacher':
        return self


@MODELS.register_module()
class DistillImageClassifier(ImageClassifier):
    """An ``ImageClassifier`` trained against its labels and a frozen teacher's logits.

    The teacher sees the student's input batch after the student's data preprocessor (normalised, and mixed when
    the student mixes): give both the same ``mean``/``std``. It runs in eval mode under ``no_grad``, its weights
    and BatchNorm statistics never change, and it is held outside the module tree, so it is absent from
    ``state_dict()`` (checkpoints and ``--resume`` see the student alone) and from ``parameters()`` (the
    optimizer). ``.to()``/``.cuda()`` move it with the student.

    With a head that has a distillation branch (``fc_kd`` and ``forward_with_kd``: :class:`SpikingDistillClsHead`
    as E-SpikeFormer Large, :class:`SpikingLinearClsHead` with ``with_kd=True`` as the V2 reference's ``head_kd``)
    the class logits train on the labels and the ``fc_kd`` logits on the teacher, and evaluation averages the two
    (the head's ``forward``); with a single head the same logits serve both terms.

    Args:
        teacher_cfg: the teacher's config file (``'mmpretrain::convnext/convnext-base_32xb128_in1k.py'`` works)
            or its model dict; any mmpretrain classifier returning ``[B, num_classes]`` logits in ``'tensor'``
            mode (mmpretrain's ``TimmClassifier`` does, with timm installed: ``pip install timm``).
        teacher_checkpoint: local path of the teacher's weights (mmengine ``state_dict`` or a plain state dict).
        distillation_type: ``'hard'`` or ``'soft'``.
        alpha: weight of the distillation term; the base loss gets ``1 - alpha``.
        tau: temperature of ``'soft'`` distillation.
        **kwargs: the student, as ``ImageClassifier`` (``backbone``, ``neck``, ``head``, ``data_preprocessor``, ...).

    Shapes: ``inputs`` ``[B, 3, H, W]``; student and teacher logits ``[B, num_classes]``.
    """

    def __init__(self, teacher_cfg: Union[str, dict], teacher_checkpoint: Optional[str] = None,
                 distillation_type: str = 'hard', alpha: float = 0.5, tau: float = 1.0, **kwargs):
        if distillation_type not in DISTILLATION_TYPES:
            raise ValueError(f'unknown distillation_type {distillation_type!r}: use one of {DISTILLATION_TYPES}')
        if not 0.0 <= alpha <= 1.0:
            raise ValueError(f'alpha must be in [0, 1] (the weight of the distillation term), got {alpha}')
        if tau <= 0:
            raise ValueError(f'tau (the soft distillation temperature) must be positive, got {tau}')
        check_teacher_checkpoint(teacher_checkpoint)  # before building the student, which can take long
        super().__init__(**kwargs)
        self.distillation_type = distillation_type
        self.alpha = alpha
        self.tau = tau
        teacher = build_teacher(teacher_cfg, teacher_checkpoint)
        student_classes = getattr(self.head, 'num_classes', None)
        teacher_classes = self._num_classes_of(teacher)
        if None not in (student_classes, teacher_classes) and student_classes != teacher_classes:
            raise ValueError(f'the teacher predicts {teacher_classes} classes but the student {student_classes}: '
                             'use a teacher trained on the student\'s classes (same num_classes and order)')
        # outside the module tree: no state_dict keys, no parameters(), no init_weights()
        self._teacher = FrozenTeacher(teacher)

    @staticmethod
    def _num_classes_of(teacher: nn.Module) -> Optional[int]:
        for owner in (getattr(teacher, 'head', None), getattr(teacher, 'model', None)):
            if isinstance(getattr(owner, 'num_classes', None), int):
                return owner.num_classes
        return None

    @property
    def teacher(self) -> nn.Module:
        """The frozen teacher classifier (not a submodule)."""
        return self._teacher.module

    def train(self, mode: bool = True) -> 'DistillImageClassifier':
        super().train(mode)
        self.teacher.eval()  # BatchNorm statistics and dropout of the teacher stay frozen in training
        return self

    def _apply(self, fn, *args, **kwargs):
        super()._apply(fn, *args, **kwargs)
        self.teacher._apply(fn, *args, **kwargs)
        return self

    @torch.no_grad()
    def teacher_logits(self, inputs: torch.Tensor) -> torch.Tensor:
        """The teacher's logits ``[B, num_classes]`` for the preprocessed batch ``inputs`` ``[B, 3, H, W]``."""
        logits = self.teacher(inputs, mode='tensor')
        if not isinstance(logits, torch.Tensor) or logits.dim() != 2:
            raise ValueError('the teacher must return [B, num_classes] logits in mode="tensor", got '
                             f'{type(logits).__name__}: use a classifier whose head returns one logit tensor')
        return logits

    def student_logits(self, inputs: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
        """The student's class logits and distillation logits, each ``[B, num_classes]`` (the same tensor for a
        single-head student)."""
        feats = self.extract_feat(inputs)
        if getattr(self.head, 'fc_kd', None) is None:
            logits = self.head(feats)
            return logits, logits
        return self.head.forward_with_kd(feats)

    def loss(self, inputs: torch.Tensor, data_samples: List[DataSample]) -> Dict[str, torch.Tensor]:
        """``loss_cls = (1 - alpha) * head loss`` and ``loss_distill = alpha * distillation loss``; their sum is
        the reference's ``DistillationLoss``."""
        cls_logits, kd_logits = self.student_logits(inputs)
        teacher_logits = self.teacher_logits(inputs)
        if teacher_logits.shape != kd_logits.shape:
            raise ValueError(f'teacher logits {tuple(teacher_logits.shape)} and student logits '
                             f'{tuple(kd_logits.shape)} differ: teacher and student need the same num_classes')
        losses = self.head._get_loss(cls_logits, data_samples)
        losses['loss_cls'] = (1 - self.alpha) * losses.pop('loss')
        losses['loss_distill'] = self.alpha * distillation_loss(kd_logits, teacher_logits, self.distillation_type,
                                                                self.tau)
        return losses
