"""Class names and palette of a config's dataset, without building it."""
from mmdet.registry import DATASETS
from mmengine.config import Config


def config_metainfo(cfg: Config) -> dict:
    """Metainfo of the config's test dataset, read from its class and the
    config (building the shapes dataset would generate it)."""
    dataset = cfg.get('test_dataloader', {}).get('dataset', {})
    dataset_cls = DATASETS.get(dataset['type']) if 'type' in dataset else None
    meta = dict(getattr(dataset_cls, 'METAINFO', {}))
    meta.update(dataset.get('metainfo') or {})
    return meta
