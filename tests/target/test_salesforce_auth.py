"""Every way in, against the emulator's OAuth endpoint; checks at the emulator (who is logged in)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from target_salesforce_andsend.salesforce.auth import Authenticator, choose_flow, resolve_login_url
from target_salesforce_andsend.salesforce.client import SalesforceClient
from target_salesforce_andsend.salesforce.errors import AuthenticationError, ConfigurationError
from target_salesforce_andsend.salesforce.soql import quote
from tests.target._salesforce_support import ADMIN, APP, control, password_config, refresh_token_for


def _whoami(client: SalesforceClient) -> str:
    """The Username of the session's user, asked of Salesforce itself."""
    user_id = client.token.user_id
    rows = client.query(f"SELECT Username FROM User WHERE Id = {quote(user_id)}")
    return rows[0]["Username"]


@pytest.fixture
def sf(sf_emulator):
    sf_emulator.reset()
    return sf_emulator


def test_login_url_resolution() -> None:
    assert resolve_login_url("login") == "https://login.salesforce.com"
    assert resolve_login_url(None) == "https://login.salesforce.com"
    assert resolve_login_url("test") == "https://test.salesforce.com"
    assert resolve_login_url("acme") == "https://acme.my.salesforce.com"
    assert resolve_login_url("acme.my.salesforce.com") == "https://acme.my.salesforce.com"
    assert resolve_login_url("https://acme--uat.sandbox.my.salesforce.com/") == "https://acme--uat.sandbox.my.salesforce.com"
    assert resolve_login_url("test", "http://127.0.0.1:8080/") == "http://127.0.0.1:8080"


def test_jwt_audience_is_the_login_host_never_a_my_domain() -> None:
    def aud(**c: str) -> str:
        config = {"auth_flow": "jwt", "client_id": "c", "username": "u", "private_key": "k", **c}
        return Authenticator(config).jwt_audience

    assert aud(domain="login") == "https://login.salesforce.com"
    assert aud(domain="test") == "https://test.salesforce.com"
    assert aud(domain="acme") == "https://login.salesforce.com"
    assert aud(domain="acme--uat.sandbox.my.salesforce.com") == "https://test.salesforce.com"
    assert aud(login_url="http://127.0.0.1:9") == "http://127.0.0.1:9"
    assert aud(domain="acme", jwt_audience="https://acme.my.site.com/") == "https://acme.my.site.com"


def test_auto_flow_picks_from_what_is_set() -> None:
    assert choose_flow({"refresh_token": "r", "client_id": "c", "username": "u", "password": "p"}) == "refresh_token"
    assert choose_flow({"private_key_path": "k.pem", "username": "u", "client_id": "c"}) == "jwt"
    assert choose_flow({"username": "u", "password": "p", "client_id": "c"}) == "password"
    assert choose_flow({"access_token": "t", "instance_url": "https://x"}) == "access_token"
    assert choose_flow({"client_id": "c", "client_secret": "s"}) == "client_credentials"
    with pytest.raises(ConfigurationError, match="No Salesforce credentials"):
        choose_flow({})
    with pytest.raises(ConfigurationError, match="auth_flow"):
        choose_flow({"auth_flow": "magic"})


def test_missing_settings_are_named_not_secrets() -> None:
    with pytest.raises(ConfigurationError) as err:
        Authenticator({"auth_flow": "refresh_token", "refresh_token": "hunter22-refresh"})
    assert "client_id" in str(err.value) and "hunter22" not in str(err.value)
    with pytest.raises(ConfigurationError, match="password"):
        Authenticator({"auth_flow": "password", "username": "u", "client_id": "c"})
    with pytest.raises(ConfigurationError, match="My Domain"):
        Authenticator({"auth_flow": "client_credentials", "client_id": "c", "client_secret": "s", "domain": "login"})


def test_password_flow(sf, caplog) -> None:
    caplog.set_level("INFO", logger="target_salesforce_andsend")
    client = SalesforceClient({k: v for k, v in password_config(sf).items() if k != "auth_flow"})
    assert client.auth.flow == "password"
    assert "auth flow: password (chosen automatically" in caplog.text
    assert _whoami(client) == ADMIN["username"]
    assert sf.stats()["by_kind"].get("oauth") == 1
    client.close()


def test_password_flow_bad_password_is_a_clear_error_without_secrets(sf) -> None:
    client = SalesforceClient(password_config(sf, password="wrong-pass-123"))
    with pytest.raises(AuthenticationError) as err:
        client.limits()
    text = str(err.value)
    assert "invalid_grant" in text and "authentication failure" in text
    assert "wrong-pass-123" not in text and APP["client_secret"] not in text


def test_refresh_token_flow(sf) -> None:
    token = refresh_token_for(sf)
    client = SalesforceClient({"login_url": sf.base_url, "client_id": APP["client_id"], "refresh_token": token,
                               "retry_backoff_seconds": 0.01})
    assert client.auth.flow == "refresh_token"
    assert _whoami(client) == ADMIN["username"]
    bad = SalesforceClient({"login_url": sf.base_url, "client_id": APP["client_id"], "refresh_token": "nope" * 5})
    with pytest.raises(AuthenticationError, match="invalid_grant.*connect"):
        bad.limits()


def _rsa_pair() -> tuple[str, str]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    return private, public


def test_jwt_bearer_flow(sf, tmp_path) -> None:
    private, public = _rsa_pair()
    sf.seed({"apps": [{"client_id": "jwt-app", "client_secret": "jwt-secret", "jwt_public_key_pem": public}]})
    key_file = tmp_path / "server.key"
    key_file.write_text(private)
    for key_setting in ({"private_key": private}, {"private_key_path": str(key_file)},
                        {"private_key": private.replace("\n", "\\n")}):  # as stored in a .env line
        client = SalesforceClient({"login_url": sf.base_url, "client_id": "jwt-app", "username": ADMIN["username"],
                                   **key_setting})
        assert client.auth.flow == "jwt"
        assert _whoami(client) == ADMIN["username"]
        client.close()
    # a key the app does not trust is refused
    other, _ = _rsa_pair()
    client = SalesforceClient({"login_url": sf.base_url, "client_id": "jwt-app", "username": ADMIN["username"],
                               "private_key": other})
    with pytest.raises(AuthenticationError, match="invalid_grant"):
        client.limits()
    with pytest.raises(ConfigurationError, match="private_key_path"):
        SalesforceClient({"login_url": sf.base_url, "client_id": "jwt-app", "username": ADMIN["username"],
                          "private_key_path": str(tmp_path / "missing.key")}).limits()


def test_client_credentials_flow(sf) -> None:
    client = SalesforceClient({"login_url": sf.base_url, "auth_flow": "client_credentials", **APP})
    assert client.auth.flow == "client_credentials"
    assert client.limits()["DailyApiRequests"]["Max"] > 0
    assert sf.stats()["by_kind"].get("oauth") == 1


def test_access_token_flow(sf) -> None:
    login = SalesforceClient(password_config(sf))
    token = login.token
    client = SalesforceClient({"access_token": token.access_token, "instance_url": token.instance_url})
    assert client.auth.flow == "access_token"
    assert client.query("SELECT Username FROM User WHERE Username = 'admin@example.com'")
    # no OAuth call for a ready session
    assert sf.stats()["by_kind"].get("oauth") == 1
    # a revoked ready-made session cannot be renewed: a clear error, not a loop
    control(sf, "POST", "revoke-tokens")
    with pytest.raises(AuthenticationError, match="cannot be renewed"):
        client.limits()


def test_jwt_assertion_claims() -> None:
    import time

    import jwt

    private, public = _rsa_pair()
    auth = Authenticator({"auth_flow": "jwt", "client_id": "cid", "username": "ann@acme.test",
                          "private_key": private, "domain": "test"})
    claims = jwt.decode(auth._jwt_assertion(), public, algorithms=["RS256"], audience="https://test.salesforce.com")
    assert claims["iss"] == "cid" and claims["sub"] == "ann@acme.test"
    assert 0 < claims["exp"] - time.time() <= 180
    with pytest.raises(ConfigurationError, match="RSA private key") as err:
        pem = "-----BEGIN PRIVATE KEY-----\nnotakey\n-----END PRIVATE KEY-----"
        Authenticator({"auth_flow": "jwt", "client_id": "c", "username": "u", "private_key": pem})._jwt_assertion()
    assert "notakey" not in str(err.value)


def test_password_without_client_id_uses_soap_login(sf) -> None:
    config = {"login_url": sf.base_url, **ADMIN}
    client = SalesforceClient(config)
    assert client.auth.flow == "password" and client.auth.soap
    assert _whoami(client) == ADMIN["username"]
    assert sf.stats()["by_kind"].get("soap_login") == 1 and not sf.stats()["by_kind"].get("oauth")
    control(sf, "POST", "revoke-tokens")
    assert client.query("SELECT Id FROM User")  # renewed through SOAP again
    assert client.calls["soap_login"] == 2 == sf.stats()["by_kind"]["soap_login"]
    bad = SalesforceClient({**config, "password": "Not-The-Pw1"})
    with pytest.raises(AuthenticationError, match="INVALID_LOGIN") as err:
        bad.limits()
    assert "Not-The-Pw1" not in str(err.value)
