"""Which CPU this is, and the instructions that decide the speed figures:
the machines here are Intel with AVX-512 VNNI and AMX, AMD EPYC with
AVX-512 VNNI and BF16, or AMD EPYC with AVX2 only; INT8 pays only with
VNNI or AMX, bf16 only with AMX or AVX-512 BF16 (docs/deploy.md)."""
import os
import platform
from typing import Dict, Optional, Set

# The widest first: (/proc/cpuinfo flag, name).
ISA_LEVELS = (('amx_int8', 'AMX'), ('avx512_vnni', 'AVX-512 VNNI'),
              ('avx_vnni', 'AVX-VNNI'), ('avx512f', 'AVX-512'), ('avx2',
                                                                 'AVX2'))
# What a reduced precision needs to pay: flags, and their names. With
# AVX-512 BF16 (AMD EPYC, no AMX) OpenVINO bf16 took 0.51x the fp32 time
# (docs/deploy.md).
PRECISION_NEEDS = {
    'int8': ({'amx_int8', 'avx512_vnni', 'avx_vnni'}, 'VNNI or AMX'),
    'bf16': ({'amx_bf16', 'avx512_bf16'}, 'AMX or AVX-512 BF16'),
}


def cpuinfo() -> Dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty elsewhere)."""
    fields: Dict[str, str] = {}
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if not line.strip():
                    break
                key, _, value = line.partition(':')
                fields[key.strip()] = value.strip()
    except OSError:
        pass
    return fields


def cpu_flags() -> Set[str]:
    return set(cpuinfo().get('flags', '').split())


def widest_isa() -> str:
    """The widest vector ISA of ISA_LEVELS this CPU has, or 'none known'."""
    flags = cpu_flags()
    return next((name for flag, name in ISA_LEVELS if flag in flags),
                'none known')


def lacks(precision: str) -> Optional[str]:
    """What this CPU lacks for ``precision`` ('bf16', 'int8') to run faster
    than fp32, or None (it has it; or fp32)."""
    flags, names = PRECISION_NEEDS.get(precision, (set(), None))
    return None if not flags or cpu_flags() & flags else names


def cpu_description() -> str:
    """E.g. 'Intel(R) Xeon(R) Processor, 2 cores, widest ISA: AMX'."""
    name = cpuinfo().get('model name') or platform.processor() or 'this CPU'
    return f'{name}, {os.cpu_count()} cores, widest ISA: {widest_isa()}'
