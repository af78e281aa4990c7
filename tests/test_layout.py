"""The package's one rule of dependency direction, and no import cycles.

``models/``, ``datasets/`` and the small cross-cutting modules import
nothing from the run-time layers (``engine/``, ``deploy/``, ``apis/``);
``engine/`` nothing from ``deploy/`` or ``apis/``; ``deploy/`` nothing
from ``apis/``; ``patches/`` no layer at all; and no module imports one
that imports it back.
Tools and tests import the package, never a script.
"""
import ast
from pathlib import Path
from typing import Dict, List, Set

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'mmdet_fasternet'
# A layer may import the layers after it, never those before it.
LAYERS = ['apis', 'deploy', 'engine', 'models', 'datasets']


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def package_imports(path: Path) -> Set[str]:
    """The mmdet_fasternet modules ``path`` imports (at any depth)."""
    name = module_name(path)
    package = name if path.name == '__init__.py' else name.rsplit('.', 1)[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ''
            if node.level:
                anchor = package.split('.')[:len(package.split('.')) -
                                            node.level + 1]
                base = '.'.join(anchor + ([base] if base else []))
            found.add(base)
            found |= {f'{base}.{a.name}' for a in node.names}
    modules = {module_name(p) for p in PACKAGE.rglob('*.py')}
    return {m for m in found if m in modules and m != name}


def import_graph() -> Dict[str, Set[str]]:
    return {module_name(p): package_imports(p) for p in PACKAGE.rglob('*.py')}


def layer(module: str) -> str:
    parts = module.split('.')
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else ''


def test_lower_layers_never_import_higher_ones():
    wrong = [(m, i) for m, imports in import_graph().items() for i in imports
             if layer(m) and layer(i)
             and LAYERS.index(layer(i)) < LAYERS.index(layer(m))]
    # The small cross-cutting modules (errors, patches, safe loading...)
    # sit below the run-time layers too.
    wrong += [(m, i) for m, imports in import_graph().items() for i in imports
              if not layer(m) and m != PACKAGE.name and layer(i) in ('apis',
                                                                     'deploy',
                                                                     'engine')]
    assert not wrong, wrong


def test_patches_import_no_layer():
    """The register of upstream internals sits below every layer, so that
    any module, ``ops/`` included, can use it."""
    wrong = [(m, i) for m, imports in import_graph().items() for i in imports
             if m.startswith(f'{PACKAGE.name}.patches') and layer(i)]
    assert not wrong, wrong


def test_no_import_cycles():
    graph = import_graph()
    # A package's __init__ importing its own submodules is no cycle.
    edges = {
        m: {i
            for i in imports if not i.startswith(m + '.')}
        for m, imports in graph.items()
    }
    state: Dict[str, int] = {}
    cycles: List[List[str]] = []

    def visit(node: str, path: List[str]) -> None:
        state[node] = 1
        for nxt in edges[node]:
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for node in sorted(edges):
        if node not in state:
            visit(node, [node])
    assert not cycles, cycles


def test_tests_and_tools_import_no_script():
    offenders = [
        str(p.relative_to(ROOT))
        for p in list((ROOT / 'tests').rglob('*.py')) +
        list((ROOT / 'tools').glob('*.py'))
        if 'spec_from_file_location' in p.read_text()
        and p.name != Path(__file__).name
    ]
    assert not offenders


def test_readme_layout_names_every_module():
    """A newcomer finds every module by its folder and its name: the
    README's layout names each (a hook is one per file under hooks/)."""
    readme = (ROOT / 'README.md').read_text()
    layout = readme.split('## Layout', 1)[1].split('```')[1]
    unnamed = [
        str(path.relative_to(ROOT)) for path in PACKAGE.rglob('*.py')
        if path.name != '__init__.py' and not {'hooks', '.mim'}
        & set(path.parts) and path.name not in layout
    ]
    assert not unnamed, f'README.md\'s layout does not name {unnamed}'
