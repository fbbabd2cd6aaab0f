"""The runtime image leaves streams/devtools out (Dockerfile): the gateway must work without it.

Docker isn't on the development machine, so the image's own step is read from the Dockerfile,
and what it leaves is run for real: streams/ copied without devtools, its commands run from
that copy in a fresh interpreter.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_dockerfile_removes_the_development_tools_before_installing() -> None:
    steps = ROOT.joinpath("Dockerfile").read_text()
    removal = steps.index("rm -rf streams/devtools")
    assert steps.index("COPY streams ./streams") < removal < steps.index("pip install")


def _without_devtools(tmp_path: Path) -> dict[str, str]:
    shutil.copytree(
        ROOT / "streams", tmp_path / "streams", ignore=shutil.ignore_patterns("devtools", "__pycache__")
    )
    assert not (tmp_path / "streams" / "devtools").exists()
    return {**os.environ, "PYTHONPATH": str(tmp_path)}


# The development checkout is installed editable, and its import hook would find streams/devtools
# in the checkout; an installed image has no such hook. The commands run without it.
_AS_INSTALLED = (
    "import sys; "
    "sys.meta_path[:] = [f for f in sys.meta_path if '__editable__' not in getattr(f, '__module__', '')]; "
    + (_RUN_MAIN := "from streams.cli import main; main(prog_name='residency-gateway')")
)


def _cli(env: dict[str, str], *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", _AS_INSTALLED, *args],
        input=stdin,
        env=env,
        cwd=env["PYTHONPATH"],  # `python -c` imports from its working directory first
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_runtime_commands_work_without_the_development_tools(tmp_path: Path) -> None:
    env = _without_devtools(tmp_path)
    where = "import importlib.util as u, streams; print(streams.__file__, u.find_spec('streams.devtools'))"
    probe = subprocess.run(
        [sys.executable, "-c", _AS_INSTALLED.replace(_RUN_MAIN, where)],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.split() == [str(tmp_path / "streams" / "__init__.py"), "None"], (
        "the copy, without devtools"
    )
    checked = _cli(env, "check-config", str(ROOT / "config" / "policy.yaml"))
    assert checked.returncode == 0, checked.stderr
    explained = _cli(
        env, "explain", stdin='{"type":"track","event":"x","userId":"u","context":{"ip":"81.2.69.142"}}\n'
    )
    assert explained.returncode == 0, explained.stderr
    assert '"topic":"events.eu"' in explained.stdout, explained.stdout  # GB is in eu


def test_the_development_commands_say_they_are_missing_and_exit_1(tmp_path: Path) -> None:
    env = _without_devtools(tmp_path)
    # `demo` goes through the same guard; it isn't run here, since without the guard it would start a broker.
    for args in (["broker", "status", "--port", "1"], ["broker", "stop", "--port", "1"]):
        result = _cli(env, *args)
        assert result.returncode == 1, (args, result.stderr)
        assert "development tool" in result.stderr and "Traceback" not in result.stderr, result.stderr
