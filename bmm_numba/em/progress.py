"""Progress of a fit, reported through hooks: :class:`ProgressMonitor` and its printer.

The EM loop (:mod:`bmm_numba.em.loop`) calls a monitor's methods; it never prints.
:class:`VerbosePrinter` writes the estimator's ``verbose=1/2`` text; the command line's
progress bar (:class:`bmm_numba.cli.output.FitProgress`) is another monitor.  Standard
library only.
"""

from __future__ import annotations

__all__ = ["ProgressMonitor", "VerbosePrinter"]


class ProgressMonitor:
    """Hooks the EM loop calls; every method does nothing here (a silent fit).

    The iterations run in segments (compiled for small data) whose objectives are reported when
    the segment returns: :attr:`report_every` makes a segment return after that many iterations
    (0: only when it ends), for monitors that show progress while a fit runs.
    """

    #: Iterations after which a running segment returns so the monitor hears of them (0: at its end).
    report_every = 0

    def start(self, init, n_init):
        """Start ``init`` (0-based) of ``n_init`` begins (before its initialisation)."""

    def reseeded(self, n_iter, components):
        """Collapsed ``components`` were re-seeded at iteration ``n_iter`` (0: initial M-step)."""

    def dropped(self, n_iter, components):
        """``components`` collapsed again after a re-seed and were dropped at iteration ``n_iter``."""

    def iteration(self, n_iter, lower_bound, change, seconds):
        """Report the end of iteration ``n_iter`` of the start.

        ``lower_bound`` is its bound, ``change`` the difference to the previous one (inf at
        the first iteration), ``seconds`` the time since the EM iterations of the start began.
        """

    def end(self, converged, lower_bound, seconds):
        """Report the end of the start, ``seconds`` after :meth:`start`."""


class VerbosePrinter(ProgressMonitor):
    """Print each start (and re-seeds) at ``verbose >= 1``, every ``interval``-th iteration at 2.

    Parameters
    ----------
    verbose : int
    interval : int
        Iterations between two lines at ``verbose=2``.
    """

    def __init__(self, verbose, interval):
        self.verbose, self.interval = verbose, interval
        self._printed_at = 0.0
        # every 10 iterations: SQUAREM starts afresh after each return (a cycle is 2 iterations)
        self.report_every = 10 if verbose >= 2 else 0

    def start(self, init, n_init):
        """Print ``Initialization i``."""
        self._printed_at = 0.0
        print(f"Initialization {init + 1}")

    def reseeded(self, n_iter, components):
        """Print the re-seeded components."""
        where = "Initial M-step" if n_iter == 0 else f"Iteration {n_iter}"
        print(f"  {where}\t re-seeded collapsed components {list(components)}")

    def dropped(self, n_iter, components):
        """Print the dropped components."""
        print(f"  Iteration {n_iter}\t dropped components collapsed again {list(components)}")

    def iteration(self, n_iter, lower_bound, change, seconds):
        """At ``verbose=2``, print every ``interval``-th iteration with the time since the last line."""
        if self.verbose >= 2 and n_iter % self.interval == 0:
            print(f"  Iteration {n_iter}\t time lapse {seconds - self._printed_at:.5f}s\t "
                  f"log-likelihood {lower_bound:.5f}\t change {change:.5g}")
            self._printed_at = seconds

    def end(self, converged, lower_bound, seconds):
        """Print the start's outcome."""
        state = "converged" if converged else "did not converge"
        print(f"Initialization {state}. time lapse {seconds:.5f}s\t log-likelihood {lower_bound:.5f}")
