"""Settings: stack config first, environment as fallback, and errors that name the setting."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from pulumi_dfns.errors import DfnsSettingsError
from pulumi_dfns.settings import check_api_url, load_settings
from pulumi_dfns.signing import (
    KEY_TYPES,
    b64url_decode,
    generate_private_key,
    key_type_of,
    load_private_key,
    private_key_pem,
)

TOKEN = "header.payload.signature"


@pytest.fixture(scope="module")
def pem() -> str:
    return private_key_pem(generate_private_key("p256"))


def config(pem: str, **extra: str) -> dict[str, str]:
    return {"dfns:authToken": TOKEN, "dfns:credentialId": "cr-1", "dfns:privateKey": pem, **extra}


def test_defaults_to_the_european_region(pem: str) -> None:
    assert load_settings(config(pem), env={}).api_url == "https://api.dfns.io"


def test_config_wins_over_environment(pem: str) -> None:
    env = {"DFNS_API_URL": "https://api.uae.dfns.io", "DFNS_AUTH_TOKEN": "env-token"}
    settings = load_settings(config(pem, **{"dfns:apiUrl": "https://api.dfns.io/"}), env=env)
    assert settings.api_url == "https://api.dfns.io"
    assert settings.auth_token == TOKEN


def test_environment_fills_what_config_lacks(pem: str) -> None:
    env = {
        "DFNS_AUTH_TOKEN": TOKEN,
        "DFNS_CREDENTIAL_ID": "cr-env",
        "DFNS_PRIVATE_KEY": pem,
        "DFNS_READ_TIMEOUT": "7.5",
    }
    settings = load_settings({}, env=env)
    assert settings.credential is not None
    assert settings.credential.credential_id == "cr-env"
    assert settings.read_timeout == 7.5


def test_key_file_and_passphrase(tmp_path: Path) -> None:
    """The encrypted key file is read with the passphrase into the key that signs: an
    assertion made with the loaded key verifies with the original key's public half."""
    key = generate_private_key("rsa")
    key_file = tmp_path / "key.pem"
    key_file.write_text(private_key_pem(key, passphrase="open sesame"))
    settings = load_settings(
        {
            "dfns:authToken": TOKEN,
            "dfns:credentialId": "cr-1",
            "dfns:privateKeyFile": str(key_file),
            "dfns:privateKeyPassphrase": "open sesame",
        },
        env={},
    )
    assert settings.credential is not None
    assert settings.credential.credential_id == "cr-1"
    challenge = {"challenge": "c-123", "allowCredentials": {"key": [{"id": "cr-1"}]}}
    signed = settings.credential.assertion_for(challenge)["credentialAssertion"]
    client_data = b64url_decode(signed["clientData"])
    assert json.loads(client_data) == {"type": "key.get", "challenge": "c-123"}
    public = key.public_key()
    assert isinstance(public, rsa.RSAPublicKey)
    # Raises InvalidSignature unless the loaded key is this one.
    public.verify(
        b64url_decode(signed["signature"]), client_data, padding.PKCS1v15(), hashes.SHA256()
    )


@pytest.mark.parametrize(
    ("overrides", "setting", "words"),
    [
        ({"dfns:authToken": ""}, "dfns:authToken", "pulumi config set --secret dfns:authToken"),
        ({"dfns:credentialId": ""}, "dfns:credentialId", "DFNS_CREDENTIAL_ID"),
        ({"dfns:privateKey": ""}, "dfns:privateKey", "dfns:privateKeyFile"),
        ({"dfns:privateKey": "not a key"}, "dfns:privateKey", "not a PEM private key"),
        ({"dfns:apiUrl": "http://api.dfns.io"}, "dfns:apiUrl", "plain http is refused"),
        ({"dfns:apiUrl": "api.dfns.io"}, "dfns:apiUrl", "not an http(s) URL"),
        ({"dfns:readTimeout": "soon"}, "dfns:readTimeout", "not a number"),
        ({"dfns:maxAttempts": "0"}, "dfns:maxAttempts", "at least 1"),
    ],
)
def test_bad_settings_name_themselves(
    pem: str, overrides: dict[str, str], setting: str, words: str
) -> None:
    with pytest.raises(DfnsSettingsError) as caught:
        load_settings(config(pem, **overrides), env={})
    assert caught.value.setting == setting
    assert words in str(caught.value)
    assert TOKEN not in str(caught.value)


def test_missing_key_file_names_the_setting(pem: str, tmp_path: Path) -> None:
    cfg = config(pem, **{"dfns:privateKeyFile": str(tmp_path / "absent.pem")})
    del cfg["dfns:privateKey"]
    with pytest.raises(DfnsSettingsError) as caught:
        load_settings(cfg, env={})
    assert caught.value.setting == "dfns:privateKeyFile"


def test_wrong_passphrase_and_missing_passphrase(tmp_path: Path) -> None:
    encrypted = private_key_pem(generate_private_key("ed25519"), passphrase="right")
    base = {"dfns:authToken": TOKEN, "dfns:credentialId": "cr-1", "dfns:privateKey": encrypted}
    with pytest.raises(DfnsSettingsError, match="wrong passphrase"):
        load_settings({**base, "dfns:privateKeyPassphrase": "wrong"}, env={})
    with pytest.raises(DfnsSettingsError, match="dfns:privateKeyPassphrase"):
        load_settings(base, env={})


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8080", "http://localhost:1", "http://[::1]:9000", "https://api.dfns.io"],
)
def test_loopback_may_use_plain_http(url: str) -> None:
    assert check_api_url(url) == url


def test_settings_repr_hides_secrets(pem: str) -> None:
    settings = load_settings(config(pem), env={})
    assert TOKEN not in repr(settings)
    assert "PRIVATE KEY" not in repr(settings)


def test_an_encrypted_key_without_its_passphrase_and_the_reverse_name_the_right_setting(
    pem: str,
) -> None:
    encrypted = private_key_pem(generate_private_key("p256"), passphrase="open sesame")
    with pytest.raises(DfnsSettingsError) as missing:
        load_private_key(encrypted)
    assert missing.value.setting == "dfns:privateKey"
    assert "encrypted: set dfns:privateKeyPassphrase" in missing.value.reason
    with pytest.raises(DfnsSettingsError) as extra:
        load_private_key(pem, "open sesame")
    assert extra.value.setting == "dfns:privateKeyPassphrase"
    assert "not encrypted: remove the passphrase" in extra.value.reason


@pytest.mark.parametrize("key_type", KEY_TYPES)
def test_a_generated_key_is_of_the_type_asked(key_type: str) -> None:
    key = generate_private_key(key_type)
    assert key_type_of(key) == key_type
    if key_type == "rsa":
        assert isinstance(key, rsa.RSAPrivateKey) and key.key_size == 2048


def test_the_passphrase_comes_from_where_the_key_came_from(tmp_path: Path) -> None:
    """A DFNS_PRIVATE_KEY_PASSPHRASE in the shell is not the passphrase of the key file a
    stack names (issue 17's one key source, review): the stack's unencrypted key loads."""
    key_file = tmp_path / "key.pem"
    key_file.write_text(private_key_pem(generate_private_key("ed25519")))
    stack = {
        "dfns:authToken": "token",
        "dfns:credentialId": "Y2ktZXhhbXBsZQ",
        "dfns:privateKeyFile": str(key_file),
    }
    settings = load_settings(stack, env={"DFNS_PRIVATE_KEY_PASSPHRASE": "for another key"})
    assert settings.credential is not None
    # The other way round: a key from the shell does not take the stack's passphrase.
    env = {
        "DFNS_AUTH_TOKEN": "token",
        "DFNS_CREDENTIAL_ID": "Y2ktZXhhbXBsZQ",
        "DFNS_PRIVATE_KEY_FILE": str(key_file),
    }
    settings = load_settings({"dfns:privateKeyPassphrase": "for another key"}, env=env)
    assert settings.credential is not None


def test_plain_http_is_for_loopback_only_not_any_localhost_name() -> None:
    """A `*.localhost` name may resolve off the machine: plain http is refused for it."""
    assert check_api_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"
    assert check_api_url("http://localhost:8080") == "http://localhost:8080"
    with pytest.raises(DfnsSettingsError) as caught:
        check_api_url("http://api.localhost:8080")
    assert caught.value.setting == "dfns:apiUrl"


def test_a_key_file_path_with_a_nul_is_refused_by_name() -> None:
    stack = {
        "dfns:authToken": "token",
        "dfns:credentialId": "Y2ktZXhhbXBsZQ",
        "dfns:privateKeyFile": "key\x00.pem",
    }
    with pytest.raises(DfnsSettingsError) as caught:
        load_settings(stack, env={})
    assert caught.value.setting == "dfns:privateKeyFile"
    assert "key\x00" not in str(caught.value)
