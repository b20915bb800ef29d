"""A planted key never shows: not in repr, logs, exceptions, warnings, --json output or
--debug tracebacks, even when the upstream echoes it back in its error body.

Secret-named options (``api_key``, ``token``, ...) reach providers as ``SecretStr``; the
transport redacts sensitive header values from error bodies it quotes; the router scrubs
secret option values from every exception it quotes, records or re-raises (see
``provider_core.secrets``).
"""

from __future__ import annotations

import json
import logging
import secrets as random_secrets
import traceback
import warnings
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import SecretStr
from support import clean_env, run_cli

from provider_core import (
    AbstractProvider,
    InvalidMessages,
    NoProviderAvailable,
    ProviderError,
    ProviderHTTPError,
    Registry,
    StreamInterrupted,
    create_completion,
)
from provider_core.secrets import REDACTED, is_secret_name, protect_options, redact, reveal, safe_url
from provider_core.testing.server import LoopbackServer, RecordedRequest, Reply

from .conftest import provider_for

MESSAGES = [{"role": "user", "content": "hi"}]


@pytest.fixture
def key() -> str:
    return "sk-planted-" + random_secrets.token_hex(12)


def _echo_401(request: RecordedRequest) -> Reply:
    """An upstream that quotes the credential it refuses (some real APIs do)."""
    auth = request.headers.get("authorization", "")
    body = json.dumps({"error": {"message": f"Incorrect API key provided: {auth}"}})
    return Reply(401, body=body, headers={"content-type": "application/json"})


def _everything(exc: BaseException) -> str:
    """Every text an exception can show: str, repr, args, attributes, and the chain."""
    parts = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts += [str(current), repr(current), repr(current.args), repr(vars(current))]
        for attempt in getattr(current, "attempts", ()):
            parts += [str(attempt), repr(attempt)]
        current = current.__cause__ or current.__context__
    parts.append("".join(traceback.format_exception(exc)))
    return "\n".join(parts)


class KeyEcho(AbstractProvider):
    """Misbehaves with its key: puts it in an exception (before or after the first chunk)."""

    working = True
    supports_stream = True
    models = {"rel-model": "M"}  # noqa: RUF012
    seen: list[Any] = []  # noqa: RUF012

    @classmethod
    def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Iterator[str]:
        cls.seen.append(kwargs.get("api_key"))
        if kwargs.get("late"):
            yield "some text "
        raise RuntimeError(f"upstream refused key {reveal(kwargs['api_key'])}")


# -- the mechanism ---------------------------------------------------------------------


def test_secret_names() -> None:
    for name in ("api_key", "API_KEY", "token", "password", "openai_api_key", "refresh_token", "client_secret"):
        assert is_secret_name(name), name
    for name in ("temperature", "max_tokens", "model", "base_url", "timeout", "system_message", "proxy"):
        assert not is_secret_name(name), name
    options = protect_options({"api_key": "abcd1234", "temperature": 0.5, "token": None})
    assert isinstance(options["api_key"], SecretStr) and options["temperature"] == 0.5 and options["token"] is None
    assert "abcd1234" not in repr(options) and reveal(options["api_key"]) == "abcd1234"
    assert redact("key abcd1234 twice abcd1234", ["abcd1234"]) == f"key {REDACTED} twice {REDACTED}"
    assert safe_url("https://user:pw@host:8443/api/chat?key=abc#frag") == "https://host:8443/api/chat"


def test_provider_receives_a_secretstr_and_can_use_it(servers: Any, key: str) -> None:
    server: LoopbackServer = servers()
    server.enqueue(Reply(body="authorised"))
    seen: list[Any] = []

    class Spy(provider_for(server.url + "/v1", name="Spy")):  # type: ignore[misc]
        @classmethod
        def create_completion(cls, model: str, messages: Any, stream: bool, **kwargs: Any) -> Any:
            seen.append(kwargs)
            return super().create_completion(model, messages, stream, **kwargs)

    registry = Registry(load_entry_points=False)
    registry.register(Spy)
    assert "".join(create_completion("rel-model", MESSAGES, registry=registry, api_key=key)) == "authorised"
    [kwargs] = seen
    assert isinstance(kwargs["api_key"], SecretStr)
    assert key not in repr(kwargs) and key not in str(kwargs)
    assert server.requests[0].headers["authorization"] == f"Bearer {key}"  # reveal() at the one place it belongs


# -- the library -----------------------------------------------------------------------


def test_upstream_echoing_the_key_is_redacted(servers: Any, key: str, caplog: pytest.LogCaptureFixture) -> None:
    server: LoopbackServer = servers(_echo_401)
    registry = Registry(load_entry_points=False)
    registry.register(provider_for(server.url + "/v1?key=" + key, name="Auth"))
    caplog.set_level(logging.DEBUG)
    with pytest.raises(ProviderHTTPError) as info:
        list(create_completion("rel-model", MESSAGES, registry=registry, api_key=key))
    exc = info.value
    assert exc.status_code == 401
    assert REDACTED in exc.body_excerpt  # the echo was there, and was cut out
    assert key not in _everything(exc)
    assert key not in caplog.text
    assert key in server.requests[0].headers["authorization"]  # it was really sent


def test_fallback_and_no_provider_available_carry_no_key(servers: Any, key: str) -> None:
    """Auth (401 echoing the key), then KeyEcho (raises with the key in its message)."""
    server: LoopbackServer = servers(_echo_401)
    registry = Registry(load_entry_points=False)
    registry.register(provider_for(server.url + "/v1", name="Auth", priority=5))
    registry.register(KeyEcho)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        completion = create_completion("rel-model", MESSAGES, registry=registry, api_key=key)
        with pytest.raises(NoProviderAvailable) as info:
            list(completion)
    assert [a.provider for a in info.value.attempts] == ["Auth", "KeyEcho"]
    assert key not in _everything(info.value)
    assert key not in repr(completion) + repr(completion.attempts) + repr(vars(completion))
    assert all(key not in str(w.message) for w in caught)
    assert isinstance(KeyEcho.seen[-1], SecretStr)


def test_interrupted_stream_carries_no_key(key: str, caplog: pytest.LogCaptureFixture) -> None:
    registry = Registry(load_entry_points=False)
    registry.register(KeyEcho)
    caplog.set_level(logging.DEBUG)
    chunks = []
    with pytest.raises(StreamInterrupted) as info:
        for chunk in create_completion("rel-model", MESSAGES, registry=registry, api_key=key, late=True):
            chunks.append(chunk)
    assert chunks == ["some text "]
    assert REDACTED in str(info.value)
    assert key not in _everything(info.value) and key not in caplog.text


def test_aivvm_with_a_key_and_credentials_in_urls(aivvm_server: Any, refused_url: str, key: str) -> None:
    """Aivvm takes no key: one given is neither sent nor shown; credentials in the base
    URL or proxy URL never reach an error message."""
    from provider_aivvm import Aivvm

    registry = Registry(load_entry_points=False)
    registry.register(Aivvm)
    aivvm_server.script(status=500, body="upstream exploded")
    host = aivvm_server.url.split("//", 1)[1]
    errors: list[ProviderError] = []
    for options in (
        {"base_url": f"http://user:{key}@{host}"},
        {"base_url": aivvm_server.url, "proxy": f"http://user:{key}@{refused_url.split('//', 1)[1]}"},
    ):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            with pytest.raises(ProviderError) as info:
                list(create_completion("gpt-4", MESSAGES, provider="Aivvm", registry=registry, api_key=key, **options))
        errors.append(info.value)
    assert isinstance(errors[0], ProviderHTTPError) and errors[0].status_code == 500
    assert errors[1].kind == "proxy"
    for exc in errors:
        assert key not in _everything(exc)
    [request] = aivvm_server.requests
    assert key not in request.body.decode() and request.json["key"] == ""
    assert key not in json.dumps(request.headers).replace(request.headers.get("authorization", ""), "")


# -- the CLI ---------------------------------------------------------------------------------


def test_cli_outputs_never_show_the_key(plugin_env: dict[str, str], servers: Any, key: str) -> None:
    """RelAuth (pip-installed) reads its key from RELFIX_API_KEY and sends it as a bearer
    token; the loopback upstream refuses it with a 401 quoting it. Every command, with
    and without --json and --debug, is grepped for the key."""
    server: LoopbackServer = servers(_echo_401)
    env = clean_env(**plugin_env, RELFIX_API_KEY=key, RELFIX_AUTH_URL=server.url)
    runs = [
        run_cli("chat", "-m", "rel-auth", "hi", env=env),
        run_cli("--debug", "chat", "-m", "rel-auth", "hi", env=env),
        run_cli("chat", "--provider", "RelAuth", "-m", "rel-auth", "--no-stream", "hi", env=env),
        run_cli("providers", "--json", env=env),
        run_cli("plugins", "--json", env=env),
        run_cli("route", "rel-auth", "--json", env=env),
    ]
    assert [r.code for r in runs] == [1, 1, 1, 0, 0, 0]
    assert runs[0].error_lines == [
        f"error: HTTP 401 Unauthorized from RelAuth ({server.url}/v1/chat): "
        f'{{"error": {{"message": "Incorrect API key provided: {REDACTED}"}}}}'
    ]
    assert "Traceback (most recent call last)" in runs[1].stderr
    for result in runs:
        assert key not in result.stdout + result.stderr
    assert len(server.requests) == 3 and all(r.headers["authorization"] == f"Bearer {key}" for r in server.requests)


def test_a_providers_url_is_shown_without_credentials() -> None:
    """Whatever URL a plugin gives its class, a listing (``describe``: the CLI and the
    gateway) shows it without user name, password, query or fragment; a URL without any of
    them is shown as it is."""

    class Careless(provider_for("https://bob:pw-in-the-url-123@api.example/v1?key=k-in-the-url-456", name="Careless")):  # type: ignore[misc]
        pass

    registry = Registry(load_entry_points=False)
    registry.register(Careless)
    shown = json.dumps(registry.describe(Careless))
    assert "pw-in-the-url-123" not in shown and "k-in-the-url-456" not in shown
    assert '"url": "https://api.example/v1"' in shown
    assert safe_url("https://api.example/v1") == "https://api.example/v1"


def test_a_refused_base_url_is_never_quoted_with_its_credentials(key: str) -> None:
    """A base URL a plugin refuses (another scheme; a query where none may be) was never
    sent, so its password was never remembered for redaction: the refusal must not quote
    it. Through the environment (a listing's status reasons, `plugins`, a chat) and per
    call, for every plugin of this repository that takes one."""
    refused = f"ftp://bob:{key}@files.example/v1"
    env = clean_env(
        ANTHROPIC_BASE_URL=refused,
        ANTHROPIC_API_KEY="sk-ant-placeholder-0000",
        GEMINI_BASE_URL=refused,
        GEMINI_API_KEY="gemini-placeholder-0000",
        AIVVM_BASE_URL=f"https://h.example/api?key={key}",
    )
    runs = [
        run_cli("providers", "--json", env=env),
        run_cli("plugins", "--json", env=env),
        run_cli("chat", "-p", "Aivvm", "-m", "gpt-4", "hi", env=env),
    ]
    assert [r.code for r in runs[:2]] == [0, 0] and runs[2].code != 0
    reasons = {p["name"]: p.get("status_reason") or "" for p in json.loads(runs[0].stdout)["providers"]}
    assert reasons["Anthropic"].startswith("ANTHROPIC_BASE_URL must be an http:// or https:// URL, got 'ftp://")
    assert reasons["Gemini"].startswith("GEMINI_BASE_URL must be an http:// or https:// URL, got 'ftp://")
    assert "AIVVM_BASE_URL: must not have a query or fragment" in runs[2].stderr
    for result in runs:
        assert key not in result.stdout + result.stderr

    from provider_aivvm import Aivvm
    from provider_anthropic import Anthropic
    from provider_gemini.provider import configure

    gemini = configure({"GEMINI_API_KEY": "gemini-placeholder-0000"})
    for cls in (Aivvm, Anthropic, gemini):
        model = next(iter(cls.models))
        for base_url in (refused, refused.encode()):
            with pytest.raises(InvalidMessages) as info:
                list(cls.create_completion(model, MESSAGES, True, base_url=base_url, api_key="placeholder-0000"))
            assert "base_url" in str(info.value) and key not in _everything(info.value), cls
