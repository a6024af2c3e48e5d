"""The package's layers import only downwards: datasets < kernels < em < estimator < selection < cli."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bmm_numba"
#: Layer of each top-level part of the package (a module or a folder); higher may import lower.
LAYERS = {"datasets": 0, "kernels": 1, "em": 2, "estimator": 3, "selection": 4, "cli": 5}


def _layer(module_parts):
    return LAYERS.get(module_parts[0]) if module_parts else None


def _imported_parts(path):
    """Package-relative module paths (as tuples) that ``path`` imports, relative or absolute."""
    here = path.relative_to(PACKAGE).parts[:-1]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                target = (*base, *(node.module.split(".") if node.module else ()))
                if node.module is None:  # from . import a, b
                    yield from ((*target, alias.name) for alias in node.names)
                else:
                    yield target
            elif node.module and node.module.split(".")[0] == "bmm_numba":
                yield tuple(node.module.split(".")[1:])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] == "bmm_numba":
                    yield tuple(alias.name.split(".")[1:])


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if p.relative_to(PACKAGE).parts[0] in LAYERS
                 or p.stem in LAYERS)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_imports_from_a_layer_above_its_own(path):
    own = _layer(path.relative_to(PACKAGE).with_suffix("").parts)
    assert own is not None
    above = [".".join(parts) for parts in _imported_parts(path)
             if _layer(parts) is not None and _layer(parts) > own]
    assert above == [], f"{path.relative_to(PACKAGE)} (layer {own}) imports from a layer above: {above}"


def test_every_module_has_a_layer():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.stem not in LAYERS and p.stem not in ("__init__", "__main__")]
    assert loose == []
