from . import hooks
from .distributed import release_process_group, start_cpu_process_group

__all__ = ['hooks', 'release_process_group', 'start_cpu_process_group']
