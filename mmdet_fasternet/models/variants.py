"""The published FasterNet variants, and custom ones checked before use."""
from typing import Dict, Union

from ..errors import ConfigError

# The published variants: embed_dim C, depths, activation, drop_path_rate.
# drop_path_rate is the COCO recipe's value where the authors trained
# detectors (S, M, L) and the ImageNet value otherwise.
_PUBLISHED = {
    't0': (40, (1, 2, 8, 2), 'GELU', 0.0),
    't1': (64, (1, 2, 8, 2), 'GELU', 0.02),
    't2': (96, (1, 2, 8, 2), 'ReLU', 0.05),
    's': (128, (1, 2, 13, 2), 'ReLU', 0.15),
    'm': (144, (3, 4, 18, 3), 'ReLU', 0.2),
    'l': (192, (3, 4, 18, 3), 'ReLU', 0.3),
}
ARCH_SETTINGS: Dict[str, dict] = {
    name:
    dict(
        embed_dim=c,
        depths=depths,
        act_cfg=dict(type=act),
        drop_path_rate=drop_path)
    for name, (c, depths, act, drop_path) in _PUBLISHED.items()
}
# Keys a custom ``arch`` dict must give, and those it may give (with defaults).
ARCH_REQUIRED_KEYS = ('embed_dim', 'depths', 'act_cfg')
ARCH_OPTIONAL_KEYS = dict(drop_path_rate=0.0, n_div=4, mlp_ratio=2.0)
NUM_STAGES = 4


def is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def resolve_arch(arch: Union[str, dict]) -> dict:
    """Return the full, validated settings of a variant name or custom dict."""
    if isinstance(arch, str):
        if arch.lower() not in ARCH_SETTINGS:
            raise ConfigError(
                f'FasterNet: unknown arch {arch!r}; choose one of '
                f'{sorted(ARCH_SETTINGS)} or pass a dict with keys '
                f'{list(ARCH_REQUIRED_KEYS)}.')
        return {**ARCH_OPTIONAL_KEYS, **ARCH_SETTINGS[arch.lower()]}
    if not isinstance(arch, dict):
        raise ConfigError(f'FasterNet: arch must be a variant name or a dict, '
                          f'got {type(arch).__name__} {arch!r}.')
    missing = [k for k in ARCH_REQUIRED_KEYS if k not in arch]
    if missing:
        raise ConfigError(f'FasterNet: arch dict {arch!r} is missing key(s) '
                          f'{missing}; a custom arch needs '
                          f'{list(ARCH_REQUIRED_KEYS)}.')
    unknown = sorted(
        set(arch) - set(ARCH_REQUIRED_KEYS) - set(ARCH_OPTIONAL_KEYS))
    if unknown:
        raise ConfigError(
            f'FasterNet: arch dict has unknown key(s) {unknown}; accepted '
            f'keys are {list(ARCH_REQUIRED_KEYS) + list(ARCH_OPTIONAL_KEYS)}.')
    settings = {**ARCH_OPTIONAL_KEYS, **arch}
    depths = settings['depths']
    if (not isinstance(depths, (list, tuple)) or len(depths) != NUM_STAGES
            or not all(is_int(d) and d >= 1 for d in depths)):
        raise ConfigError(f'FasterNet: arch depths must be {NUM_STAGES} '
                          f'positive ints, got {depths!r}.')
    embed_dim, n_div = settings['embed_dim'], settings['n_div']
    if not is_int(n_div) or n_div < 1:
        raise ConfigError(f'FasterNet: arch n_div must be an int >= 1, got '
                          f'{n_div!r}.')
    if not is_int(embed_dim) or embed_dim < n_div:
        raise ConfigError(f'FasterNet: arch embed_dim must be an int >= n_div '
                          f'({n_div}), got {embed_dim!r}.')
    return settings
