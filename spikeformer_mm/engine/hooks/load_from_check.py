"""Stop a run whose ``load_from`` checkpoint does not exist before anything is trained, saying how to make it."""
import os.path as osp

from mmengine.hooks import Hook

from spikeformer_mm.registry import HOOKS

from ..checkpoint_sources import how_to_make, is_local_path


@HOOKS.register_module()
class LoadFromCheckHook(Hook):
    """Check in ``before_run`` that the run's local ``load_from`` file exists.

    For configs that start from another run's checkpoint (the T = 4 fine-tuning configs load the last checkpoint
    of their T = 1 twin): mmengine itself stops only at ``load_or_resume``, after the model's weights are
    initialised, with "<path> can not be found". ``before_run`` comes before both, in ``Runner.train``, ``val``
    and ``test`` alike, so this works with any tool that builds a Runner from the config (mmdet's and mmseg's
    ``tools/train.py`` too). Resuming from the latest checkpoint of the work dir (``load_from=None``) is not
    checked.
    """
    priority = 'VERY_HIGH'

    def before_run(self, runner) -> None:
        checkpoint = runner.cfg.get('load_from')
        if not checkpoint or not is_local_path(checkpoint) or osp.isfile(osp.expanduser(checkpoint)):
            return
        raise FileNotFoundError(
            f'load_from={checkpoint!r} does not exist: {how_to_make(checkpoint)}; or pass another checkpoint '
            '(--cfg-options load_from=PATH). --cfg-options load_from=None starts from the model\'s own '
            'initialisation instead (random weights unless model.backbone.init_cfg names a checkpoint).')
