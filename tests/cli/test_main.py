from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(REPO / "main.py"), *args], capture_output=True, text=True, timeout=300)


def test_help_lists_subcommands():
    res = run_cli("--help")
    assert res.returncode == 0
    for name in ("info", "phantom", "view", "demo"):
        assert name in res.stdout


def test_unknown_subcommand_is_one_line_exit_2():
    res = run_cli("frobnicate")
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1


def test_version():
    res = run_cli("--version")
    assert res.returncode == 0 and res.stdout.startswith("lesionloop ")
