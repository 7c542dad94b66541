"""The production configuration, started locally: PostgreSQL, `xinyong serve` with two worker
processes, and nginx running the shipped site config (deploy/nginx/xinyong.conf) with TLS on
loopback. Pages, the API, request ids, metrics aggregated over both workers, and a browser."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.pool import NullPool

from tests.conftest import PG_ADMIN_URL, TEST_SECRET

from ..live import CHROMIUM, free_port, launch_chromium

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
pytestmark = pytest.mark.skipif(not Path(NGINX).exists(),
                                reason="nginx is not installed (make test installs it: scripts/system-packages.txt)")



def _self_signed(directory: Path) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost")]), critical=False)
            .sign(key, hashes.SHA256()))
    crt, pem = directory / "fullchain.pem", directory / "privkey.pem"
    crt.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    pem.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
    return crt, pem


def render_site(tmp: Path, *, http_port: int, https_port: int, app_port: int, crt: Path, key: Path) -> Path:
    """The shipped site config with only addresses, ports, certificate and log paths changed."""
    site = (ROOT / "deploy" / "nginx" / "xinyong.conf").read_text()
    replacements = {
        "    listen [::]:80;\n": "", "    listen [::]:443 ssl http2;\n": "",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "server 127.0.0.1:8000": f"server 127.0.0.1:{app_port}",
        "/etc/ssl/xinyong/fullchain.pem": str(crt), "/etc/ssl/xinyong/privkey.pem": str(key),
        "/var/log/nginx/": f"{tmp}/",
    }
    for old, new in replacements.items():
        assert old in site, f"deploy/nginx/xinyong.conf no longer contains {old!r}"
        site = site.replace(old, new)
    (tmp / "site.conf").write_text(site)
    main = tmp / "nginx.conf"
    user = "user root;\n" if os.geteuid() == 0 else ""
    temp = "\n".join(f"    {kind}_temp_path {tmp}/{kind};" for kind in ("client_body", "proxy", "fastcgi", "uwsgi",
                                                                          "scgi"))
    main.write_text(f"""{user}worker_processes 1;
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
daemon off;
events {{ worker_connections 256; }}
http {{
    include /etc/nginx/mime.types;
    access_log off;
{temp}
    include {tmp}/site.conf;
}}
""")
    return main


@pytest.fixture
def pg_database():
    name = f"xinyong_deploy_{uuid.uuid4().hex[:10]}"
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT", poolclass=NullPool)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        pytest.fail(f"PostgreSQL unreachable: {exc}") if os.environ.get("XINYONG_REQUIRE_PG") == "1" else \
            pytest.skip(f"PostgreSQL unreachable: {exc}")
    try:
        yield make_url(PG_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _wait(url: str, proc: subprocess.Popen, log: Path, **kw) -> None:
    for _ in range(200):
        if proc.poll() is not None:
            raise AssertionError(f"process exited {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1, **kw).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{url} did not answer:\n{log.read_text()[-3000:]}")


def _stop(proc: subprocess.Popen, sig=signal.SIGINT) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


def test_nginx_tls_two_workers_postgresql(pg_database, tmp_path):
    var = tmp_path / "var"
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {**os.environ, "XINYONG_DATABASE_URL": pg_database, "XINYONG_SECRET_KEY": TEST_SECRET,
           "XINYONG_VAR_DIR": str(var), "XINYONG_LOG_FORMAT": "json", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
           "XINYONG_SITE_NAME": "信用示范市"}
    init = subprocess.run([sys.executable, "-m", "xinyong.cli", "init", "--json"], env=env, capture_output=True,
                          text=True, timeout=120)
    assert init.returncode == 0, init.stderr
    app_port, http_port, https_port = free_port(), free_port(), free_port()
    crt, key = _self_signed(tmp_path)
    conf = render_site(tmp_path, http_port=http_port, https_port=https_port, app_port=app_port, crt=crt, key=key)
    check = subprocess.run([NGINX, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr

    app_log, nginx_log = tmp_path / "app.log", tmp_path / "nginx.out"
    with open(app_log, "w") as fh:
        app = subprocess.Popen([sys.executable, "-m", "xinyong.cli", "serve", "--port", str(app_port),
                                "--workers", "2"], env=env, stdout=fh, stderr=subprocess.STDOUT)
    with open(nginx_log, "w") as fh:
        nginx = subprocess.Popen([NGINX, "-c", str(conf), "-p", str(tmp_path)], stdout=fh, stderr=subprocess.STDOUT)
    base = f"https://127.0.0.1:{https_port}"
    try:
        _wait(f"http://127.0.0.1:{app_port}/healthz", app, app_log)
        _wait(f"{base}/healthz", nginx, nginx_log, verify=False)
        with httpx.Client(base_url=base, verify=False, timeout=30) as c:
            home = c.get("/")
            assert home.status_code == 200 and "信用示范市" in home.text
            assert home.headers["strict-transport-security"].startswith("max-age=")
            assert c.get("/readyz").json()["status"] == "ready"
            assert c.get("/healthz").json()["database"] == "postgresql"
            assert c.get("/search", params={"q": "公司"}).status_code == 200
            assert c.get("/api/v1/catalogue").json()
            missing = c.get("/api/v1/subjects/91440604MA4UYQ0X1J")
            assert missing.status_code in (404, 422) and missing.json()["error"]["message"]
            # The request id: the caller's is kept end to end, else nginx makes one.
            r = c.get("/api/v1/departments", headers={"X-Request-ID": "deploy-smoke-0001"})
            assert r.headers["x-request-id"] == "deploy-smoke-0001"
            assert len(c.get("/api/v1/departments").headers["x-request-id"]) >= 16
            for _ in range(20):
                assert c.get("/api/v1/catalogue").status_code == 200
            metrics = c.get("/metrics")
            assert metrics.status_code == 200
        # Plain HTTP is sent to HTTPS.
        redirect = httpx.get(f"http://127.0.0.1:{http_port}/search?q=x", follow_redirects=False)
        assert redirect.status_code == 301 and redirect.headers["location"].startswith("https://")

        # Latency from both workers, added up: exactly the 21 catalogue requests made.
        from prometheus_client.parser import text_string_to_metric_families

        counts = [s.value for f in text_string_to_metric_families(metrics.text) for s in f.samples
                  if s.name == "xinyong_http_request_duration_seconds_count"
                  and s.labels.get("route") == "/api/v1/catalogue" and s.labels.get("status") == "200"]
        assert sum(counts) == 21, counts
        assert len(list(metrics_dir.glob("histogram_*.db"))) >= 1

        if Path(CHROMIUM).exists():
            from playwright.sync_api import sync_playwright

            with sync_playwright() as p:
                browser = launch_chromium(p)
                try:
                    page = browser.new_page(ignore_https_errors=True)
                    page.goto(f"{base}/")
                    assert "信用示范市" in page.title()
                    page.goto(f"{base}/search?q=%E5%85%AC%E5%8F%B8")
                    assert page.locator("main").count() == 1
                finally:
                    browser.close()
    finally:
        _stop(nginx, signal.SIGQUIT)
        _stop(app)
    # The workers' JSON logs carry the request id nginx passed on.
    lines = [json.loads(line) for line in app_log.read_text().splitlines() if line.startswith("{")]
    assert any(line.get("request_id") == "deploy-smoke-0001" and line.get("route") == "/api/v1/departments"
               for line in lines), app_log.read_text()[-2000:]
    access = (tmp_path / "xinyong.access.log").read_text()
    assert "deploy-smoke-0001" in access and "q=" not in access  # query strings stay out of nginx logs
