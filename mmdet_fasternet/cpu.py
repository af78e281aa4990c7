"""Which CPU this is, and the instructions that decide the speed figures:
the machines here are Intel with AVX-512 VNNI (and AMX) or AMD EPYC with
AVX2 only; INT8 pays only with VNNI or AMX, bf16 only with AMX or
AVX-512 BF16 (docs/deploy.md)."""
import os
import platform
from typing import Dict, Set

# The widest first: (/proc/cpuinfo flag, name).
ISA_LEVELS = (('amx_int8', 'AMX'), ('avx512_vnni', 'AVX-512 VNNI'),
              ('avx_vnni', 'AVX-VNNI'), ('avx512f', 'AVX-512'), ('avx2',
                                                                 'AVX2'))
INT8_FLAGS = {'amx_int8', 'avx512_vnni', 'avx_vnni'}
BF16_FLAGS = {'amx_bf16', 'avx512_bf16'}


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


def int8_pays() -> bool:
    """Whether this CPU has INT8 dot-product instructions (VNNI or AMX)."""
    return bool(cpu_flags() & INT8_FLAGS)


def bf16_pays() -> bool:
    """Whether this CPU computes in bf16 (AMX or AVX-512 BF16)."""
    return bool(cpu_flags() & BF16_FLAGS)


def cpu_description() -> str:
    """E.g. 'Intel(R) Xeon(R) Processor, 2 cores, widest ISA: AMX'."""
    name = cpuinfo().get('model name') or platform.processor() or 'this CPU'
    return f'{name}, {os.cpu_count()} cores, widest ISA: {widest_isa()}'
