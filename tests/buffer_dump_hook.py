"""A test-only hook: each rank saves its BN statistics after every epoch,
so a test can compare the ranks (imported by a test config's
custom_imports)."""
import os.path as osp

import torch
from mmdet.registry import HOOKS
from mmengine.dist import get_rank
from mmengine.hooks import Hook


@HOOKS.register_module()
class DumpBuffersHook(Hook):

    priority = 'LOWEST'  # after SyncBuffersHook

    def after_train_epoch(self, runner) -> None:
        buffers = {
            name: tensor.clone()
            for name, tensor in runner.model.named_buffers()
            if name.endswith(('running_mean', 'running_var'))
        }
        torch.save(buffers,
                   osp.join(runner.work_dir, f'buffers_rank{get_rank()}.pth'))
