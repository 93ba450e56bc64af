"""tap-andsend under failure: killed mid-stream, 429 with Retry-After, 5xx, bad API key."""

from __future__ import annotations

import json
import signal
import time

import pytest

from tap_andsend.schemas import STREAM_NAMES

from .tap_runs import TapOutput, list_all, run_cli, run_in_process, start_cli


def _config(emu, **extra) -> dict:
    return {"api_url": emu.base_url, "api_key": emu.api_key, "page_size": 50, **extra}


@pytest.mark.e2e
def test_killed_run_resumes_from_its_last_state_without_losing_records(andsend_emulator, tmp_path) -> None:
    emu = andsend_emulator
    emu.faults(latency_ms=15)  # keeps the tap close behind what we read from its stdout
    proc = start_cli(tmp_path, _config(emu), name="killed")
    assert proc.stdout is not None
    received: list[str] = []
    prospects_seen = 0
    try:
        while True:
            line = proc.stdout.readline()
            assert line, "tap finished before it could be killed"
            received.append(line)
            message = json.loads(line)
            if message["type"] == "RECORD" and message["stream"] == "prospects":
                prospects_seen += 1
            if message["type"] == "STATE" and prospects_seen >= 150:
                break
        # Read a little past the STATE (records that are not covered by it yet), then kill hard.
        for _ in range(20):
            received.append(proc.stdout.readline())
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
    emu.faults()
    assert proc.returncode == -signal.SIGKILL

    first = TapOutput.parse(line for line in received if line.endswith("\n"))
    last_state_at = max(i for i, m in enumerate(first.messages) if m["type"] == "STATE")
    committed = TapOutput(first.messages[: last_state_at + 1])
    state = committed.final_state
    bookmark = state["bookmarks"]["prospects"]
    assert bookmark["replication_key"] == "updated_at" and bookmark["replication_key_value"]
    assert "progress_markers" not in bookmark  # sorted stream: the bookmark itself is resumable

    code, second, stderr = run_cli(tmp_path, _config(emu), state=state, name="resumed")
    assert code == 0, stderr
    for stream in STREAM_NAMES:
        everything = {r["id"] for r in list_all(emu.base_url, emu.api_key, stream)}
        delivered = set(committed.ids(stream)) | set(second.ids(stream))
        assert delivered == everything, (stream, len(everything - delivered))
    # It resumed mid-stream rather than starting prospects over.
    assert len(second.ids("prospects")) < len(list_all(emu.base_url, emu.api_key, "prospects")) - 100
    assert min(r["updated_at"] for r in second.records["prospects"]) == bookmark["replication_key_value"]


def test_429_waits_retry_after_then_completes(andsend_emulator) -> None:
    emu = andsend_emulator
    emu.faults(rate_429=0.35, retry_after_seconds=1, random_seed=11)
    responses: list[tuple[str, float, int, str | None]] = []

    def record(stream: str, response) -> None:
        responses.append(
            (stream, time.monotonic(), response.status_code, response.headers.get("Retry-After"))
        )

    out = run_in_process(
        _config(emu, page_size=100, max_retries=10), streams=["campaigns", "prospects"], on_response=record
    )
    emu.faults()

    limited = [i for i, r in enumerate(responses) if r[2] == 429]
    assert limited, "no 429 was injected"
    for i in limited:
        stream, at, _, retry_after = responses[i]
        assert retry_after == "1"
        following = next(r for r in responses[i + 1 :] if r[0] == stream)
        assert following[1] - at >= 1.0, f"retried {following[1] - at:.3f}s after a 429 asking for 1s"
    assert set(out.ids("prospects")) == {r["id"] for r in list_all(emu.base_url, emu.api_key, "prospects")}
    assert len(out.ids("prospects")) == len(set(out.ids("prospects")))


@pytest.mark.e2e
def test_5xx_is_retried_and_the_key_is_never_logged(andsend_emulator, tmp_path) -> None:
    emu = andsend_emulator
    emu.faults(rate_5xx=0.3, random_seed=4)
    emu.reset_stats()
    code, out, stderr = run_cli(tmp_path, _config(emu, page_size=250, max_retries=10), name="flaky")
    stats = emu.stats()
    emu.faults()
    assert code == 0, stderr[-2000:]
    errors = stats["by_status"].get("500", 0) + stats["by_status"].get("503", 0)
    assert errors > 0, stats
    assert "Retrying" in stderr
    for stream in STREAM_NAMES:
        assert set(out.ids(stream)) == {r["id"] for r in list_all(emu.base_url, emu.api_key, stream)}
    assert emu.api_key not in stderr
    assert emu.api_key not in json.dumps(out.messages)


def test_retries_are_bounded(andsend_emulator) -> None:
    emu = andsend_emulator
    emu.faults(rate_5xx=1.0, random_seed=1)
    emu.reset_stats()
    started = time.monotonic()
    try:
        run_in_process(_config(emu, max_retries=2), streams=["campaigns"])
    except Exception as exc:  # the SDK's RetriableAPIError after the last try
        assert "campaigns" in str(exc) and ("500" in str(exc) or "503" in str(exc))
    else:
        raise AssertionError("a permanently failing API must fail the run")
    assert emu.stats()["api_requests"] == 3  # first try + max_retries
    assert time.monotonic() - started < 10


@pytest.mark.e2e
def test_bad_api_key_fails_fast_with_a_clear_message(andsend_emulator, tmp_path) -> None:
    emu = andsend_emulator
    emu.reset_stats()
    wrong = "wrong-key-0123456789"
    code, out, stderr = run_cli(tmp_path, {**_config(emu), "api_key": wrong}, name="badkey")
    assert code != 0
    assert "rejected the API key (401" in stderr and "api_key" in stderr
    assert wrong not in stderr
    assert not out.records
    stats = emu.stats()
    assert stats["api_requests"] == 1, stats
    assert stats["by_status"] == {"401": 1}


@pytest.mark.e2e
def test_connection_errors_back_off_then_fail(tmp_path) -> None:
    import socket

    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = {"api_url": f"http://127.0.0.1:{port}", "api_key": "k" * 20, "max_retries": 2}
    started = time.monotonic()
    code, out, stderr = run_cli(tmp_path, config, name="refused")
    assert code != 0 and not out.records
    retries = [line for line in stderr.splitlines() if "Retrying /campaigns" in line]
    assert len(retries) == 2 and all("ConnectionError" in line for line in retries), retries
    assert time.monotonic() - started < 15
