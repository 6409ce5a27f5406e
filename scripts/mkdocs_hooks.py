"""MkDocs hooks for the documentation site (mkdocs.yml names this file).

Docstrings write indexing formulas such as ``out[i][index[i][j]]``; Markdown reads ``[a][b]``
as a reference link and mkdocs-autorefs warns that ``b`` is not a known object, which
``mkdocs build --strict`` turns into a failure. Those are maths, not cross-references: this
filter drops the warning when the target cannot name a tapegrad object (no dot, or not a
Python dotted name). A misspelt reference such as ``[Tensor][tapegrad.Tensr]`` still fails.
"""
import logging
import re

_TARGET = re.compile(r"Could not find cross-reference target '([^']*)'")
_DOTTED = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)+$")


class _IndexFormulaFilter(logging.Filter):
    """Drop autorefs warnings whose target is an index expression, not an object path."""

    def filter(self, record):
        m = _TARGET.search(record.getMessage())
        return not (m and not _DOTTED.match(m.group(1)))


def on_startup(command, dirty):
    """Install the filter on mkdocs-autorefs' loggers and on the handlers of mkdocs' logger
    (the one that counts warnings for --strict)."""
    keep = _IndexFormulaFilter()
    for handler in logging.getLogger("mkdocs").handlers:
        handler.addFilter(keep)
    for name in list(logging.root.manager.loggerDict):
        if name.startswith("mkdocs.plugins.mkdocs_autorefs"):
            logging.getLogger(name).addFilter(keep)
