"""The ``bmm-numba`` command line (also ``python -m bmm_numba``).

Subcommands: ``compare`` (the article's experiment), ``fit``, ``select``, ``demo``, ``info``.

This module imports only the standard library: ``--help`` and argument errors never import
NumPy's heavy neighbours, Numba or scikit-learn, and never compile anything.  The work lives in
:mod:`bmm_numba.cli.commands`, imported once the arguments are known to be good.

Every error the user can cause (missing folder, damaged file, wrong shape, non-binary values
without ``--threshold``, unwritable output folder, bad option) prints one line on stderr and
exits with status 2; ``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import math
import os
import pickle
import signal
import sys
import threading

from ..kernels.names import ARTICLE_SIZES, KERNEL_NAMES, PRODUCTION_KERNEL_NAMES
from .output import CLIError, end_open_line

__all__ = ["main", "build_parser", "registry_kernel_names"]

PROG = "bmm-numba"


def registry_kernel_names():
    """Names of :data:`bmm_numba.E_STEPS`, in order, without importing Numba."""
    return KERNEL_NAMES


DEFAULT_OUT = "bmm_numba_output"

EPILOG = """\
start with:   bmm-numba demo             (no files needed; writes two PNGs)
then:         bmm-numba compare --sizes 5,10,20,50,100 --repeats 3
              bmm-numba fit --digits --n-components 10
              bmm-numba fit --mnist-dir DIR --n-components 10
              bmm-numba select --digits --n-components 1-15
MNIST folder: --mnist-dir DIR, or the environment variable BMM_NUMBA_MNIST_DIR
"""


class _Parser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors are one line (and exit status 2, as argparse's)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


# ----------------------------------------------------------------------------------------------
# argument types (stdlib only)
# ----------------------------------------------------------------------------------------------

def _int_at_least(low):
    def parse(text):
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be at least {low}, got {value}")
        return value

    parse.__name__ = "integer"
    return parse


def _number(text):
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None


def _positive_float(text):
    value = _number(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {text}")
    return value


def _non_negative_float(text):
    value = _number(text)
    if not value >= 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _threshold(text):
    value = _number(text)
    if not math.isfinite(value):  # nan compares False with every pixel: all-zero data, silently
        raise argparse.ArgumentTypeError(f"must be a finite number, got {text}")
    return value


#: The one binarisation rule (the same words in datasets.binarize, load_mnist, load_digits_binary).
THRESHOLD_RULE = "values >= T become 1, the others 0 (default: 128 for MNIST, 8 for digits"
THRESHOLD_HELP = THRESHOLD_RULE + "; files must hold 0/1 unless given)"


def _delimiter(text):
    text = {"\\t": "\t", "tab": "\t", "TAB": "\t"}.get(text, text)
    if len(text) != 1 or text in "\r\n\"" or text.isalnum() or text in ".-+":
        raise argparse.ArgumentTypeError(f"expected one separator character like , ; | or \\t; got {text!r}")
    return text


def _columns(text):
    """1-based column numbers: ``"1"``, ``"1,3"``, ``"2-4"``; returned 0-based, sorted, distinct."""
    columns = set()
    try:
        for part in filter(None, (p.strip() for p in text.split(","))):
            low, _, high = part.partition("-")
            low, high = int(low), int(high or low)
            if low < 1 or high < low:
                raise ValueError
            columns.update(range(low - 1, high))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected 1-based column numbers like 1 or 1,3 or 2-4; "
                                         f"got {text!r}") from None
    if not columns:
        raise argparse.ArgumentTypeError(f"no column in {text!r}")
    return sorted(columns)


def _sizes(text):
    try:
        sizes = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers like 5,10,20; got {text!r}") from None
    if not sizes or sizes[0] < 1:
        raise argparse.ArgumentTypeError(f"sizes must be integers >= 1; got {text!r}")
    return sizes


def _kernels(text):
    names = list(dict.fromkeys(part.strip() for part in text.split(",") if part.strip()))
    unknown = [name for name in names if name not in KERNEL_NAMES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"unknown kernel(s) {', '.join(unknown) or repr(text)}; "
                                         f"choose from {','.join(KERNEL_NAMES)}")
    return names


def _production_kernel(text):
    """``auto`` or a production kernel: checked here, before any data are read."""
    if text == "auto" or text in PRODUCTION_KERNEL_NAMES:
        return text
    what = "a teaching kernel (compare times it; the estimator does not run it)" if text in KERNEL_NAMES \
        else "not a kernel"
    raise argparse.ArgumentTypeError(f"{text!r} is {what}; choose auto or one of {', '.join(PRODUCTION_KERNEL_NAMES)}")


#: Most values of K one ``--n-components`` range may list.
MAX_K_VALUES = 1000


def _k_range(text):
    """``"1-10"`` (inclusive), ``"2,4,8"`` or ``"5"``."""
    try:
        if "-" in text:
            low, high = (int(part) for part in text.split("-", 1))
            if high - low >= MAX_K_VALUES:  # checked before the range is listed (1-10**12: MemoryError)
                raise argparse.ArgumentTypeError(f"{text!r} lists {high - low + 1} values of K; at most {MAX_K_VALUES}")
            values = list(range(low, high + 1))
        else:
            values = sorted({int(part) for part in text.split(",") if part.strip()})
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a range like 1-10 or a list like 2,4,8; got {text!r}") from None
    if not values:
        raise argparse.ArgumentTypeError(f"empty range {text!r}; write it low-high, like 1-10")
    if values[0] < 1:
        raise argparse.ArgumentTypeError(f"K values must be integers >= 1; got {text!r}")
    return values


# ----------------------------------------------------------------------------------------------
# parser
# ----------------------------------------------------------------------------------------------

def _add_out(p, default=DEFAULT_OUT):
    p.add_argument("--out", metavar="DIR", default=default,
                   help="folder for the output files, created if needed (default: %(default)s)")


def _add_threads(p):
    p.add_argument("--threads", type=_int_at_least(1), metavar="N",
                   help="threads for Numba and for BLAS (NumPy's matrix products) "
                        "(default: all; restored afterwards)")


def _add_data_source(p):
    src = p.add_argument_group("data (choose one; default: $BMM_NUMBA_MNIST_DIR if set)")
    one = src.add_mutually_exclusive_group()
    one.add_argument("--mnist-dir", metavar="DIR",
                     help="folder with the four MNIST IDX files, gzipped or not")
    _add_files(src, one, missing="empty cells, NA, NaN and ? are missing values")
    one.add_argument("--digits", action="store_true",
                     help="scikit-learn's bundled 8x8 digits (1797 images), binarised at 8 of 16")
    src.add_argument("--split", choices=("train", "test"), default="train",
                     help="MNIST split (default: %(default)s)")
    src.add_argument("--threshold", type=_threshold, metavar="T", help=THRESHOLD_HELP)
    src.add_argument("--n-samples", type=_int_at_least(1), metavar="N", help="use only the first N rows")


def _add_files(src, one, missing):
    """``--npy``, ``--npz``, ``--csv`` (in the exclusive group ``one``), ``--delimiter`` and ``--drop-columns``."""
    one.add_argument("--npy", metavar="FILE", help=".npy array (n, d) of 0/1, or (n, h, w) images")
    one.add_argument("--npz", metavar="FILE",
                     help=".npz archive: data in X (or data, x, or its only array), labels in y/labels/target")
    one.add_argument("--csv", metavar="FILE",
                     help=f"CSV of 0/1; {missing}; a first line of names followed by numbers is a header "
                          "(skipped, and said so; its names label the class profiles)")
    src.add_argument("--delimiter", type=_delimiter, metavar="C",
                     help="CSV cell separator, one character; \\t for a tab (default: guessed from the first "
                          "lines among , ; tab |)")
    src.add_argument("--drop-columns", type=_columns, metavar="LIST",
                     help="columns to drop before anything else (an id column, say), 1-based as in cut -f: "
                          "1 or 1,3 or 2-4")


def _add_em_options(p, max_iter=100):
    p.add_argument("--n-init", type=_int_at_least(1), default=1, metavar="N",
                   help="EM starts per fit; the best is kept (default: %(default)s)")
    p.add_argument("--max-iter", type=_int_at_least(1), default=max_iter, metavar="N",
                   help="maximum EM iterations per start (default: %(default)s)")
    p.add_argument("--tol", type=_non_negative_float, default=1e-6,
                   help="relative convergence threshold on the objective (default: %(default)s)")
    p.add_argument("--alpha", type=_non_negative_float, default=0.5,
                   help="prior strength on the means, towards the column means (default: %(default)s)")
    p.add_argument("--kernel", type=_production_kernel, default="auto", metavar="NAME",
                   help=f"E-step of the estimator: auto or a production kernel of the registry "
                        f"({', '.join(PRODUCTION_KERNEL_NAMES)}; default: auto)")
    p.add_argument("--random-state", type=int, default=0, metavar="SEED",
                   help="seed of the initialisation (default: %(default)s)")


def _add_model_choice_options(p, command):
    """``fit --report`` and ``select --blrt B`` (issue 21: bmm_numba.selection)."""
    if command == "fit":
        p.add_argument("--report", action="store_true",
                       help="also print the model's report: fit statistics (G2, chi2, SABIC, ...), class sizes, "
                            "item-response probabilities with standard errors, diagnostics")
    else:
        p.add_argument("--blrt", type=_int_at_least(0), default=0, metavar="B",
                       help="bootstrap likelihood-ratio test of K-1 against K classes, B replicates, for each K "
                            "after the first (column BLRT_p; 0: none; default: %(default)s)")


def build_parser():
    """Return the ``argparse`` parser of ``bmm-numba`` (standard library only)."""
    from .. import __version__

    parser = _Parser(prog=PROG, formatter_class=argparse.RawDescriptionHelpFormatter,
                     description="Bernoulli mixture models by EM, with the E-step written as Python loops, "
                                 "NumPy and Numba: compare them, fit a model, choose K.",
                     epilog=EPILOG)
    _add_global_flags(parser, __version__, default=False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("compare", help="time every E-step kernel over a size ladder (the article's experiment)",
                       description="Time every E-step kernel of the registry on the first n rows for each n, "
                                   "check each against the stable kernel, mark teaching kernels that "
                                   "underflow; print a table, write compare.png, compare.json and compare.csv.")
    src = p.add_argument_group("data (choose one of --mnist-dir, --data, --npy, --npz, --csv; default: "
                               "$BMM_NUMBA_MNIST_DIR, else synthetic)")
    one = src.add_mutually_exclusive_group()
    one.add_argument("--mnist-dir", metavar="DIR", help="folder with the MNIST IDX files (the article's data)")
    one.add_argument("--data", choices=("digits", "synthetic"),
                     help="digits: sklearn's 8x8 digits, binarised (D=64); synthetic: generated "
                          "MNIST-shaped rows (D=784, 13%% ones)")
    _add_files(src, one, missing="no missing cells (the E-step kernels take complete rows)")
    src.add_argument("--split", choices=("train", "test"), default="train", help="MNIST split (default: %(default)s)")
    src.add_argument("--threshold", type=_threshold, metavar="T", help=THRESHOLD_RULE + ")")
    p.add_argument("--sizes", type=_sizes, default=list(ARTICLE_SIZES), metavar="N,N,...",
                   help=f"row counts (default: the article's {','.join(map(str, ARTICLE_SIZES))})")
    p.add_argument("--kernels", type=_kernels, metavar="NAME,...",
                   help=f"registry kernels (default: all: {','.join(KERNEL_NAMES)})")
    p.add_argument("--n-components", type=_int_at_least(1), default=10, metavar="K",
                   help="components K (default: %(default)s)")
    p.add_argument("--repeats", type=_int_at_least(1), default=5, metavar="R",
                   help="timed calls per kernel and n; the median is reported (default: %(default)s)")
    p.add_argument("--time-budget", type=_positive_float, default=2.0, metavar="SECONDS",
                   help="skip a kernel at the n where its predicted time exceeds this (default: %(default)s)")
    p.add_argument("--random-state", type=int, default=0, metavar="SEED",
                   help="seed of the parameters mu ~ U(0.25, 0.75) and of synthetic data (default: %(default)s)")
    _add_threads(p)
    _add_out(p)

    fitting = {
        "fit": ("fit a Bernoulli mixture to a data set",
                "Fit BernoulliMixture by EM with a progress bar; print log-likelihood, BIC, iterations, seconds, "
                "and with labels the adjusted Rand index and the purity of each component; write model.npz "
                "(no pickle) and, for images, means.png.",
                {"type": _int_at_least(1), "default": 10, "metavar": "K",
                 "help": "components K (default: %(default)s)"}),
        "select": ("model-selection table (AIC, BIC, ICL) over a range of K",
                   "Fit one model per K; print the table of log-likelihood, AIC, BIC, ICL and entropy; write "
                   "select.csv and select.png (criteria against K).",
                   {"type": _k_range, "default": list(range(1, 11)), "metavar": "RANGE",
                    "help": "values of K: 1-10 (inclusive) or 2,4,8 (default: 1-10)"}),
    }
    for command, (summary, description, n_components) in fitting.items():
        p = sub.add_parser(command, help=summary, description=description)
        _add_data_source(p)
        p.add_argument("--n-components", **n_components)
        _add_em_options(p)
        _add_model_choice_options(p, command)
        _add_threads(p)
        _add_out(p)

    p = sub.add_parser("demo", help="fit the bundled digits and run a small compare (no files needed)",
                       description="Fit K=10 to scikit-learn's bundled digits (means.png, model.npz), then time "
                                   "every kernel on generated MNIST-shaped rows (compare.png, compare.json, "
                                   "compare.csv); "
                                   "print where the pictures are.")
    p.add_argument("--repeats", type=_int_at_least(1), default=3, metavar="R",
                   help="timed calls per kernel and n in the compare (default: %(default)s)")
    p.add_argument("--max-iter", type=_int_at_least(1), default=100, metavar="N",
                   help="maximum EM iterations of the fit (default: %(default)s)")
    p.add_argument("--random-state", type=int, default=0, metavar="SEED", help="seed (default: %(default)s)")
    _add_out(p)

    p = sub.add_parser("info", help="versions, threading layer, thread count, CPU, cache directory",
                       description="Print Python, NumPy, Numba and the other versions, Numba's threading layer and "
                                   "thread count, the CPU and the compiled-kernel cache directory.")
    p.add_argument("--clear-cache", action="store_true",
                   help="delete the compiled-kernel cache files (a way out of a damaged cache) and exit")
    for p in sub.choices.values():  # after the subcommand too: bmm-numba fit --digits --debug
        _add_global_flags(p, __version__, default=argparse.SUPPRESS)
    return parser


def _add_global_flags(p, version, default):
    """``--version`` and ``--debug``; a subcommand's ``--debug`` defaults to SUPPRESS, keeping the main one's."""
    p.add_argument("--version", action="version", version=f"{PROG} {version}")
    p.add_argument("--debug", action="store_true", default=default, help="show the full traceback on errors")


# ----------------------------------------------------------------------------------------------
# entry point
# ----------------------------------------------------------------------------------------------

def main(argv=None):
    """Run ``bmm-numba``; return the exit status (0 ok, 2 error, 130 interrupted).

    With no subcommand it prints the help (exit status 0): a bare command should say what it
    does quickly, not start minutes of timing or write files into the current folder.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 0
    debug = args.debug or os.environ.get("BMM_NUMBA_DEBUG", "") not in ("", "0")
    previous = _terminate_like_interrupt()
    try:
        from . import commands as _cli_commands

        return getattr(_cli_commands, f"run_{args.command}")(args)
    except KeyboardInterrupt:
        end_open_line()  # a progress bar drawn with "\r" keeps its line; the message gets its own
        print(f"{PROG}: interrupted", file=sys.stderr)
        return 130
    except _Terminated:  # unwound like Ctrl-C: atomic_write removed its temporary file
        end_open_line()
        print(f"{PROG}: terminated", file=sys.stderr)
        return 128 + signal.SIGTERM
    except BrokenPipeError:  # stdout closed early (``| head``): stop quietly, as other tools do
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except (pickle.UnpicklingError, EOFError) as exc:  # Numba reading a damaged cache index
        end_open_line()
        if debug:
            raise
        from .info import CACHE_ADVICE

        print(f"{PROG} {args.command}: error: {CACHE_ADVICE} ({type(exc).__name__}: {exc})", file=sys.stderr)
        return 2
    except (CLIError, OSError, ValueError, ImportError, MemoryError) as exc:
        end_open_line()
        if debug:
            raise
        print(f"{PROG} {args.command}: error: {_one_line(exc, args)}", file=sys.stderr)
        return 2
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


class _Terminated(BaseException):
    """SIGTERM, raised in the main thread so that ``finally`` blocks and cleanups run."""


def _raise_terminated(signum, frame):
    raise _Terminated


def _terminate_like_interrupt():
    """Handle SIGTERM like Ctrl-C, and SIGINT as Ctrl-C, while a command runs; return the handlers to restore.

    Also when a signal was ignored at start: a shell starts background jobs with SIGINT
    ignored, and ``kill -INT`` (or ``kill`` under ``trap '' TERM``) let a fit finish, exit 0 and
    write ``model.npz`` (issue 22).  A fit asked to stop stops and writes nothing.  A Python
    handler installed by someone else (a program embedding ``main``) is kept.
    """
    if threading.current_thread() is not threading.main_thread():
        return {}
    previous = {}
    for signum, handler in ((signal.SIGTERM, _raise_terminated), (signal.SIGINT, signal.default_int_handler)):
        if signal.getsignal(signum) in (signal.SIG_DFL, signal.SIG_IGN):
            previous[signum] = signal.signal(signum, handler)
    return previous


def _one_line(exc, args=None):
    if isinstance(exc, OSError) and exc.filename is not None and exc.strerror:
        return f"{exc.strerror}: {exc.filename}"
    if isinstance(exc, MemoryError):
        n_samples = getattr(args, "n_samples", None)
        if n_samples is not None:
            return f"out of memory (with --n-samples {n_samples}: try fewer rows)"
        return "out of memory (try --n-samples)" if hasattr(args, "n_samples") else "out of memory"
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
