"""The gateway's live model lists: ``provider-core serve`` started before its upstream sees
it once it comes up (the background refresh), a request for an unknown model refreshes at
once (at most once per interval), a refresh done by another process is picked up; and
its hints speak HTTP. The upstream is the OpenAI plugin's loopback server, or the
Anthropic or Gemini plugin's (their shipped models are served at once, the new ones of
their live lists once the upstream is up); each wait is a bounded wait for a condition,
opened by a gate (the upstream's model-list answer), never a clock."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from support import Served, run_cli, wait_until
from support import gateway_chat as chat
from support import gateway_model_ids as model_ids

from provider_core.errors import Attempt, NoProviderAvailable
from provider_core.gateway.errors import public_message

provider_openai = pytest.importorskip("provider_openai")
from provider_openai.server import OpenAIServer, error_reply  # noqa: E402


def list_requests(upstream: OpenAIServer) -> int:
    return sum(1 for r in upstream.requests if r.path == "/v1/models")


@pytest.fixture
def upstream() -> Iterator[OpenAIServer]:
    """An upstream that is still starting: its /models answers 503 until a test opens it."""
    with OpenAIServer(models=["demo"], models_reply=error_reply(503, "starting up")) as server:
        yield server


#: A model id no plugin ships, which the native upstreams list once they are up.
NEW = "newer-model-9"


@pytest.fixture(params=["anthropic", "gemini"])
def native(request: pytest.FixtureRequest) -> Iterator[tuple[str, Any, dict[str, str]]]:
    """``(plugin, upstream, variables)``: a native plugin's loopback server, still starting
    (its model list answers 503 until a test sets ``models_reply = None``) and listing
    :data:`NEW` besides the shipped models once up; ``variables`` point the plugin at it."""
    if request.param == "anthropic":
        anthropic = pytest.importorskip("provider_anthropic.server")
        server: Any = anthropic.AnthropicServer(models_reply=anthropic.error_reply(503, "api_error", "starting"))
        server.models[NEW] = NEW
    else:
        gemini = pytest.importorskip("provider_gemini.server")
        server = gemini.GeminiServer(models_reply=gemini.error_reply(503, "starting"))
        server.models.append(NEW)
    prefix = request.param.upper()
    with server:
        yield request.param, server, {f"{prefix}_API_KEY": "native-gateway-key-1", f"{prefix}_BASE_URL": server.url}


@pytest.fixture
def serve(tmp_path: Path, upstream: OpenAIServer):
    """``serve(interval, config="", plugin="openai", **variables)``: a gateway process over
    one plugin (the OpenAI plugin's endpoint is the ``upstream`` unless a config is given)."""
    started: list[Served] = []
    vendor = ("OPENAI_", "ANTHROPIC_", "GEMINI_", "GOOGLE_", "PROVIDER_CORE_")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(vendor)},
        "PROVIDER_CORE_CACHE_DIR": str(tmp_path / "cache"),
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "PYTHONUNBUFFERED": "1",
    }

    def start(interval: str, config: str = "", plugin: str = "openai", **variables: str) -> str:
        env.update(variables, PROVIDER_CORE_PLUGINS=plugin, PROVIDER_CORE_REFRESH_INTERVAL=interval)
        if config:
            (tmp_path / "config.toml").write_text(config)
            env["PROVIDER_CORE_CONFIG"] = str(tmp_path / "config.toml")
        elif plugin == "openai":
            env["OPENAI_BASE_URL"] = upstream.url
        served = Served(["--no-access-log"], env, tmp_path)
        started.append(served)
        return served.url()

    start.env = env
    yield start
    for served in started:
        assert served.stop() == 0, "".join(served.log)
        assert "Traceback" not in "".join(served.log)


def test_a_gateway_started_before_its_upstream_serves_it_once_it_is_up(serve, upstream):
    url = serve("0.2")
    assert model_ids(url) == []
    assert chat(url, "demo").status_code == 404
    upstream.models_reply = None  # the upstream has finished starting
    wait_until(lambda: model_ids(url) == ["demo"], "the background refresh")
    reply = chat(url, "demo")
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"] == "Hello"


def test_an_unknown_model_refreshes_at_once_and_at_most_once_per_interval(serve, upstream):
    url = serve("3600")
    wait_until(lambda: list_requests(upstream) == 1, "the refresh at start-up")  # it failed: 503
    upstream.models_reply = None
    reply = chat(url, "demo")
    assert reply.status_code == 200, reply.text  # refreshed for this very request
    assert list_requests(upstream) == 2
    upstream.models.append("newer")
    assert chat(url, "newer").status_code == 404, "not again within the interval"
    assert chat(url, "typo").status_code == 404
    assert list_requests(upstream) == 2


def test_a_refresh_by_another_process_is_picked_up(serve, upstream, tmp_path):
    upstream.models_reply = None
    config = f'[openai.endpoints.local]\nbase_url = "{upstream.url}"\nmodels_ttl = 3600\n'
    url = serve("0.2", config)
    wait_until(lambda: model_ids(url) == ["demo"], "the refresh at start-up")
    upstream.models.append("added")
    refreshed = run_cli("refresh", "local", env=serve.env, cwd=tmp_path)
    assert refreshed.code == 0, refreshed.stderr
    wait_until(lambda: model_ids(url) == ["added", "demo"], "the gateway to pick up the cache")
    assert list_requests(upstream) == 2, "the gateway fetched nothing more itself (its list is fresh for an hour)"


def test_a_gateway_started_before_a_native_upstream_serves_its_new_models_once_it_is_up(serve, native):
    plugin, upstream, variables = native
    url = serve("0.2", plugin=plugin, **variables)
    shipped = model_ids(url)
    assert shipped and NEW not in shipped, "the shipped models are served at once"
    assert chat(url, NEW).status_code == 404
    upstream.models_reply = None  # the upstream has finished starting
    wait_until(lambda: model_ids(url) == [*shipped, NEW], "the background refresh")
    reply = chat(url, NEW)
    assert reply.status_code == 200 and reply.json()["choices"][0]["message"]["content"] == "Hello"


def test_the_no_provider_hint_speaks_http():
    error = NoProviderAvailable("down-1", [Attempt("Down", "marked not working")], hint="(the library's hint)")
    text = public_message(error)
    assert text == (
        "no provider could serve 'down-1': Down: marked not working. To call it anyway, name it in the request "
        '("provider": "Down") or start the gateway with \'provider-core serve --include-not-working\''
    )
    assert "--provider" not in text and "CLI" not in text


def test_the_hint_reaches_the_client(gateway):
    reply = chat(gateway.url, "down-1")
    assert reply.status_code == 503
    message = reply.json()["error"]["message"]
    assert '"provider": "Down"' in message and "provider-core serve --include-not-working" in message
    empty = chat(gateway.url, "")
    assert empty.json()["error"]["message"] == "no model given: name one ('GET /v1/models' lists them)"
