"""The production process set of the README, started as described and driven over HTTP.

gunicorn with 4 workers, two Celery workers and beat, with production settings (``DEBUG`` off,
a secret key, allowed hosts), on a PostgreSQL database of their own (migrated by the owner, used
as the application role), the Redis broker, and an S3 server on loopback (moto) as the evidence
store. The client behaves as a browser behind the TLS proxy would (``X-Forwarded-Proto: https``,
secure cookies returned by hand since the loopback hop is plain HTTP) and as a CI client with an
API token: it logs in, imports a ReqIF file, starts a campaign through the API, watches it finish
on the workers, downloads the certification package and verifies it with the package's own
``verify.py`` against the key the store publishes.

Runs where CI runs it: with ``DATABASE_OWNER_URL`` (PostgreSQL) and ``CELERY_BROKER_URL`` set.
"""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
import time
import zipfile
from urllib.parse import urlparse

import pytest

from tests import prodset
from tests.compliance.reqif_samples import generate_reqif


class Browser:
    """HTTP as a browser behind the TLS proxy: secure cookies kept and sent back by hand."""

    def __init__(self, base: str):
        import requests

        self.base = base
        self.http = requests.Session()
        self.cookies: dict[str, str] = {}

    def _headers(self, extra=None) -> dict:
        headers = {"X-Forwarded-Proto": "https", "X-Forwarded-For": "203.0.113.7"}
        if self.cookies:
            headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
        return headers | (extra or {})

    def request(self, method: str, path: str, **kwargs):
        response = self.http.request(
            method,
            self.base + path,
            headers=self._headers(kwargs.pop("headers", None)),
            allow_redirects=False,
            timeout=120,
            **kwargs,
        )
        self.cookies.update({c.name: c.value for c in response.cookies})
        self.http.cookies.clear()
        return response

    def csrf(self) -> str:
        return self.cookies["csrftoken"]


@pytest.fixture
def production(tmp_path, s3_endpoint):
    try:
        prodset.services_from_environment()
    except prodset.Unavailable as exc:
        pytest.skip(str(exc))
    with prodset.production_set(tmp_path, s3_endpoint) as running:
        yield running


@pytest.mark.broker
@pytest.mark.s3
def test_the_production_set_runs_the_whole_flow(production, tmp_path):
    base, token, s3 = production.base, production.token, production.s3
    browser = Browser(base)

    # without the proxy's https header the site sends the client to https
    plain = browser.http.get(f"{base}/login/", allow_redirects=False, timeout=30)
    assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")

    # log in as a browser does: the form, its CSRF cookie, the password
    form = browser.request("GET", "/login/")
    assert form.status_code == 200
    assert "secure" in form.headers["Set-Cookie"].lower()
    done = browser.request(
        "POST",
        "/login/",
        data={
            "username": "sam",
            "password": prodset.PASSWORD,
            "csrfmiddlewaretoken": browser.csrf(),
        },
        headers={"Referer": f"https://127.0.0.1:{urlparse(base).port}/login/"},
    )
    assert done.status_code == 302, done.text[:2000]
    assert "sessionid" in browser.cookies
    assert browser.request("GET", "/p/AEB/").status_code == 200

    # the operator checks the ledger from the command line: every web worker shares the
    # cache, so whichever answers shows that check on the dashboard
    checked = prodset._manage(production.env, "verify_ledger", "--project", "AEB")
    assert "intact" in checked, checked
    entries = re.search(r"AEB: (\d+) entries", checked).group(1)
    for _ in range(6):
        dashboard = browser.request("GET", "/p/AEB/").text
        assert "✓ verified" in dashboard, dashboard[:3000]
        assert f"{entries} entries and" in dashboard

    # a CI client with a token imports a ReqIF file
    api = Browser(base)
    auth = {"Authorization": f"Token {token}"}
    reqif = generate_reqif(40, 50, seed=3)
    imported = api.request(
        "POST",
        "/api/v1/projects/AEB/reqif/import/",
        files={"file": ("supplier.reqif", io.BytesIO(reqif), "application/xml")},
        data={"on_violation": "note"},  # the generated links break ASIL rules on purpose
        headers=auth,
    )
    assert imported.status_code == 200, imported.text[:2000]
    report = imported.json()
    assert report["created"] or report.get("requirements"), report

    # ... and starts the demo campaign, which the two workers run
    started = api.request(
        "POST",
        "/api/v1/projects/AEB/campaigns/AEB-demo/runs/",
        json={"executor": "local"},
        headers=auth,
    )
    assert started.status_code == 201, started.text[:2000]
    run_id = started.json()["id"]
    deadline = time.monotonic() + 600
    while True:
        run = api.request("GET", f"/api/v1/projects/AEB/runs/{run_id}/", headers=auth).json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            break
        assert time.monotonic() < deadline, f"run {run_id} still {run['status']}"
        time.sleep(2)
    assert run["status"] == "succeeded", run
    assert run["cases_total"] > 0
    received = {
        n: sum(
            "validation.run_shard[" in line and line.rstrip().endswith("received")
            for line in (production.logs / f"worker{n}.log").read_text().splitlines()
        )
        for n in (1, 2)
    }
    assert all(received.values()), f"shards received per worker: {received}"

    # the safety manager downloads the certification package of the demo baseline
    baselines = browser.request("GET", "/p/AEB/baselines/")
    assert baselines.status_code == 200
    pk = re.search(r"/p/AEB/baselines/(\d+)/package/", baselines.text).group(1)
    package = browser.request(
        "POST",
        f"/p/AEB/baselines/{pk}/package/",
        data={"csrfmiddlewaretoken": browser.csrf()},
        headers={"Referer": f"https://127.0.0.1:{urlparse(base).port}/p/AEB/baselines/"},
    )
    assert package.status_code == 200, package.text[:2000]
    assert package.headers["Content-Type"] == "application/zip"

    # the regulator verifies it with the package's verify.py and the key the store publishes
    folder = tmp_path / "regulator"
    folder.mkdir()
    (folder / "package.zip").write_bytes(package.content)
    with zipfile.ZipFile(folder / "package.zip") as archive:
        (folder / "verify.py").write_bytes(archive.read("verify.py"))
    keys = [
        o["Key"]
        for o in s3.list_objects_v2(Bucket="evidence", Prefix="safecase/keys/")["Contents"]
        if o["Key"].endswith(".vkey")
    ]
    assert keys
    (folder / "trusted.vkey").write_text(
        "".join(
            s3.get_object(Bucket="evidence", Key=k)["Body"].read().decode().strip() + "\n"
            for k in keys
        )
    )
    verified = subprocess.run(
        [
            sys.executable,
            "-I",
            "verify.py",
            "package.zip",
            "--trusted-key",
            "trusted.vkey",
            "--json",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=300,
    )
    result = json.loads(verified.stdout.strip().splitlines()[-1])
    assert verified.returncode == 0 and result["ok"] and result["origin_verified"], verified.stdout
