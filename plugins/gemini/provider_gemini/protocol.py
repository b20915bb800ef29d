"""The request side of the Gemini API wire format: OpenAI-shaped messages and keywords in,
the JSON body of ``generateContent`` / ``streamGenerateContent`` out.

Pure functions over JSON values; no I/O. The reply side is :mod:`provider_gemini.replies`,
error bodies :mod:`provider_gemini.wire_errors`. The input arrives checked by the core
(:func:`provider_core.messages.validate_messages` and
:func:`provider_core.options.validate_options`: OpenAI's shapes, checked once), so shapes
are not checked again here. What only Gemini refuses is refused with
:class:`~provider_core.errors.InvalidMessages` naming the message and field, before
anything is sent: an image URL Gemini cannot take, tool-call arguments that are not a
JSON object, a tool result answering no earlier call. The mapping, in short:

* ``system`` messages -> ``systemInstruction`` (their text joined in order, one blank line
  between messages); ``user`` -> ``user``; ``assistant`` -> ``model``; ``tool`` ->
  a ``functionResponse`` part in a ``user`` turn (named after the function of the call
  it answers; a ``tool`` message without ``tool_call_id``, as version 1 sent them, becomes
  its text in a ``user`` turn); consecutive turns of one role merge;
* text parts -> ``{"text"}``; ``data:`` image URLs -> ``inlineData``; ``https`` image URLs
  -> ``fileData`` (the API fetches public and signed URLs) with the MIME type read from the
  URL's file extension; ``detail`` and message ``name`` have no Gemini counterpart (dropped);
* assistant ``tool_calls`` -> ``functionCall`` parts; the first call of each model turn
  carries its thought signature (remembered by the caller) or Google's documented
  placeholder :data:`SKIP_SIGNATURE`, which Gemini 3 requires on replayed calls;
* ``max_tokens``, ``temperature``, ``top_p``, ``stop``, ``seed``, ``response_format`` ->
  ``generationConfig``; ``tools`` -> ``functionDeclarations`` with the caller's JSON
  Schema as ``parametersJsonSchema``; ``tool_choice`` -> ``toolConfig``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Iterable, Mapping
from typing import Any, NoReturn
from urllib.parse import unquote_to_bytes, urlsplit

from provider_core.errors import InvalidMessages

__all__ = [
    "JSON_MIME",
    "SKIP_SIGNATURE",
    "URL_IMAGE_TYPES",
    "build_body",
    "function_declarations",
    "generation_config",
    "image_part",
    "tool_config",
    "translate_messages",
]

#: Google's documented value for a replayed function call whose thought signature is
#: unknown (a history from another provider, or from before this process started).
SKIP_SIGNATURE = "skip_thought_signature_validator"
JSON_MIME = "application/json"
#: File extension -> MIME type for image URLs (the image types the API fetches from URLs).
URL_IMAGE_TYPES = {
    ".bmp": "image/bmp",
    ".jpeg": "image/jpeg",
    ".jpg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
_TOOL_CHOICES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}
_CONFIG_FIELDS = (
    ("max_tokens", "maxOutputTokens"),
    ("temperature", "temperature"),
    ("top_p", "topP"),
    ("seed", "seed"),
)
#: ``signature_for(call_id)``: the thought signature Gemini sent with that call, if known.
SignatureLookup = Callable[[str], "str | None"]


def _bad(location: str, reason: str) -> NoReturn:
    raise InvalidMessages([(location, reason)])


def build_body(
    messages: list[Any], options: Mapping[str, Any], signature_for: SignatureLookup | None = None
) -> dict[str, Any]:
    """The request body for checked ``messages`` and the caller's keywords ``options``
    (keywords this module does not know are ignored; a value of ``None`` counts as absent)."""
    system, contents = translate_messages(messages, signature_for)
    body: dict[str, Any] = {"contents": contents}
    if system is not None:
        body["systemInstruction"] = {"parts": [{"text": system}]}
    config = generation_config(options)
    if config:
        body["generationConfig"] = config
    if options.get("tools") is not None:
        body["tools"] = function_declarations(options["tools"])
    if options.get("tool_choice") is not None:
        body["toolConfig"] = tool_config(options["tool_choice"])
    return body


def translate_messages(
    messages: list[Any], signature_for: SignatureLookup | None = None
) -> tuple[str | None, list[dict[str, Any]]]:
    """``(system instruction text or None, contents)`` for checked OpenAI-shaped ``messages``."""
    system: list[str] = []
    contents: list[dict[str, Any]] = []
    calls: dict[str, str] = {}  # tool_call_id -> function name, from earlier assistant turns
    for i, message in enumerate(messages):
        role = message["role"]
        content = message.get("content")
        if role == "system":
            system.append(_joined(content))
        elif role == "user":
            _append(contents, "user", _content_parts(content, i) or [{"text": ""}])
        elif role == "assistant":
            parts = [] if content is None else _content_parts(content, i)
            parts += _call_parts(message.get("tool_calls") or (), i, calls, signature_for)
            _append(contents, "model", parts or [{"text": ""}])
        else:  # tool
            _append(contents, "user", [_response_part(message, i, calls)])
    for turn in contents:
        if turn["role"] == "model":
            _sign_first_call(turn["parts"])
    return ("\n\n".join(system) if system else None), contents


def _append(contents: list[dict[str, Any]], role: str, parts: list[dict[str, Any]]) -> None:
    """Add a turn, merged into the previous one when it has the same role."""
    if contents and contents[-1]["role"] == role:
        contents[-1]["parts"].extend(parts)
    else:
        contents.append({"role": role, "parts": parts})


def _joined(content: str | list[dict[str, Any]]) -> str:
    """The text of a system or tool content: a ``str``, or text parts (joined)."""
    return content if isinstance(content, str) else "".join(part["text"] for part in content)


def _content_parts(content: str | list[dict[str, Any]], i: int) -> list[dict[str, Any]]:
    """Gemini parts for a user or assistant content; empty text parts are dropped."""
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts = []
    for j, part in enumerate(content):
        if part["type"] == "text":
            if part["text"]:
                parts.append({"text": part["text"]})
        else:
            parts.append(image_part(part["image_url"]["url"], f"messages[{i}].content[{j}].image_url.url"))
    return parts


def image_part(url: str, where: str = "image_url.url") -> dict[str, Any]:
    """The part for an image URL: ``inlineData`` for a ``data:`` URL, ``fileData`` for an
    ``https`` URL whose file extension names an image type (:data:`URL_IMAGE_TYPES`).
    Anything else is refused, saying why (``where`` names the field)."""
    if url[:5].lower() == "data:":
        return {"inlineData": _data_url(url, where)}
    parts = urlsplit(url)
    if parts.scheme.lower() == "https" and parts.netloc:
        path = parts.path.lower()
        ext = path[path.rfind(".") :] if "." in path.rsplit("/", 1)[-1] else ""
        mime = URL_IMAGE_TYPES.get(ext)
        if mime is None:
            kinds = ", ".join(sorted(URL_IMAGE_TYPES))
            _bad(where, f"Gemini needs the image type of a URL: use one ending in {kinds}, or a data: URL")
        return {"fileData": {"mimeType": mime, "fileUri": url}}
    _bad(where, "must be a data: URL or an https:// URL (Gemini fetches public and signed https URLs only)")


def _data_url(url: str, where: str) -> dict[str, str]:
    header, comma, data = url[5:].partition(",")
    if not comma:
        _bad(where, "is not a valid data: URL (no comma)")
    params = header.split(";")
    mime = params[0].strip().lower()
    if "/" not in mime:
        _bad(where, "the data: URL must name a MIME type, e.g. data:image/png;base64,...")
    if "base64" in (p.strip().lower() for p in params[1:]):
        return {"mimeType": mime, "data": "".join(data.split())}
    return {"mimeType": mime, "data": base64.b64encode(unquote_to_bytes(data)).decode("ascii")}


def _call_parts(
    tool_calls: Iterable[dict[str, Any]], i: int, calls: dict[str, str], signature_for: SignatureLookup | None
) -> list[dict[str, Any]]:
    parts = []
    for j, call in enumerate(tool_calls):
        function, call_id = call["function"], call["id"]
        calls[call_id] = function["name"]
        args = _arguments(function["arguments"], f"messages[{i}].tool_calls[{j}].function.arguments")
        part: dict[str, Any] = {"functionCall": {"name": function["name"], "args": args}}
        signature = signature_for(call_id) if signature_for is not None else None
        if signature:
            part["thoughtSignature"] = signature
        parts.append(part)
    return parts


def _arguments(raw: str, where: str) -> dict[str, Any]:
    """A call's arguments (a JSON string) as the object Gemini wants; empty means none."""
    if not raw.strip():
        return {}
    try:
        value = json.loads(raw)
    except ValueError as exc:
        _bad(where, f"is not valid JSON: {exc}")
    if not isinstance(value, dict):
        _bad(where, f"must be a JSON object for Gemini, got a JSON {type(value).__name__}")
    return value


def _sign_first_call(parts: list[dict[str, Any]]) -> None:
    """Gemini 3 wants a thought signature on the first function call of a model turn."""
    for part in parts:
        if "functionCall" in part:
            part.setdefault("thoughtSignature", SKIP_SIGNATURE)
            return


def _response_part(message: Mapping[str, Any], i: int, calls: Mapping[str, str]) -> dict[str, Any]:
    """A tool result as a ``functionResponse`` part: ``name`` is the function of the call it
    answers; ``response`` is the result when it is a JSON object, else ``{"content": text}``.
    A result without ``tool_call_id`` (version 1's shape) is sent as its text."""
    text = _joined(message["content"])
    if "tool_call_id" not in message:
        return {"text": text}
    call_id = message["tool_call_id"]
    name = calls.get(call_id)
    if name is None:
        _bad(
            f"messages[{i}].tool_call_id",
            f"{call_id!r} matches no tool call of an earlier assistant message "
            "(Gemini needs the name of the function it answers)",
        )
    try:
        value = json.loads(text)
    except ValueError:
        value = None
    return {"functionResponse": {"name": name, "response": value if isinstance(value, dict) else {"content": text}}}


def generation_config(options: Mapping[str, Any]) -> dict[str, Any]:
    """``generationConfig`` from ``max_tokens``, ``temperature``, ``top_p``, ``stop`` (a
    string becomes a one-item list), ``seed`` and ``response_format``."""
    config: dict[str, Any] = {}
    for key, field in _CONFIG_FIELDS:
        value = options.get(key)
        if value is not None:
            config[field] = value
    stop = options.get("stop")
    if stop is not None:
        config["stopSequences"] = [stop] if isinstance(stop, str) else list(stop)
    response_format = options.get("response_format")
    if response_format is not None and response_format["type"] != "text":
        config["responseMimeType"] = JSON_MIME
        schema = response_format.get("json_schema", {}).get("schema")
        if schema is not None:
            config["responseJsonSchema"] = schema
    return config


def function_declarations(tools: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``tools`` as one Gemini tool holding a ``functionDeclarations`` list. The
    parameters schema goes out unchanged as ``parametersJsonSchema`` (JSON Schema), not
    as ``parameters`` (Google's OpenAPI-subset ``Schema``), so no keyword is lost."""
    declarations = []
    for tool in tools:
        function = tool["function"]
        declaration: dict[str, Any] = {"name": function["name"]}
        if function.get("description") is not None:
            declaration["description"] = function["description"]
        if function.get("parameters") is not None:
            declaration["parametersJsonSchema"] = function["parameters"]
        declarations.append(declaration)
    return [{"functionDeclarations": declarations}]


def tool_config(choice: str | dict[str, Any]) -> dict[str, Any]:
    """``toolConfig.functionCallingConfig`` for an OpenAI ``tool_choice``: ``auto`` ->
    ``AUTO``, ``none`` -> ``NONE``, ``required`` -> ``ANY``, a named function -> ``ANY``
    restricted to it with ``allowedFunctionNames``."""
    if isinstance(choice, str):
        return {"functionCallingConfig": {"mode": _TOOL_CHOICES[choice]}}
    return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [choice["function"]["name"]]}}
