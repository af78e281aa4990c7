"""Make a resumed deterministic run repeat the uninterrupted one exactly.

mmengine seeds the random generators once, when the Runner starts. A run
resumed at epoch k therefore starts epoch k with freshly seeded generators,
while the uninterrupted run carries the state that epochs 1..k-1 (and
validation) left behind: different flips, different sampled RoIs, other
weights. With ``randomness.deterministic=True`` every epoch is instead
seeded from (seed, epoch) alone, and persistent training data workers are
restarted each epoch, since they carry their generators across epochs.
"""
import logging
import random

import numpy as np
import torch
from mmdet.registry import HOOKS
from mmengine.hooks import Hook
from mmengine.logging import print_log

from ...patches.torch_numpy import restart_persistent_workers


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 32-bit seed, distinct for every (seed, epoch)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


@HOOKS.register_module()
class EpochSeedHook(Hook):
    """Seed python, numpy and torch from (seed, epoch) before each epoch,
    and start new training data workers, when the Runner is deterministic.
    """

    # Before any other hook could draw a random number in this epoch.
    priority = 'VERY_HIGH'

    def __init__(self) -> None:
        self._said_so = False

    def before_train_epoch(self, runner) -> None:
        if not runner.deterministic:
            return
        if (restart_persistent_workers(runner.train_dataloader)
                and not self._said_so):
            print_log(
                'randomness.deterministic: the training data workers '
                'restart every epoch, so that a resumed run repeats the '
                'uninterrupted one exactly.',
                logger='current',
                level=logging.INFO)
            self._said_so = True
        seed = epoch_seed(runner.seed, runner.epoch)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # every device's generator
