"""Configuration: the TOML file, the zero-config environment, and errors that say where."""

from __future__ import annotations

import itertools
import os
import re
from pathlib import Path

import pytest
from provider_openai.config import DEFAULT_BASE_URL, _valid_name, load_config
from provider_openai.fields import _env_name
from provider_openai.paths import config_path, has_configuration

FULL = """
[openai]
env = true

[openai.endpoints.openrouter]
base_url = "https://openrouter.ai/api/v1/"
api_key_env = "OPENROUTER_API_KEY"
models = { "openai/gpt-4o" = "GPT-4o via OpenRouter", "meta-llama/llama-3.1-8b-instruct" = "Llama 3.1 8B" }
default_model = "openai/gpt-4o"
priority = 5
timeout = [5, 60]
models_timeout = 2.5
models_ttl = 600
headers = { "HTTP-Referer" = "https://example.org", "X-Title" = "demo" }
proxy = "http://127.0.0.1:3128"

[openai.endpoints.ollama]
base_url = "http://127.0.0.1:11434/v1"
working = false
supports_stream = false
timeout = 30

[other-tool]
whatever = 1
"""


def test_every_key_is_read(write_config):
    path = write_config(FULL)
    loaded = load_config({"PROVIDER_CORE_CONFIG": str(path), "OPENROUTER_API_KEY": "sk-or-secret"})
    assert loaded.errors == []
    assert loaded.path == str(path)
    router, ollama = loaded.endpoints
    assert router.name == "openrouter"
    assert router.base_url == "https://openrouter.ai/api/v1"  # trailing slash dropped
    assert router.api_key is not None and router.api_key.get_secret_value() == "sk-or-secret"
    assert router.models == {
        "openai/gpt-4o": "GPT-4o via OpenRouter",
        "meta-llama/llama-3.1-8b-instruct": "Llama 3.1 8B",
    }
    assert (router.default_model, router.priority, router.timeout) == ("openai/gpt-4o", 5, (5.0, 60.0))
    assert (router.models_timeout, router.ttl, router.proxy) == (2.5, 600.0, "http://127.0.0.1:3128")
    assert router.headers == {"HTTP-Referer": "https://example.org", "X-Title": "demo"}
    assert router.source == str(path)
    assert (ollama.working, ollama.supports_stream, ollama.timeout, ollama.models) == (False, False, (30.0, 30.0), None)
    assert ollama.is_loopback and ollama.ttl == 0.0 and router.ttl == 600.0


def test_the_key_never_shows(write_config):
    path = write_config(FULL)
    loaded = load_config({"PROVIDER_CORE_CONFIG": str(path), "OPENROUTER_API_KEY": "sk-or-secret"})
    router = loaded.endpoints[0]
    for text in (repr(router), str(router), repr(loaded), str(router.to_dict()), repr(router.api_key)):
        assert "sk-or-secret" not in text
    assert router.api_key.get_secret_value() == "sk-or-secret"


def test_a_missing_key_variable_is_not_an_error_but_is_known(write_config):
    path = write_config(FULL)
    router = load_config({"PROVIDER_CORE_CONFIG": str(path)}).endpoints[0]
    assert router.api_key is None and router.key_missing


def problems(write_config, text: str, **env: str) -> list[str]:
    path = write_config(text)
    return load_config({"PROVIDER_CORE_CONFIG": str(path), **env}).errors


def test_errors_name_the_file_the_key_and_what_is_wrong(write_config, tmp_path: Path):
    found = problems(
        write_config,
        """
[openai.endpoints.good]
base_url = "http://127.0.0.1:1/v1"

[openai.endpoints.bad]
base_url = "ftp://example.org"
priority = "high"
timeout = -1
tiemout = 3
headers = { "Bad Header" = "x" }
""",
    )
    where = str(tmp_path / "provider-core.toml")
    assert all(p.startswith(f"{where}: openai.endpoints.bad.") for p in found), found
    text = "\n".join(found)
    assert "openai.endpoints.bad.base_url: must be an http:// or https:// URL with a host" in text
    assert "openai.endpoints.bad.priority: must be a whole number, got 'high'" in text
    assert "openai.endpoints.bad.timeout: must be a positive number of seconds or a [connect, read] pair" in text
    assert "openai.endpoints.bad.tiemout: unknown key" in text
    assert "openai.endpoints.bad.headers: 'Bad Header' is not a valid header name" in text


def test_the_good_endpoints_still_load_next_to_a_bad_one(write_config):
    path = write_config('[openai.endpoints.good]\nbase_url = "http://127.0.0.1:1/v1"\n[openai.endpoints.bad]\n')
    loaded = load_config({"PROVIDER_CORE_CONFIG": str(path)})
    assert [e.name for e in loaded.endpoints] == ["good"]
    assert loaded.errors == [f"{path}: openai.endpoints.bad.base_url: is required"]


def test_a_key_in_the_file_is_refused_with_the_way_out(write_config):
    (found,) = problems(write_config, '[openai.endpoints.x]\nbase_url = "http://h/v1"\napi_key = "sk-live"\n')
    assert "openai.endpoints.x.api_key: keys are never stored in the config file" in found
    assert "api_key_env" in found
    assert "sk-live" not in found


def test_toml_syntax_errors_give_the_line(write_config):
    (found,) = problems(write_config, '[openai.endpoints.x]\nbase_url = "http://h/v1"\npriority = = 3\n')
    assert "invalid TOML" in found and "line 3" in found


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[openai.endpoints."has space"]\nbase_url = "http://h/v1"\n', "no spaces"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1"\nmodels = []\n', "models: must not be empty"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1"\nmodels = [1]\n', "models: must be a list of model ids"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1"\nmodels = ["a"]\ndefault_model = "b"\n', "'b' is not one"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1"\napi_key_env = "not a name"\n', "environment variable"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1"\nworking = "yes"\n', "x.working: must be true or false"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1"\npriority = true\n', "x.priority: must be a whole number"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1"\nmodels_timeout = 0\n', "x.models_timeout: must be"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1"\nproxy = ""\n', "x.proxy: must be a non-empty string"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1?key=1"\n', "query string"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1"\nmodels_ttl = -5\n', "models_ttl: must be"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1"\ntimeout = [1, 2, 3]\n', "timeout: must be"),
        ('[openai.endpoints.x]\nbase_url = "http://h/v1"\nname = "y"\n', "x.name: unknown key"),
        ("[openai]\nendpoint = 1\n", "openai.endpoint: unknown key"),
        ("[openai]\nenv = 1\n", "openai.env: must be true or false"),
        ("openai = 3\n", "openai: must be a table"),
        ("[openai]\nendpoints = 3\n", "openai.endpoints: must be a table"),
        ("[openai.endpoints]\nx = 3\n", "openai.endpoints.x: must be a table"),
        (
            '[openai.endpoints.Local]\nbase_url = "http://h/v1"\n[openai.endpoints.local]\nbase_url = "http://h/v1"\n',
            "same name as 'Local'",
        ),
    ],
)
def test_each_mistake_is_explained(write_config, text: str, expected: str):
    found = problems(write_config, text)
    assert len(found) == 1 and expected in found[0], found


def test_a_config_file_named_but_missing_is_an_error(tmp_path: Path):
    missing = tmp_path / "nope.toml"
    loaded = load_config({"PROVIDER_CORE_CONFIG": str(missing)})
    assert loaded.errors == [f"{missing}: file not found (named by PROVIDER_CORE_CONFIG)"]


def test_the_default_location_follows_the_platform_dirs(isolated_env: Path):
    assert Path(config_path({})) == isolated_env / "config" / "provider-core" / "config.toml"
    assert not has_configuration({})
    assert load_config({}).endpoints == [] and load_config({}).errors == []
    Path(config_path({})).parent.mkdir(parents=True)
    Path(config_path({})).write_text('[openai.endpoints.home]\nbase_url = "http://127.0.0.1:9/v1"\n')
    assert has_configuration({})
    assert [e.name for e in load_config({}).endpoints] == ["home"]


# -- zero-config -------------------------------------------------------------------------


def test_zero_config_needs_a_key_or_a_base_url():
    assert load_config({}).endpoints == []
    (only_key,) = load_config({"OPENAI_API_KEY": "sk-test"}).endpoints
    assert (only_key.name, only_key.base_url, only_key.api_key_env) == ("openai", DEFAULT_BASE_URL, "OPENAI_API_KEY")
    assert only_key.api_key.get_secret_value() == "sk-test"
    (only_base,) = load_config({"OPENAI_BASE_URL": "http://127.0.0.1:8080/v1/"}).endpoints
    assert (only_base.base_url, only_base.api_key, only_base.source) == (
        "http://127.0.0.1:8080/v1",
        None,
        "environment",
    )
    assert load_config({"OPENAI_API_KEY": "", "OPENAI_BASE_URL": ""}).endpoints == []


def test_a_bad_base_url_in_the_environment_is_reported():
    loaded = load_config({"OPENAI_BASE_URL": "localhost:11434"})
    assert loaded.endpoints == []
    assert loaded.errors == [
        "environment: OPENAI_BASE_URL: must be an http:// or https:// URL with a host, got 'localhost:11434'"
    ]


def test_the_file_can_own_the_name_openai_or_turn_the_environment_off(write_config):
    path = write_config('[openai.endpoints.openai]\nbase_url = "http://127.0.0.1:1/v1"\n')
    env = {"PROVIDER_CORE_CONFIG": str(path), "OPENAI_BASE_URL": "http://127.0.0.1:2/v1"}
    assert [e.base_url for e in load_config(env).endpoints] == ["http://127.0.0.1:1/v1"]
    path = write_config("[openai]\nenv = false\n")
    assert load_config({**env, "PROVIDER_CORE_CONFIG": str(path)}).endpoints == []


def test_the_environment_default_is_os_environ(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:3/v1")
    assert [e.base_url for e in load_config().endpoints] == ["http://127.0.0.1:3/v1"]
    assert os.environ["OPENAI_BASE_URL"] == "http://127.0.0.1:3/v1"


def test_an_endpoint_is_immutable_and_checked_when_built_in_code():
    from provider_openai.config import ConfigError, EndpointConfig

    endpoint = EndpointConfig(name="e", base_url="http://127.0.0.1:1/v1/", source="test")
    assert (endpoint.base_url, endpoint.priority, endpoint.headers, endpoint.timeout) == (
        "http://127.0.0.1:1/v1",
        0,
        {},
        None,
    )
    with pytest.raises(AttributeError):
        endpoint.priority = 3
    with pytest.raises(ConfigError) as info:
        EndpointConfig(name="e", base_url="nope", priority=1.5, colour="red")
    assert sorted(key for key, _ in info.value.problems) == ["base_url", "colour", "priority"]


def test_user_and_password_in_a_base_url_are_not_displayed(write_config):
    path = write_config('[openai.endpoints.x]\nbase_url = "https://user:pw@gw.example/v1"\n')
    (endpoint,) = load_config({"PROVIDER_CORE_CONFIG": str(path)}).endpoints
    assert endpoint.display_url == "https://gw.example/v1"


def test_endpoint_and_variable_names_follow_their_patterns():
    """The names are checked with character sets (no regex compiled at every start); the
    patterns they stand for, checked over every string of up to three characters drawn
    from each class and its edges, and at the length limit."""
    name = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
    env = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
    alphabet = "aZ09_.-é $\n"
    for n in range(4):
        for chars in itertools.product(alphabet, repeat=n):
            text = "".join(chars)
            assert _valid_name(text) == bool(name.fullmatch(text)), text
            assert _env_name(text) == bool(env.fullmatch(text)), text
    for length in (63, 64, 65):
        assert _valid_name("a" * length) == bool(name.fullmatch("a" * length))
