""".ci/audit: the dependency audit fails on known vulnerabilities, passes only after a
real audit, and says plainly when it could not run.

The real pip-audit runs against `FakePyPI` (tests/audit_support.py), a local stand-in
for PyPI's vulnerability data, so that each outcome is reproduced on purpose.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.audit_support import FakePyPI, vulnerability
from tests.support import free_port

AUDIT = Path(__file__).resolve().parent.parent / ".ci" / "audit"
RELEASES = {
    ("pip", "23.0"): [],  # the script's reachability probe
    ("jinja2", "2.10"): [
        vulnerability("PYSEC-2019-217", "2.10.1", "CVE-2019-10906", "GHSA-462w-v97r-4m45")
    ],
    ("six", "1.17.0"): [],
}


def run_audit(
    lock: Path | None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    return subprocess.run(
        [sys.executable, str(AUDIT), *([str(lock)] if lock else [])],
        env={**clean, **(env or {})},
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def tool() -> None:
    """pip-audit installed in the audit's own virtualenv (a first run installs it)."""
    done = run_audit(None)
    assert "could not run" not in done.stdout, done.stdout + done.stderr


@pytest.fixture
def pypi(tmp_path: Path, tool: None) -> Iterator[FakePyPI]:
    with FakePyPI(tmp_path, RELEASES) as fake:
        yield fake


def lock(tmp_path: Path, *pins: str) -> Path:
    path = tmp_path / "requirements.lock"
    path.write_text("".join(f"{pin}\n" for pin in pins))
    return path


def test_a_known_vulnerability_fails_the_audit(pypi: FakePyPI, tmp_path: Path) -> None:
    done = run_audit(lock(tmp_path, "jinja2==2.10", "six==1.17.0"), pypi.env())
    assert done.returncode == 1, done.stdout + done.stderr
    assert "dependency audit FAILED: 1 known vulnerabilities" in done.stdout
    assert "jinja2 2.10: PYSEC-2019-217 (CVE-2019-10906, GHSA-462w-v97r-4m45)" in done.stdout
    assert "fixed in 2.10.1" in done.stdout
    assert "/pypi/jinja2/2.10/json" in pypi.asked and "/pypi/six/1.17.0/json" in pypi.asked


def test_a_clean_lock_passes_after_a_real_audit(pypi: FakePyPI, tmp_path: Path) -> None:
    done = run_audit(lock(tmp_path, "six==1.17.0"), pypi.env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert (
        done.stdout.splitlines()[-1]
        == "dependency audit passed: 1 packages, no known vulnerability"
    )


def test_packages_the_data_lacks_are_named_and_strict_mode_fails(
    pypi: FakePyPI, tmp_path: Path
) -> None:
    path = lock(tmp_path, "six==1.17.0", "no-such-package-here==1.0")
    done = run_audit(path, pypi.env())
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not audited (1, unknown to the vulnerability data): no-such-package-here" in done.stdout
    strict = run_audit(path, {**pypi.env(), "AUDIT_STRICT": "1"})
    assert strict.returncode == 1 and "AUDIT_STRICT=1" in strict.stdout


def test_data_that_covers_nothing_is_not_a_pass(pypi: FakePyPI, tmp_path: Path) -> None:
    done = run_audit(lock(tmp_path, "no-such-package-here==1.0"), pypi.env())
    assert done.returncode == 0
    assert done.stdout.splitlines()[-1].startswith(
        "dependency audit NOT run: PyPI's vulnerability data has none of the 1 packages"
    )
    assert "passed" not in done.stdout


def test_unreachable_data_says_not_run(tool: None, tmp_path: Path) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    env = {"HTTPS_PROXY": closed, "https_proxy": closed}
    done = run_audit(lock(tmp_path, "jinja2==2.10"), env)
    assert done.returncode == 0, done.stdout + done.stderr
    last = done.stdout.splitlines()[-1]
    assert last.startswith("dependency audit NOT run: cannot reach PyPI's vulnerability data")
    strict = run_audit(lock(tmp_path, "jinja2==2.10"), {**env, "AUDIT_STRICT": "1"})
    assert strict.returncode == 1 and "NOT run" in strict.stdout


def test_without_a_lock_it_audits_the_installed_environment(pypi: FakePyPI) -> None:
    done = run_audit(None, pypi.env())
    first = done.stdout.splitlines()[0]
    lock_file = AUDIT.parent.parent / "deploy" / "requirements.lock"
    if lock_file.exists():
        assert first == "dependency audit of deploy/requirements.lock"
    else:
        assert first.startswith(f"dependency audit of the installed environment ({sys.prefix}")
    # The fake data knows none of the installed versions: not a pass, and said so.
    assert "NOT run: PyPI's vulnerability data has none of the" in done.stdout
    assert "passed" not in done.stdout
