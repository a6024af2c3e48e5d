"""The package's layers import only downwards: datasets < kernels < em < estimator < selection < cli.

One exception, listed in ``LAZY_UPWARD``: the estimator's thin model-criticism methods
(``standard_errors``, ``diagnostics``, ``summary``) import from ``selection/`` inside the method,
when called; a module-level import upwards is never allowed.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bmm_numba"
#: Layer of each top-level part of the package (a module or a folder); higher may import lower.
LAYERS = {"datasets": 0, "kernels": 1, "em": 2, "estimator": 3, "selection": 4, "cli": 5}
#: (module, layer above) pairs allowed an import inside a function body (never at module level).
LAZY_UPWARD = {("estimator/mixture.py", "selection")}


def _layer(module_parts):
    return LAYERS.get(module_parts[0]) if module_parts else None


def _function_nodes(tree):
    """Every node inside a function body (an import there runs only when the function is called)."""
    inside = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            inside.update(id(child) for child in ast.walk(node) if child is not node)
    return inside


def _imported_parts(path):
    """``(parts, lazy)``: package-relative module paths that ``path`` imports, and whether inside a function."""
    here = path.relative_to(PACKAGE).parts[:-1]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy_nodes = _function_nodes(tree)
    for node in ast.walk(tree):
        lazy = id(node) in lazy_nodes
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                target = (*base, *(node.module.split(".") if node.module else ()))
                if node.module is None:  # from . import a, b
                    yield from (((*target, alias.name), lazy) for alias in node.names)
                else:
                    yield target, lazy
            elif node.module and node.module.split(".")[0] == "bmm_numba":
                yield tuple(node.module.split(".")[1:]), lazy
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "bmm_numba":
                    yield tuple(alias.name.split(".")[1:]), lazy


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] in LAYERS
                 or p.stem in LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_from_a_layer_above_its_own(path):
    own = _layer(path.relative_to(PACKAGE).with_suffix("").parts)
    assert own is not None
    name = path.relative_to(PACKAGE).as_posix()
    above = [".".join(parts) for parts, lazy in _imported_parts(path)
             if _layer(parts) is not None and _layer(parts) > own
             and not (lazy and (name, parts[0]) in LAZY_UPWARD)]
    assert above == [], f"{name} (layer {own}) imports from a layer above: {above}"


def test_lazy_upward_imports_are_inside_functions_and_still_used():
    """Each ``LAZY_UPWARD`` exception imports its layer only inside functions, and does import it."""
    for name, layer in LAZY_UPWARD:
        imports = [(parts, lazy) for parts, lazy in _imported_parts(PACKAGE / name) if parts[0] == layer]
        assert imports and all(lazy for _, lazy in imports), (name, imports)


def test_every_module_has_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.stem not in LAYERS and p.stem not in ("__init__", "__main__")]
    assert loose == []
