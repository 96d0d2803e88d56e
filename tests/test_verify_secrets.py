"""verify_delivery with several secrets, bad tolerances and bytes secrets (issue 11
item 15, issue 12 item 1), and examples/receiver.py fed several secrets."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests

from pulumi_dfns import DeliveryVerificationError, sign_delivery, verify_delivery
from tests.test_deliveries import ROOT, free_port

OLD = "whsec-old-secret"
NEW = "whsec-new-secret"
NOW = 1_800_000_000


def body_of(**fields: Any) -> bytes:
    event = {"id": "whe-1", "kind": "wallet.created", "data": {}, "timestampSent": NOW, **fields}
    return json.dumps(event, separators=(",", ":")).encode()


# -- tolerance (issue 11 item 15) --------------------------------------------------------


@pytest.mark.parametrize("tolerance", [-1, -0.001, float("nan"), float("-inf")])
def test_a_negative_or_nan_tolerance_is_refused_not_ignored(tolerance: float) -> None:
    body = body_of()
    header = sign_delivery(body, OLD)
    with pytest.raises(ValueError, match="tolerance"):
        verify_delivery(body, header, OLD, tolerance=tolerance, now=NOW + 86_400)


@pytest.mark.parametrize("tolerance", ["300", None, True])
def test_a_tolerance_that_is_not_a_number_is_refused(tolerance: Any) -> None:
    body = body_of()
    with pytest.raises(ValueError, match="tolerance"):
        verify_delivery(body, sign_delivery(body, OLD), OLD, tolerance=tolerance, now=NOW)


def test_zero_still_turns_the_freshness_check_off_and_a_positive_one_applies() -> None:
    body = body_of()
    header = sign_delivery(body, OLD)
    assert verify_delivery(body, header, OLD, tolerance=0, now=NOW + 10**6)
    assert verify_delivery(body, header, OLD, tolerance=0.5, now=NOW + 0.4)
    with pytest.raises(DeliveryVerificationError, match="stale"):
        verify_delivery(body, header, OLD, tolerance=0.5, now=NOW + 0.6)


# -- bytes secrets (issue 11 item 15) ----------------------------------------------------


def test_a_bytes_secret_verifies_like_its_text() -> None:
    body = body_of()
    assert verify_delivery(body, sign_delivery(body, OLD), OLD.encode(), now=NOW)
    assert sign_delivery(body, OLD.encode()) == sign_delivery(body, OLD)
    with pytest.raises(DeliveryVerificationError, match="signature mismatch"):
        verify_delivery(body, sign_delivery(body, OLD), b"whsec-other", now=NOW)


@pytest.mark.parametrize("secret", [12345, 1.5, {"a": 1}, [OLD, 7], object()])
def test_a_secret_of_another_type_is_a_verification_error(secret: Any) -> None:
    body = body_of()
    with pytest.raises(DeliveryVerificationError, match="secret"):
        verify_delivery(body, sign_delivery(body, OLD), secret, now=NOW)


# -- several secrets (issue 12 item 1) ---------------------------------------------------


@pytest.mark.parametrize(
    "secrets",
    [[OLD, NEW], [NEW, OLD], (NEW, OLD.encode()), ["", None, OLD]],
)
def test_any_of_several_secrets_passes(secrets: Any) -> None:
    body = body_of()
    assert verify_delivery(body, sign_delivery(body, OLD), secrets, now=NOW)["id"] == "whe-1"


def test_no_matching_secret_among_several_is_a_mismatch() -> None:
    body = body_of()
    with pytest.raises(DeliveryVerificationError, match="signature mismatch"):
        verify_delivery(body, sign_delivery(body, "whsec-third"), [OLD, NEW], now=NOW)
    for empty in ([], ["", None], ""):
        with pytest.raises(DeliveryVerificationError, match="no webhook secret"):
            verify_delivery(body, sign_delivery(body, OLD), empty, now=NOW)  # type: ignore[arg-type]


def test_every_secret_is_compared_even_after_a_match(monkeypatch: pytest.MonkeyPatch) -> None:
    """No early exit: which secret matched does not change how many comparisons run."""
    import hmac as hmac_module

    calls: list[bool] = []
    real = hmac_module.compare_digest

    def counting(a: Any, b: Any) -> bool:
        result = real(a, b)
        calls.append(result)
        return result

    monkeypatch.setattr(hmac_module, "compare_digest", counting)
    body = body_of()
    secrets = [OLD, NEW, "whsec-third"]
    for signer in secrets:
        calls.clear()
        verify_delivery(body, sign_delivery(body, signer), secrets, now=NOW)
        assert len(calls) == 3 and calls.count(True) == 1


# -- the example receiver with several secrets -------------------------------------------


def start_receiver(port: int, *args: str, env: dict[str, str]) -> subprocess.Popen[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("DFNS_WEBHOOK_SECRET")}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "examples" / "receiver.py"), "--port", str(port), *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**base, **env},
    )
    return proc


@contextmanager
def running_receiver(port: int, *args: str, env: dict[str, str]) -> Iterator[str]:
    """The receiver, stopped on leaving; yields the first line it prints."""
    proc = start_receiver(port, *args, env=env)
    try:
        assert proc.stdout is not None
        yield proc.stdout.readline()
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def post(port: int, secret: str) -> int:
    body = json.dumps({"id": "whe-x", "kind": "wallet.created", "timestampSent": int(time.time())})
    answer = requests.post(
        f"http://127.0.0.1:{port}/dfns",
        data=body,
        headers={"X-DFNS-WEBHOOK-SIGNATURE": sign_delivery(body, secret)},
        timeout=10,
    )
    return answer.status_code


@pytest.mark.parametrize(
    ("args", "env"),
    [
        ([], {"DFNS_WEBHOOK_SECRETS": f"{OLD},{NEW}"}),
        ([], {"DFNS_WEBHOOK_SECRETS": f"{OLD}\n{NEW}\n"}),
        ([], {"DFNS_WEBHOOK_SECRET": OLD, "DFNS_WEBHOOK_SECRETS": NEW}),
        (["--secret-env", "A", "--secret-env", "B"], {"A": OLD, "B": NEW}),
    ],
)
def test_the_receiver_accepts_each_of_several_secrets(args: list[str], env: dict[str, str]) -> None:
    port = free_port()
    with running_receiver(port, *args, env=env) as first_line:
        assert "(2 secret(s))" in first_line
        assert post(port, OLD) == 200
        assert post(port, NEW) == 200
        assert post(port, "whsec-third") == 401


def test_the_receiver_follows_its_secrets_file(tmp_path: Path) -> None:
    port = free_port()
    path = tmp_path / "secrets"
    path.write_text(OLD)
    with running_receiver(port, "--secrets-file", str(path), env={}) as first_line:
        assert "receiver ready" in first_line
        assert (post(port, OLD), post(port, NEW)) == (200, 401)
        staged = tmp_path / "secrets.new"
        staged.write_text(f"{OLD}\n{NEW}\n")
        staged.replace(path)
        assert (post(port, OLD), post(port, NEW)) == (200, 200)
        staged.write_text(NEW)
        staged.replace(path)
        assert (post(port, OLD), post(port, NEW)) == (401, 200)


@pytest.mark.processes
def test_the_receiver_refuses_a_negative_tolerance_and_no_secrets() -> None:
    cases: list[tuple[list[str], dict[str, str]]] = [
        (["--tolerance", "-1"], {"DFNS_WEBHOOK_SECRETS": OLD}),
        ([], {}),
    ]
    for args, env in cases:
        proc = start_receiver(free_port(), *args, env=env)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 2, out


def _raw_post(port: int, length_header: str, body: bytes = b"{}") -> bytes:
    """A POST with a hand-written Content-Length: the answer's status line, or b"" if the
    receiver dropped the connection without one. Fails if the receiver blocks."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as conn:
        conn.sendall(
            b"POST /dfns HTTP/1.1\r\nHost: x\r\nContent-Length: "
            + length_header.encode()
            + b"\r\n\r\n"
            + body
        )
        data = b""
        while b"\r\n" not in data:
            chunk = conn.recv(4096)  # socket.timeout (a failure) if the receiver blocks
            if not chunk:
                break
            data += chunk
        return data.split(b"\r\n", 1)[0]


@pytest.mark.parametrize(
    ("length", "status"),
    [("-1", b"400"), ("abc", b"400"), ("1e3", b"400"), (str(10 * 1024 * 1024), b"413")],
)
def test_the_receiver_answers_a_bad_content_length_instead_of_blocking(
    length: str, status: bytes
) -> None:
    port = free_port()
    with running_receiver(port, env={"DFNS_WEBHOOK_SECRETS": OLD}) as first_line:
        assert "receiver ready" in first_line
        line = _raw_post(port, length)
        assert line.split(b" ")[1:2] == [status], line
        assert post(port, OLD) == 200  # and it keeps serving


def test_the_receiver_answers_503_while_its_unavailable_file_exists(tmp_path: Path) -> None:
    port = free_port()
    flag = tmp_path / "down"
    flag.write_text("")
    with running_receiver(
        port, "--unavailable-file", str(flag), env={"DFNS_WEBHOOK_SECRETS": OLD}
    ) as first_line:
        assert "receiver ready" in first_line
        assert post(port, OLD) == 503
        flag.unlink()
        assert post(port, OLD) == 200


@pytest.mark.parametrize(
    ("skew", "fresh"), [(-299, True), (299, True), (-301, False), (301, False)]
)
def test_freshness_is_a_window_on_both_sides_of_now(skew: float, fresh: bool) -> None:
    """A sender's clock a little ahead (timestampSent after now) is as fresh as one a
    little behind; past the tolerance either way is stale."""
    from pulumi_dfns.delivery import DeliveryVerificationError, sign_delivery, verify_delivery

    sent = 1_790_000_000
    body = json.dumps({"id": "whe-1", "kind": "wallet.created", "timestampSent": sent}).encode()
    header = sign_delivery(body, "whsec-window")
    now = sent - skew
    if fresh:
        assert verify_delivery(body, header, "whsec-window", now=now)["id"] == "whe-1"
    else:
        with pytest.raises(DeliveryVerificationError, match="stale delivery"):
            verify_delivery(body, header, "whsec-window", now=now)
