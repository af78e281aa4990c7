"""Evaluate the inference form of a detector (``tools/test.py --deploy``)."""
from mmdet.registry import HOOKS
from mmengine.hooks import Hook

from ...models.bn_folding import deploy_model


@HOOKS.register_module()
class DeployHook(Hook):
    """Switch the model to deploy mode once the checkpoint is loaded."""

    def before_test(self, runner) -> None:
        deploy_model(runner.model)
