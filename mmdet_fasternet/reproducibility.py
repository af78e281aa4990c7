"""Make a resumed deterministic run repeat the uninterrupted one exactly.

mmengine seeds the random generators once, when the Runner starts. A run
resumed at epoch k therefore starts epoch k with freshly seeded generators,
while the uninterrupted run carries the state that epochs 1..k-1 (and
validation) left behind: different flips, different sampled RoIs, other
weights. With ``randomness.deterministic=True`` every epoch is instead
seeded from (seed, epoch) alone, and the training workers are restarted
each epoch, since persistent workers carry their generators across epochs.
"""
import logging
import random

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.logging import print_log


def epoch_seed(seed: int, epoch: int) -> int:
    """A well-mixed 32-bit seed, distinct for every (seed, epoch)."""
    return int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0])


class EpochSeedHook(Hook):
    """Seed python, numpy and torch from (seed, epoch) before each epoch,
    when the Runner is deterministic."""

    # Before any other hook could draw a random number in this epoch.
    priority = 'VERY_HIGH'

    def before_train_epoch(self, runner) -> None:
        if not runner.deterministic:
            return
        seed = epoch_seed(runner.seed, runner.epoch)
        random.seed(seed)
        np.random.seed(seed)
        torch.manual_seed(seed)  # every device's generator


def restart_workers_each_epoch(cfg: Config) -> None:
    """Turn off ``persistent_workers`` of the training loader when the run
    is deterministic (see the module docstring)."""
    loader = cfg.get('train_dataloader') or {}
    if not (cfg.get('randomness') or {}).get('deterministic'):
        return
    if loader.get('num_workers', 0) > 0 and loader.get('persistent_workers'):
        loader['persistent_workers'] = False
        print_log(
            'randomness.deterministic: the training data workers restart '
            'every epoch (persistent_workers=False), so that a resumed run '
            'repeats the uninterrupted one exactly.',
            logger='current',
            level=logging.INFO)
