"""Help, planning and the report must not pay for torch: `bench --help`, `bench ls` and `bench
plan --no-estimate` import neither torch nor scikit-learn, and the report renders with torch blocked;
modules and functions stay within the house limits."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run_python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


def test_the_cli_imports_no_heavy_stack_for_help_ls_and_plan(tmp_path):
    out = run_python(f"""
        import sys
        from click.testing import CliRunner
        from bench.cli import main
        for args in (["--help"], ["ls", "--store", {str(tmp_path)!r}], ["plan", "--preset", "q1a", "--no-estimate",
                                                                         "--store", {str(tmp_path)!r}]):
            CliRunner().invoke(main, args)
        print(sorted(m for m in ("torch", "sklearn", "matplotlib", "torchvision") if m in sys.modules))
    """)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_the_report_renders_with_torch_blocked(tmp_path):
    out = run_python(f"""
        import sys

        class NoTorch:  # any import of torch now fails (a None in sys.modules would mislead scipy's checks)
            def find_spec(self, name, path=None, target=None):
                if name.partition(".")[0] == "torch":
                    raise ImportError("torch is blocked")

        sys.meta_path.insert(0, NoTorch())
        sys.path.insert(0, "tests")
        from fixtures.report.make_fixture import small
        from bench.report import build
        written = build(small({str(tmp_path / "store")!r}), {str(tmp_path / "site")!r}, pdf=False)
        print(len(written))
    """)
    assert out.returncode == 0, out.stderr
    assert int(out.stdout) > 10 and (tmp_path / "site" / "index.html").exists()


def test_modules_and_functions_stay_small():
    """The house rules a reviewer checks: no module in bench/ over 300 lines, no function over 60."""
    import ast

    too_long = []
    for path in sorted((ROOT / "bench").rglob("*.py")):
        text = path.read_text()
        if len(text.splitlines()) > 300:
            too_long.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.end_lineno - node.lineno >= 60:
                too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}")
    assert not too_long, too_long
