"""The fault matrix: every upstream fault, over real sockets, seen from four sides.

Each row is played by the loopback Aivvm server (``provider_aivvm.server``, which also
checks that every request is a valid Aivvm request) or, for faults below HTTP, by a
refusing, unresolvable or never-accepting loopback address. For each row the tests prove:

* the library: the exception type (and ``kind``), and the text the caller keeps
  (the chunks it received when streaming; ``partial_text`` with ``stream=False``);
* the CLI: the exact ``error:`` line on stderr, the exit code, what reached stdout;
* routing: whether a second provider for the same model answers instead.

``docs/failure-semantics.md`` holds the table rendered from :data:`ROWS`; a test checks
that it is current, so the documentation states exactly what these tests prove.
"""

from __future__ import annotations

import hashlib
import re
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from support import clean_env, run_cli

from provider_core import (
    AbstractProvider,
    EmptyResponse,
    FallbackWarning,
    ProviderConnectionError,
    ProviderError,
    ProviderHTTPError,
    ProviderTimeout,
    Registry,
    StreamInterrupted,
    create_completion,
)

MODEL = "gpt-3.5-turbo"
MESSAGES = [{"role": "user", "content": "hi"}]
#: The timeout (connect and read, seconds) of the rows that wait for one.
SHORT = 0.5
DOC = Path(__file__).resolve().parents[2] / "docs" / "failure-semantics.md"

DRIP_TEXT = "Привет, мир! 👋 slow drip ✓ " * 6
BIG_UNIT = "Streaming fifty megabytes: ёжик 🦔 → done. "
BIG_BYTES = 50 * 1024 * 1024


def _big_text() -> str:
    unit_bytes = len(BIG_UNIT.encode("utf-8"))
    return BIG_UNIT * (BIG_BYTES // unit_bytes)


@dataclass(frozen=True)
class Row:
    """One fault. ``target``: ``server`` (play ``script`` on the Aivvm server),
    ``refused``, ``dns`` or ``blackhole``. ``error``: the exception type, ``None`` for a
    reply that succeeds. ``kept``: the text the caller holds after the fault. ``cli``: the
    error line, ``{url}`` standing for the request URL. ``fallback``: whether routing tries
    the next provider (``None``: nothing to fall back from)."""

    id: str
    fault: str
    target: str = "server"
    script: dict[str, Any] = field(default_factory=dict)
    timeout: float | None = None
    error: type | None = None
    kind: str | None = None
    kept: str = ""
    cli: str | None = None
    exit_code: int = 1
    fallback: bool | None = None
    text: str | None = None  # the whole reply, for the rows that succeed

    @property
    def error_name(self) -> str:
        if self.error is None:
            return "none"
        return self.error.__name__ + (f" (`{self.kind}`)" if self.kind else "")


def _http_row(status: int, reason: str, fallback: bool) -> Row:
    body = f"loopback Aivvm server: scripted status {status}"
    return Row(
        id=f"http-{status}",
        fault=f"HTTP {status}",
        script={"status": status},
        error=ProviderHTTPError,
        cli=f"error: HTTP {status} {reason} from Aivvm ({{url}}): {body}",
        fallback=fallback,
    )


ROWS: tuple[Row, ...] = (
    _http_row(400, "Bad Request", fallback=False),
    _http_row(401, "Unauthorized", fallback=True),
    _http_row(403, "Forbidden", fallback=True),
    _http_row(404, "Not Found", fallback=True),
    _http_row(429, "Too Many Requests", fallback=True),
    _http_row(500, "Internal Server Error", fallback=True),
    _http_row(502, "Bad Gateway", fallback=True),
    _http_row(503, "Service Unavailable", fallback=True),
    Row(
        id="refused",
        fault="connection refused",
        target="refused",
        error=ProviderConnectionError,
        kind="refused",
        cli="error: Aivvm: connection refused ({url})",
        fallback=True,
    ),
    Row(
        id="dns",
        fault="DNS failure (`*.invalid`)",
        target="dns",
        error=ProviderConnectionError,
        kind="dns",
        cli="error: Aivvm: host name could not be resolved ({url})",
        fallback=True,
    ),
    Row(
        id="connect-timeout",
        fault="connect timeout (accept queue full)",
        target="blackhole",
        timeout=SHORT,
        error=ProviderTimeout,
        kind="connect-timeout",
        cli="error: Aivvm: timed out connecting ({url}) after 0.5s",
        fallback=True,
    ),
    Row(
        id="read-timeout-first",
        fault="read timeout before the first byte",
        script={"text": "too late", "delay_before": 20},
        timeout=SHORT,
        error=ProviderTimeout,
        kind="read-timeout",
        cli="error: Aivvm: timed out waiting for data ({url}) after 0.5s",
        fallback=True,
    ),
    Row(
        id="read-timeout-between",
        fault="read timeout between chunks",
        script={"chunks": ["first ", "never"], "delay_between": 20},
        timeout=SHORT,
        error=StreamInterrupted,
        kept="first ",
        cli="error: Aivvm stopped after 6 characters (1 chunk): "
        "timed out waiting for data ({url}) after 0.5s, 6 bytes into the reply",
        fallback=False,
    ),
    Row(
        id="reset-after-bytes",
        fault="reset after N bytes (N = 7)",
        script={"chunks": ["Hello, ", "world"], "reset_after": 7, "delay_between": 0.2},
        error=StreamInterrupted,
        kept="Hello, ",
        cli="error: Aivvm stopped after 7 characters (1 chunk): "
        "connection reset by peer ({url}), 7 bytes into the reply",
        fallback=False,
    ),
    Row(
        id="reset-before-body",
        fault="reset after 0 bytes (after the headers)",
        script={"chunks": ["Hello"], "reset_after": 0, "delay_between": 0.2},
        error=ProviderConnectionError,
        kind="reset",
        cli="error: Aivvm: connection reset by peer ({url})",
        fallback=True,
    ),
    Row(
        id="empty-200",
        fault="empty 200 body",
        script={"chunks": []},
        error=EmptyResponse,
        cli="error: Aivvm answered with no text",
        fallback=True,
    ),
    Row(
        id="invalid-utf8",
        fault="invalid UTF-8 bytes",
        script={"chunks": [b"ok \xff\xfe then \xe2\x82", b" end \xf0\x9f\x91"]},
        text="ok \ufffd\ufffd then \ufffd end \ufffd",
        exit_code=0,
    ),
    Row(
        id="big-reply",
        fault="a 50 MB reply",
        script={"text": "<50 MB>", "chunk_size": 65536},
        text="<50 MB>",
        exit_code=0,
    ),
    Row(
        id="slow-drip",
        fault="slow drip (1 byte every 2 ms)",
        script={"text": DRIP_TEXT, "chunk_size": 1, "delay_between": 0.002},
        text=DRIP_TEXT,
        exit_code=0,
    ),
)


# -- plumbing --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def big_text() -> str:
    return _big_text()


@pytest.fixture
def target(request: pytest.FixtureRequest, aivvm_server: Any, big_text: str) -> Callable[[Row], str]:
    """``target(row)`` scripts the fault and returns the base URL to send to."""

    def prepare(row: Row) -> str:
        if row.target == "dns":
            return "http://provider-core-test.invalid"
        if row.target in ("refused", "blackhole"):
            return str(request.getfixturevalue(f"{row.target}_url"))
        script = dict(row.script)
        if script.get("text") == "<50 MB>":
            script["text"] = big_text
        aivvm_server.script(**script)
        return aivvm_server.url

    return prepare


def _expected_text(row: Row, big_text: str) -> str | None:
    return big_text if row.text == "<50 MB>" else row.text


def _consume(result: Iterator[str]) -> tuple[list[str], BaseException | None]:
    chunks: list[str] = []
    try:
        for chunk in result:
            chunks.append(chunk)
    except ProviderError as exc:
        return chunks, exc
    return chunks, None


def _aivvm_registry() -> Registry:
    from provider_aivvm import Aivvm

    registry = Registry(load_entry_points=False)
    registry.register(Aivvm)
    return registry


def _call(base_url: str, row: Row, stream: bool, **options: Any) -> Any:
    if row.timeout:
        options["timeout"] = row.timeout
    registry = _aivvm_registry()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "Aivvm is marked not working; calling it because it was named"
        return create_completion(
            MODEL, MESSAGES, stream=stream, provider="aivvm", registry=registry, base_url=base_url, **options
        )


def _check_error(row: Row, exc: BaseException | None) -> None:
    if row.error is None:
        assert exc is None, f"{row.id}: unexpected {exc!r}"
        return
    assert type(exc) is row.error or (row.error is ProviderHTTPError and isinstance(exc, ProviderHTTPError)), (
        f"{row.id}: expected {row.error.__name__}, got {exc!r}"
    )
    assert exc.provider == "Aivvm"
    if row.kind:
        assert exc.kind == row.kind
    if row.error is ProviderHTTPError:
        assert exc.status_code == int(row.id.split("-")[1])
        assert exc.fallback_ok is row.fallback


# -- the library ------------------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_library_streaming(row: Row, target: Callable[[Row], str], big_text: str) -> None:
    """stream=True: the typed error, raised while iterating; the chunks received stay."""
    completion = _call(target(row), row, stream=True)
    chunks, exc = _consume(completion)
    _check_error(row, exc)
    text = "".join(chunks)
    expected = _expected_text(row, big_text)
    if row.error is None:
        assert text == expected
        if row.id == "slow-drip":
            assert len(chunks) > len(DRIP_TEXT) // 2, "a slow drip must reach the caller as it arrives"
    else:
        assert text == row.kept
        if isinstance(exc, StreamInterrupted):
            assert exc.received_chars == len(row.kept)
            assert exc.partial_text is None  # streaming: the caller holds the text, no copy is kept


@pytest.mark.parametrize("row", [r for r in ROWS if r.id not in ("big-reply", "slow-drip")], ids=lambda r: r.id)
def test_library_whole_reply(row: Row, target: Callable[[Row], str]) -> None:
    """stream=False: the same typed error; a StreamInterrupted carries the partial text."""
    try:
        text = _call(target(row), row, stream=False)
    except ProviderError as exc:
        _check_error(row, exc)
        if isinstance(exc, StreamInterrupted):
            assert exc.partial_text == row.kept
        return
    _check_error(row, None)
    assert text == row.text


# -- the CLI ------------------------------------------------------------------------------


def _cli_env(base_url: str) -> dict[str, str]:
    return clean_env(AIVVM_BASE_URL=base_url, PROVIDER_CORE_PLUGINS="aivvm")


@pytest.mark.parametrize("row", ROWS, ids=lambda r: r.id)
def test_cli(row: Row, target: Callable[[Row], str], big_text: str) -> None:
    """One ``error:`` line (no traceback), the exit code, and the text that arrived."""
    base_url = target(row)
    args = ["chat", "--provider", "aivvm", "-m", MODEL]
    if row.timeout:
        args += ["--timeout", str(row.timeout)]
    result = run_cli(*args, "hi", env=_cli_env(base_url))
    assert "Traceback" not in result.stderr
    assert result.code == row.exit_code, result.stderr
    if row.error is None:
        expected = _expected_text(row, big_text) + "\n"
        if row.id == "big-reply":  # compare digests: a 50 MB diff helps nobody
            assert hashlib.sha256(result.stdout.encode()).hexdigest() == hashlib.sha256(expected.encode()).hexdigest()
        else:
            assert result.stdout == expected
        assert result.error_lines == []
        return
    assert result.stdout == (row.kept + "\n" if row.kept else "")
    url = base_url + "/api/chat"
    assert result.error_lines == [row.cli.format(url=url)]


def test_cli_no_stream_keeps_the_partial_text(target: Callable[[Row], str]) -> None:
    """--no-stream: the text received before a reset is printed before the error line."""
    row = next(r for r in ROWS if r.id == "reset-after-bytes")
    result = run_cli("chat", "--provider", "aivvm", "-m", MODEL, "--no-stream", "hi", env=_cli_env(target(row)))
    assert (result.code, result.stdout) == (1, "Hello, \n")
    assert len(result.error_lines) == 1 and "connection reset by peer" in result.error_lines[0]


# -- routing ------------------------------------------------------------------------------


class Backup(AbstractProvider):
    """A second provider for the same model, ranked after Aivvm; counts its calls."""

    working = True
    supports_stream = True
    priority = -1
    models = {MODEL: "GPT-3.5"}  # noqa: RUF012
    calls = 0

    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        cls.calls += 1
        yield "backup "
        yield "answered"


@pytest.fixture
def two_providers() -> Registry:
    registry = _aivvm_registry()
    registry.register(Backup)
    Backup.calls = 0
    return registry


@pytest.mark.parametrize("row", [r for r in ROWS if r.fallback is not None], ids=lambda r: r.id)
def test_routing_fallback(row: Row, target: Callable[[Row], str], two_providers: Registry) -> None:
    """Aivvm first, Backup second: a fault before the first chunk falls back (and says
    so); a refused request (400) or a fault after the first chunk does not."""
    options: dict[str, Any] = {"base_url": target(row)}
    if row.timeout:
        options["timeout"] = row.timeout
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        completion = create_completion(MODEL, MESSAGES, registry=two_providers, include_not_working=True, **options)
        chunks, exc = _consume(completion)
    fallbacks = [w for w in caught if issubclass(w.category, FallbackWarning)]
    if row.fallback:
        assert exc is None
        assert "".join(chunks) == "backup answered"
        assert completion.provider == "Backup"
        [attempt] = completion.attempts
        assert attempt.provider == "Aivvm" and isinstance(attempt.error, row.error)
        [warning] = fallbacks
        assert str(warning.message).startswith("fell back to Backup after: Aivvm: ")
    else:
        _check_error(row, exc)
        assert "".join(chunks) == row.kept
        assert Backup.calls == 0 and fallbacks == []


# -- memory --------------------------------------------------------------------------------


def test_big_reply_memory_stays_flat(aivvm_server: Any, big_text: str) -> None:
    """Streaming 50 MB allocates a few MB at most: the library keeps no copy of the text."""
    import tracemalloc

    chunks = [c.encode("utf-8") for c in _split(big_text, 65536)]
    aivvm_server.script(chunks=chunks)
    tracemalloc.start()
    try:
        total = 0
        for chunk in _call(aivvm_server.url, ROWS[0], stream=True):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == len(big_text)
    assert peak < 8 * 1024 * 1024, f"peak {peak:,} bytes while streaming {BIG_BYTES:,}"


def _split(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# -- the documentation ------------------------------------------------------------------------


def render_table() -> str:
    """The "Failure semantics" table, rendered from :data:`ROWS`."""
    lines = [
        "| Fault | Exception | CLI (stderr, exit code) | Text the caller keeps | Routing falls back |",
        "|---|---|---|---|---|",
    ]
    for row in ROWS:
        if row.error is None:
            cli = "none, exit 0"
            kept = "the whole reply" + (", U+FFFD for each invalid sequence" if row.id == "invalid-utf8" else "")
        else:
            line = row.cli.format(url="<url>")
            line = re.sub(r"\s+", " ", line)
            cli = f"`{line}`, exit {row.exit_code}"
            kept = f"`{row.kept!r}`" if row.kept else "nothing (none arrived)"
        fallback = {True: "yes", False: "**no**", None: "n/a"}[row.fallback]
        lines.append(f"| {row.fault} | {row.error_name} | {cli} | {kept} | {fallback} |")
    return "\n".join(lines) + "\n"


def test_documented_table_is_what_the_tests_prove() -> None:
    assert render_table() in DOC.read_text(encoding="utf-8"), (
        "docs/failure-semantics.md is out of date; paste the output of "
        "`python -c 'from tests.reliability.test_fault_matrix import render_table; print(render_table())'`"
    )
