"""Layer 4, the ``bmm-numba`` command line.

Parser, commands, data sources, output, ``compare`` and plotting.  ``main`` is imported lazily
so that ``--help`` never imports Numba.
"""


def main(argv=None):
    """Run the ``bmm-numba`` command line (see :mod:`bmm_numba.cli.main`)."""
    from .main import main as run

    return run(argv)
