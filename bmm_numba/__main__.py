"""``python -m bmm_numba``: the ``bmm-numba`` command line (see :mod:`bmm_numba.cli`)."""

import sys

from .cli.main import main

if __name__ == "__main__":
    sys.exit(main())
