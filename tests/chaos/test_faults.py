"""The fault-injection hook the chaos suite drives: off unless enabled, and when on, its
faults take the engine's real paths (a transient error is retried, not fatal)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from syncbeat.connectors import faults
from syncbeat.connectors.failures import is_transient
from syncbeat.vocabulary.errors import ConfigError


def _enable(monkeypatch: pytest.MonkeyPatch, config: dict[str, object] | str) -> None:
    text = config if isinstance(config, str) else json.dumps(config)
    monkeypatch.setenv(faults.ENV, text)
    monkeypatch.setattr(faults, "_enabled", True)
    monkeypatch.setattr(faults, "_plan", None)  # read again at the next strike


def test_off_unless_the_environment_asks_for_it() -> None:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    code = (
        "from syncbeat.connectors import faults\n"
        "for point in faults.POINTS:\n"
        "    for _ in range(1000):\n"
        "        faults.strike(point)\n"
        "print(faults._enabled, faults._plan)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert result.stdout.split() == ["False", "None"]


def test_a_struck_fault_is_transient_and_logged(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    log = tmp_path / "faults.log"
    _enable(monkeypatch, {"seed": 1, "dest_write": 1.0, "log": str(log)})
    faults.strike(faults.Point.SOURCE_READ)  # chance 0: nothing
    with pytest.raises(faults.InjectedFault) as caught:
        faults.strike(faults.Point.DEST_WRITE)
    assert is_transient(caught.value)
    assert log.read_text() == f"dest_write {os.getpid()}\n"


def test_the_same_seed_strikes_the_same_sequence(monkeypatch: pytest.MonkeyPatch) -> None:
    def sequence() -> list[bool]:
        _enable(monkeypatch, {"seed": "42:w1.1", "source_read": 0.3})
        struck = []
        for _ in range(200):
            try:
                faults.strike(faults.Point.SOURCE_READ)
                struck.append(False)
            except faults.InjectedFault:
                struck.append(True)
        return struck

    first = sequence()
    assert first == sequence()
    assert 30 < sum(first) < 90


def test_a_config_file_works_and_a_bad_config_says_what_to_do(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "faults.json"
    path.write_text(json.dumps({"seed": 3, "dest_ack": 1.0}))
    _enable(monkeypatch, str(path))
    with pytest.raises(faults.InjectedFault, match="dest_ack"):
        faults.strike(faults.Point.DEST_ACK)

    _enable(monkeypatch, "{not json")
    with pytest.raises(ConfigError, match=faults.ENV) as caught:
        faults.strike(faults.Point.SOURCE_READ)
    assert caught.value.hint and "unset" in caught.value.hint
