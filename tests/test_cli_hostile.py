"""Command-line reproducers of issue 15 (items 7, 10, 11) and the model file the CLI writes."""

import argparse
import os
import signal
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning

from bmm_numba import BernoulliMixture, load_model
from bmm_numba.cli.main import _one_line, main
from bmm_numba.datasets import load_digits_binary

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("value", ["nan", "inf", "-inf"])
def test_threshold_not_finite_exits_2(value, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--digits", f"--threshold={value}"])
    assert exc.value.code == 2
    assert "--threshold: must be a finite number" in capsys.readouterr().err


SIGTERM_SCRIPT = textwrap.dedent(
    """
    import os, signal, sys, time
    import numpy as np

    def write_then_get_killed(member, array, *args, **kwargs):  # SIGTERM while the model file is half written
        member.write(b"half a model")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(60)

    np.lib.format.write_array = write_then_get_killed  # the model file's writer (estimator/persist.py)
    from bmm_numba.cli.main import main
    sys.exit(main(["fit", "--digits", "--n-components", "2", "--max-iter", "2", "--out", sys.argv[1]]))
    """
)


def test_sigterm_while_writing_removes_the_temporary_file(tmp_path):
    script = tmp_path / "term.py"
    script.write_text(SIGTERM_SCRIPT)
    out = tmp_path / "out"
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.run([sys.executable, str(script), str(out)], env=env, capture_output=True, text=True,
                          timeout=240)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr[-2000:]
    assert "terminated" in proc.stderr
    assert sorted(p.name for p in out.iterdir()) == [], "a partial .model.npz.XXXXXXXX.tmp was left"


def test_csv_streamed_stops_at_n_samples(tmp_path, capsys):
    path = tmp_path / "x.csv"
    rng = np.random.default_rng(0)
    rows = (rng.random((40, 5)) < 0.5).astype(int)
    path.write_text("\n".join(",".join(map(str, r)) for r in rows) + "\nnot,a,number,at,all\n")
    code = main(["fit", "--csv", str(path), "--n-samples", "40", "--n-components", "2", "--max-iter", "3",
                 "--out", str(tmp_path / "out")])
    assert code == 0, capsys.readouterr().err
    assert main(["fit", "--csv", str(path), "--n-components", "2", "--out", str(tmp_path / "o2")]) == 2
    assert "line 41" in capsys.readouterr().err


@pytest.mark.skipif(not os.path.exists("/dev/zero"), reason="needs /dev/zero")
def test_csv_dev_zero_exits_2(tmp_path, capsys):
    assert main(["fit", "--csv", "/dev/zero", "--out", str(tmp_path / "out")]) == 2
    assert "/dev/zero" in capsys.readouterr().err


def test_out_of_memory_advice_fits_the_options():
    assert "try --n-samples" in _one_line(MemoryError(), argparse.Namespace(n_samples=None))
    given = _one_line(MemoryError(), argparse.Namespace(n_samples=500))
    assert "--n-samples 500" in given and "fewer" in given
    assert "--n-samples" not in _one_line(MemoryError(), argparse.Namespace())


def test_cli_model_file_loads_and_predicts(tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["fit", "--digits", "--n-components", "3", "--max-iter", "5", "--random-state", "1",
                 "--out", str(out)]) == 0
    bm = load_model(out / "model.npz")
    assert isinstance(bm, BernoulliMixture) and bm.means_.shape == (3, 64)
    X, _ = load_digits_binary()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # 5 iterations may or may not converge
        fitted = BernoulliMixture(3, max_iter=5, random_state=1).fit(X)
    np.testing.assert_array_equal(bm.predict_proba(X), fitted.predict_proba(X))
    with np.load(out / "model.npz", allow_pickle=False) as f:  # the report is kept alongside
        assert tuple(f["image_shape"]) == (8, 8) and "bic" in f.files
