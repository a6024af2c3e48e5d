"""The table kernel: rows listed 4 pixels at a time, log-joints summed from a look-up table.

The table holds summed weights per 4-pixel pattern; ``docs/design.md`` explains the layout and
the measured choices.
"""
