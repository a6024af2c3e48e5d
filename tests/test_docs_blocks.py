"""Every ```python block of README.md and of the documentation pages runs, and the pages agree with the code.

Each block runs on its own in a fresh interpreter (the package this test imports), in an empty
temporary folder, with ``MPLBACKEND=Agg`` and ``BMM_NUMBA_MNIST_DIR`` pointing at a folder of small
generated IDX files, so blocks that read MNIST through the environment variable never need the real
data.  The convention for a block that cannot run on its own: put ``<!-- skip-block -->`` (Markdown)
or ``.. skip-block`` (reST comment) on the line before it; keep such blocks rare.

The cheap checks (the generated benchmark tables are current, the README's quick start is what
``.ci/run`` runs, no page names a data folder outside the repository) are in the fast tier; running the blocks
starts processes and is ``slow`` (tests/conftest.py).
"""

import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import bmm_numba

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
GENERATED = ("_build", "auto_examples", "api/generated", "_templates")
SKIP_MARKS = ("<!-- skip-block -->", ".. skip-block")
BLOCK_TIMEOUT_S = 300  # the Dask block starts a two-worker cluster: ~20 s on 2 busy cores


def documentation_pages():
    """README.md and every Markdown or reST page of docs/ that is source, not build output."""
    pages = [ROOT / "README.md"]
    for path in sorted(DOCS.rglob("*")):
        rel = path.relative_to(DOCS).as_posix()
        if path.suffix in (".md", ".rst") and not any(rel.startswith(g) for g in GENERATED):
            pages.append(path)
    return pages


def python_blocks(text):
    """``[(line number, code, skipped)]`` of the ```python fences and ``.. code-block:: python`` blocks."""
    lines = text.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        line = lines[i]
        previous = next((p.strip() for p in reversed(lines[:i]) if p.strip()), "")
        skipped = previous in SKIP_MARKS
        if line.strip() == "```python" and line.startswith("```"):
            end = lines.index("```", i + 1)
            blocks.append((i + 1, "\n".join(lines[i + 1:end]) + "\n", skipped))
            i = end
        elif line.strip() == ".. code-block:: python":
            body, j = [], i + 1
            while j < len(lines) and (not lines[j].strip() or lines[j].startswith((" ", "\t"))):
                body.append(lines[j])
                j += 1
            indented = [b for b in body if b.strip()]
            indent = min(len(b) - len(b.lstrip()) for b in indented) if indented else 0
            code = "\n".join(b[indent:] for b in body if not b.strip().startswith(":"))
            blocks.append((i + 1, code.strip("\n") + "\n", skipped))
            i = j - 1
        i += 1
    return blocks


def all_blocks():
    found = []
    for page in documentation_pages():
        for lineno, code, skipped in python_blocks(page.read_text(encoding="utf-8")):
            found.append(pytest.param(code, skipped, id=f"{page.relative_to(ROOT).as_posix()}:{lineno}"))
    return found


BLOCKS = all_blocks()


def write_idx(path, array):
    """An IDX file: big-endian magic (0x08 = uint8, then the number of dimensions), the shape, the bytes."""
    header = struct.pack(">I", 0x0800 + array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    path.write_bytes(header + np.ascontiguousarray(array, dtype=np.uint8).tobytes())


@pytest.fixture(scope="session")
def small_mnist(tmp_path_factory):
    """A folder of MNIST-shaped IDX files: 600 training and 400 test images of 10 stroke-like prototypes."""
    folder = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(20261202)
    prototypes = rng.random((10, 28, 28)) < 0.15
    for stem, n in (("train", 600), ("t10k", 400)):
        labels = rng.integers(0, 10, n).astype(np.uint8)
        flips = rng.random((n, 28, 28)) < 0.05
        images = (prototypes[labels] ^ flips).astype(np.uint8) * 255
        write_idx(folder / f"{stem}-images-idx3-ubyte", images)
        write_idx(folder / f"{stem}-labels-idx1-ubyte", labels)
    return folder


def test_every_page_has_its_blocks_found():
    pages = {Path(p.id.split(":")[0]).name for p in BLOCKS}
    assert {"README.md", "lesson.md", "user_guide.md", "scale_out.md"} <= pages
    assert sum(p.values[1] for p in BLOCKS) <= 2, "skip-block is for the rare block that cannot run alone"


def test_block_extraction_reads_both_markups():
    text = "x\n```python\nprint(1)\n```\n<!-- skip-block -->\n```python\nraise SystemExit(1)\n```\n" \
           ".. code-block:: python\n   :caption: c\n\n   a = 1\n   print(a)\n\ntext\n"
    got = python_blocks(text)
    assert [(code, skipped) for _, code, skipped in got] == [
        ("print(1)\n", False), ("raise SystemExit(1)\n", True), ("a = 1\nprint(a)\n", False)]


@pytest.mark.parametrize(("code", "skipped"), BLOCKS)
def test_block_runs(code, skipped, small_mnist, tmp_path):
    if skipped:
        pytest.skip("marked <!-- skip-block --> in its page")
    script = tmp_path / "block.py"
    script.write_text(code, encoding="utf-8")
    package_parent = str(Path(bmm_numba.__file__).resolve().parent.parent)
    env = {**os.environ, "MPLBACKEND": "Agg", "BMM_NUMBA_MNIST_DIR": str(small_mnist),
           "PYTHONPATH": os.pathsep.join(filter(None, [package_parent, os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, script.name], cwd=tmp_path, env=env, capture_output=True, text=True,
                          timeout=BLOCK_TIMEOUT_S)
    assert done.returncode == 0, f"the block failed:\n{code}\n--- stderr ---\n{done.stderr[-4000:]}"


def test_generated_tables_are_current():
    sys.path.insert(0, str(ROOT))
    try:
        from bench import report
    finally:
        sys.path.remove(str(ROOT))
    stale = report.update_files([ROOT / name for name in report.GENERATED_FILES], check=True)
    assert not stale, f"run `python bench/report.py --update`: stale tables in {[str(p) for p in stale]}"
    for name in report.GENERATED_FILES:
        assert re.search(r"<!-- report:\w+ -->", (ROOT / name).read_text(encoding="utf-8")), name


def test_readme_quick_start_is_what_ci_runs():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    quick = readme.split("## Quick start", 1)[1].split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.strip() for line in quick.splitlines() if line.strip()]
    assert commands == ['pip install ".[plot]" && bmm-numba demo', 'pip install ".[test]" && python -m pytest']
    ci = [line.strip() for line in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert commands[1] in ci, ".ci/run must run the README's test command as written"
    assert 'pip install ".[plot]"' in ci and any(line.startswith("bmm-numba demo") for line in ci)


def test_benchmark_pictures_are_current():
    """Each picture of the benchmarks page records the SHA-256 of the JSON it was drawn from."""
    sys.path.insert(0, str(DOCS))
    try:
        import bench_figures
    finally:
        sys.path.remove(str(DOCS))
    assert not bench_figures.update(check=True), "run `python docs/bench_figures.py` (or build the docs) and commit"
    for name in bench_figures.FIGURE_SOURCES:
        assert f"benchmarks/figures/{name}" in (DOCS / "benchmarks.md").read_text(encoding="utf-8"), name


#: A data folder outside the repository, relative (``../<folder>/data``) or absolute (``/<...>/data/``).
OUTSIDE_DATA = re.compile(r"\.\./[\w.-]+/data\b|(?<![\w.])/[\w.-]+(?:/[\w.-]+)*/data/")


def test_no_page_names_a_data_folder_outside_the_repository():
    for page in [*documentation_pages(), DOCS / "conf.py", ROOT / ".ci" / "run"]:
        text = page.read_text(encoding="utf-8")
        found = OUTSIDE_DATA.findall(text)
        assert not found, f"{page}: {found}; name $BMM_NUMBA_MNIST_DIR instead"


def test_tox_min_pins_the_declared_floors():
    """``tox -e min`` installs exactly the lower bounds that pyproject.toml declares for the run-time dependencies."""
    import configparser

    # the run-time list of [project] (tomllib is 3.11+; the package supports 3.10)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    listed = pyproject.split("\ndependencies = [", 1)[1].split("\n]", 1)[0]
    floors = dict(re.findall(r'^\s*"([\w.-]+)>=([\d.]+)"', listed, flags=re.M))
    assert set(floors) == {"numpy", "numba", "scipy", "scikit-learn", "threadpoolctl"}, floors
    tox = configparser.ConfigParser(interpolation=None)
    tox.read(ROOT / "tox.ini", encoding="utf-8")
    pins = dict(line.strip().split("==") for line in tox["testenv:min"]["deps"].splitlines() if "==" in line)
    from packaging.version import Version

    assert {name: Version(v) for name, v in pins.items()} == {name: Version(v) for name, v in floors.items()}
