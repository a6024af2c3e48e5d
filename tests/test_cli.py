"""The bmm-numba command line, end to end through subprocesses, plus its pictures and plumbing.

Every run uses small data, ``--repeats 1`` and a small ``--max-iter``; nothing asserts a time.
"""

import gzip
import io
import json
import os
import re
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bmm_numba import BernoulliMixture
from bmm_numba.cli.main import build_parser, registry_kernel_names
from bmm_numba.cli.output import FitProgress, atomic_write, prepare_out_dir

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def run_cli(*args, cwd, env_extra=None):
    env = {k: v for k, v in os.environ.items() if k != "BMM_NUMBA_MNIST_DIR"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    env.update(env_extra or {})
    return subprocess.run([sys.executable, "-m", "bmm_numba", *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=240)


def png_size(path):
    """(width, height) from the IHDR chunk, after checking the signature; decodes the image too."""
    data = Path(path).read_bytes()
    assert data[:8] == PNG_SIGNATURE and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    import matplotlib.image

    assert matplotlib.image.imread(io.BytesIO(data), format="png").shape[:2] == (height, width)
    return width, height


def assert_one_line_error(result, *fragments):
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def idx_bytes(array):
    array = np.asarray(array, dtype=np.uint8)
    return bytes([0, 0, 8, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.fixture
def mnist_dir(tmp_path):
    """A tiny MNIST folder (gzipped): 40 train and 12 test images of 28x28, two kinds of strokes."""
    rng = np.random.default_rng(1)
    folder = tmp_path / "mnist"
    folder.mkdir()
    for stem, n in (("train", 40), ("t10k", 12)):
        labels = rng.integers(0, 2, n).astype(np.uint8)
        images = np.zeros((n, 28, 28), dtype=np.uint8)
        images[labels == 0, 10:18, 4:24] = 255
        images[labels == 1, 4:24, 10:18] = 255
        images = np.where(rng.random(images.shape) < 0.05, 255 - images, images).astype(np.uint8)
        (folder / f"{stem}-images-idx3-ubyte.gz").write_bytes(gzip.compress(idx_bytes(images)))
        (folder / f"{stem}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    return folder


# ---------------------------------------------------------------------------------------------
# fast start: --help and argument errors import neither Numba nor scikit-learn
# ---------------------------------------------------------------------------------------------

CHECK_IMPORTS = """
import sys
from bmm_numba.cli.main import main
try:
    status = main(sys.argv[1:])
except SystemExit as exc:
    status = exc.code
heavy = sorted(m for m in ("numba", "sklearn", "scipy", "matplotlib", "llvmlite") if m in sys.modules)
print("STATUS", status, "HEAVY", heavy, file=sys.stderr)
"""


@pytest.mark.parametrize("args, status", [
    (["--help"], 0),
    ([], 0),
    (["compare", "--help"], 0),
    (["fit", "--help"], 0),
    (["select", "--help"], 0),
    (["demo", "--help"], 0),
    (["info", "--help"], 0),
    (["compare", "--kernels", "nope"], 2),
    (["compare", "--sizes", "5,x"], 2),
    (["fit", "--digits", "--npy", "x.npy"], 2),
    (["fit", "--npy", "x.npy", "--kernel", "python_loops"], 2),  # refused before any data are read
    (["compare", "--csv", "x.csv", "--data", "digits"], 2),
    (["fit", "--n-components", "0"], 2),
    (["select", "--n-components", "5-2"], 2),
    (["nonsense"], 2),
])
def test_help_and_argument_errors_import_nothing_heavy(tmp_path, args, status):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", CHECK_IMPORTS, *args], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=60)
    assert f"STATUS {status} HEAVY []" in result.stderr, result.stderr
    if status == 2:
        assert len(result.stderr.strip().splitlines()) == 2  # the one error line + this test's line
        assert "error:" in result.stderr and "Traceback" not in result.stderr


def test_bare_command_prints_help(tmp_path):
    result = run_cli(cwd=tmp_path)
    assert result.returncode == 0
    assert "compare" in result.stdout and "bmm-numba demo" in result.stdout
    assert not list(tmp_path.iterdir())  # wrote nothing


def test_kernel_names_match_the_registry():
    from bmm_numba import E_STEPS

    assert list(registry_kernel_names()) == list(E_STEPS)


def test_parser_spells_the_issue_options():
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices
    expected = {
        "compare": {"--sizes", "--mnist-dir", "--data", "--out", "--kernels", "--n-components", "--repeats",
                    "--threads", "--split", "--threshold", "--random-state", "--csv", "--npy", "--npz", "--debug"},
        "fit": {"--mnist-dir", "--npy", "--npz", "--csv", "--digits", "--n-components", "--n-init", "--max-iter",
                "--threshold", "--random-state", "--out", "--split"},
        "select": {"--mnist-dir", "--npy", "--npz", "--csv", "--digits", "--n-components", "--n-init",
                   "--max-iter", "--threshold", "--random-state", "--out"},
        "demo": {"--out"},
        "info": set(),
    }
    for command, options in expected.items():
        spelled = {s for action in sub[command]._actions for s in action.option_strings}
        assert options <= spelled, (command, options - spelled)


# ---------------------------------------------------------------------------------------------
# each subcommand end to end
# ---------------------------------------------------------------------------------------------

def test_info(tmp_path):
    result = run_cli("info", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for key in ("python", "numpy", "numba", "threading layer", "numba threads", "cpu", "cache dir"):
        assert key in result.stdout


def test_compare_on_digits(tmp_path):
    out = tmp_path / "out"
    result = run_cli("compare", "--data", "digits", "--sizes", "5,10,20", "--repeats", "1", "--n-components", "4",
                     "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "speed-up against python_loops" in result.stdout and "speed-up against numpy" in result.stdout
    assert "underflow check" in result.stdout
    report = json.loads((out / "compare.json").read_text())
    assert report["meta"]["n_features"] == 64 and report["meta"]["n_components"] == 4
    from bmm_numba import E_STEPS

    assert [(r["kernel"], r["n"]) for r in report["records"]] == [(k, n) for k in E_STEPS for n in (5, 10, 20)]
    assert len((out / "compare.csv").read_text().splitlines()) == 1 + 3 * len(E_STEPS)
    assert png_size(out / "compare.png") == (1000, 500)
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.json", "compare.png"]  # no temp files


def test_compare_on_mnist_folder_from_the_environment(tmp_path, mnist_dir):
    out = tmp_path / "out"
    result = run_cli("compare", "--sizes", "5,10", "--kernels", "python_loops,numpy,numba", "--repeats", "1",
                     "--n-components", "2", "--threads", "1", "--time-budget", "1e-9", "--split", "test",
                     "--out", out, cwd=tmp_path, env_extra={"BMM_NUMBA_MNIST_DIR": str(mnist_dir)})
    assert result.returncode == 0, result.stderr
    assert "MNIST test" in result.stdout and "1 Numba thread," in result.stdout
    assert "skipped past the 1e-09 s time budget" in result.stdout
    # 784 pixels and sharp means: attempt 1 underflows on every row, the stable kernels do not
    assert "python_loops  NaN in 10 of 10 rows: underflows (teaching)" in result.stdout
    report = json.loads((out / "compare.json").read_text())
    assert {r["kernel"] for r in report["underflow"] if r["nan_rows"]} == {"python_loops"}
    assert png_size(out / "compare.png") == (1000, 500)


def test_fit_digits(tmp_path):
    out = tmp_path / "out"
    result = run_cli("fit", "--digits", "--n-components", "4", "--max-iter", "5", "--random-state", "1",
                     "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    for key in ("log-likelihood", "BIC", "iterations", "seconds", "adjusted Rand", "purity", "majority label"):
        assert key in result.stdout
    assert "start 1/1" in result.stderr  # progress summary (not a terminal: one line per start)
    with np.load(out / "model.npz", allow_pickle=False) as model:
        assert model["means"].shape == (4, 64) and model["weights"].shape == (4,)
        np.testing.assert_allclose(model["weights"].sum(), 1.0)
        assert int(model["n_iter"]) <= 5 and tuple(model["image_shape"]) == (8, 8)
        assert str(model["kernel"]) == "auto"
    width, height = png_size(out / "means.png")
    assert width > height > 100
    assert sorted(p.name for p in out.iterdir()) == ["means.png", "model.npz"]


def test_fit_mnist_folder(tmp_path, mnist_dir):
    out = tmp_path / "out"
    result = run_cli("fit", "--mnist-dir", mnist_dir, "--n-components", "2", "--n-init", "2", "--max-iter", "20",
                     "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "MNIST train" in result.stdout and "start 2/2" in result.stderr
    assert "adjusted Rand   1.0000" in result.stdout  # two clean kinds of strokes
    with np.load(out / "model.npz", allow_pickle=False) as model:
        assert model["means"].shape == (2, 784) and tuple(model["image_shape"]) == (28, 28)
    png_size(out / "means.png")


def test_fit_csv_with_missing_cells_and_npz_images_with_threshold(tmp_path):
    rng = np.random.default_rng(0)
    X = (rng.random((30, 6)) < 0.5).astype(float)
    X[rng.random(X.shape) < 0.2] = np.nan
    lines = ["a,b,c,d,e,f"] + [",".join("" if np.isnan(v) else str(int(v)) for v in row) for row in X]
    (tmp_path / "d.csv").write_text("\n".join(lines) + "\n")
    result = run_cli("fit", "--csv", "d.csv", "--n-components", "2", "--max-iter", "3", "--out", "o1", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "missing cells" in result.stdout and "adjusted Rand" not in result.stdout
    assert sorted(p.name for p in (tmp_path / "o1").iterdir()) == ["model.npz", "profile.png"]  # not images
    profile = result.stdout.split("class profiles")[1]
    assert re.search(r"class \d \(\d+%, \d+ rows\): [a-f] \d\.\d\d \(\d\.\d\d\)", profile)  # header names
    png_size(tmp_path / "o1" / "profile.png")

    images = rng.integers(0, 256, size=(20, 4, 5))
    np.savez(tmp_path / "img.npz", X=images, y=rng.integers(0, 3, 20))
    result = run_cli("fit", "--npz", "img.npz", "--threshold", "128", "--n-components", "3", "--max-iter", "3",
                     "--out", "o2", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "adjusted Rand" in result.stdout
    png_size(tmp_path / "o2" / "means.png")


def test_select_digits(tmp_path):
    out = tmp_path / "out"
    result = run_cli("select", "--digits", "--n-components", "1-3", "--max-iter", "5", "--n-samples", "300",
                     "--out", out, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "lowest: BIC at K=" in result.stdout
    rows = (out / "select.csv").read_text().splitlines()
    assert rows[0].split(",")[:6] == ["K", "log_likelihood", "n_parameters", "AIC", "BIC", "ICL"]
    assert [row.split(",")[0] for row in rows[1:]] == ["1", "2", "3"]
    assert png_size(out / "select.png") == (800, 500)


def test_demo(tmp_path):
    result = run_cli("demo", "--repeats", "1", "--max-iter", "5", "--out", "demo", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "pictures:" in result.stdout
    defaults = BernoulliMixture().get_params()  # the demo fits with the estimator's defaults
    assert f"tol={defaults['tol']:g}, alpha={defaults['alpha']:g}" in result.stdout
    out = tmp_path / "demo"
    assert sorted(p.name for p in out.iterdir()) == ["compare.csv", "compare.json", "compare.png", "means.png",
                                                    "model.npz"]
    assert str((out / "means.png").resolve()) in result.stdout
    assert png_size(out / "compare.png") == (1000, 500)
    png_size(out / "means.png")


# ---------------------------------------------------------------------------------------------
# error paths: one line on stderr, exit status 2, nothing written
# ---------------------------------------------------------------------------------------------

def _bad_files(tmp_path, mnist_dir):
    truncated = tmp_path / "truncated"
    truncated.mkdir()
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"):
        data = gzip.decompress((mnist_dir / f"{name}.gz").read_bytes())
        (truncated / name).write_bytes(data[:-100] if "images" in name else data)
    magic = tmp_path / "magic"
    magic.mkdir()
    (magic / "train-images-idx3-ubyte").write_bytes(b"\x00\x00\x0c\x03" + bytes(100))
    (magic / "train-labels-idx1-ubyte").write_bytes(idx_bytes(np.zeros(3)))
    np.save(tmp_path / "oned.npy", np.zeros(5))
    np.save(tmp_path / "grey.npy", np.array([[0, 1], [7, 0]]))
    (tmp_path / "a_file").write_text("")


@pytest.mark.parametrize("args, fragments", [
    (["fit", "--mnist-dir", "nowhere"], ["fit: error:", "MNIST folder nowhere does not exist"]),
    (["compare", "--mnist-dir", "nowhere"], ["compare: error:", "does not exist"]),
    (["fit", "--mnist-dir", "truncated"], ["train-images-idx3-ubyte", "truncated"]),
    (["fit", "--mnist-dir", "magic"], ["not an unsigned-byte IDX file"]),
    (["select", "--npy", "oned.npy"], ["oned.npy", "shape (5,)"]),
    (["fit", "--npy", "grey.npy"], ["grey.npy: value 7 at row 2, column 1 is not 0 or 1",
                                   "(rows and columns count from 1); pass --threshold T"]),
    (["fit", "--npy", "missing.npy"], ["No such file or directory", "missing.npy"]),
    (["fit", "--digits", "--out", "a_file/sub"], ["cannot write to output folder a_file/sub"]),
    (["compare", "--out", "a_file"], ["cannot write to output folder a_file"]),
    (["fit"], ["no data: choose one of --digits"]),
    (["fit", "--digits", "--n-components", "5000"], ["5000 is more than the 1797 samples"]),
    (["compare", "--data", "digits", "--sizes", "5000"], ["5000 is more than the 1797 rows"]),
])
def test_errors_are_one_line_with_status_2(tmp_path, mnist_dir, args, fragments):
    _bad_files(tmp_path, mnist_dir)
    before = sorted(p.name for p in tmp_path.iterdir())
    result = run_cli(*args, "--out", "out", cwd=tmp_path) if "--out" not in args else run_cli(*args, cwd=tmp_path)
    assert_one_line_error(result, *fragments)
    after = sorted(p.name for p in tmp_path.iterdir())
    assert after in (before, sorted([*before, "out"]))
    if (tmp_path / "out").exists():
        assert not list((tmp_path / "out").iterdir())  # failed before writing anything


@pytest.mark.skipif(hasattr(os, "geteuid") and os.geteuid() == 0, reason="root can write to read-only folders")
def test_read_only_output_folder(tmp_path):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    try:
        assert_one_line_error(run_cli("fit", "--digits", "--out", out, cwd=tmp_path), "cannot write to output folder")
    finally:
        out.chmod(0o700)


# ---------------------------------------------------------------------------------------------
# plumbing and pictures, in process
# ---------------------------------------------------------------------------------------------

def test_atomic_write_leaves_no_half_written_file(tmp_path):
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError), atomic_write(target) as fh:
        fh.write(b"half")
        raise RuntimeError("failed while writing")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["model.npz"]  # temporary file removed
    with atomic_write(target) as fh:
        fh.write(b"new")
    assert target.read_bytes() == b"new"
    umask = os.umask(0)
    os.umask(umask)
    assert target.stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600


def test_prepare_out_dir_creates_nested_folders(tmp_path):
    assert prepare_out_dir(tmp_path / "a" / "b").is_dir()


class _Terminal(io.StringIO):
    def isatty(self):
        return True


def _drive(progress):
    """The hooks the EM loop calls for one start: two iterations, a re-seed at the second."""
    progress.start(0, 1)
    progress.iteration(1, -20.5, np.inf, 0.1)
    progress.reseeded(2, [3])
    progress.iteration(2, -19.25, 1.25, 0.2)
    progress.end(True, -19.25, 0.2)


def test_progress_bar_follows_the_monitor_hooks():
    log = io.StringIO()
    _drive(FitProgress(1, 10, stream=log))
    lines = log.getvalue().splitlines()
    assert lines == ["Iteration 2\t re-seeded collapsed components [3]",
                     "start 1/1: converged after 2 iterations, objective per sample -19.2500 "
                     + lines[1].split("-19.2500 ")[1]]
    terminal = _Terminal()
    _drive(FitProgress(1, 10, stream=terminal))
    assert "\r" in terminal.getvalue() and "[######" in terminal.getvalue() and "iteration 2/10" in terminal.getvalue()


def test_progress_bar_sees_every_iteration_of_a_fit():
    from sklearn.exceptions import ConvergenceWarning

    from bmm_numba import BernoulliMixture

    log = io.StringIO()
    progress = FitProgress(2, 5, stream=log)

    class Watched(BernoulliMixture):
        def _progress_monitor(self):
            return progress

    rng = np.random.default_rng(0)  # noisy blocks: 5 plain EM passes from random starts stay short of the optimum
    X = (rng.random((40, 8)) < np.repeat([[0.8] * 4 + [0.2] * 4, [0.2] * 4 + [0.8] * 4], 20, axis=0)).astype(int)
    est = Watched(2, n_init=2, max_iter=5, tol=0.0, init_params="random", accelerate="none", random_state=0)
    with pytest.warns(ConvergenceWarning):
        est.fit(X)
    lines = log.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == ["start 1/2", "start 2/2"]
    assert all("did not converge after 5 iterations" in line for line in lines)
    assert any(f"objective per sample {est.lower_bound_:.4f}" in line for line in lines)


def test_plots_have_the_announced_size(tmp_path):
    from bmm_numba.cli.plotting import plot_means, plot_runtimes, plot_selection

    records = [{"kernel": k, "n": n, "seconds": s, "max_abs_diff": 0.0, "nan": False}
               for k, n, s in [("numpy", 5, 1e-4), ("numpy", 10, 2e-4), ("python_loops", 5, 1e-2),
                               ("python_loops", 10, None)]]
    assert png_size_of(plot_runtimes, records, teaching=["python_loops"], tmp=tmp_path) == (1000, 500)
    rng = np.random.default_rng(0)
    for K in (1, 3, 10, 12):
        size = png_size_of(plot_means, rng.random((K, 12)), np.full(K, 1 / K), (3, 4), tmp=tmp_path)
        assert size[0] > 100 and size[1] > 100
    table = {"K": [1, 2, 3], "BIC": [3.0, 1.0, 2.0], "ICL": [3.0, 2.0, 1.0], "AIC": [3.0, 2.0, 1.5]}
    assert png_size_of(plot_selection, table, tmp=tmp_path) == (800, 500)
    with pytest.raises(ValueError, match="does not hold 12 features"):
        plot_means(rng.random((2, 12)), [0.5, 0.5], (3, 3), tmp_path / "x.png")


def png_size_of(plot, *args, tmp, **kwargs):
    path = tmp / f"{plot.__name__}.png"
    announced = plot(*args, path, **kwargs)
    assert png_size(path) == announced
    return announced
