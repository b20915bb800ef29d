"""The request options the core knows, checked once, and what a request needs of a provider.

The options of :func:`provider_core.create_completion` with a meaning for every provider:
``tools``, ``tool_choice``, ``response_format``, ``max_tokens``, ``temperature``,
``top_p``, ``stop`` and ``seed`` (OpenAI's shapes). :func:`validate_options` checks the
ones given (others are a provider's own, passed on untouched) and raises
:class:`~provider_core.errors.InvalidMessages` naming the option and the field.
:func:`needs` says which capability flags a request needs: routing skips a provider
without them.

pydantic is imported at the first request that carries tools or a response format; the
numbers are checked without it.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any, ClassVar

from .errors import InvalidMessages
from .records import Record

__all__ = ["KNOWN_OPTIONS", "LACKS", "NOTHING", "Needs", "needs", "validate_options"]

#: The options with a meaning for every provider (the others belong to a provider).
KNOWN_OPTIONS = frozenset(
    {"tools", "tool_choice", "response_format", "max_tokens", "temperature", "top_p", "stop", "seed"}
)
_TOOL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
_adapters: dict[str, Any] = {}
_lock = threading.Lock()


def _build() -> dict[str, Any]:
    from typing import Annotated, Literal, Union

    from pydantic import ConfigDict, Field, StrictBool, StrictStr, TypeAdapter
    from typing_extensions import NotRequired, TypedDict

    forbid = ConfigDict(extra="forbid")

    class FunctionSpec(TypedDict):
        __pydantic_config__ = forbid  # type: ignore[misc]

        name: StrictStr
        description: NotRequired[StrictStr | None]  # null: as clients such as llm send it
        parameters: NotRequired[dict[str, Any] | None]
        strict: NotRequired[StrictBool | None]

    class Tool(TypedDict):
        __pydantic_config__ = forbid  # type: ignore[misc]

        type: Literal["function"]
        function: FunctionSpec

    class Named(TypedDict):
        __pydantic_config__ = forbid  # type: ignore[misc]

        name: StrictStr

    class NamedChoice(TypedDict):
        __pydantic_config__ = forbid  # type: ignore[misc]

        type: Literal["function"]
        function: Named

    class JsonSchema(TypedDict):
        __pydantic_config__ = forbid  # type: ignore[misc]

        name: StrictStr
        description: NotRequired[StrictStr]
        schema: NotRequired[dict[str, Any]]
        strict: NotRequired[StrictBool | None]

    class TextFormat(TypedDict):
        __pydantic_config__ = forbid  # type: ignore[misc]

        type: Literal["text", "json_object"]

    class SchemaFormat(TypedDict):
        __pydantic_config__ = forbid  # type: ignore[misc]

        type: Literal["json_schema"]
        json_schema: JsonSchema

    return {
        "tools": TypeAdapter(Annotated[list[Tool], Field(min_length=1)]),
        "tool_choice": TypeAdapter(Union[Literal["auto", "none", "required"], NamedChoice]),  # noqa: UP007
        "response_format": TypeAdapter(
            Annotated[Union[TextFormat, SchemaFormat], Field(discriminator="type")]  # noqa: UP007
        ),
    }


def _adapter(name: str) -> Any:
    if not _adapters:
        with _lock:
            if not _adapters:
                _adapters.update(_build())
    return _adapters[name]


def _structured(name: str, value: Any, errors: list[tuple[str, str]]) -> None:
    from pydantic import ValidationError

    try:
        _adapter(name).validate_python(value)
    except ValidationError as exc:
        for err in exc.errors(include_url=False, include_input=False)[:3]:
            loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in err["loc"])
            errors.append((f"{name}{loc}", err["msg"]))


_INFINITY = float("inf")


def _number(value: Any) -> bool:
    """A finite int or float, not a bool. Compared, not ``math.isfinite``: that raises
    ``OverflowError`` for an int too large for a float (and loading ``math`` was a part of
    every start)."""
    return not isinstance(value, bool) and isinstance(value, (int, float)) and -_INFINITY < value < _INFINITY


def validate_options(options: Mapping[str, Any]) -> None:
    """Check the known options given (``None`` counts as not given); raise
    :class:`InvalidMessages` naming each bad one. Unknown options are not looked at."""
    if not options:
        return  # most requests: nothing to look at (this check is on every request's path)
    errors: list[tuple[str, str]] = []
    t = options.get("temperature")
    if t is not None and not (_number(t) and 0 <= t <= 2):
        errors.append(("temperature", f"must be a number in [0, 2], got {t!r}"))
    p = options.get("top_p")
    if p is not None and not (_number(p) and 0 <= p <= 1):
        errors.append(("top_p", f"must be a number in [0, 1], got {p!r}"))
    m = options.get("max_tokens")
    if m is not None and (isinstance(m, bool) or not isinstance(m, int) or m <= 0):
        errors.append(("max_tokens", f"must be a positive integer, got {m!r}"))
    seed = options.get("seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int)):
        errors.append(("seed", f"must be an integer, got {seed!r}"))
    stop = options.get("stop")
    if stop is not None and not (
        isinstance(stop, str) or (isinstance(stop, list) and stop and all(isinstance(s, str) and s for s in stop))
    ):
        errors.append(("stop", f"must be a string or a non-empty list of non-empty strings, got {stop!r}"))
    for name in ("tools", "tool_choice", "response_format"):
        if options.get(name) is not None:
            _structured(name, options[name], errors)
    if not errors and ("tools" in options or "tool_choice" in options):
        _check_tool_names(options, errors)
    if errors:
        raise InvalidMessages(errors)


def _check_tool_names(options: Mapping[str, Any], errors: list[tuple[str, str]]) -> None:
    tools = options.get("tools") or []
    names = [tool["function"]["name"] for tool in tools]
    for i, name in enumerate(names):
        if not _TOOL_NAME.fullmatch(name):
            errors.append((f"tools[{i}].function.name", f"must be 1-64 letters, digits, '_' or '-', got {name!r}"))
        elif name in names[:i]:
            errors.append((f"tools[{i}].function.name", f"{name!r} is defined twice"))
    choice = options.get("tool_choice")
    if isinstance(choice, dict):
        if not tools:
            errors.append(("tool_choice", "names a function, but no tools are given"))
        elif choice["function"]["name"] not in names:
            errors.append(("tool_choice.function.name", f"{choice['function']['name']!r} is not one of the tools"))
    elif choice == "required" and not tools:
        errors.append(("tool_choice", "'required' needs tools"))


#: Routing's reasons for skipping a provider that lacks what a request needs.
NO_TOOLS = "does not support tools"
NO_IMAGES = "does not support images"
NO_JSON = "does not support JSON output"
LACKS = frozenset({NO_TOOLS, NO_IMAGES, NO_JSON})


class Needs(Record):
    """What a request needs of a provider: tool calls, images, JSON output (a record, not a
    dataclass: no ``dataclasses`` import, which costs every command's start-up)."""

    _fields = ("tools", "vision", "json")
    __slots__ = _fields
    _defaults: ClassVar = {"tools": False, "vision": False, "json": False}
    tools: bool
    vision: bool
    json: bool

    def missing(self, provider: type) -> str | None:
        """Why ``provider`` cannot serve the request (routing's skip reason), or ``None``."""
        if self.tools and not getattr(provider, "supports_tools", False):
            return NO_TOOLS
        if self.vision and not getattr(provider, "supports_vision", False):
            return NO_IMAGES
        if self.json and not getattr(provider, "supports_json", False):
            return NO_JSON
        return None


NOTHING = Needs()
#: The options that can make a request need a capability.
_NEEDY = frozenset({"tools", "response_format"})


def needs(messages: Any, options: Mapping[str, Any]) -> Needs:
    """What a checked request needs: tools when it gives ``tools`` or its conversation has
    an assistant's tool calls (a ``tool`` message alone, as version 1 knew it, does not);
    images when a message has an image part; JSON output when ``response_format`` asks for
    JSON. Plain text requests need nothing (the fast path)."""
    if not options or not _NEEDY.intersection(options):
        for message in messages:  # the common case, text only: one look at each message
            if type(message.get("content")) is not str or "tool_calls" in message:
                break
        else:
            return NOTHING
    tools = bool(options.get("tools"))
    vision = False
    for message in messages:
        if "tool_calls" in message:
            tools = True
        content = message.get("content")
        if type(content) is list and any(part.get("type") == "image_url" for part in content):
            vision = True
    fmt = options.get("response_format")
    json_output = isinstance(fmt, dict) and fmt.get("type") in ("json_object", "json_schema")
    if not (tools or vision or json_output):
        return NOTHING
    return Needs(tools, vision, json_output)
