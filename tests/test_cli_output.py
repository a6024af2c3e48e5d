"""What the command line prints, in process: progress off a terminal, the compile notice, Ctrl-C,
info, --help, compare's warnings, CSV advice, --threshold, select.png (issue 14 item 5)."""

import io
import json
import sys

import numpy as np
import pytest

from bmm_numba.cli import commands, output
from bmm_numba.cli.main import build_parser, main
from bmm_numba.cli.output import FitProgress, compile_notice, end_open_line


class _Terminal(io.StringIO):
    def isatty(self):
        return True


class _Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_progress_off_a_terminal_prints_a_line_every_interval():
    log, clock = io.StringIO(), _Clock()
    progress = FitProgress(1, 100, stream=log, interval=10.0, clock=clock)
    progress.start(0, 1)
    for it in range(1, 41):  # 2 s per iteration: a line at 10 s, 20 s, ... 80 s
        clock.now += 2.0
        progress.iteration(it, -100.0 + it, 1.0, clock.now)
    progress.end(True, -60.0, clock.now)
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    assert [line.split(",")[0] for line in lines[:-1]] == [f"start 1/1: iteration {i}/100" for i in (5, 10, 15, 20,
                                                                                                       25, 30, 35, 40)]
    assert lines[0].endswith("(10.0 s)") and lines[-1].startswith("start 1/1: converged after 40 iterations")


def test_interrupted_gets_a_line_of_its_own(monkeypatch, capsys):
    terminal = _Terminal()

    def interrupted_fit(args):
        progress = FitProgress(1, 100, stream=terminal)
        progress.start(0, 1)
        progress.iteration(3, -20.0, 1.0, 0.1)
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "run_fit", interrupted_fit)
    monkeypatch.setattr(sys, "stderr", terminal)
    assert main(["fit", "--digits"]) == 130
    text = terminal.getvalue()
    assert "iteration 3/100" in text
    assert text.endswith(" \nbmm-numba: interrupted\n"), repr(text[-80:])


def test_compile_notice_once_when_compiling_and_never_when_compiled():
    import numba

    @numba.njit
    def add_one(x):  # a new function: compiled on its first call, never loaded from a cache
        return x + 1

    terminal = _Terminal()
    progress = FitProgress(1, 10, stream=terminal)
    progress.start(0, 1)  # a bar is open: the notice starts a line of its own
    with compile_notice(terminal):
        add_one(1)
        add_one(2.5)  # a second compilation: no second notice
    assert terminal.getvalue().count(output.COMPILING) == 1
    assert f" \n{output.COMPILING}\n" in terminal.getvalue()
    warm = io.StringIO()
    with compile_notice(warm):
        add_one(3)
    assert warm.getvalue() == ""
    end_open_line()


def test_info_prints_the_package_once_and_no_local_path_elsewhere(capsys):
    from bmm_numba.cli.info import package_location

    assert main(["info"]) == 0
    out = capsys.readouterr().out
    rows = dict(line.split(None, 1) if not line.startswith(("numba threads", "threading layer", "logical cpus",
                                                               "llvm host", "cache dir"))
                else (line[:20].strip(), line[20:].strip()) for line in out.splitlines())
    location = str(package_location())
    assert rows["package"].strip() == location
    assert sum(location in line for line in out.splitlines()) == 1
    assert rows["cache dir"].startswith(("<package>", "off", "none")) or location not in rows["cache dir"]


def test_help_epilogue_parses_and_demo_help_names_its_files(capsys):
    from bmm_numba.cli.main import EPILOG

    parser = build_parser()
    examples = [line.split("bmm-numba", 1)[1].split("(")[0].split() for line in EPILOG.splitlines()
                if "bmm-numba " in line]
    assert len(examples) == 5
    for argv in examples:
        parser.parse_args(argv)
    assert "select --digits --n-components 1-15" in EPILOG  # the README's select sample
    with pytest.raises(SystemExit):
        main(["demo", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    for name in ("means.png", "model.npz", "compare.png", "compare.json", "compare.csv"):
        assert name in help_text


def test_compare_warns_on_unreliable_timings(monkeypatch, tmp_path, capsys):
    from bmm_numba.cli import compare

    def busy_machine(X, mu, pi, *, sizes, kernels, repeats, time_budget, threads=None):
        seconds = {"numpy": [1e-4, 24e-3, 24e-3], "numba": [2e-5, 3e-5, 8e-5]}[kernels[0]]
        return [{"kernel": kernels[0], "n": n, "seconds": s, "spread": 3.0 if s == 24e-3 else 1.1,
                 "max_abs_diff": 0.0, "nan": False, "warning": None} for n, s in zip(sizes, seconds, strict=True)]

    monkeypatch.setattr(compare, "compare_kernels", busy_machine)
    monkeypatch.setattr(compare, "underflow_check", lambda X, **kw: [])
    assert main(["compare", "--data", "synthetic", "--sizes", "50,100,1000", "--kernels", "numpy,numba",
                 "--threads", "1", "--out", str(tmp_path)]) == 0
    captured = capsys.readouterr()
    assert "warning: 2 of 6 timings look unreliable (a busy machine?): numpy n=100, numpy n=1000; marked ! in " \
           "the table" in captured.err
    assert "1 Numba thread, 1 BLAS thread;" in captured.out and "24 ms!" in captured.out
    report = json.loads((tmp_path / "compare.json").read_text())
    assert report["meta"]["blas_threads"] == 1
    assert [w.split(":")[0] for w in report["meta"]["warnings"]] == ["numpy n=100", "numpy n=1000"]
    assert [r["warning"] is not None for r in report["records"]] == [False, True, True, False, False, False]
    assert "warning" in (tmp_path / "compare.csv").read_text().splitlines()[0]


def _fit(tmp_path, *args):
    return main(["fit", *map(str, args), "--n-components", "2", "--max-iter", "2", "--out", str(tmp_path / "out")])


def test_csv_header_is_said(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("a,b,c\n1,0,1\n0,1,1\n1,1,0\n")
    assert _fit(tmp_path, "--csv", tmp_path / "d.csv") == 0
    assert "skipped line 1 as a header (names; numbers from line 2 on): a,b,c" in capsys.readouterr().err


def test_csv_wrong_separator_names_the_option(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("0;1;0\n1;0;1\n")
    assert _fit(tmp_path, "--csv", tmp_path / "d.csv", "--delimiter", ",") == 2
    err = capsys.readouterr().err
    assert "d.csv, line 1, column 1: '0;1;0' is not a number; the file looks semicolon-separated: " \
           "pass --delimiter ';'" in err
    (tmp_path / "t.csv").write_text("0\t1\t0\n1\t0\t1\n1\t1\t1\n")
    assert _fit(tmp_path, "--csv", tmp_path / "t.csv") == 0  # guessed


def test_csv_id_column_gets_drop_columns_advice(tmp_path, capsys):
    (tmp_path / "d.csv").write_text("id,a,b\n\n1,0,1\n2,1,1\n3,0,0\n4,1,0\n")
    assert _fit(tmp_path, "--csv", tmp_path / "d.csv") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "d.csv, line 4, column 1: value 2 is not 0 or 1 (lines and columns count from 1)" in err
    assert "column 1 looks like a row id" in err and "--drop-columns 1" in err and "pass --threshold" not in err
    assert _fit(tmp_path, "--csv", tmp_path / "d.csv", "--drop-columns", "1") == 0
    (tmp_path / "g.csv").write_text("0,1,3\n1,0,0\n0,0,1\n")
    assert _fit(tmp_path, "--csv", tmp_path / "g.csv", "--drop-columns", "1") == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "line 1, column 3: value 3 is not 0 or 1" in err and "pass --threshold T" in err


def test_cli_threshold_is_the_api_rule(tmp_path):
    from bmm_numba.cli.data import load_data
    from bmm_numba.datasets import binarize

    X = np.array([[0, 128, 127], [255, 128, 0]])
    np.save(tmp_path / "x.npy", X)
    args = build_parser().parse_args(["fit", "--npy", str(tmp_path / "x.npy"), "--threshold", "128"])
    np.testing.assert_array_equal(load_data(args).X, binarize(X, 128))
    np.testing.assert_array_equal(load_data(args).X, [[0, 1, 0], [1, 1, 0]])


def test_select_plot_shows_every_criterion_and_its_star(monkeypatch, tmp_path):
    from bmm_numba.cli import plotting

    figures = []
    monkeypatch.setattr(plotting, "_save", lambda fig, file: figures.append(fig) or (800, 500))
    # MNIST-like: BIC and ICL differ by under 0.1 %, AIC far below
    bic = np.array([9.0e6, 8.5e6, 8.2e6, 8.25e6])
    table = {"K": [1, 2, 3, 4], "BIC": list(bic), "ICL": list(bic + 3e3), "AIC": list(bic - 2e5)}
    plotting.plot_selection(table, tmp_path / "s.png")
    axes = figures[0].axes
    assert [ax.get_ylabel() for ax in axes] == ["BIC", "ICL", "AIC"]
    for ax in axes:
        curve, star = ax.lines
        assert star.get_marker() == "*" and star.get_zorder() > curve.get_zorder()
        assert star.get_xdata()[0] == 3
    assert len({(ax.lines[0].get_marker(), ax.lines[0].get_linestyle()) for ax in axes}) == 3
