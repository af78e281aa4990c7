"""How a setting's models run, one entry per runtime.

A runtime turns one model of one row (a ``Case``) into a ``Runner``:
PyTorch, or an exported file's runtime (``deploy.runtimes``), one entry in
``RUNTIMES`` each, named by the ``Setting``s that use it.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Optional, Protocol, Sequence

import torch

from ...patches.torch_numpy import cxx_compiler_problem
from .exported_runtime import exported_check, exported_runner
from .settings import SETTINGS, Case
from .torch_runtime import TorchRunner


class Runner(Protocol):
    """One model of one row, ready to time."""

    def __call__(self) -> object:
        """One batch-1 forward, synchronised: what is timed."""

    def features(self) -> Sequence[torch.Tensor]:
        """A backbone's outputs, for the error against the first setting."""

    def precisions(self) -> Optional[str]:
        """What the runtime chose to run the weighted layers in on this
        CPU, where it chooses (OpenVINO); None elsewhere."""

    def breakdown(self, runs: int) -> Optional[Dict[str, float]]:
        """A detector's ms by part over ``runs`` profiled runs; None where
        this runtime cannot tell."""


def usable_anywhere(device: torch.device) -> None:
    """A runtime that needs nothing beyond torch."""


@dataclass(frozen=True)
class Runtime:
    """``runner`` builds a case's runner; ``check`` refuses, in one line, a
    device or installation the runtime cannot use, before any model is
    built."""
    runner: Callable[[Case], Runner]
    check: Callable[[torch.device], None] = usable_anywhere


RUNTIMES: Dict[str, Runtime] = {
    'torch':
    Runtime(TorchRunner),
    'onnxruntime':
    Runtime(exported_runner('onnx'), exported_check('onnx')),
    'openvino':
    Runtime(exported_runner('openvino'), exported_check('openvino')),
    'openvino-bf16':
    Runtime(exported_runner('openvino', 'bf16'), exported_check('openvino')),
    'openvino-int8':
    Runtime(exported_runner('openvino', 'int8'), exported_check('openvino')),
}


def check_runtimes(settings: Iterable[str], device: torch.device) -> None:
    """Each runtime the ``settings`` use can run on ``device``."""
    for name in dict.fromkeys(SETTINGS[s].runtime for s in settings):
        RUNTIMES[name].check(device)


def settings_not_run(settings: Iterable[str],
                     device: torch.device) -> Dict[str, str]:
    """The ``settings`` that cannot run here, each with why and the fix:
    torch.compile builds C++ kernels for the CPU, so it needs a C++
    compiler there; the other settings go on without them."""
    compiled = [s for s in settings if SETTINGS[s].compile]
    problem = compiled and device.type == 'cpu' and cxx_compiler_problem()
    if not problem:
        return {}
    why = (f'torch.compile (inductor) builds C++ kernels on the CPU and '
           f'found no C++ compiler ({problem}); install one (apt-get '
           f'install g++) or point CXX at it')
    return {s: why for s in compiled}


def runner(case: Case) -> Runner:
    return RUNTIMES[case.setting.runtime].runner(case)
