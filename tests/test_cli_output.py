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


# ---------------------------------------------------------------------------------------------
# issue 23: compare's picture and BLAS threads, its file inputs, global flags, class profiles
# ---------------------------------------------------------------------------------------------

def _figures(monkeypatch):
    from bmm_numba.cli import plotting

    figures = []

    def keep(fig, file):
        figures.append(fig)
        return (1000, 500)

    monkeypatch.setattr(plotting, "_save", keep)
    return figures


def test_runtime_plot_draws_unreliable_points_hollow_and_the_switch(monkeypatch, tmp_path):
    from bmm_numba.cli import plotting

    figures = _figures(monkeypatch)
    records = [{"kernel": "numpy", "n": n, "seconds": s, "warning": w}
               for n, s, w in [(100, 2e-4, None), (200, 3e-2, "busy"), (500, 1e-3, None)]]
    records += [{"kernel": "numba", "n": n, "seconds": s, "warning": None} for n, s in [(100, 5e-5), (500, 1e-4)]]
    plotting.plot_runtimes(records, tmp_path / "c.png", switches=[("numba", 192)], title="t")
    ax = figures[0].axes[0]
    hollow = [line for line in ax.lines if line.get_markerfacecolor() == "white" and len(line.get_xdata())]
    assert [list(line.get_xdata()) for line in hollow] == [[200.0]]  # the flagged point only
    assert [line.get_xdata()[0] for line in ax.lines if line.get_linestyle() == ":"] == [192]
    legend = [text.get_text() for text in ax.get_legend().get_texts()]
    assert legend[:2] == ["numpy", "numba"]
    assert any(t.startswith("hollow: unreliable") for t in legend) and "algorithm switch" in legend
    assert "teaching" not in " ".join(legend)  # none plotted, none announced
    plotting.plot_runtimes(records[3:], tmp_path / "c.png", teaching=["numba"])
    legend = [text.get_text() for text in figures[1].axes[0].get_legend().get_texts()]
    assert legend == ["numba (teaching)"]  # nothing flagged, no switch straddled: no extra entries


def test_compare_title_counts_threads_in_words(monkeypatch, tmp_path):
    from bmm_numba.cli import compare

    figures = _figures(monkeypatch)
    monkeypatch.setattr(compare, "underflow_check", lambda X, **kw: [])
    assert main(["compare", "--data", "synthetic", "--sizes", "5,10", "--kernels", "numba", "--repeats", "1",
                 "--threads", "1", "--out", str(tmp_path)]) == 0
    title = figures[0].axes[0].get_title()
    assert "1 Numba thread, 1 BLAS thread;" in title and "threads" not in title and "dashed" not in title


def _compare_on_a_fake_machine(monkeypatch, timings, sizes, kernels, tmp_path):
    """Run ``bmm-numba compare`` (it must exit 0) with ``timings(kernel, sizes) -> seconds`` as every
    kernel's timer, its rows flagged as the real timer's are, and two BLAS threads reported."""
    import threadpoolctl

    from bmm_numba.cli import compare

    def fake(X, mu, pi, *, sizes, kernels, repeats, time_budget, threads=None):
        seconds = timings(kernels[0], sizes)
        return compare.flag_unreliable([{"kernel": kernels[0], "n": n, "seconds": s, "spread": 1.0,
                                         "max_abs_diff": 0.0, "nan": False, "warning": None}
                                        for n, s in zip(sizes, seconds, strict=True)])

    monkeypatch.setattr(compare, "compare_kernels", fake)
    monkeypatch.setattr(compare, "underflow_check", lambda X, **kw: [])
    monkeypatch.setattr(threadpoolctl, "threadpool_info", lambda: [{"user_api": "blas", "num_threads": 2}])
    assert main(["compare", "--data", "synthetic", "--sizes", sizes, "--kernels", kernels,
                 "--out", str(tmp_path)]) == 0


def test_compare_retimes_blas_kernels_with_one_thread_when_flagged(monkeypatch, tmp_path, capsys):
    """Two BLAS threads on a busy machine: numpy's cliff is timed again with one BLAS thread."""
    import threadpoolctl

    calls = []

    def machine(kernel, sizes):
        blas = {p["num_threads"] for p in threadpoolctl.threadpool_info() if p["user_api"] == "blas"}
        calls.append((kernel, blas))
        busy = kernel == "numpy" and len([c for c in calls if c[0] == "numpy"]) == 1  # the first numpy run
        return [2e-4, 3e-2, 1e-3] if busy else [1e-4, 2e-4, 5e-4]

    _compare_on_a_fake_machine(monkeypatch, machine, "100,200,500", "numpy,numba_ones", tmp_path)
    out = capsys.readouterr().out
    assert [c[0] for c in calls] == ["numpy", "numpy", "numba_ones"]  # numba_ones: no BLAS, not re-timed
    assert "BLAS: numpy timed with 1 BLAS thread: with 2 its timings were unreliable" in out
    assert "!" not in out.split("speed-up")[0]  # the kept table is the smooth one
    report = json.loads((tmp_path / "compare.json").read_text())
    assert report["meta"]["blas_threads_1_for"] == ["numpy"] and report["meta"]["warnings"] == []


def _votes_csv(path, n=120, seed=0):
    """A survey-like CSV with a header: two groups answering 6 yes/no questions differently."""
    rng = np.random.default_rng(seed)
    p = np.array([[0.9, 0.9, 0.1, 0.1, 0.5, 0.8], [0.1, 0.2, 0.9, 0.8, 0.5, 0.8]])
    X = (rng.random((n, 6)) < p[rng.integers(0, 2, n)]).astype(int)
    names = ["id", "budget", "defence", "schools", "health", "roads", "parks"]
    rows = [",".join(names)] + [",".join(map(str, [i + 1, *row])) for i, row in enumerate(X)]
    path.write_text("\n".join(rows) + "\n")
    return X


@pytest.mark.parametrize("source", ["--csv", "--npy", "--npz"])
def test_compare_reads_the_files_fit_reads(tmp_path, capsys, source):
    X = _votes_csv(tmp_path / "v.csv")
    np.save(tmp_path / "v.npy", X)
    np.savez(tmp_path / "v.npz", X=X)
    path = {"--csv": tmp_path / "v.csv", "--npy": tmp_path / "v.npy", "--npz": tmp_path / "v.npz"}[source]
    extra = ["--drop-columns", "1"] if source == "--csv" else []
    assert main(["compare", source, str(path), *extra, "--sizes", "5,50", "--kernels", "numpy,numba",
                 "--repeats", "1", "--n-components", "2", "--out", str(tmp_path / "o")]) == 0
    report = json.loads((tmp_path / "o" / "compare.json").read_text())
    assert report["meta"]["n_features"] == 6 and path.name in report["meta"]["data"]
    assert {r["kernel"] for r in report["records"] if r["max_abs_diff"] is not None and r["max_abs_diff"] < 1e-9} \
        == {"numpy", "numba"}
    capsys.readouterr()
    assert main(["compare", source, str(path), *extra, "--sizes", "500", "--out", str(tmp_path / "o")]) == 2
    assert f"--sizes 500 is more than the 120 rows of {path.name}" in capsys.readouterr().err


def test_compare_refuses_missing_cells_and_names_its_inputs(tmp_path, capsys):
    (tmp_path / "m.csv").write_text("a,b\n1,\n0,1\n1,1\n")
    assert main(["compare", "--csv", str(tmp_path / "m.csv"), "--sizes", "2", "--out", str(tmp_path / "o")]) == 2
    assert "m.csv: 1 missing cell in the first 2 rows; compare times" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", "--csv", "a.csv", "--data", "digits"])
    assert "not allowed with argument" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["compare", "--help"])
    help_text = " ".join(capsys.readouterr().out.split())
    assert "choose one of --mnist-dir, --data, --npy, --npz, --csv" in help_text


@pytest.mark.parametrize("argv", [["--debug", "fit", "--digits"], ["fit", "--digits", "--debug"],
                                  ["fit", "--debug", "--digits"]])
def test_debug_is_accepted_before_and_after_the_subcommand(argv):
    assert build_parser().parse_args(argv).debug is True
    assert build_parser().parse_args(["fit", "--digits"]).debug is False


def test_version_after_the_subcommand(capsys):
    from bmm_numba import __version__

    with pytest.raises(SystemExit) as exc:
        main(["select", "--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.strip() == f"bmm-numba {__version__}"


def test_debug_after_the_subcommand_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError):
        main(["fit", "--npy", str(tmp_path / "missing.npy"), "--debug", "--out", str(tmp_path / "o")])


@pytest.mark.parametrize("kernel, says", [("python_loops", "'python_loops' is a teaching kernel"),
                                          ("nope", "'nope' is not a kernel")])
def test_kernel_is_checked_before_the_data_are_read(tmp_path, capsys, kernel, says):
    with pytest.raises(SystemExit) as exc:
        main(["fit", "--npy", str(tmp_path / "missing.npy"), "--kernel", kernel, "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and says in err and "choose auto or one of numpy" in err
    assert "missing.npy" not in err and not (tmp_path / "o").exists()


def test_distinctive_columns_against_the_formula():
    means = np.array([[0.9, 0.5, 0.1], [0.2, 0.5, 0.7]])
    weights = np.array([0.25, 0.75])
    from bmm_numba.cli.profiles import distinctive_columns

    rows = distinctive_columns(means, weights, top=2)
    overall = [0.25 * 0.9 + 0.75 * 0.2, 0.5, 0.25 * 0.1 + 0.75 * 0.7]  # 0.375, 0.5, 0.55
    assert [k for k, _ in rows] == [1, 0]  # heaviest first
    # class 0: |0.9 - 0.375| = 0.525 > |0.1 - 0.55| = 0.45 > 0; class 1: |0.2 - 0.375| = 0.175 > |0.7 - 0.55| = 0.15
    assert [j for j, _, _ in rows[1][1]] == [0, 2]
    assert [j for j, _, _ in rows[0][1]] == [0, 2]
    j, p, q = rows[1][1][0]
    assert (p, q) == (0.9, pytest.approx(overall[0]))


def test_fit_csv_prints_profiles_named_from_the_header_and_writes_profile_png(tmp_path, capsys, monkeypatch):
    figures = _figures(monkeypatch)
    _votes_csv(tmp_path / "v.csv")
    assert main(["fit", "--csv", str(tmp_path / "v.csv"), "--drop-columns", "1", "--n-components", "2",
                 "--random-state", "0", "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    profile = out.split("class profiles")[1]
    assert profile.count("  class ") == 2 and "id " not in profile
    for name in ("budget", "defence", "schools", "health"):  # the columns the two groups split on
        assert profile.count(name) == 2
    assert "wrote: " in out and "profile.png" in out
    ax = figures[0].axes[0]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["budget", "defence", "schools", "health", "roads",
                                                           "parks"]
    assert len(ax.lines) == 2 and "Class profiles, K=2" in ax.get_title()


def test_select_csv_writes_the_profile_of_the_lowest_bic(tmp_path, capsys, monkeypatch):
    figures = _figures(monkeypatch)
    _votes_csv(tmp_path / "v.csv", n=200)
    assert main(["select", "--csv", str(tmp_path / "v.csv"), "--drop-columns", "1", "--n-components", "1-3",
                 "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    best = out.split("lowest: BIC at K=")[1].split(",")[0]
    assert f"K={best} (lowest BIC)" in out and out.split("class profiles")[1].count("  class ") == int(best)
    assert f"Class profiles, K={best} (lowest BIC)" in figures[-1].axes[0].get_title()


def test_profile_plot_falls_back_to_the_columns_that_split_the_classes(tmp_path, monkeypatch):
    from bmm_numba.cli import plotting

    figures = _figures(monkeypatch)
    rng = np.random.default_rng(0)
    means = np.full((3, 60), 0.5) + rng.uniform(-0.01, 0.01, (3, 60))
    split = rng.choice(60, size=plotting.PROFILE_MAX_COLUMNS, replace=False)
    means[:, split] = [[0.9], [0.1], [0.5]]
    plotting.plot_profiles(means, [0.5, 0.3, 0.2], tmp_path / "p.png")
    ax = figures[0].axes[0]
    assert [int(t.get_text()) - 1 for t in ax.get_xticklabels()] == sorted(split)  # 1-based names, file order
    assert "the 40 of 60 columns where the classes differ most" in ax.get_title()
    plotting.plot_profiles(means[:, :12], [0.5, 0.3, 0.2], tmp_path / "p.png", columns=list("abcdefghijkl"))
    assert len(figures[1].axes[0].get_xticklabels()) == 12 and "differ most" not in figures[1].axes[0].get_title()
    with pytest.raises(ValueError, match="2 column names for 12 columns"):
        plotting.plot_profiles(means[:, :12], [0.5, 0.3, 0.2], tmp_path / "p.png", columns=["a", "b"])


def test_compare_keeps_the_first_timing_when_one_blas_thread_is_no_steadier(monkeypatch, tmp_path, capsys):
    calls = []

    def always_busy(kernel, sizes):
        calls.append(kernel)
        return [2e-4, 3e-2]

    _compare_on_a_fake_machine(monkeypatch, always_busy, "100,200", "numpy_gemm", tmp_path)
    out = capsys.readouterr().out
    assert calls == ["numpy_gemm", "numpy_gemm"]
    assert "BLAS: numpy_gemm timed again with 1 BLAS thread, no steadier: the 2-thread timings are kept" in out
    assert "30 ms!" in out and json.loads((tmp_path / "compare.json").read_text())["meta"]["blas_threads_1_for"] == []
