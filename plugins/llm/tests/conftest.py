"""Fixtures for the llm bridge's tests: an isolated llm user directory and cache, the
OpenAI-protocol loopback server behind llm's built-in OpenAI model, and tiny llm plugins
written here and pip-installed (``--target``) into sites put on ``sys.path``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from provider_openai.server import OpenAIServer, chat_chunk, sse

from provider_core.testing.server import Reply

#: The llm test plugins: site -> {distribution: (entry-point name, module source)}.
ECHO = '''
import json
from types import SimpleNamespace

import llm
from llm.parts import StreamEvent


class StatusError(Exception):
    """An SDK-like error carrying an HTTP status."""

    def __init__(self, status):
        super().__init__(f"upstream said {status}")
        self.status_code = status
        self.response = SimpleNamespace(status_code=status, headers={"retry-after": "7"})


def script(prompt, response, key):
    text = prompt.prompt or ""
    if text == "boom":
        raise RuntimeError("the echo plugin broke")
    if text.startswith("status "):
        raise StatusError(int(text.split()[1]))
    if text == "nothing":
        return
    if text == "late boom":
        yield "partial "
        raise ConnectionResetError("connection reset by peer")
    if text == "think":
        yield StreamEvent(type="reasoning", chunk="hmm")
    if text == "whole tool":
        response.add_tool_call(llm.ToolCall(name="lookup", arguments={"q": "x"}, tool_call_id="call_w"))
        return
    if text == "streamed tool":
        yield StreamEvent(type="tool_call_name", chunk="lookup", tool_call_id="call_s")
        yield StreamEvent(type="tool_call_args", chunk='{"q": ', tool_call_id="call_s")
        yield StreamEvent(type="tool_call_args", chunk='"y"}', tool_call_id="call_s")
        response.add_tool_call(llm.ToolCall(name="lookup", arguments={"q": "y"}, tool_call_id="call_s"))
        return
    if text == "show key":
        yield f"key={key}"
        return
    if text == "options":
        yield json.dumps(prompt.options.model_dump(exclude_none=True), sort_keys=True)
        return
    if text == "history":
        yield json.dumps([m.to_dict() for m in prompt.messages])
        return
    if text == "tools":
        yield json.dumps([t.name for t in prompt.tools])
        return
    words = text.split(" ")
    for i, word in enumerate(words):
        yield word + (" " if i < len(words) - 1 else "")
    response.set_usage(input=len(words) + 1, output=len(words))


class Echo(llm.KeyModel):
    model_id = "pcfix-echo"
    needs_key = "pcfix"
    key_env_var = "PCFIX_ECHO_KEY"
    can_stream = True
    supports_tools = True
    attachment_types = {"image/png"}

    class Options(llm.Options):
        temperature: float | None = None
        max_output_tokens: int | None = None

    def execute(self, prompt, stream, response, conversation, key):
        yield from script(prompt, response, key)


class AsyncEcho(llm.AsyncKeyModel):
    model_id = "pcfix-echo"
    needs_key = "pcfix"
    key_env_var = "PCFIX_ECHO_KEY"
    can_stream = True
    supports_tools = True
    attachment_types = {"image/png"}
    Options = Echo.Options

    async def execute(self, prompt, stream, response, conversation, key):
        for item in script(prompt, response, "async:" + str(key)):
            yield item


class Free(llm.Model):
    model_id = "pcfix-free"
    supports_conversation = False

    def execute(self, prompt, stream, response, conversation):
        yield from script(prompt, response, None)


class AsyncOnly(llm.AsyncModel):
    model_id = "pcfix-async"
    can_stream = True

    async def execute(self, prompt, stream, response, conversation):
        for item in script(prompt, response, None):
            yield item


@llm.hookimpl
def register_models(register):
    register(Echo(), AsyncEcho(), aliases=["pe"])
    register(Free())
    register(None, AsyncOnly())
'''
LATE = """
import llm


class Late(llm.Model):
    model_id = "pcfix-late"
    can_stream = True

    def execute(self, prompt, stream, response, conversation):
        yield "late: " + (prompt.prompt or "")


@llm.hookimpl
def register_models(register):
    register(Late(), aliases=["pl"])
"""
PLUGINS: dict[str, dict[str, tuple[str, str]]] = {
    "good": {"llm-pcfix-echo": ("pcfix_echo", ECHO)},
    "broken": {
        "llm-pcfix-broken": ("pcfix_broken", 'raise RuntimeError("pcfix broken at import")\n'),
        "llm-pcfix-hookfail": (
            "pcfix_hookfail",
            "import llm\n\n\n@llm.hookimpl\ndef register_models(register):\n"
            '    raise ValueError("pcfix hook failed")\n',
        ),
    },
    "crash": {"llm-pcfix-crash": ("pcfix_crash", "import os\n\nos._exit(3)\n")},
    "late": {"llm-pcfix-late": ("pcfix_late", LATE)},
}


def _write_distribution(root: Path, dist: str, entry: str, source: str) -> Path:
    module = dist.replace("-", "_")
    where = root / dist
    where.mkdir(parents=True)
    (where / f"{module}.py").write_text(textwrap.dedent(source), encoding="utf-8")
    (where / "pyproject.toml").write_text(
        textwrap.dedent(f"""
            [build-system]
            requires = ["setuptools"]
            build-backend = "setuptools.build_meta"

            [project]
            name = "{dist}"
            version = "1.0"

            [project.entry-points.llm]
            {entry} = "{module}"

            [tool.setuptools]
            py-modules = ["{module}"]
        """),
        encoding="utf-8",
    )
    return where


def pip_install(target: Path, sources: list[Path]) -> None:
    """``pip install --target`` (no index, no dependencies): what installs a plugin here."""
    cmd = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation", "--no-index"]
    cmd += ["--disable-pip-version-check", "--target", str(target), *map(str, sources)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=target.parent)
    if proc.returncode != 0:
        pytest.fail(f"pip install failed ({proc.returncode}):\n{proc.stdout}{proc.stderr}", pytrace=False)


@pytest.fixture(scope="session")
def llm_sites(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Site directories, one per group of :data:`PLUGINS`, each holding its llm plugins
    installed by real pip; put one on ``sys.path`` (or ``PYTHONPATH``) to install them."""
    build = tmp_path_factory.mktemp("llm-plugin-sources")
    sites = {}
    for site, dists in PLUGINS.items():
        target = tmp_path_factory.mktemp(f"llm-site-{site}")
        sources = [_write_distribution(build / site, d, entry, src) for d, (entry, src) in dists.items()]
        pip_install(target, sources)
        shutil.rmtree(build / site)
        sites[site] = target
    return sites


@pytest.fixture(autouse=True)
def llm_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private llm user directory (``LLM_USER_PATH``) and cache directory, and none of
    the variables that would reach the user's keys or change what loads."""
    home = tmp_path / "llm-home"
    home.mkdir()
    monkeypatch.setenv("LLM_USER_PATH", str(home))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    # provider-core's cache (the index, the entry-point cache): under this test's XDG_CACHE_HOME
    monkeypatch.setenv("PROVIDER_CORE_CACHE_DIR", str(tmp_path / "cache" / "provider-core"))
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "LLM_LOAD_PLUGINS", "PCFIX_ECHO_KEY", "PROVIDER_CORE_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("PROVIDER_CORE_LLM_BUILD_TIMEOUT", raising=False)
    return home


@pytest.fixture
def use_site(llm_sites: dict[str, Path], monkeypatch: pytest.MonkeyPatch) -> Callable[[str], Path]:
    """``use_site("good")`` installs that site's llm plugins for this test (``sys.path``)."""

    def use(name: str) -> Path:
        monkeypatch.syspath_prepend(str(llm_sites[name]))
        return llm_sites[name]

    return use


@pytest.fixture
def write_keys(llm_home: Path) -> Callable[[dict[str, str]], None]:
    """``write_keys({"openai": "sk-..."})`` writes llm's ``keys.json``."""

    def write(keys: dict[str, str]) -> None:
        data = {"// Note": "This file stores secret API credentials. Do not share!", **keys}
        (llm_home / "keys.json").write_text(json.dumps(data), encoding="utf-8")

    return write


@pytest.fixture
def openai_server() -> Iterator[OpenAIServer]:
    """The OpenAI plugin's loopback server, serving the model ``demo``."""
    with OpenAIServer(models=["demo"]) as server:
        yield server


def loopback_models_yaml(url: str, **extra: Any) -> str:
    """``extra-openai-models.yaml`` with one model ``loop`` (name ``demo``) at ``url``."""
    lines = ["- model_id: loop", "  model_name: demo", f"  api_base: {url}", "  aliases: [lp]"]
    for key, value in {"supports_tools": True, "supports_schema": True, "vision": True, **extra}.items():
        lines.append(f"  {key}: {json.dumps(value)}")
    return "\n".join(lines) + "\n"


@pytest.fixture
def loopback_model(llm_home: Path, openai_server: OpenAIServer) -> Callable[..., OpenAIServer]:
    """``loopback_model(**yaml_fields)`` configures llm's built-in OpenAI model ``loop``
    at the loopback server (``extra-openai-models.yaml``) and returns the server;
    ``url=`` puts it elsewhere (a refused port, say)."""

    def configure(url: str | None = None, **extra: Any) -> OpenAIServer:
        yaml = loopback_models_yaml(url or openai_server.url, **extra)
        (llm_home / "extra-openai-models.yaml").write_text(yaml, "utf-8")
        return openai_server

    return configure


class Replies:
    """OpenAI-protocol replies with what the OpenAI server's own builders leave out:
    usage, tool calls, a stream cut short. Errors carry ``x-should-retry: false`` so the
    OpenAI SDK inside llm reports them at once instead of retrying."""

    NO_RETRY: dict[str, str] = {"x-should-retry": "false"}  # noqa: RUF012

    @staticmethod
    def stream(
        pieces: list[str], *, usage: tuple[int, int] | None = (5, 3), finish: str | None = "stop", done: bool = True
    ) -> Reply:
        events: list[Any] = [{**chat_chunk(), "choices": [{"index": 0, "delta": {"role": "assistant"}}]}]
        events += [chat_chunk(p) for p in pieces]
        if finish:
            events.append(chat_chunk(finish_reason=finish))
        if usage:
            events.append({**chat_chunk(), "choices": [], "usage": _usage(*usage)})
        if done:
            events.append("[DONE]")
        return Reply(200, body=sse(*events).encode("utf-8"), headers={"content-type": "text/event-stream"})

    @staticmethod
    def tool_stream(name: str, fragments: list[str], call_id: str = "call_1") -> Reply:
        first = {"index": 0, "id": call_id, "type": "function", "function": {"name": name, "arguments": ""}}
        events: list[Any] = [_delta({"role": "assistant", "tool_calls": [first]})]
        for fragment in fragments:
            events.append(_delta({"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]}))
        events += [chat_chunk(finish_reason="tool_calls"), {**chat_chunk(), "choices": [], "usage": _usage(7, 2)}]
        events.append("[DONE]")
        return Reply(200, body=sse(*events).encode("utf-8"), headers={"content-type": "text/event-stream"})

    @staticmethod
    def whole(text: str | None, *, tool_calls: list[dict[str, Any]] | None = None, usage=(4, 2)) -> Reply:
        message: dict[str, Any] = {"role": "assistant", "content": text}
        if tool_calls:
            message["tool_calls"] = tool_calls
        finish = "tool_calls" if tool_calls else "stop"
        payload = {
            "id": "chatcmpl-loopback",
            "object": "chat.completion",
            "created": 0,
            "model": "demo",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": _usage(*usage),
        }
        return Reply(200, body=json.dumps(payload), headers={"content-type": "application/json"}, framing="length")

    @classmethod
    def error(cls, status: int, message: str, *, headers: dict[str, str] | None = None) -> Reply:
        body = {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": "pcfix"}}
        return Reply(
            status,
            body=json.dumps(body),
            headers={"content-type": "application/json", **cls.NO_RETRY, **(headers or {})},
            framing="length",
        )


def _usage(prompt: int, completion: int) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def _delta(delta: dict[str, Any]) -> dict[str, Any]:
    return {**chat_chunk(), "choices": [{"index": 0, "delta": delta, "finish_reason": None}]}


@pytest.fixture
def replies() -> type[Replies]:
    """The reply builders (:class:`Replies`)."""
    return Replies


@pytest.fixture
def cli_env(llm_home: Path, tmp_path: Path) -> Callable[..., dict[str, str]]:
    """``cli_env(*sites, **extra)``: the environment for the real CLI in a subprocess: this
    test's llm directory and cache, only the llm bridge loaded, the sites on PYTHONPATH."""
    from support import clean_env

    def env(*sites: Path, **extra: str) -> dict[str, str]:
        return clean_env(
            LLM_USER_PATH=str(llm_home),
            XDG_CACHE_HOME=str(tmp_path / "cache"),
            XDG_CONFIG_HOME=str(tmp_path / "config"),
            PROVIDER_CORE_CACHE_DIR=str(tmp_path / "cache" / "provider-core"),
            PROVIDER_CORE_PLUGINS="llm",
            PYTHONPATH=os.pathsep.join(map(str, sites)),
            **extra,
        )

    return env
