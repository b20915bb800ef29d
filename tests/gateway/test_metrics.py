"""``GET /metrics`` in one process: every figure the issue names, bounded labels, no key in
any label, the key asked when keys are set, nothing when metrics are off, and nothing of
prometheus-client or opentelemetry imported by a gateway that has neither turned on."""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import httpx
import openai
import pytest
from support import wait_for

from provider_core.gateway.config import GatewayConfig

pytest.importorskip("prometheus_client", reason="the metrics extra: pip install 'provider-core[metrics]'")

KEY = "sk-metrics-0123456789abcdef"


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def value(found: dict, name: str, **labels: str) -> float:
    return found.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.fixture(scope="module")
def served(helpers):
    config = GatewayConfig(api_keys=(KEY,), metrics=True, rate_limit_tpm=10**9)
    with helpers.running(helpers.make_registry(helpers.FailFirst, helpers.Catches), config) as gw:
        yield gw


def scrape(gw: Any) -> str:
    with httpx.Client(timeout=30) as http:
        response = http.get(gw.url + "/metrics", headers={"authorization": f"Bearer {KEY}"})
    assert response.status_code == 200 and response.headers["content-type"].startswith("text/plain")
    return response.text


@pytest.mark.filterwarnings("ignore::provider_core.errors.FallbackWarning")
def test_every_figure_is_there_with_bounded_labels(served, helpers):
    with helpers.openai_client(served, api_key=KEY) as client:
        hi = [{"role": "user", "content": "hello metrics"}]
        client.chat.completions.create(model="echo-1", messages=hi)
        assert (
            "".join(
                c.choices[0].delta.content or ""
                for c in client.chat.completions.create(model="echo-1", messages=hi, stream=True)
            )
            == "hello metrics"
        )
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="limited-1", messages=hi)
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="no-such-model-\u2603", messages=hi)
        assert client.chat.completions.create(model="fb-1", messages=hi).choices[0].message.content == "caught reply"
        with pytest.raises(openai.APIError):
            for _ in client.chat.completions.create(model="broken-1", messages=hi, stream=True):
                pass
    chat = "/v1/chat/completions"

    def settled() -> bool:  # each request is counted when its response is over
        found = samples(scrape(served))
        return (
            sum(
                v
                for (n, labels), v in found.items()
                if n == "provider_core_requests_total" and (("endpoint", chat) in labels)
            )
            == 6
        )

    assert wait_for(settled)
    text = scrape(served)
    found = samples(text)
    assert (
        value(found, "provider_core_requests_total", endpoint=chat, status="200", provider="Echo", model="echo-1") == 2
    )
    assert (
        value(found, "provider_core_requests_total", endpoint=chat, status="429", provider="", model="limited-1") == 1
    )
    assert value(found, "provider_core_requests_total", endpoint=chat, status="404", provider="", model="unknown") == 1
    assert "no-such-model" not in text  # a client cannot make up label values
    assert (
        value(found, "provider_core_requests_total", endpoint=chat, status="200", provider="Catches", model="fb-1") == 1
    )
    assert value(found, "provider_core_errors_total", kind="rate_limited") == 1
    assert value(found, "provider_core_errors_total", kind="model_not_found") == 1
    assert value(found, "provider_core_errors_total", kind="stream_interrupted") == 1
    assert value(found, "provider_core_fallbacks_total", provider="FailFirst", model="fb-1") == 1
    assert value(found, "provider_core_time_to_first_token_seconds_count", provider="Echo", model="echo-1") == 1
    assert (
        value(found, "provider_core_request_duration_seconds_count", endpoint=chat, provider="Echo", model="echo-1")
        == 2
    )
    assert value(found, "provider_core_tokens_total", provider="Echo", model="echo-1", type="input") == 2 * 4
    assert value(found, "provider_core_tokens_total", provider="Echo", model="echo-1", type="output") == 2 * 4
    assert value(found, "provider_core_requests_in_flight") == 1  # the scrape itself
    assert value(found, "provider_core_circuit_state", provider="echo", model="") == 0
    assert KEY not in text


def test_metrics_need_the_key_when_keys_are_set(served):
    with httpx.Client(timeout=30) as http:
        assert http.get(served.url + "/metrics").status_code == 401


def test_rate_limited_requests_are_counted_by_key_id(helpers):
    from provider_core.gateway.keys import key_id

    config = GatewayConfig(api_keys=(KEY,), metrics=True, rate_limit_rpm=1)
    with helpers.running(config=config) as gw, helpers.openai_client(gw, api_key=KEY) as client:
        hi = [{"role": "user", "content": "x"}]
        client.chat.completions.create(model="echo-1", messages=hi)
        with pytest.raises(openai.RateLimitError):
            client.chat.completions.create(model="echo-1", messages=hi)
        assert wait_for(
            lambda: (
                value(samples(scrape(gw)), "provider_core_rate_limited_total", key=key_id(KEY), limit="requests") == 1
            )
        )
        assert value(samples(scrape(gw)), "provider_core_errors_total", kind="rate_limit_exceeded") == 1


def test_metrics_off_is_a_404_and_imports_nothing(helpers):
    with helpers.running() as gw, httpx.Client(timeout=30) as http:
        assert http.get(gw.url + "/metrics").status_code == 404
    code = (
        "import sys; from provider_core.gateway.app import create_app; from provider_core.registry import Registry; "
        "create_app(Registry(load_entry_points=False)); "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('prometheus_client', 'opentelemetry', 'redis')))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env={"PATH": ""})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"
