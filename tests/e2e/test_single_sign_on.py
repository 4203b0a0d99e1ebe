"""Single sign-on and single logout in a real browser, through a real upstream we did not write.

The upstream is `oidc-provider` (npm, OpenID Certified) on loopback with one fixed account, plugged into
Gatehouse as its generic `oidc` upstream. Gatehouse and the two example apps run exactly as `make
examples` runs them (examples/run.py), each in its own process. The person signs in to the web app
(through the upstream), then to the single-page app (no second upstream sign-in), then signs out
everywhere: Gatehouse's nodes send both apps a back-channel logout token.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
UPSTREAM_DIR = Path(__file__).resolve().parent / "upstream"
ARTIFACTS = ROOT / "test-artifacts"
UPSTREAM_CLIENT_ID = "gatehouse"
UPSTREAM_CLIENT_SECRET = "gatehouse-e2e-upstream-secret"
UPSTREAM_NAME = "Example SSO"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _wait_for_http(url: str, process: subprocess.Popen, output: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"{url}: the process exited ({process.returncode}):\n" + "".join(output))
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    pytest.fail(f"{url} did not answer within {timeout:.0f} s:\n" + "".join(output))


def _collect(stream, lines: list[str], changed: threading.Condition) -> None:
    for line in stream:
        with changed:
            lines.append(line)
            changed.notify_all()


def _stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            # Our own process group (start_new_session): the runner and the servers it started.
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(5)


@dataclass
class Upstream:
    url: str


@pytest.fixture
def upstream(gatehouse_port: int) -> Iterator[Upstream]:
    """oidc-provider on loopback; `npm ci` from the lockfile first if this checkout has no node_modules."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if not node or not npm:
        pytest.skip("node and npm are needed for the real upstream (oidc-provider): apt-get install -y nodejs npm")
    version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
    if tuple(int(part) for part in re.findall(r"\d+", version)[:2]) < (20, 19):
        pytest.skip(f"oidc-provider 9 needs Node.js 20.19 or later; this machine has {version}")
    if not (UPSTREAM_DIR / "node_modules" / "oidc-provider").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund"], cwd=UPSTREAM_DIR, capture_output=True, text=True, timeout=600
        )
        if installed.returncode != 0:
            pytest.fail(f"npm ci in {UPSTREAM_DIR} failed:\n{installed.stdout}\n{installed.stderr}")
    port = _free_port()
    env = {
        **os.environ,
        "PORT": str(port),
        "CLIENT_ID": UPSTREAM_CLIENT_ID,
        "CLIENT_SECRET": UPSTREAM_CLIENT_SECRET,
        "REDIRECT_URI": f"http://127.0.0.1:{gatehouse_port}/complete/oidc/",
    }
    output: list[str] = []
    process = subprocess.Popen(
        [node, "server.js"], cwd=UPSTREAM_DIR, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    threading.Thread(target=_collect, args=(process.stdout, output, threading.Condition()), daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_for_http(f"{url}/.well-known/openid-configuration", process, output)
        yield Upstream(url)
    finally:
        _stop(process)


@dataclass
class Examples:
    gatehouse: str
    webapp: str
    spa: str
    output: list[str] = field(default_factory=list)
    changed: threading.Condition = field(default_factory=threading.Condition)

    def wait_for_output(self, pattern: str, timeout: float) -> str:
        """The first line of the servers' output matching `pattern`, waiting up to `timeout` seconds."""
        deadline = time.monotonic() + timeout
        compiled = re.compile(pattern)
        with self.changed:
            while True:
                found = next((line for line in self.output if compiled.search(line)), None)
                if found is not None:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"no output line matched {pattern!r} within {timeout} s")
                self.changed.wait(remaining)


@pytest.fixture
def gatehouse_port() -> int:
    return _free_port()


# Variables the test suite's own settings put in this process's environment (tests/settings.py): the
# examples' Gatehouse must read only what `make examples` would give it.
_SUITE_ONLY = re.compile(
    r"^(SOCIAL_AUTH_|GATEHOUSE_|DJANGO_SETTINGS_MODULE$|DEBUG$|ALLOWED_HOSTS$|SECRET_KEY$|DATABASE_URL$|REDIS_URL$)"
)


@pytest.fixture
def examples(upstream: Upstream, gatehouse_port: int, tmp_path: Path) -> Iterator[Examples]:
    """`make examples` (examples/run.py) with the real upstream as Gatehouse's only way in."""
    webapp_port, spa_port = _free_port(), _free_port()
    env = {key: value for key, value in os.environ.items() if not _SUITE_ONLY.match(key)}
    env.update({
        "DATABASE_URL": f"sqlite:///{tmp_path / 'gatehouse.sqlite3'}",
        "SECRET_KEY": "e2e-single-sign-on-" + "x" * 40,
        "GATEHOUSE_DEV_LOGIN": "0",
        "SOCIAL_AUTH_OIDC_OIDC_ENDPOINT": upstream.url,
        "SOCIAL_AUTH_OIDC_KEY": UPSTREAM_CLIENT_ID,
        "SOCIAL_AUTH_OIDC_SECRET": UPSTREAM_CLIENT_SECRET,
        "GATEHOUSE_OIDC_UPSTREAM_NAME": UPSTREAM_NAME,
    })  # fmt: skip
    running = Examples(
        gatehouse=f"http://127.0.0.1:{gatehouse_port}",
        webapp=f"http://127.0.0.1:{webapp_port}",
        spa=f"http://127.0.0.1:{spa_port}",
    )
    command = [
        sys.executable, str(ROOT / "examples" / "run.py"), "--gatehouse-port", str(gatehouse_port),
        "--webapp-port", str(webapp_port), "--spa-port", str(spa_port), "--var", str(tmp_path / "examples"),
    ]  # fmt: skip
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True
    )
    threading.Thread(target=_collect, args=(process.stdout, running.output, running.changed), daemon=True).start()
    try:
        deadline = time.monotonic() + 120
        while not any("== Ready ==" in line for line in running.output):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("make examples did not start:\n" + "".join(running.output))
            time.sleep(0.2)
        yield running
    finally:
        _stop(process)
        ARTIFACTS.mkdir(exist_ok=True)
        (ARTIFACTS / "single-sign-on-servers.log").write_text("".join(running.output))


def _status_settled(page) -> str:
    page.wait_for_function("!document.getElementById('status').textContent.startsWith('Loading')")
    return page.locator("#status").inner_text()


def test_it_signs_in_to_two_apps_with_one_upstream_sign_in_and_signs_out_of_both(browser_page, upstream, examples):
    page = browser_page
    upstream_visits: list[str] = []
    page.on("request", lambda request: request.url.startswith(upstream.url) and upstream_visits.append(request.url))
    at = re.escape

    # 1. The web app: Gatehouse's login page, then the upstream's own pages, then Gatehouse's consent.
    page.goto(examples.webapp)
    page.get_by_role("link", name="Sign in with Gatehouse").click()
    page.wait_for_url(re.compile(rf"^{at(examples.gatehouse)}/login/\?next="))
    page.get_by_role("button", name=f"Continue with {UPSTREAM_NAME}").click()
    page.wait_for_url(re.compile(rf"^{at(upstream.url)}/interaction/"))
    page.locator("input[name=login]").fill("ada")
    page.locator("input[name=password]").fill("any password will do")
    page.get_by_role("button", name="Sign-in").click()
    page.get_by_role("button", name="Continue").click()  # the upstream asks for consent too
    page.wait_for_url(re.compile(rf"^{at(examples.gatehouse)}/o/authorize/\?"))
    assert page.locator("h1").inner_text() == "Example web app wants to access your Gatehouse account"
    page.get_by_role("button", name="Allow").click()
    page.wait_for_url(f"{examples.webapp}/")
    assert page.locator("#status").inner_text() == "Signed in as Ada Lovelace (ada@example.com)."
    sid = page.locator("dd code").nth(1).inner_text()
    assert sid and upstream_visits, "the first sign-in went through the upstream"
    page.screenshot(path=str(ARTIFACTS / "sso-webapp-signed-in.png"), full_page=True)

    # 2. The single-page app: single sign-on. Gatehouse's session answers; the upstream is not visited.
    upstream_visits.clear()
    page.goto(examples.spa)
    assert _status_settled(page) == "You are not signed in."
    page.get_by_role("button", name="Sign in with Gatehouse").click()
    page.wait_for_url(f"{examples.spa}/")
    assert _status_settled(page) == "Signed in as Ada Lovelace (ada@example.com)."
    # Its API validated the JWT access token locally (gatehouse_rs) and answered.
    assert '"message": "Hello from the example API"' in page.locator("#api-result").inner_text()
    assert upstream_visits == [], "no second upstream sign-in"
    page.screenshot(path=str(ARTIFACTS / "sso-spa-signed-in.png"), full_page=True)

    # 3. Sign out everywhere, from the web app: Gatehouse asks, then sends the person back.
    page.goto(examples.webapp)
    page.get_by_role("button", name="Sign out everywhere").click()
    page.wait_for_url(re.compile(rf"^{at(examples.gatehouse)}/o/logout/\?"))
    page.get_by_role("button", name="Sign out").click()
    page.wait_for_url(re.compile(rf"^{at(examples.webapp)}/signed-out\?state="))
    assert page.locator("#status").inner_text() == "You are signed out, here and at Gatehouse."
    signed_out_at = time.monotonic()

    # 4. Both apps got a logout token for this session from Gatehouse's server, within 10 s.
    examples.wait_for_output(rf"^\[webapp\] back-channel logout received: Gatehouse session {at(sid[:8])}", timeout=10)
    examples.wait_for_output(rf"^\[spa\] back-channel logout received: Gatehouse session {at(sid[:8])}", timeout=10)
    assert time.monotonic() - signed_out_at < 10
    # The single-page app still holds its tokens, but its API now refuses them and the refresh token is
    # revoked: reloaded, it finds itself signed out.
    page.goto(examples.spa)
    assert _status_settled(page) == "Your session has ended. You are signed out."
    page.goto(examples.webapp)
    assert page.locator("#status").inner_text() == "You are not signed in."
    # And Gatehouse's own session is gone: its account page wants a sign-in again.
    page.goto(f"{examples.gatehouse}/account/")
    assert page.url.startswith(f"{examples.gatehouse}/login/")
