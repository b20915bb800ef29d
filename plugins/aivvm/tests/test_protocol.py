"""The Aivvm provider is faithful to the wire protocol of DESIGN.md: flags, models, body, headers."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from provider_aivvm import Aivvm
from provider_aivvm.provider import build_request

from provider_core.contract import check_provider
from provider_core.errors import InvalidMessages, ModelNotSupported

DEFAULT_PROMPT = (
    "You are ChatGPT, a large language model trained by OpenAI. Follow the user's instructions carefully. "
    "Respond using markdown."
)
USER = [{"role": "user", "content": "Hello"}]
EXPECTED_MODELS = {
    "gpt-3.5-turbo": "GPT-3.5",
    "gpt-3.5-turbo-0613": "GPT-3.5-0613",
    "gpt-3.5-turbo-16k": "GPT-3.5-16K",
    "gpt-3.5-turbo-16k-0613": "GPT-3.5-16K-0613",
    "gpt-4": "GPT-4",
    "gpt-4-0613": "GPT-4-0613",
    "gpt-4-32k": "GPT-4-32K",
    "gpt-4-32k-0613": "GPT-4-32K-0613",
}


def test_flags() -> None:
    assert Aivvm.name == "Aivvm"
    assert Aivvm.url == "https://chat.aivvm.com"
    assert Aivvm.working is False
    assert Aivvm.supports_stream is True
    assert Aivvm.supports_gpt_35_turbo is True
    assert Aivvm.supports_gpt_4 is True
    assert dict(Aivvm.models) == EXPECTED_MODELS
    assert Aivvm.default_model == "gpt-3.5-turbo"


def test_keeps_every_contract_rule() -> None:
    broken = [r for r in check_provider(Aivvm) if not r.ok]
    assert broken == []


def test_installed_plugin_is_listed_by_the_cli(console_script) -> None:
    out = subprocess.run(
        [console_script("provider-core"), "providers", "--json"], capture_output=True, text=True, timeout=60, check=True
    ).stdout
    (record,) = [p for p in json.loads(out)["providers"] if p["name"] == "Aivvm"]
    assert record["plugin"] == "aivvm"
    assert (
        record["working"],
        record["supports_stream"],
        record["supports_gpt_35_turbo"],
        record["supports_gpt_4"],
    ) == (
        False,
        True,
        True,
        True,
    )
    assert record["models"] == list(EXPECTED_MODELS)


def test_import_is_cheap() -> None:
    code = (
        "import sys, provider_aivvm; print(sorted(m for m in ('requests', 'urllib3', 'pydantic') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert out.strip() == "[]"


def test_default_body(aivvm_server, ask) -> None:
    assert ask(aivvm_server.url) == ["Hello"]
    (request,) = aivvm_server.requests
    assert (request.method, request.path) == ("POST", "/api/chat")
    assert request.json == {
        "model": {"id": "gpt-4", "name": "GPT-4"},
        "messages": USER,
        "key": "",
        "prompt": DEFAULT_PROMPT,
        "temperature": 0.7,
    }
    assert list(request.json) == ["model", "messages", "key", "prompt", "temperature"]


@pytest.mark.parametrize("model", list(EXPECTED_MODELS))
def test_every_model_is_sent_with_its_display_name(aivvm_server, model: str, ask) -> None:
    ask(aivvm_server.url, model=model)
    assert aivvm_server.requests[0].json["model"] == {"id": model, "name": EXPECTED_MODELS[model]}


def test_empty_model_means_gpt_35_turbo(aivvm_server, ask) -> None:
    ask(aivvm_server.url, model="")
    assert aivvm_server.requests[0].json["model"] == {"id": "gpt-3.5-turbo", "name": "GPT-3.5"}


@pytest.mark.parametrize("model", ["gpt-5", "GPT-4", "gpt-4-32", " gpt-4"])
def test_unknown_model_is_refused_before_sending(aivvm_server, model: str) -> None:
    with pytest.raises(ModelNotSupported) as info:
        Aivvm.create_completion(model, USER, True, base_url=aivvm_server.url)
    assert isinstance(info.value, ValueError)
    assert info.value.provider == "Aivvm" and info.value.model == model
    assert repr(model) in str(info.value)
    assert aivvm_server.requests == []


def test_unknown_model_suggests_close_ids() -> None:
    with pytest.raises(ModelNotSupported) as info:
        Aivvm.create_completion("gpt-4-32", USER, True)
    assert "gpt-4-32k" in info.value.suggestions


@pytest.mark.parametrize(("given", "sent"), [(None, 0.7), (0, 0), (0.0, 0.0), (1.3, 1.3), (2, 2)])
def test_temperature(aivvm_server, given, sent, ask) -> None:
    ask(aivvm_server.url, temperature=given)
    value = aivvm_server.requests[0].json["temperature"]
    assert value == sent and type(value) is type(sent)


@pytest.mark.parametrize("bad", [-0.1, 2.5, float("nan"), "hot", True])
def test_bad_temperature_is_refused_before_sending(aivvm_server, bad) -> None:
    with pytest.raises(InvalidMessages, match="temperature"):
        Aivvm.create_completion("gpt-4", USER, True, base_url=aivvm_server.url, temperature=bad)
    assert aivvm_server.requests == []


# -- system instructions -> prompt --------------------------------------------------------

SYSTEM_CASES = [
    pytest.param({"system_message": "Be brief."}, USER, "Be brief.", USER, id="keyword"),
    pytest.param({"system_message": ""}, USER, DEFAULT_PROMPT, USER, id="empty-keyword-is-none"),
    pytest.param({"system_message": None}, USER, DEFAULT_PROMPT, USER, id="none-keyword"),
    pytest.param(
        {},
        [{"role": "system", "content": "Answer in French."}, *USER],
        "Answer in French.",
        USER,
        id="system-message",
    ),
    pytest.param(
        {"system_message": "Be brief."},
        [{"role": "system", "content": "Answer in French."}, *USER],
        "Be brief.\n\nAnswer in French.",
        USER,
        id="both-keyword-first",
    ),
    pytest.param(
        {},
        [
            {"role": "system", "content": "One."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "system", "content": "Two."},
            {"role": "user", "content": "Again"},
        ],
        "One.\n\nTwo.",
        [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello!"},
            {"role": "user", "content": "Again"},
        ],
        id="several-in-order-history-kept",
    ),
    pytest.param(
        {},
        [{"role": "system", "content": ""}, *USER],
        DEFAULT_PROMPT,
        USER,
        id="empty-system-message",
    ),
]


@pytest.mark.parametrize(("kwargs", "messages", "prompt", "sent"), SYSTEM_CASES)
def test_system_instructions_map_to_prompt(aivvm_server, kwargs, messages, prompt, sent, ask) -> None:
    ask(aivvm_server.url, messages, **kwargs)
    body = aivvm_server.requests[0].json
    assert body["prompt"] == prompt
    assert body["messages"] == sent


def test_messages_carry_role_and_content_only(aivvm_server, ask) -> None:
    ask(aivvm_server.url, [{"role": "user", "content": "Hi", "name": "ann"}])
    assert aivvm_server.requests[0].json["messages"] == [{"role": "user", "content": "Hi"}]


def test_headers(aivvm_server, ask) -> None:
    ask(aivvm_server.url)
    headers = aivvm_server.requests[0].headers
    assert headers["accept"] == "text/event-stream"
    assert headers["content-type"] == "application/json"
    assert headers["user-agent"].startswith("Mozilla/5.0 (")
    assert headers["origin"] == aivvm_server.url
    assert headers["referer"] == aivvm_server.url + "/"


def test_request_for_the_real_site(monkeypatch) -> None:
    monkeypatch.delenv("AIVVM_BASE_URL", raising=False)
    request = build_request("gpt-4", USER)
    assert request.url == "https://chat.aivvm.com/api/chat"
    assert request.headers["origin"] == "https://chat.aivvm.com"
    assert request.headers["referer"] == "https://chat.aivvm.com/"


@pytest.mark.parametrize(
    "messages",
    [[], [{"role": "user"}], [{"role": "robot", "content": "x"}], [{"role": "user", "content": 3}], "Hello"],
)
def test_invalid_messages_are_refused_before_sending(aivvm_server, messages) -> None:
    with pytest.raises(InvalidMessages):
        Aivvm.create_completion("gpt-4", messages, True, base_url=aivvm_server.url)
    assert aivvm_server.requests == []


def test_nothing_is_sent_before_the_first_next(aivvm_server) -> None:
    result = Aivvm.create_completion("gpt-4", USER, True, base_url=aivvm_server.url)
    assert aivvm_server.requests == []
    assert list(result) == ["Hello"]
    assert len(aivvm_server.requests) == 1


def test_stream_false_yields_the_text_and_the_core_joins_it(aivvm_server, ask) -> None:
    text = "a reply long enough to be cut into several chunks"
    aivvm_server.script(text, chunk_size=3)
    assert "".join(ask(aivvm_server.url, stream=False)) == text


def test_through_the_library_with_the_provider_named(aivvm_server) -> None:
    from provider_core.completion import create_completion
    from provider_core.errors import ProviderNotWorkingWarning
    from provider_core.registry import Registry

    registry = Registry(load_entry_points=False)
    registry.register(Aivvm)
    with pytest.warns(ProviderNotWorkingWarning, match="Aivvm"):
        text = create_completion(
            "gpt-4", USER, stream=False, provider="aivvm", registry=registry, base_url=aivvm_server.url
        )
    assert text == "Hello"
