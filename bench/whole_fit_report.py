"""The record of ``bench/whole_fit.py``: the machine, the Markdown tables, the files written."""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import numpy as np

#: Environment variables recorded with every run (OpenBLAS's two hold NumPy's BLAS to older kernels).
ENV_RECORDED = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS",
                "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "BMM_NUMBA_CACHE", "BMM_NUMBA_PARAM_CACHE")


def median(rows, key):
    """Median of ``row[key]`` over ``rows`` (NaN for none)."""
    return float(np.median([r[key] for r in rows])) if rows else float("nan")


def machine_info():
    """CPU, cores, load, Numba threading, NumPy's BLAS (threadpoolctl), versions, date, environment."""
    import platform
    from importlib import metadata

    import numba
    from threadpoolctl import threadpool_info

    cpu = platform.processor()
    if Path("/proc/cpuinfo").exists():
        cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                    if line.startswith("model name")), cpu)
    try:
        layer = numba.threading_layer()
    except ValueError:
        layer = "none started (no parallel kernel ran)"
    versions = {"python": platform.python_version()}
    for package in ("bmm_numba", "numpy", "numba", "scipy", "scikit-learn", "stepmix", "threadpoolctl"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    root = Path(__import__("bmm_numba").__file__).parent
    git = subprocess.run(["git", "-C", str(root), "describe", "--always", "--dirty"], capture_output=True, text=True)
    keys = ("user_api", "internal_api", "prefix", "version", "architecture", "threading_layer", "num_threads")
    return {"cpu": cpu, "cpu_count": os.cpu_count(), "affinity": len(os.sched_getaffinity(0)),
            "load_average": os.getloadavg(), "numba_threading_layer": layer,
            "numba_threads": numba.get_num_threads(), "blas": [{k: i.get(k) for k in keys} for i in threadpool_info()],
            "versions": versions, "bmm_numba_path": str(root), "bmm_numba_git": git.stdout.strip() or None,
            "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()),
            "environment": {k: os.environ.get(k) for k in ENV_RECORDED}}


def _ratio(a, b):
    return f"{a / b:.1f}x" if a == a and b == b and b > 0 else "–"


def _default_rows(rows, accelerate):
    """The estimator's rows with its default ``accelerate`` (rows without the key: older records)."""
    return [r for r in rows if r["side"] == "bmm" and r.get("accelerate", accelerate) == accelerate]


def _max(rows, key):
    values = [r[key] for r in rows if key in r]
    return max(values) if values else float("nan")


def _g(value, spec=".2g"):
    """``value`` formatted, or a dash for NaN (not measured: older records)."""
    return format(value, spec) if value == value else "–"


def whole_summary(result):
    """``[(data, K, bmm seconds, StepMix seconds)]`` of the ``whole`` panel: medians, the default ``accelerate``."""
    rows, accelerate = result["panels"].get("whole", []), result["settings"].get("accelerate")
    K = result["settings"]["K"]
    out = []
    for name in dict.fromkeys(r["data"] for r in rows):
        mine = [r for r in rows if r["data"] == name]
        out.append((name, mine[0].get("K", K.get(name) if isinstance(K, dict) else K),
                    median(_default_rows(mine, accelerate), "seconds"),
                    median([r for r in mine if r["side"] == "stepmix"], "seconds")))
    return out


def _whole(rows, accelerate, K_setting=None):
    lines = ["Whole default fit: median seconds (number of fits), median iterations (the estimator's after its "
             "start, whose short EM the split panel times), mean log-likelihood `score(X)` (the plain likelihood on "
             "both sides), and the largest *gap* over the estimator's fits: how far below the fixed point of its own "
             "objective the fit stopped, in nats per sample (plain EM continued from its means and weights at "
             "`tol=0`; the issue's bar: < 0.01):", "",
             "| data | N x D | K | bmm s | bmm iter | bmm ll | gap (max) | StepMix s | StepMix iter | StepMix ll | "
             "StepMix / bmm |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["data"] for r in rows):
        b = _default_rows([r for r in rows if r["data"] == name], accelerate)
        s = [r for r in rows if r["data"] == name and r["side"] == "stepmix"]
        tb, ts = median(b, "seconds"), median(s, "seconds")
        K = b[0].get("K", K_setting.get(name, "") if isinstance(K_setting, dict) else K_setting)
        lines.append(f"| {name} | {b[0]['n']} x {b[0]['d']} | {K} | {tb:.3g} ({len(b)}) | {median(b, 'n_iter'):g} | "
                     f"{median(b, 'log_likelihood'):.3f} | {_g(_max(b, 'gap'))} | {_g(ts, '.3g')} ({len(s)}) | "
                     f"{_g(median(s, 'n_iter'), 'g')} | {_g(median(s, 'log_likelihood'), '.3f')} | {_ratio(ts, tb)} |")
    return lines


def _schemes(rows):
    return list(dict.fromkeys(r.get("accelerate") for r in rows if r["side"] == "bmm"))


def _whole_schemes(rows):
    lines = ["Acceleration on the whole panel (the estimator's `accelerate`; medians over the seeds): the default fit "
             "(seconds, accepted iterations / passes over the data, the largest gap to its fixed point in nats per "
             "sample), and the same fit at `tol=0`, which ends at the fixed point (seconds, passes, the objective "
             "reached per sample: the time to the fixed point; schemes may end at different fixed points, so read the "
             "winner with the objective):", "",
             "| data | accelerate | seconds | iterations / passes | gap (max) | `tol=0` seconds | `tol=0` passes | "
             "`tol=0` objective |", "|---|---|---|---|---|---|---|---|"]
    wins = {}
    for name in dict.fromkeys(r["data"] for r in rows):
        times = {}
        for scheme in _schemes(rows):
            b = [r for r in rows if r["data"] == name and r["side"] == "bmm" and r.get("accelerate") == scheme]
            fp = [r for r in b if "fp_seconds" in r]
            times[scheme] = median(fp, "fp_seconds")
            lines.append(f"| {name} | {scheme} | {median(b, 'seconds'):.3g} | {median(b, 'n_iter'):g} / "
                         f"{median(b, 'n_passes'):g} | {_g(_max(b, 'gap'))} | {_g(times[scheme], '.3g')} | "
                         f"{_g(median(fp, 'fp_n_passes'), 'g')} | {_g(median(fp, 'fp_lower_bound'), '.4f')} |")
        if all(t == t for t in times.values()):
            winner = min(times, key=times.get)
            wins[winner] = wins.get(winner, 0) + 1
    if wins:
        lines += ["", "Fastest `accelerate` to the fixed point (`tol=0`), data sets won: "
                  + ", ".join(f"`{s}` {n}" for s, n in sorted(wins.items(), key=lambda item: -item[1])) + "."]
    return lines


def _lca(rows, accelerate):
    schemes = _schemes(rows)
    lines = ["Slow latent-class problems, maximum likelihood (`alpha=0`), 20 starts to `tol=1e-10` "
             "(StepMix: `abs_tol=1e-10, rel_tol=0`), `max_iter=100000`: median seconds per `accelerate` (number of "
             "fits), plain EM's iterations (its best start's `n_iter_`, median; the generated problems must need "
             "> 500), the median total log-likelihood reached by the default scheme and by StepMix, the largest "
             "|difference| between a default-scheme fit's and StepMix's best (the bar: 1e-3), how many fits of each "
             "scheme ended more than 1e-3 below StepMix's best (another local maximum), and StepMix / bmm with the "
             "default scheme:", "",
             "| data | N x D | K | " + " | ".join(f"bmm `{s}` s" for s in schemes)
             + " | plain EM iter | bmm total ll | StepMix s | StepMix total ll | max abs diff | fits short | "
             "StepMix / bmm |", "|---|---|---|" + "---|" * len(schemes) + "---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["data"] for r in rows):
        mine = [r for r in rows if r["data"] == name]
        per = {s: [r for r in mine if r["side"] == "bmm" and r.get("accelerate") == s] for s in schemes}
        b = per.get(accelerate) or next(iter(per.values()))
        st = [r for r in mine if r["side"] == "stepmix"]
        plain = per.get("none", [])
        best = max((r["total_log_likelihood"] for r in st), default=float("nan"))
        diff = max((abs(r["total_log_likelihood"] - best) for r in b), default=float("nan"))
        short = ", ".join(f"{s} {sum(r['total_log_likelihood'] < best - 1e-3 for r in per[s])}/{len(per[s])}"
                          for s in schemes)
        ts, tb = median(st, "seconds"), median(b, "seconds")
        lines.append(f"| {name} | {mine[0]['n']} x {mine[0]['d']} | {mine[0]['K']} | "
                     + " | ".join(f"{median(per[s], 'seconds'):.3g} ({len(per[s])})" for s in schemes)
                     + f" | {median(plain, 'n_iter'):g} | {median(b, 'total_log_likelihood'):.4f} | "
                     f"{ts:.3g} ({len(st)}) | {median(st, 'total_log_likelihood'):.4f} | {diff:.2g} | {short} | "
                     f"{_ratio(ts, tb)} |")
    fastest = {}
    for name in dict.fromkeys(r["data"] for r in rows):
        times = {s: median([r for r in rows if r["data"] == name and r["side"] == "bmm" and r.get("accelerate") == s],
                           "seconds") for s in schemes}
        winner = min(times, key=times.get)
        fastest[winner] = fastest.get(winner, 0) + 1
    lines += ["", "Fastest `accelerate` to the maximum, problems won: "
              + ", ".join(f"`{s}` {n}" for s, n in sorted(fastest.items(), key=lambda item: -item[1])) + "."]
    return lines


def _split(rows):
    lines = ["Split of a default fit, seconds (medians over the seeds; from the estimator's progress hooks: "
             "*before* = validation and encoding, *start* = the initialisation, *EM* = the iterations, *after* = "
             "the final E-step; *start / iteration* = the start's cost in EM iterations; *start share* = start / "
             "total, the issue's bar on MNIST train: <= 15 %):", "",
             "| data | total | before | start | EM | iterations | per iteration | after | start / iteration | "
             "start share |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["data"] for r in rows):
        c = {k: median([r for r in rows if r["data"] == name], k)
             for k in ("seconds", "before", "start", "em", "n_iter", "per_iteration", "after")}
        lines.append(f"| {name} | {c['seconds']:.3g} | {c['before']:.3g} | {c['start']:.3g} | {c['em']:.3g} | "
                     f"{c['n_iter']:g} | {c['per_iteration']:.3g} | {c['after']:.3g} | "
                     f"{c['start'] / c['per_iteration']:.0f} | {100 * c['start'] / c['seconds']:.0f} % |")
    return lines


def _tiny(rows):
    r0 = rows[0]
    lines = [f"Tiny data ({r0['n']} x {r0['d']}, 5 % NaN, K = {r0['K']}), medians in milliseconds; the last column "
             f"times {r0['fixed_iterations']} iterations from fixed means (`tol=0`):", "",
             "| busy processes | Numba threads | fits | whole fit | start | EM | iterations | per EM iteration | "
             "per EM iteration, fixed run |", "|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        ms = {k: f"{1e3 * r[k]:.3g}" for k in ("seconds", "start", "em", "per_iteration", "fixed_per_iteration")}
        lines.append(f"| {r['busy']} | {r['threads']} | {r['repeats']} | {ms['seconds']} | {ms['start']} | "
                     f"{ms['em']} | {r['n_iter']} | {ms['per_iteration']} | {ms['fixed_per_iteration']} |")
    return lines


def _select(r):
    ts = r.get("stepmix_seconds", float("nan"))
    return [f"Model selection on {r['data']} ({r['n']} x {r['d']}), K = {r['K'][0]}..{r['K'][-1]}, seed {r['seed']}; "
            f"StepMix / bmm: {_ratio(ts, r['bmm_seconds'])}:", "",
            "| side | seconds | converged fits | K by BIC |", "|---|---|---|---|",
            f"| `select_n_components` | {r['bmm_seconds']:.3g} | {r['bmm_converged']} | {r['bmm_bic_K']} |",
            f"| StepMix fit + `bic` per K | {ts:.3g} | {r.get('stepmix_converged', '–')} | "
            f"{r.get('stepmix_bic_K', '–')} |"]


def _iteration(rows):
    r0 = rows[0]
    lines = ["One EM iteration on one thread (Numba and BLAS), maximum likelihood on both sides (`alpha=0`), medians "
             f"of {r0['repeats']} runs in milliseconds: the estimator's over {r0['bmm_iterations']} iterations from "
             f"fixed means (text as CSR), StepMix's as the difference of a {1 + r0['stepmix_iterations']}- and a "
             "1-iteration fit (dense):", "",
             "| data | N x D | K | bmm ms | StepMix ms | StepMix / bmm |", "|---|---|---|---|---|---|"]
    for r in rows:
        ours, theirs = r["bmm_per_iteration"], r.get("stepmix_per_iteration", float("nan"))
        lines.append(f"| {r['data']} | {r['n']} x {r['d']} | {r['K']} | {1e3 * ours:.3g} | {1e3 * theirs:.3g} | "
                     f"{_ratio(theirs, ours)} |")
    return lines


def _stepmix_note(settings):
    return [f"StepMix: `StepMix(n_components=K, measurement=\"binary\", n_init={settings['n_init']}, "
            f"max_iter={settings['max_iter']}, rel_tol={settings['tol']:g}, abs_tol={settings['tol']:g}, "
            "random_state=seed)` (`measurement=\"binary_nan\"`, its missing-value model, on data with NaN: votes, "
            "onehot): it stops when its mean log-likelihood changes by less than `abs_tol` or by less "
            "than `rel_tol` of itself, i.e. by less than `tol * max(1, |ll|)`, the estimator's rule on its objective "
            "(which adds the log-prior of the means, `alpha`); StepMix also takes a small decrease for convergence.  "
            "Each side made one untimed fit first (the estimator on the whole data set, StepMix on its first 500 "
            "rows), then its timed fits one after another (the estimator's fixed-point measures after all of them); "
            "text is CSR for "
            "the estimator, dense (converted outside the timer) for StepMix."]


def markdown(result):
    """The Markdown report of a result dict (as written to ``whole_fit.json``)."""
    m = result["machine"]
    blas = ", ".join(f"{b['prefix']} {b['version']} ({b['architecture']}, {b['num_threads']} threads)"
                     for b in m["blas"] if b["user_api"] == "blas") or "none loaded"
    lines = [f"Command: `{result['command']}`", "",
             f"Machine: {m['cpu']}, {m['cpu_count']} cores, load average {m['load_average'][0]:.2f} at the end; "
             f"Numba {m['versions']['numba']} ({m['numba_threading_layer']} layer, {m['numba_threads']} threads); "
             f"BLAS: {blas}; bmm_numba {m['bmm_numba_git']}; StepMix {m['versions']['stepmix']}; "
             f"{m['date_utc']} UTC; {result['elapsed_s']:.0f} s in all.", "",
             f"Settings (the estimator's defaults; StepMix given the same): {result['settings']}.", "",
             *_stepmix_note(result["settings"]), ""]
    panels = result["panels"]
    accelerate = result["settings"].get("accelerate")
    tables = [_whole(panels["whole"], accelerate, result["settings"].get("K"))] if panels.get("whole") else []
    tables += [_whole_schemes(panels["whole"])] if len(_schemes(panels.get("whole", []))) > 1 else []
    tables += [_lca(panels["lca"], accelerate)] if panels.get("lca") else []
    tables += [_split(panels["split"])] if panels.get("split") else []
    tables += [_tiny(panels["tiny"])] if panels.get("tiny") else []
    tables += [_select(r) for r in panels.get("select", [])]
    tables += [_iteration(panels["iteration"])] if panels.get("iteration") else []
    for table in tables:
        lines += [*table, ""]
    lines += [f"Skipped: {'; '.join(result['skipped'])}.", ""] if result["skipped"] else []
    return "\n".join(lines)


def save(result, out):
    """Write ``whole_fit.json`` and ``whole_fit.md`` under ``out``."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "whole_fit.json").write_text(json.dumps(result, indent=1))
    (out / "whole_fit.md").write_text(markdown(result))
