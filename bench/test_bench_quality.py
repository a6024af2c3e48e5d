"""Smoke test of the quality benchmark (``bench/quality.py``) on a tiny panel.

Runs the script's own functions on 150 rows of digits (complete and with missing cells), K = 2,
one seed, the estimator's defaults and StepMix's (when installed), and checks every column is
written and finite where it must be.  The measured panel is run as a script (module docstring).
"""

import json
import math

import pytest

from bench import quality


def test_quality_panel_smoke(tmp_path):
    methods = ["bmm", "bmm:alpha=0.0,init_params='random'"]
    try:
        import stepmix  # noqa: F401

        methods.append("stepmix")
    except ImportError:
        pass
    rows = quality.run(["digits", "digits_missing"], [2], [0], methods, max_rows=150, log=lambda line: None)
    assert len(rows) == 2 * len(methods)
    for row in rows:
        assert set(row) == set(quality.COLUMNS)
        for column in ("train_ll", "test_ll", "ari", "bic", "seconds"):
            assert math.isfinite(row[column]), (row["method"], column)
        assert row["train_ll"] < 0 and row["n_iter"] >= 1 and 1 <= row["n_components"] <= 2
    quality.save(rows, tmp_path)
    assert json.loads((tmp_path / "quality.json").read_text()) == rows
    lines = (tmp_path / "quality.md").read_text().splitlines()
    table = lines[: lines.index("")]  # the means; then the check against StepMix
    assert len(table) == 2 + 2 * len(methods)


def test_parse_method():
    expected = ("bmm", {"alpha": 0.5, "init_params": "random"})
    assert quality.parse_method("bmm:alpha=0.5,init_params='random'") == expected
    with pytest.raises(ValueError, match="unknown method"):
        quality.fit_one("nope", {}, None, None, None, 2, 0, False)
