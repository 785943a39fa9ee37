import logging

import pytest

from dunlin.crypto import SecretBox, generate_key, load_or_create_demo_key
from dunlin.errors import ConfigError
from dunlin.log import RedactingFilter, redact
from dunlin.settings import Settings


def test_round_trip_and_ciphertext_hides_the_secret():
    box = SecretBox(generate_key())
    token = box.encrypt({"password": "hunter2"})
    assert "hunter2" not in token
    assert box.decrypt(token) == {"password": "hunter2"}


def test_rotation_new_key_first_old_still_decrypts():
    old, new = generate_key(), generate_key()
    token = SecretBox(old).encrypt({"k": 1})
    rotated_box = SecretBox(f"{new},{old}")
    assert rotated_box.decrypt(token) == {"k": 1}
    rotated = rotated_box.rotate(token)
    assert SecretBox(new).decrypt(rotated) == {"k": 1}


def test_wrong_or_malformed_key_is_a_config_error():
    token = SecretBox(generate_key()).encrypt({"k": 1})
    with pytest.raises(ConfigError, match="decrypt"):
        SecretBox(generate_key()).decrypt(token)
    with pytest.raises(ConfigError, match="malformed"):
        SecretBox("not-a-key")


def test_missing_secret_key_is_a_clear_error():
    with pytest.raises(ConfigError, match="DUNLIN_SECRET_KEY is not set"):
        Settings(_env_file=None, secret_key=None).require_secret_key()


def test_demo_key_is_created_once(tmp_path):
    key, created = load_or_create_demo_key(tmp_path)
    again, created_again = load_or_create_demo_key(tmp_path)
    assert created and not created_again and key == again
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0


def test_redaction_of_patterns_and_known_values():
    assert redact("login password=hunter2 ok") == "login password=*** ok"
    assert redact('{"appsecret": "abc123"}') == '{"appsecret": "***"}'
    assert redact("token is xyz", frozenset({"xyz"})) == "token is ***"


def test_log_filter_redacts_formatted_arguments(caplog):
    filt = RedactingFilter()
    filt.known.add("s3cr3t")
    logger = logging.getLogger("test.redact")
    logger.addFilter(filt)
    with caplog.at_level(logging.INFO, logger="test.redact"):
        logger.info("connecting with %s and api_key=%s", "s3cr3t", "zzz")
    assert "s3cr3t" not in caplog.text and "zzz" not in caplog.text
