"""The real server process: `xinyong serve` answers, and its logs never carry a citizen ID."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import httpx
from typer.testing import CliRunner

from xinyong.cli import app
from xinyong.db.engine import session_scope
from xinyong.identity.codes import generate_citizen_id
from xinyong.logging import mask_personal_data
from xinyong.subjects.service import SubjectIn, upsert_subjects

from ..live import free_port



def test_serve_and_access_log_masking(db_url, tmp_path):
    assert CliRunner().invoke(app, ["init"]).exit_code == 0
    cid = generate_citizen_id(random.Random(21))
    with session_scope(db_url) as s:
        upsert_subjects(s, [SubjectIn(kind="natural_person", name="赵六", citizen_id=cid)])
    port = free_port()
    log = tmp_path / "server.log"
    with open(log, "w") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "xinyong.cli", "serve", "--port", str(port)],
                                stdout=fh, stderr=subprocess.STDOUT, env=os.environ.copy())
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        else:
            raise AssertionError(log.read_text())
        r = httpx.get(f"{base}/api/v1/subjects/{cid}")
        assert r.status_code == 404 and cid not in r.text
        assert "信用" in httpx.get(base + "/").text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    text = log.read_text()
    assert "/api/v1/subjects/" in text  # the access log line is there ...
    assert cid not in text  # ... with the ID masked
    assert mask_personal_data(cid) in text
    # One access line a request (xinyong.access: uvicorn's own would repeat it), and no
    # handler failing on a masked line (uvicorn's access formatter unpacks its arguments).
    assert "Logging error" not in text and "Traceback" not in text, text[-3000:]
    assert sum(f"/api/v1/subjects/{mask_personal_data(cid)}" in line for line in text.splitlines()) == 1, text
