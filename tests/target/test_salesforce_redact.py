"""No secret reaches a log line: DEBUG everywhere, HTTP debug on, every auth flow and some calls."""

from __future__ import annotations

import logging

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from target_salesforce_andsend.salesforce import redact
from target_salesforce_andsend.salesforce.auth import Authenticator
from target_salesforce_andsend.salesforce.client import SalesforceClient
from target_salesforce_andsend.salesforce.errors import AuthenticationError
from target_salesforce_andsend.salesforce.writer import Writer
from tests.target._salesforce_support import ADMIN, APP, control, password_config, refresh_token_for


def test_patterns_mask_unknown_secrets() -> None:
    text = redact.redact(
        "Authorization: Bearer 00D000000000001!AQ4AQFakeTokenValue123456789 "
        "grant_type=password&password=pw123&client_secret=s3cr3t "
        '{"access_token": "abc.def", "refresh_token":"5Aep-xyz"} <sessionId>SESS</sessionId> '
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY-----"
    )
    for secret in ("FakeTokenValue", "pw123", "s3cr3t", "abc.def", "5Aep-xyz", "SESS", "MIIEow"):
        assert secret not in text, secret


def test_reprs_never_show_secrets() -> None:
    auth = Authenticator({"auth_flow": "password", "username": "u", "password": "hunter2x", "client_id": "c",
                          "client_secret": "topsecret"})
    assert "hunter2x" not in repr(auth) and "topsecret" not in repr(auth)
    from target_salesforce_andsend.salesforce.auth import Token

    token = Token("00D000000000001!secretpart", "https://x", refresh_token="5Aeprefresh")
    assert "secretpart" not in repr(token) and "5Aeprefresh" not in repr(token)


@pytest.fixture
def sf(sf_emulator):
    sf_emulator.reset()
    return sf_emulator


def test_no_secret_in_any_log_record(sf, caplog, capsys) -> None:
    import http.client

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    sf.seed({"apps": [{"client_id": "jwt-app", "client_secret": "jwt-app-secret", "jwt_public_key_pem": public}]})
    refresh = refresh_token_for(sf)
    configs = [
        password_config(sf),
        {"login_url": sf.base_url, "client_id": APP["client_id"], "client_secret": APP["client_secret"],
         "refresh_token": refresh},
        {"login_url": sf.base_url, "client_id": "jwt-app", "username": ADMIN["username"], "private_key": private},
        {"login_url": sf.base_url, "auth_flow": "client_credentials", **APP},
    ]
    caplog.set_level(logging.DEBUG)
    old_debug = http.client.HTTPConnection.debuglevel
    http.client.HTTPConnection.debuglevel = 1  # requests/urllib3 wire debugging
    secrets: set[str] = set()
    try:
        for config in configs:
            redact.install(config)
            client = SalesforceClient({**config, "retry_backoff_seconds": 0.01})
            secrets.update(v for k, v in config.items() if k in redact.SENSITIVE_SETTINGS and v)
            writer = Writer(client)
            writer.create("Lead", [{"LastName": "Logged", "Company": "Acme"}])
            control(sf, "POST", "revoke-tokens")  # forces a re-login, logged at INFO
            client.query("SELECT Id FROM Lead LIMIT 1")
            secrets.add(client.token.access_token)
            logging.getLogger("target_salesforce_andsend.test").debug("config was %s", config)
            try:
                raise AuthenticationError(f"boom {config}")
            except AuthenticationError:
                logging.getLogger("singer_sdk.test").exception("failure while using %r", config)
        bad = password_config(sf, password="Wr0ng-Passw0rd")
        redact.install(bad)
        secrets.add("Wr0ng-Passw0rd")
        with pytest.raises(AuthenticationError):
            SalesforceClient(bad).limits()
    finally:
        http.client.HTTPConnection.debuglevel = old_debug
    text = "\n".join(
        caplog.handler.format(r) + (r.exc_text or "") for r in caplog.records
    )
    out = capsys.readouterr()
    assert out.out == ""  # wire debugging went to the logs, not to stdout (Singer's STATE channel)
    text += out.err
    assert "config was" in text and "failure while using" in text  # the lines are there, masked
    assert "send: b'POST" in text  # and wire debugging was really on
    assert len(caplog.records) > 20
    import re

    for secret in secrets:
        if len(secret) < 8 and secret.isalpha():
            continue  # the demo token "token" is an ordinary word ("/services/oauth2/token"): keyed masking only
        for piece in [secret] + [line for line in secret.splitlines() if len(line) > 8 and "-----" not in line]:
            # short secrets count as leaked when they stand alone (the demo password "emulator" is
            # also part of the emulator's own paths and of its client id "emulator-client-id", which is not a leak)
            found = (re.search(rf"(?<![A-Za-z0-9_-]){re.escape(piece)}(?![A-Za-z0-9_-])", text) if len(piece) < 16
                     else piece in text)
            assert not found, f"a secret leaked into the logs ({len(piece)} chars)"


@pytest.mark.e2e
def test_target_cli_at_debug_logs_no_secret(sf, tmp_path) -> None:
    """The real console script, LOGLEVEL=DEBUG, a distinctive user and app: stderr holds no secret."""
    import json
    import os
    import re
    import subprocess
    import sys
    from pathlib import Path

    sf.seed({
        "users": [{"_ref": "i", "Username": "integration@acme.test", "Email": "integration@acme.test",
                   "LastName": "Integration", "IsActive": True, "password": "S3cret-Pass-42",
                   "security_token": "TokXYZ123456"}],
        "apps": [{"client_id": "app-two", "client_secret": "AppSecret-987654"}],
    })
    config = {"login_url": sf.base_url, "client_id": "app-two", "client_secret": "AppSecret-987654",
              "username": "integration@acme.test", "password": "S3cret-Pass-42", "security_token": "TokXYZ123456",
              "andsend_api_key": "AndsendKey-555555", "output_dir": str(tmp_path / "out"),
              "retry_backoff_seconds": 0.01}
    (tmp_path / "config.json").write_text(json.dumps(config))
    singer = Path(__file__).resolve().parent / "streams" / "prospects_basic.singer"
    exe = Path(sys.executable).with_name("target-salesforce-andsend")
    proc = subprocess.run([str(exe), "--config", str(tmp_path / "config.json")], input=singer.read_text(),
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "LOGLEVEL": "DEBUG"})
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "DEBUG" in proc.stderr or "debug" in proc.stderr
    assert sf.stats()["by_kind"].get("oauth", 0) >= 1  # it really logged in
    for secret in ("S3cret-Pass-42", "TokXYZ123456", "AppSecret-987654", "AndsendKey-555555"):
        assert secret not in proc.stderr and secret not in proc.stdout
    assert not re.search(r"00D[A-Za-z0-9]{12,15}![A-Za-z0-9._\-]{20,}", proc.stderr + proc.stdout)


def test_short_secrets_are_masked_as_whole_words_long_ones_anywhere() -> None:
    registry = redact.SecretRegistry()
    registry.add("hunter22", "A" * 20 + "longsecret")
    assert registry.mask("pw hunter22, path /x/hunter22s/y") == "pw ***, path /x/hunter22s/y"
    assert registry.mask("x" + "A" * 20 + "longsecretY") == "x***Y"


def test_every_spelling_of_a_secret_is_masked() -> None:
    """Raw, URL-encoded, JSON-escaped, XML-escaped, base64 and bytes-repr (http.client's wire
    debugging prints request bodies as b'...'): a password with every special character."""
    registry = redact.SecretRegistry()
    secret = "Pw-s3cret+/=&x%<é>'\""
    registry.add(secret)
    for form in redact.spellings(secret):
        assert secret not in registry.mask(f"before {form} after")
        assert form not in registry.mask(f"before {form} after"), form
    xml = "<n1:password>Pw-s3cret+/=&amp;x%&lt;é&gt;&apos;&quot;</n1:password>"
    assert "s3cret" not in registry.mask(xml)


def test_the_soap_password_element_and_basic_auth_are_masked_unregistered() -> None:
    text = redact.redact("<n1:username>u@x</n1:username><n1:password>hunter2</n1:password> "
                         "Authorization: Basic dXNlcjpodW50ZXIy")
    assert "hunter2" not in text and "dXNlcjpodW50ZXIy" not in text and "u@x" in text


def test_a_wordlike_short_secret_does_not_mask_ordinary_words() -> None:
    """The emulator's demo security token is `token`: URLs and messages stay readable, the value
    is still masked where it stands as a secret key's value."""
    redact.secrets.clear()
    try:
        redact.install({"security_token": "token", "password": "emulator"})
        assert redact.redact("POST /services/oauth2/token failed") == "POST /services/oauth2/token failed"
        assert redact.redact("client emulator-client-id, emulators/") == "client emulator-client-id, emulators/"
        assert redact.redact("the password is emulator") == "the password is ***"
        assert "token" not in redact.redact('{"security_token": "token"}').split(":")[1]
        assert redact.redact("password=emulatortoken&x=1") == "password=***&x=1"
        assert "emulatortoken" not in redact.redact("<password>emulatortoken</password>")
    finally:
        redact.secrets.clear()


def test_a_numeric_secret_is_masked() -> None:
    registry = redact.SecretRegistry()
    registry.add(90817263)
    assert registry.mask("90817263 is not of type 'string'") == "*** is not of type 'string'"
    assert redact.redact('{"security_token": 90817263}') == '{"security_token": ***}'


@pytest.mark.e2e
def test_config_validation_never_echoes_a_secret(tmp_path) -> None:
    """A numeric security_token fails the SDK's config validation, whose message quotes the value:
    redaction is installed before the validation runs (console script and class alike)."""
    import json
    import os
    import subprocess
    import sys
    from pathlib import Path

    config = {"login_url": "http://127.0.0.1:9", "username": "u@example.com", "password": "Numb3r-Pass",
              "security_token": 90817263, "output_dir": str(tmp_path / "out")}
    (tmp_path / "config.json").write_text(json.dumps(config))
    exe = Path(sys.executable).with_name("target-salesforce-andsend")
    proc = subprocess.run([str(exe), "--config", str(tmp_path / "config.json")], input="", capture_output=True,
                          text=True, timeout=120, env={**os.environ, "LOGLEVEL": "DEBUG"})
    assert proc.returncode != 0
    assert "security_token" in proc.stderr  # the error names the setting
    assert "90817263" not in proc.stderr + proc.stdout
