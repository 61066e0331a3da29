"""Node logs: one event per line in key=value or JSON, size rotation, secrets scrubbed, config checked."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest

from node.config import LogConfig, NodeConfig, load_key, save_key
from node.crypto import get_suite
from node.errors import ConfigError
from node.logsetup import REDACTED, LogSettings, message_fields, register_secret, setup_logging


@pytest.fixture
def restore_logging():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    for h in root.handlers:
        h.close()
    root.handlers[:], root.level = handlers, level


def _lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


def test_key_value_lines_carry_time_level_logger_and_the_event(tmp_path, restore_logging):
    setup_logging(LogSettings(file=tmp_path / "node.log"))
    logging.getLogger("consortia.test").info("event=block_committed height=%d hash=%s", 7, "ab" * 4)
    logging.getLogger("consortia.test").debug("event=hidden")
    [line] = _lines(tmp_path / "node.log")
    assert line.startswith("ts=") and line.endswith("level=info logger=consortia.test event=block_committed height=7 hash=abababab")


def test_json_lines_parse_and_lift_the_message_fields(tmp_path, restore_logging):
    setup_logging(LogSettings(format="json", level="debug", file=tmp_path / "node.log"))
    log = logging.getLogger("consortia.test")
    log.warning("event=peer_refused addr=%s reason=%r", "127.0.0.1:5", "not in the node list")
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("event=failed")
    first, second = (json.loads(line) for line in _lines(tmp_path / "node.log"))
    assert first["level"] == "warning" and first["logger"] == "consortia.test"
    assert first["event"] == "peer_refused" and first["addr"] == "127.0.0.1:5" and first["reason"] == "not in the node list"
    assert first["ts"].endswith("Z")
    assert second["event"] == "failed" and "ValueError: boom" in second["exc"]


def test_message_fields_reserved_names_do_not_overwrite_the_envelope(tmp_path, restore_logging):
    setup_logging(LogSettings(format="json", file=tmp_path / "node.log"))
    logging.getLogger("consortia.test").info("event=x level=forged logger=forged")
    body = json.loads(_lines(tmp_path / "node.log")[0])
    assert body["level"] == "info" and body["logger"] == "consortia.test"
    assert message_fields("a=1 b='two words' c=\"x y\"") == {"a": "1", "b": "two words", "c": "x y"}


def test_files_rotate_by_size(tmp_path, restore_logging):
    setup_logging(LogSettings(file=tmp_path / "logs" / "node.log", max_bytes=2_000, backups=2))
    log = logging.getLogger("consortia.test")
    for i in range(200):
        log.info("event=filler i=%d pad=%s", i, "x" * 40)
    files = sorted(p.name for p in (tmp_path / "logs").iterdir())
    assert files == ["node.log", "node.log.1", "node.log.2"]
    assert all(p.stat().st_size <= 2_100 for p in (tmp_path / "logs").iterdir())


def test_registered_secrets_never_reach_a_line(tmp_path, restore_logging):
    key = get_suite("std").generate_keypair()
    save_key(tmp_path / "k.key", key)
    load_key(tmp_path / "k.key")  # loading a key registers it
    register_secret("correct horse battery staple")
    for fmt in ("kv", "json"):
        setup_logging(LogSettings(format=fmt, file=tmp_path / f"{fmt}.log"))
        log = logging.getLogger("consortia.test")
        log.info("event=oops key=%s KEY=%s", key.private_bytes.hex(), key.private_bytes.hex().upper())
        log.info("event=oops passphrase=%r", "correct horse battery staple")
        try:
            raise RuntimeError(f"cannot use {key.private_bytes.hex()}")
        except RuntimeError:
            log.exception("event=failed")
        text = (tmp_path / f"{fmt}.log").read_text()
        assert key.private_bytes.hex() not in text.lower() and "battery staple" not in text
        assert text.count(REDACTED) >= 4  # key, KEY, passphrase, the exception text (JSON repeats fields)


def test_short_strings_are_not_registered_as_secrets(tmp_path, restore_logging):
    register_secret("abc")
    setup_logging(LogSettings(file=tmp_path / "node.log"))
    logging.getLogger("consortia.test").info("event=abc")
    assert "event=abc" in (tmp_path / "node.log").read_text()


@pytest.mark.parametrize("log, message", [
    ({"level": "loud"}, "log.level"),
    ({"format": "xml"}, "log.format"),
    ({"max_bytes": 10}, "log.max_bytes"),
    ({"backups": -1}, "log.backups"),
    ({"file": 3}, "log.file"),
    ({"colour": True}, "unknown setting"),
])
def test_bad_log_settings_are_refused_with_the_setting_named(tmp_path, log, message):
    NodeConfig(name="n", role="validator", log=LogConfig()).save(tmp_path)
    text = (tmp_path / "config.toml").read_text()
    body = "\n".join(f"{k} = {json.dumps(v)}" for k, v in log.items())
    (tmp_path / "config.toml").write_text(text.split("[log]")[0] + "[log]\n" + body + "\n")
    with pytest.raises(ConfigError, match=message):
        NodeConfig.load(tmp_path)


def test_the_older_node_log_level_is_still_read(tmp_path):
    (tmp_path / "config.toml").write_text('[node]\nname = "n"\nrole = "observer"\nlog_level = "debug"\n')
    config = NodeConfig.load(tmp_path)
    assert config.log.level == "debug" and config.log.format == "kv"
    config.save(tmp_path)
    assert "log_level" not in (tmp_path / "config.toml").read_text()
    assert NodeConfig.load(tmp_path).log.level == "debug"
