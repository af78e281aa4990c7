from .atomic_checkpoint_hook import AtomicCheckpointHook
from .checkpoint_fit_hook import CheckpointFitHook
from .degenerate_polygons_hook import DegeneratePolygonsHook
from .deploy_hook import DeployHook
from .epoch_seed_hook import EpochSeedHook
from .metrics_summary_hook import MetricsSummaryHook
from .non_finite_loss_hook import NonFiniteLossHook
from .same_categories_hook import SameCategoriesHook

__all__ = [
    'AtomicCheckpointHook', 'CheckpointFitHook', 'DegeneratePolygonsHook',
    'DeployHook', 'EpochSeedHook', 'MetricsSummaryHook', 'NonFiniteLossHook',
    'SameCategoriesHook'
]
