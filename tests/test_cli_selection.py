"""``bmm-numba select --blrt B`` and ``bmm-numba fit --report`` (issue 21), run in this process."""

import numpy as np

from bmm_numba.cli.main import build_parser, main
from bmm_numba.datasets import load_lca


def _carcinoma(tmp_path):
    X, _ = load_lca("carcinoma")
    path = tmp_path / "carcinoma.npy"
    np.save(path, X)
    return path


def test_parser_has_the_model_choice_options():
    sub = build_parser()._subparsers._group_actions[0].choices
    assert "--blrt" in {s for a in sub["select"]._actions for s in a.option_strings}
    assert "--report" in {s for a in sub["fit"]._actions for s in a.option_strings}


def test_select_blrt_fills_the_column(tmp_path, capsys):
    path = _carcinoma(tmp_path)
    out = tmp_path / "out"
    assert main(["select", "--npy", str(path), "--n-components", "1-3", "--blrt", "2", "--out", str(out)]) == 0
    rows = [line.split(",") for line in (out / "select.csv").read_text().splitlines()]
    column = rows[0].index("BLRT_p")
    assert rows[1][column] == "nan" and float(rows[2][column]) == 1 / 3  # (1 + 0) / (2 + 1): T is ~400
    assert float(rows[3][column]) in (1 / 3, 2 / 3, 1.0)
    assert "BLRT_p" in capsys.readouterr().out
    assert main(["select", "--npy", str(path), "--n-components", "1-2", "--out", str(out)]) == 0
    rows = [line.split(",") for line in (out / "select.csv").read_text().splitlines()]
    assert all(r[column] == "nan" for r in rows[1:])


def test_fit_report_prints_the_summary(tmp_path, capsys):
    path = _carcinoma(tmp_path)
    out = tmp_path / "out"
    assert main(["fit", "--npy", str(path), "--n-components", "2", "--report", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    for part in ("Latent class model", "G2", "avepp", "Item-response probabilities", "bivariate residuals"):
        assert part in text
    assert main(["fit", "--npy", str(path), "--n-components", "2", "--out", str(out)]) == 0
    assert "Item-response probabilities" not in capsys.readouterr().out
