"""The README's op table is generated from the registry and must not drift from it."""
import pathlib
import subprocess
import sys

ROOT = pathlib.Path(__file__).resolve().parent.parent


def test_readme_op_table_is_current():
    r = subprocess.run([sys.executable, str(ROOT / "scripts" / "op_table.py"), "--check"])
    assert r.returncode == 0, "README op table is stale: run python scripts/op_table.py"


def test_ci_runs_the_readme_test_command():
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    command = 'pip install -e ".[test]" && python -m pytest'
    assert command in readme and command in ci


def test_readme_examples_run(tmp_path, monkeypatch):
    """Every ```python block of the README runs, in order, in one namespace."""
    import re
    readme = (ROOT / "README.md").read_text()
    blocks = re.findall(r"^ *```python\n(.*?)^ *```", readme, re.S | re.M)
    assert len(blocks) >= 10
    monkeypatch.chdir(tmp_path)
    namespace = {}
    for i, block in enumerate(blocks):
        lines = block.splitlines()
        indent = min(len(line) - len(line.lstrip()) for line in lines if line.strip())
        code = "\n".join(line[indent:] for line in lines)
        try:
            exec(compile(code, f"README block {i}", "exec"), namespace)
        except Exception as e:
            raise AssertionError(f"README python block {i} failed:\n{code}") from e


def test_only_the_backend_imports_numpy():
    """The array library sits behind one seam (STYLE.md principle 9)."""
    import re
    offenders = [str(p.relative_to(ROOT)) for p in (ROOT / "src" / "tapegrad").rglob("*.py")
                 if "backend" not in p.parts and
                 re.search(r"^\s*(import numpy|from numpy)", p.read_text(), re.M)]
    assert offenders == []
