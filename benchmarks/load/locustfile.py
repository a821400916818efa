"""Safety engineers browsing and CI clients writing, against the production process set.

Run by ``benchmarks/bench_load.py`` (``locust --headless``, loopback only). The engineers log in
through the form as a browser behind the TLS proxy does (``X-Forwarded-Proto: https``; the
secure session cookie is sent back by hand, the hop to gunicorn being plain HTTP) and read the
dashboard, traceability, the requirement tree (a level at a time, as the browser expands it),
the chains and single requirements; the CI clients record
verification results through the API with a token, each one a ledger append.

With ``LOAD_SESSIONS`` (``sessionid|csrftoken`` pairs, comma-separated) the engineers are
already signed in, as on a working day, and each takes one of those sessions; without it each
logs in through the form on starting (a storm of password checks: PBKDF2 with Django's million
iterations costs about half a second of CPU each).
"""

import os
import random
import re

from locust import HttpUser, between, task

PROJECT = os.environ.get("LOAD_PROJECT", "AEB")
CODES = os.environ.get("LOAD_CODES", "FSR-001").split(",")
GOALS = os.environ.get("LOAD_GOALS", "SG-01").split(",")
PASSWORD = os.environ["LOAD_PASSWORD"]
TOKEN = os.environ["LOAD_TOKEN"]
PROXY = {"X-Forwarded-Proto": "https"}
SESSIONS = [s for s in os.environ.get("LOAD_SESSIONS", "").split(",") if s]
ACCOUNTS = ["sam", "erin", "eli", "ada"]


class SafetyEngineer(HttpUser):
    weight = 4
    wait_time = between(1, 3)

    def on_start(self):
        if SESSIONS:
            session, csrf = random.choice(SESSIONS).split("|")
            self.headers = PROXY | {"Cookie": f"sessionid={session}; csrftoken={csrf}"}
            return
        form = self.client.get("/login/", headers=PROXY, name="login form")
        csrf = form.cookies.get("csrftoken") or re.search(
            r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text
        ).group(1)
        done = self.client.post(
            "/login/",
            data={
                "username": random.choice(ACCOUNTS),
                "password": PASSWORD,
                "csrfmiddlewaretoken": csrf,
            },
            headers=PROXY
            | {
                "Cookie": f"csrftoken={csrf}",
                "Referer": f"https://{self.host.split('//')[1]}/login/",
            },
            allow_redirects=False,
            name="login",
        )
        session = done.cookies.get("sessionid")
        self.headers = PROXY | {"Cookie": f"sessionid={session}; csrftoken={csrf}"}
        self.client.cookies.clear()

    @task(3)
    def dashboard(self):
        self.client.get(f"/p/{PROJECT}/", headers=self.headers, name="page: dashboard")

    @task(2)
    def traceability(self):
        self.client.get(
            f"/p/{PROJECT}/traceability/", headers=self.headers, name="page: traceability"
        )

    @task(3)
    def requirement(self):
        code = random.choice(CODES)
        self.client.get(
            f"/p/{PROJECT}/requirements/{code}/", headers=self.headers, name="page: requirement"
        )

    @task(1)
    def tree(self):
        """The tree as a browser reads it: the goals, then one goal's level fetched on
        expanding it (the fragment tree.js asks for), sometimes a search."""
        self.client.get(
            f"/p/{PROJECT}/requirements/", headers=self.headers, name="page: requirement tree"
        )
        self.client.get(
            f"/p/{PROJECT}/tree/rows/?parent={random.choice(GOALS)}",
            headers=self.headers,
            name="fragment: tree level",
        )
        if random.random() < 0.3:
            self.client.get(
                f"/p/{PROJECT}/requirements/?q={random.choice(CODES)[:5]}&coverage=unverified",
                headers=self.headers,
                name="page: requirement search",
            )

    @task(1)
    def chains(self):
        self.client.get(f"/p/{PROJECT}/chains/", headers=self.headers, name="page: chains")


class CIClient(HttpUser):
    weight = 1
    wait_time = between(1, 2)

    @task
    def record_verification(self):
        self.client.post(
            f"/api/v1/projects/{PROJECT}/verifications/",
            json={
                "requirement": random.choice(CODES),
                "method": "ci",
                "result": random.choice(["pass", "pass", "fail"]),
                "summary": "nightly",
            },
            headers=PROXY | {"Authorization": f"Token {TOKEN}"},
            name="api write: verification",
        )
