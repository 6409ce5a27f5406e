"""The README and the documentation site (docs/, mkdocs.yml) stay true: every ```python block
runs, the site builds with --strict (broken links, anchors and references fail), and the
generated pages (op table, API reference) match the code."""
import pathlib
import re
import shutil
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
PAGES = sorted((ROOT / "docs").glob("*.md"))


def python_blocks(text):
    """The ```python blocks of a Markdown text, dedented, in order."""
    blocks = []
    for block in re.findall(r"^ *```python\n(.*?)^ *```", text, re.S | re.M):
        lines = block.splitlines()
        indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
        blocks.append("\n".join(line[indent:] for line in lines))
    return blocks


def run_blocks(path, tmp_path, monkeypatch):
    """Run a page's blocks top to bottom in one namespace, in a temporary directory."""
    monkeypatch.chdir(tmp_path)
    namespace = {"__name__": "__docs__"}
    for i, code in enumerate(python_blocks(path.read_text())):
        try:
            exec(compile(code, f"{path.name} block {i}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"{path.name}: python block {i} failed:\n{code}") from e


def test_readme_examples_run(tmp_path, monkeypatch):
    """Every ```python block of the README runs, in order, in one namespace."""
    assert len(python_blocks((ROOT / "README.md").read_text())) >= 3
    run_blocks(ROOT / "README.md", tmp_path, monkeypatch)


@pytest.mark.parametrize("page", [p for p in PAGES if python_blocks(p.read_text())],
                         ids=lambda p: p.name)
def test_docs_examples_run(page, tmp_path, monkeypatch):
    """Every ```python block of each docs page runs: a namespace per page, blocks in order."""
    run_blocks(page, tmp_path, monkeypatch)


def test_site_builds_strict(tmp_path):
    """mkdocs build --strict: a broken link or anchor, a page missing from the nav, or a
    ``::: name`` that does not resolve fails. mkdocs is in the test extra."""
    mkdocs = shutil.which("mkdocs") and [sys.executable, "-m", "mkdocs"]
    assert mkdocs, 'mkdocs is missing: pip install -e ".[docs]" (the test extra has it)'
    r = subprocess.run(mkdocs + ["build", "--strict", "--site-dir", str(tmp_path / "site")],
                       cwd=ROOT, capture_output=True, text=True, timeout=300,
                       env={**__import__("os").environ, "NO_MKDOCS_2_WARNING": "1"})
    assert r.returncode == 0, r.stdout + r.stderr
    assert (tmp_path / "site" / "graph.png").exists()          # images reach the site


def test_op_table_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "op_table.py"), "--check"])
    assert r.returncode == 0, "docs/ops.md's op table is stale: run python scripts/op_table.py"


def test_api_pages_are_current():
    """Every public module has a ``::: module`` block on a reference page."""
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "api_pages.py"), "--check"],
                       capture_output=True, text=True)
    assert r.returncode == 0, f"{r.stdout}run python scripts/api_pages.py"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = 'pip install -e ".[test]" && python -m pytest'
    assert command in readme and command in ci
    assert 'pip install -e ".[examples]" && python -m tapegrad.examples.digits' in readme


def test_readme_is_short_and_links_resolve():
    """The README stays a five-minute read, and its links into docs/ name existing pages."""
    readme = (ROOT / "README.md").read_text()
    assert len(readme.splitlines()) <= 220
    for target in re.findall(r"\]\((docs/[^)#]+)", readme):
        assert (ROOT / target).exists(), target


def test_only_the_backend_imports_numpy():
    """The array library sits behind one seam (STYLE.md principle 9)."""
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "src" / "tapegrad").rglob("*.py")
                 if "backend" not in p.parts and
                 re.search(r"^\s*(import numpy|from numpy)", p.read_text(), re.M)]
    assert offenders == []
