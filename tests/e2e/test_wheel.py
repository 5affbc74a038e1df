"""The package as users get it (issue 15): the wheel and sdist built from this checkout, the wheel pip-installed with
its dependencies into a new virtual environment, and its `ucwa-vcr replay` and `mitmdump -s "$(ucwa-vcr addon)"`
run from a folder that has nothing to do with the checkout, in an environment that does not point at it.

SLOW ON PURPOSE: `python -m build` (setuptools into an isolated build environment), `python -m venv` and
`pip install` of the wheel with mitmproxy and the rest of its dependencies from the registry take ten seconds or so
with a warm pip cache, and minutes without one. The module-scoped fixtures do all of that once for the tests here.
"""

from __future__ import annotations

import email
import os
import shutil
import signal
import socket
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import ucwa_vcr
from processes import ROOT, free_port, wait_for
from ucwa_vcr.cassette.codec import load_cassette

pytestmark = pytest.mark.e2e(slow="builds the wheel and sdist, creates a venv and pip-installs the wheel into it")

SEED_URL = "https://fe1.contoso.com//v1/applications/833/onlineMeetings/myOnlineMeetings"
HEADERS = ["Accept: application/json", "Authorization: Bearer cwt=any-token"]
PACKAGE_DATA = ["ucwa_vcr/seed.yaml", "ucwa_vcr/addon/ucwa.py", "ucwa_vcr/testing/meetings.html", "ucwa_vcr/py.typed"]
DIST_INFO = f"ucwa_vcr-{ucwa_vcr.__version__}.dist-info"
INSTALL_TIMEOUT = 600  # pip fetching mitmproxy and its dependencies with a cold cache


def _without_python_paths() -> dict[str, str]:
    """This environment, less whatever could put the checkout (or this venv) on a Python's path."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PYTHON") and k != "VIRTUAL_ENV"}


@dataclass
class Built:
    wheel: Path
    sdist: Path


@dataclass
class Installed:
    """The wheel installed in a new venv, and a folder and environment to run it from that know nothing of the
    checkout."""

    bin: Path
    site: Path  # the venv's site-packages
    cwd: Path
    env: dict[str, str]

    def run(self, *argv: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, env=self.env, cwd=self.cwd,
                              stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    """The sdist and the wheel, built from this checkout as a release would be (the wheel from the sdist)."""
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run([sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)], capture_output=True,
                          text=True, timeout=INSTALL_TIMEOUT, env=_without_python_paths(), cwd=out,
                          stdin=subprocess.DEVNULL)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    wheels, sdists = sorted(out.glob("*.whl")), sorted(out.glob("*.tar.gz"))
    assert len(wheels) == 1 and len(sdists) == 1, sorted(p.name for p in out.iterdir())
    return Built(wheels[0], sdists[0])


@pytest.fixture(scope="module")
def installed(built: Built, tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """A fresh venv (no system site packages) with the wheel and its dependencies installed by pip."""
    venv = tmp_path_factory.mktemp("venv") / "ucwa-vcr"
    elsewhere = tmp_path_factory.mktemp("elsewhere")
    made = subprocess.run([sys.executable, "-m", "venv", str(venv)], capture_output=True, text=True, timeout=120,
                          env=_without_python_paths(), cwd=elsewhere, stdin=subprocess.DEVNULL)
    assert made.returncode == 0, made.stderr
    assert "include-system-site-packages = false" in (venv / "pyvenv.cfg").read_text()
    # pip keeps this environment (its configuration, its cache under HOME), less any Python path
    pip = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--disable-pip-version-check", "-q",
                          str(built.wheel)], capture_output=True, text=True, timeout=INSTALL_TIMEOUT,
                         env=_without_python_paths(), cwd=elsewhere, stdin=subprocess.DEVNULL)
    assert pip.returncode == 0, pip.stdout[-3000:] + pip.stderr[-3000:]

    home = elsewhere / "home"
    home.mkdir()
    # unbuffered: the proxies' output goes to a file, read while they run
    env = {"PATH": os.pathsep.join([str(venv / "bin"), "/usr/local/bin", "/usr/bin", "/bin"]), "HOME": str(home),
           "LANG": "C.UTF-8", "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    where = subprocess.run([str(venv / "bin" / "python"), "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                           capture_output=True, text=True, timeout=60, env=env, cwd=elsewhere, check=True)
    return Installed(venv / "bin", Path(where.stdout.strip()).resolve(), elsewhere, env)


def seed_body() -> bytes:
    """The JSON answer of the seed in this checkout, which the installed package must serve."""
    seed = load_cassette(ROOT / "addons" / "ucwa_vcr" / "seed.yaml")
    return next(i.response.body for i in seed.interactions
                if i.request.method == "GET" and ("Accept", "application/json") in i.request.headers)


class Served:
    """A proxy process of the installed package, started from the unrelated folder with the clean environment."""

    def __init__(self, installed: Installed, argv: list[str], port: int, confdir: Path, name: str) -> None:
        self.port, self.ca, self.installed = port, confdir / "mitmproxy-ca-cert.pem", installed
        self.log_path = installed.cwd / f"{name}.log"
        self.proc = subprocess.Popen(argv, stdout=self.log_path.open("wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, env=installed.env, cwd=installed.cwd)
        self.stopped_by_itself: bool | None = None

        def ready() -> bool:
            # the CA written, the port open, and ucwa-vcr's addons loaded (mitmproxy 12 binds before scripts load)
            return self.proc.poll() is not None or (self.ca.is_file() and self.listens() and "ucwa-vcr: replaying" in self.log)

        wait_for(ready, lambda: f"the proxy did not start:\n{self.log}", seconds=60)
        assert self.proc.poll() is None, f"the proxy ended at start:\n{self.log}"

    def listens(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    @property
    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def get_seed(self) -> tuple[str, bytes]:
        """curl's GET of the seed's URL through the proxy, trusting its CA: the status code and the body."""
        body = self.installed.cwd / f"body-{self.port}"
        curl = [shutil.which("curl") or "curl", "-sS", "--max-time", "30", "--proxy", f"http://127.0.0.1:{self.port}",
                "--cacert", str(self.ca), "-o", str(body), "-w", "%{http_code}"]
        done = subprocess.run([*curl, *(a for h in HEADERS for a in ("-H", h)), SEED_URL], capture_output=True,
                              text=True, timeout=60, env=self.installed.env, cwd=self.installed.cwd)
        assert done.returncode == 0, done.stderr + self.log
        return done.stdout, body.read_bytes()

    def stop(self) -> str:
        """SIGINT, as Ctrl-C; killed if it has not ended after a while. Its output."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(20)
                self.stopped_by_itself = True
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
                self.stopped_by_itself = False
        return self.log


@pytest.fixture
def serve(installed: Installed) -> Iterator:
    started: list[Served] = []

    def start(*argv: str, port: int, confdir: Path, name: str) -> Served:
        started.append(Served(installed, list(argv), port, confdir, name))
        return started[-1]

    yield start
    for served in started:
        served.stop()


def test_wheel_and_sdist_hold_the_package_data_license_and_metadata(built):
    with zipfile.ZipFile(built.wheel) as wheel:
        names = set(wheel.namelist())
        metadata = email.message_from_bytes(wheel.read(f"{DIST_INFO}/METADATA"))
        entry_points = wheel.read(f"{DIST_INFO}/entry_points.txt").decode()
    assert set(PACKAGE_DATA) <= names, sorted(names)
    assert any(n.startswith(f"{DIST_INFO}/") and n.endswith("/LICENSE") for n in names), sorted(names)
    assert {n.split("/")[0] for n in names} == {"ucwa_vcr", DIST_INFO}, "the package alone: nothing else to shadow"
    assert metadata["Requires-Python"] == ">=3.11"
    classifiers = metadata.get_all("Classifier") or []
    assert {"Programming Language :: Python :: 3.11", "Programming Language :: Python :: 3.12",
            "Typing :: Typed"} <= set(classifiers), classifiers
    assert "ucwa-vcr = ucwa_vcr.tools.cli:main" in entry_points and "ucwa_vcr = ucwa_vcr.pytest_plugin" in entry_points

    with tarfile.open(built.sdist) as sdist:
        top = f"ucwa_vcr-{ucwa_vcr.__version__}"
        in_sdist = set(sdist.getnames())
    assert {f"{top}/addons/{p}" for p in PACKAGE_DATA} | {f"{top}/LICENSE", f"{top}/pyproject.toml"} <= in_sdist


def test_the_installed_package_comes_from_the_venv_not_the_checkout(installed):
    out = installed.run(str(installed.bin / "python"), "-c", "import sys, ucwa_vcr; print(ucwa_vcr.__file__); "
                        "print(*sys.path, sep='\\n')")
    assert out.returncode == 0, out.stderr
    where, *path = out.stdout.splitlines()
    assert Path(where).resolve().is_relative_to(installed.site)
    assert not any(p and Path(p).resolve().is_relative_to(ROOT) for p in path), path
    assert (installed.site / "ucwa_vcr" / "seed.yaml").read_bytes() == (ROOT / "addons/ucwa_vcr/seed.yaml").read_bytes()
    version = installed.run(str(installed.bin / "ucwa-vcr"), "--version")
    assert version.stdout.strip() == f"ucwa-vcr {ucwa_vcr.__version__}", version.stdout + version.stderr


def assert_serves_the_installed_seed(proxy: Served, installed: Installed) -> None:
    """The proxy answers the seed's GET with its body, ends on SIGINT and says it replayed it from the wheel."""
    status, body = proxy.get_seed()
    assert status == "200", proxy.log
    assert body == seed_body()
    log = proxy.stop()
    assert proxy.stopped_by_itself, f"did not end on SIGINT:\n{log}"
    assert f"ucwa-vcr: {installed.site / 'ucwa_vcr' / 'seed.yaml'}: 1 replayed, 0 missed" in log, log


def test_installed_ucwa_vcr_replay_serves_the_shipped_seed_over_https(installed, serve):
    port, confdir = free_port(), installed.cwd / "conf-replay"
    proxy = serve(str(installed.bin / "ucwa-vcr"), "replay", "--listen-port", str(port), "--confdir", str(confdir),
                  port=port, confdir=confdir, name="replay")
    assert_serves_the_installed_seed(proxy, installed)


def test_mitmdump_with_the_installed_addon_file_serves_the_shipped_seed(installed, serve):
    out = installed.run(str(installed.bin / "ucwa-vcr"), "addon")
    assert out.returncode == 0, out.stderr
    addon = Path(out.stdout.strip())
    assert addon.is_file() and addon.resolve().is_relative_to(installed.site), addon
    assert addon.resolve() == (installed.site / "ucwa_vcr" / "addon" / "ucwa.py")

    port, confdir = free_port(), installed.cwd / "conf-mitmdump"
    proxy = serve(str(installed.bin / "mitmdump"), "-s", str(addon), "--listen-port", str(port),
                  "--set", f"confdir={confdir}", "--set", "ucwa_record_mode=none",  # no cassette: the shipped seed
                  port=port, confdir=confdir, name="mitmdump")
    assert_serves_the_installed_seed(proxy, installed)
