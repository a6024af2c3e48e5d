"""The table kernel: rows listed 4 pixels at a time, log-joints summed from a look-up table.

The table holds summed weights per 4-pixel pattern (:mod:`.layout`); ``docs/design.md``
explains the layout and the measured choices.  Entry points: :func:`table_e_step` (registry
entry ``"numba"``), :func:`lut_e_step`, :func:`build_row_index`, and the fused EM pass
:func:`lut_em_pass` / :func:`lut_stats`.
"""

from .e_step import LUT_MIN_ROWS, build_row_index, lut_e_step, table_e_step, table_kernel_available
from .em_pass import lut_em_pass, lut_stats

__all__ = ["table_e_step", "lut_e_step", "build_row_index", "table_kernel_available", "lut_em_pass", "lut_stats",
           "LUT_MIN_ROWS"]
