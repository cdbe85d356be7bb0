"""``dvt-us users``: accounts created on the command line can log in to the workspace; refusals exit 1."""

from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml

from dvt_us.service.config import load_service_config
from dvt_us.service.db import Database
from dvt_us.service.review.accounts import authenticate
from dvt_us.service.review.errors import AuthenticationError
from dvt_us.service.review.store import ReviewStore

PASSWORD = "a long enough password"


def _users(config: Path, *args: str, password: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "dvt_us", "users", "--config", str(config), *args],
                          input=password + "\n" if password is not None else None, capture_output=True, text=True,
                          check=False, timeout=120)


def test_add_list_passwd_disable(tmp_path: Path) -> None:
    config = tmp_path / "service.yaml"
    config.write_text(yaml.safe_dump({"data_dir": str(tmp_path / "data"), "review": {
        "password_hash": {"time_cost": 1, "memory_kib": 8192, "parallelism": 1}}}))
    added = _users(config, "add", "ann", "--name", "Dr Ann Reader", "--role", "reader", "--password-stdin",
                   password=PASSWORD)
    assert added.returncode == 0, added.stderr
    again = _users(config, "add", "ann", "--name", "Dr Ann", "--role", "admin", "--password-stdin", password=PASSWORD)
    assert again.returncode == 1 and "ann" in again.stderr
    weak = _users(config, "add", "bob", "--name", "Dr Bob", "--role", "reader", "--password-stdin", password="short")
    assert weak.returncode == 1, weak.stdout
    listed = _users(config, "list")
    assert listed.stdout.splitlines() == ["ann\treader\tactive\tDr Ann Reader"]
    assert _users(config, "passwd", "ann", "--password-stdin", password=PASSWORD + "!").returncode == 0
    service = load_service_config(config)
    now = datetime.now(UTC)
    with Database(service.resolved_database_url) as db:
        store = ReviewStore(db, service.review)
        assert authenticate(store, "ann", PASSWORD + "!", now).printed_name == "Dr Ann Reader"
        with pytest.raises(AuthenticationError):
            authenticate(store, "ann", PASSWORD, now)
        assert _users(config, "disable", "ann").returncode == 0
        with pytest.raises(AuthenticationError):
            authenticate(store, "ann", PASSWORD + "!", now)
    assert _users(config, "disable", "nobody").returncode == 1
