"""How the tools say what precision a runtime ran a file in, whichever
runtime it is."""
from typing import Dict

from ..cpu import lacks


def describe_precisions(counts: Dict[str, int]) -> str:
    """E.g. '72 of 74 weighted layers in int8, 2 in fp32'."""
    if not counts:
        return 'no weighted layers'
    total = sum(counts.values())
    (most, n), *rest = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    return ', '.join([f'{n} of {total} weighted layers in {most}'] +
                     [f'{m} in {precision}' for precision, m in rest])


def lacks_clause(precision: str) -> str:
    """'; this CPU has no ...' where it lacks what ``precision`` needs to
    run faster than fp32 (``cpu.lacks``), else ''."""
    missing = lacks(precision)
    return (f'; this CPU has no {missing}, which {precision} needs to run '
            f'faster than fp32 (docs/deploy.md)' if missing else '')
