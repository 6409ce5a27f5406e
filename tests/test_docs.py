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
