"""What the loopback Gemini server checks in a ``generateContent`` request body.

:func:`check_request` returns what is wrong (the server answers it as Google does, HTTP 400
``INVALID_ARGUMENT``) or ``None``. It checks the shapes the API insists on and that
clients get wrong: roles, one data field per part, function responses whose ``response``
is an object, one schema field at a time, known field names. It is no replacement for the
real API's validation; it keeps the tests honest about the shapes they send.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["check_request"]

_TOP = {"contents", "systemInstruction", "generationConfig", "tools", "toolConfig", "safetySettings", "model"}
_TOP |= {"cachedContent", "labels", "serviceTier", "store"}
_DATA = ("text", "inlineData", "fileData", "functionCall", "functionResponse", "executableCode", "codeExecutionResult")
_PART_EXTRA = {"thought", "thoughtSignature", "videoMetadata", "mediaResolution", "partMetadata"}
_CONFIG = {"maxOutputTokens", "temperature", "topP", "topK", "stopSequences", "seed", "candidateCount"}
_CONFIG |= {"responseMimeType", "responseSchema", "responseJsonSchema", "presencePenalty", "frequencyPenalty"}
_CONFIG |= {"responseLogprobs", "logprobs", "thinkingConfig", "responseModalities", "mediaResolution", "speechConfig"}
_MODES = {"AUTO", "ANY", "NONE", "VALIDATED"}


def _part(part: Any, where: str) -> str | None:
    if not isinstance(part, Mapping):
        return f"{where}: a part must be an object"
    data = [key for key in _DATA if key in part]
    unknown = set(part) - set(_DATA) - _PART_EXTRA
    if unknown:
        return f'{where}: Unknown name "{sorted(unknown)[0]}": Cannot find field.'
    if len(data) != 1:
        return f"{where}: a part must have exactly one data field, got {data or 'none'}"
    if "text" in part and not isinstance(part["text"], str):
        return f"{where}.text: must be a string"
    if "inlineData" in part:
        blob = part["inlineData"]
        if not isinstance(blob, Mapping) or not isinstance(blob.get("mimeType"), str) or "data" not in blob:
            return f"{where}.inlineData: needs mimeType and data"
    if "fileData" in part:
        ref = part["fileData"]
        if not isinstance(ref, Mapping) or not isinstance(ref.get("fileUri"), str):
            return f"{where}.fileData: needs fileUri"
    if "functionCall" in part:
        call = part["functionCall"]
        if not isinstance(call, Mapping) or not isinstance(call.get("name"), str):
            return f"{where}.functionCall: needs a name"
        if "args" in call and not isinstance(call["args"], Mapping):
            return f"{where}.functionCall.args: must be an object"
    if "functionResponse" in part:
        result = part["functionResponse"]
        if not isinstance(result, Mapping) or not isinstance(result.get("name"), str):
            return f"{where}.functionResponse: needs a name"
        if not isinstance(result.get("response"), Mapping):
            return f"{where}.functionResponse.response: must be an object (a Struct)"
    return None


def _contents(contents: Any) -> str | None:
    if not isinstance(contents, list) or not contents:
        return "contents is not specified"
    for i, content in enumerate(contents):
        where = f"contents[{i}]"
        if not isinstance(content, Mapping):
            return f"{where}: must be an object"
        if content.get("role", "user") not in ("user", "model"):
            return f"{where}.role: Please use a valid role: user, model."
        parts = content.get("parts")
        if not isinstance(parts, list) or not parts:
            return f"{where}.parts: must not be empty"
        for j, part in enumerate(parts):
            problem = _part(part, f"{where}.parts[{j}]")
            if problem:
                return problem
    return None


def _config(config: Any) -> str | None:
    if not isinstance(config, Mapping):
        return "generationConfig: must be an object"
    unknown = set(config) - _CONFIG
    if unknown:
        return f'generationConfig: Unknown name "{sorted(unknown)[0]}": Cannot find field.'
    if "responseSchema" in config and "responseJsonSchema" in config:
        return "generationConfig: responseSchema and responseJsonSchema cannot both be set"
    if ("responseSchema" in config or "responseJsonSchema" in config) and "responseMimeType" not in config:
        return "generationConfig: a response schema needs a responseMimeType"
    stops = config.get("stopSequences", [])
    if not isinstance(stops, list) or not all(isinstance(s, str) for s in stops):
        return "generationConfig.stopSequences: must be a list of strings"
    return None


def _tools(tools: Any, tool_config: Any) -> str | None:
    for k, tool in enumerate(tools if isinstance(tools, list) else [None]):
        declarations = tool.get("functionDeclarations", []) if isinstance(tool, Mapping) else None
        if not isinstance(declarations, list):
            return f"tools[{k}]: must be an object with a functionDeclarations list"
        for d in declarations:
            if not isinstance(d, Mapping) or not isinstance(d.get("name"), str):
                return f"tools[{k}].functionDeclarations: each needs a name"
            if "parameters" in d and "parametersJsonSchema" in d:
                return f"tools[{k}]: parameters and parametersJsonSchema cannot both be set"
    if tool_config is not None:
        calling = tool_config.get("functionCallingConfig", {}) if isinstance(tool_config, Mapping) else None
        if not isinstance(calling, Mapping) or calling.get("mode", "AUTO") not in _MODES:
            return "toolConfig.functionCallingConfig.mode: must be AUTO, ANY, NONE or VALIDATED"
    return None


def check_request(body: Any) -> str | None:
    """What is wrong with a ``generateContent`` request body, or ``None``."""
    if not isinstance(body, Mapping):
        return "Invalid JSON payload received."
    unknown = set(body) - _TOP
    if unknown:
        return f'Invalid JSON payload received. Unknown name "{sorted(unknown)[0]}": Cannot find field.'
    problem = _contents(body.get("contents"))
    if problem is None and "systemInstruction" in body:
        system = body["systemInstruction"]
        parts = system.get("parts") if isinstance(system, Mapping) else None
        if not isinstance(parts, list) or not all(isinstance(p, Mapping) and "text" in p for p in parts):
            problem = "systemInstruction: only text parts are allowed"
    if problem is None and "generationConfig" in body:
        problem = _config(body["generationConfig"])
    if problem is None and ("tools" in body or "toolConfig" in body):
        problem = _tools(body.get("tools", []), body.get("toolConfig"))
    return problem
