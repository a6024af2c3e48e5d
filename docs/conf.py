"""Sphinx configuration of the bmm_numba documentation site.

Build (warnings are errors, as in ``tox -e docs``)::

    sphinx-build -W --keep-going -b html docs docs/_build/html

Pages are Markdown (MyST) so that they also read well on GitHub; the API reference is generated
from the numpydoc docstrings (``docs/api/``), the gallery from the ``plot_*.py`` scripts of
``examples/`` (sphinx-gallery runs each at build time), and the benchmark tables of
``docs/benchmarks.md`` and ``README.md`` from the saved JSON in ``docs/benchmarks/`` by
``bench/report.py``: the build fails when a committed table differs from what the JSON gives.
"""

import os
import re
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.append(str(ROOT))  # bench/report.py; the package itself comes from the install (or PYTHONPATH) first

os.environ.setdefault("MPLBACKEND", "Agg")

import bmm_numba  # noqa: E402

project = "bmm_numba"
author = "bmm_numba contributors"
copyright = "2026, bmm_numba contributors"  # noqa: A001
release = version = bmm_numba.__version__

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.intersphinx",
    "sphinx.ext.viewcode",
    "numpydoc",
    "myst_parser",
    "sphinx_gallery.gen_gallery",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_templates", "Thumbs.db", ".DS_Store", "auto_examples/*.ipynb", "auto_examples/*.py",
                    "auto_examples/*.zip", "auto_examples/*.md5", "auto_examples/*.json",
                    "**/*.codeobj.json", "compare_mnist/*"]

# MyST: GitHub-style heading anchors (design.md links to its own sections), $...$ maths, ::: fences.
myst_heading_anchors = 4
myst_enable_extensions = ["dollarmath", "colon_fence"]

# API reference: autosummary writes one page per object into api/generated (not committed).
autosummary_generate = True
autosummary_imported_members = False
autodoc_default_options = {"members": True, "inherited-members": False, "show-inheritance": False}
autodoc_typehints = "none"
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False

intersphinx_mapping = {}  # the build needs no network

# sphinx-gallery: every examples/plot_*.py runs at build time; the figures and printed output
# go into auto_examples/.  The gallery helper's scripts read MNIST (if at all) from
# $BMM_NUMBA_MNIST_DIR and fall back to generated data.
EXAMPLES = ROOT / "examples"
GALLERY_HEADERS = ("README.txt", "README.rst", "GALLERY_HEADER.rst")
HAS_GALLERY = any((EXAMPLES / name).is_file() for name in GALLERY_HEADERS)
sphinx_gallery_conf = {
    "examples_dirs": [str(EXAMPLES)] if HAS_GALLERY else [],
    "gallery_dirs": ["auto_examples"] if HAS_GALLERY else [],
    "filename_pattern": r"/plot_",
    "ignore_pattern": r"(__init__|conftest)\.py",
    "download_all_examples": False,
    "remove_config_comments": True,
    "within_subsection_order": "FileNameSortKey",
    "plot_gallery": "True",
    "abort_on_example_error": False,
    "only_warn_on_example_error": False,
    "matplotlib_animations": False,
    "image_scrapers": ("matplotlib",),
    "reset_modules": ("matplotlib",),
    "show_memory": False,
    "write_computation_times": False,  # a stale docs/sg_execution_times.rst broke later builds
}
if not HAS_GALLERY:  # keep the toctree valid before the gallery's scripts exist
    (DOCS / "auto_examples").mkdir(exist_ok=True)
    (DOCS / "auto_examples" / "index.rst").write_text(
        "Gallery\n=======\n\nThe gallery is built from ``examples/plot_*.py``; this checkout has no "
        "``examples/README.txt`` yet.\n")

html_theme = "pydata_sphinx_theme"
html_title = f"bmm_numba {release}"
html_static_path = ["_static"]
html_css_files = ["bmm_numba.css"]
html_math_renderer = "mathml"  # the site needs no network (see _math_to_mathml)
html_favicon = "_static/favicon.svg"  # browsers ask for one; a 404 is a console error
html_context = {"default_mode": "light"}  # without it the theme logs "invalid theme mode" as a console error
templates_path = ["_templates"]
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "header_links_before_dropdown": 6,
    "secondary_sidebar_items": ["page-toc"],
    "footer_start": ["copyright"],
    "footer_end": ["sphinx-version"],
}
html_show_sourcelink = False
# The right-hand contents of an API page lists "fit_predict()", not "BernoulliMixture.fit_predict()":
# the long names were cut at a 1366-px window (issue 23).
toc_object_entries_show_parents = "hide"


def _leaf_sections():
    """Sections of the landing page's contents with no page under them: their left sidebar would be empty."""
    index = (DOCS / "index.md").read_text(encoding="utf-8")
    listed = index.split("```{toctree}", 1)[1].split("```", 1)[0].splitlines()
    entries = [line.strip() for line in listed if line.strip() and not line.lstrip().startswith(":")]
    leaves = []
    for entry in entries:
        sources = [DOCS / f"{entry}{suffix}" for suffix in (".md", ".rst")]
        source = next((path for path in sources if path.is_file()), None)
        if source is not None and "toctree" not in source.read_text(encoding="utf-8"):
            leaves.append(entry)
    return leaves


# No "Section Navigation" heading over nothing: pages without sub-pages (and the landing page) get no
# left sidebar, which leaves their text the width of the window.
html_sidebars = {page: [] for page in ["index", *_leaf_sections()]}
html_sidebars["benchmarks"] = []  # its one sub-page is linked in the text: the pictures and tables get the width

nitpicky = False
suppress_warnings = ["config.cache"]  # sphinx-gallery's conf holds functions: never a stale cache here


def _check_generated_tables(app):
    """Fail the build (a warning under ``-W``) when a committed benchmark table is stale."""
    from sphinx.util import logging

    from bench import report

    stale = report.update_files([ROOT / name for name in report.GENERATED_FILES], check=True)
    for path in stale:
        logging.getLogger(__name__).warning(
            "%s: the benchmark tables differ from docs/benchmarks/*.json; run "
            "`python bench/report.py --update` and commit the result", Path(path).relative_to(ROOT))


_SHAPE_NAME = re.compile(r"(?<![`\w])([A-Za-z]\w*?)_(?=[,)])")


def _escape_shape_names(app, what, name, obj, options, lines):
    """``(n_iter_,)`` in a numpydoc type is a reST reference to ``n_iter``; escape the underscore."""
    for i, line in enumerate(lines):
        if "shape (" in line:
            lines[i] = _SHAPE_NAME.sub(r"\1\\_", line)


def _skip_metadata_requests(app, what, name, obj, skip, options):
    """scikit-learn's generated ``set_*_request`` methods: its own docs describe them."""
    if name.startswith("set_") and name.endswith("_request"):
        return True
    return None


def _math_to_mathml(translator, node, as_block):
    """TeX to MathML with docutils' converter: browsers draw it natively, so no MathJax from a CDN."""
    from docutils import nodes
    from docutils.utils.math import latex2mathml

    tex = node.astext()
    try:
        mathml = latex2mathml.tex2mathml(tex, as_block=as_block)
    except SyntaxError as error:  # a construct the converter lacks: show the TeX, and say so
        from sphinx.util import logging

        logging.getLogger(__name__).warning("math not converted to MathML (%s): %s", error, tex, location=node)
        mathml = f"<code>{translator.encode(tex)}</code>"
    translator.body.append(f'<div class="math">{mathml}</div>' if as_block else mathml)
    raise nodes.SkipNode


def _draw_benchmark_figures(app):
    """Redraw a picture of the benchmarks page whose JSON changed (``docs/bench_figures.py``)."""
    sys.path.insert(0, str(DOCS))
    try:
        import bench_figures
    finally:
        sys.path.remove(str(DOCS))
    for path in bench_figures.update():
        from sphinx.util import logging

        logging.getLogger(__name__).info("redrew %s from its JSON: commit it", Path(path).relative_to(ROOT))


def _viewcode_backlinks_to_real_anchors(app):
    """Point each ``[docs]`` link of the highlighted source pages at a page that holds its anchor.

    An object documented twice, under its package (``bmm_numba.datasets.binarize``) and under its
    module (``bmm_numba.datasets.binary.binarize``), got a link joining the module page with the
    package anchor: 50 such links led nowhere (issue 23).  Runs before viewcode writes the pages;
    ``tests/test_docs_browser.py`` checks every link of the built site.
    """
    modules = getattr(app.env, "_viewcode_modules", {})
    objects = app.env.get_domain("py").objects
    for modname, entry in modules.items():
        if not isinstance(entry, tuple) or len(entry) != 4:
            continue
        code, tags, used, refname = entry
        # the anchors' prefix: the module's own name unless more of its objects are documented under
        # the name first seen (a package that re-exports them)
        prefix = max((modname, refname), key=lambda p: sum(f"{p}.{name}" in objects for name in used))
        for name in used:
            documented = objects.get(f"{prefix}.{name}")
            if documented is not None:
                used[name] = documented.docname
        modules[modname] = (code, tags, used, prefix)
    return []


def setup(app):
    """Register the MathML renderer and the hooks above."""
    app.connect("html-collect-pages", _viewcode_backlinks_to_real_anchors, priority=400)  # before viewcode's
    app.add_html_math_renderer(
        "mathml",
        (lambda self, node: _math_to_mathml(self, node, as_block=False), None),
        (lambda self, node: _math_to_mathml(self, node, as_block=True), None))
    app.connect("builder-inited", _check_generated_tables)
    app.connect("builder-inited", _draw_benchmark_figures)
    app.connect("autodoc-process-docstring", _escape_shape_names)
    app.connect("autodoc-skip-member", _skip_metadata_requests, priority=100)  # before other extensions answer
