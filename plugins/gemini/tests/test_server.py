"""The loopback server itself: routes, key forms, its request checks, and the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import requests
from provider_gemini.server import GeminiServer

BODY = {"contents": [{"role": "user", "parts": [{"text": "hello there"}]}]}
GENERATE = "/v1beta/models/gemini-3.8-flash:generateContent"


@pytest.fixture
def server():
    with GeminiServer(api_key=None) as server:
        yield server


def post(server, path=GENERATE, body=BODY, **kw):
    return requests.post(server.url + path, json=body, timeout=10, **kw)


@pytest.mark.parametrize(
    ("how", "kw"),
    [
        ("header", {"headers": {"x-goog-api-key": "k-1"}}),
        ("query", {"params": {"key": "k-1"}}),
        ("bearer", {"headers": {"authorization": "Bearer k-1"}}),
    ],
)
def test_any_key_in_any_form(server, how, kw):
    reply = post(server, **kw)
    assert reply.status_code == 200, how
    assert reply.json()["candidates"][0]["content"]["parts"] == [{"text": "hello there"}]


def test_no_key_is_refused_as_google_does(server):
    reply = post(server)
    assert reply.status_code == 403
    assert reply.json()["error"]["status"] == "PERMISSION_DENIED"


def test_a_required_key():
    with GeminiServer(api_key="right-1") as strict:
        reply = post(strict, headers={"x-goog-api-key": "wrong-1"})
        assert reply.status_code == 400
        assert reply.json()["error"]["details"][0]["reason"] == "API_KEY_INVALID"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"contents": []}, "contents"),
        ({"contents": [{"role": "assistant", "parts": [{"text": "x"}]}]}, "role"),
        ({"contents": [{"role": "user", "parts": [{"text": "x", "inlineData": {}}]}]}, "exactly one"),
        (
            {"contents": [{"role": "user", "parts": [{"functionResponse": {"name": "f", "response": "text"}}]}]},
            "object",
        ),
        ({**BODY, "generationConfig": {"maxTokens": 3}}, "Unknown name"),
        ({**BODY, "generationConfig": {"responseJsonSchema": {}}}, "responseMimeType"),
        ({**BODY, "prompt": "x"}, "Unknown name"),
        ({**BODY, "toolConfig": {"functionCallingConfig": {"mode": "REQUIRED"}}}, "mode"),
    ],
)
def test_bodies_the_api_would_refuse(server, body, words):
    reply = post(server, body=body, headers={"x-goog-api-key": "k-1"})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["status"] == "INVALID_ARGUMENT" and words in error["message"]


def test_routes(server):
    key = {"x-goog-api-key": "k-1"}
    assert post(server, "/v1/models/gemini-3.8-flash:generateContent", headers=key).status_code == 200
    assert post(server, "/v1beta/models/no-such-model:generateContent", headers=key).status_code == 404
    assert post(server, "/v2/models/gemini-3.8-flash:generateContent", headers=key).status_code == 404
    listing = requests.get(server.url + "/v1beta/models", params={"pageSize": 2}, headers=key, timeout=10).json()
    assert len(listing["models"]) == 2 and listing["nextPageToken"] == "2"
    model = requests.get(server.url + "/v1beta/models/gemini-3.8-flash", headers=key, timeout=10).json()
    assert model["name"] == "models/gemini-3.8-flash"
    # without alt=sse the API streams one JSON array
    frames = post(server, "/v1beta/models/gemini-3.8-flash:streamGenerateContent", headers=key).json()
    assert [f["candidates"][0]["content"]["parts"] for f in frames[:2]] == [[{"text": "hello "}], [{"text": "there"}]]
    assert frames[-1]["candidates"][0]["finishReason"] == "STOP"
    assert [r.method for r in server.requests].count("GET") == 2 and len(server.generations) == 4


def test_the_command_line_serves_until_stopped():
    process = subprocess.Popen(
        [sys.executable, "-m", "provider_gemini.server", "--port", "0", "--model", "demo-1"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = process.stdout.readline()
        assert line.startswith("serving 1 model(s) at http://127.0.0.1:"), line
        url = line.split(" at ", 1)[1].split()[0]
        reply = requests.post(
            url + "/v1beta/models/demo-1:generateContent", json=BODY, headers={"x-goog-api-key": "k"}, timeout=10
        )
        assert json.loads(reply.text)["candidates"][0]["content"]["parts"] == [{"text": "echo: hello there"}]
    finally:
        process.terminate()
        process.wait(timeout=10)
        process.stdout.close()
