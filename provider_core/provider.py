"""The provider contract: :class:`AbstractProvider`, its capability flags, and the types.

A provider is a class, never instantiated by the core. Its class attributes say what it
can do; its ``create_completion`` classmethod sends one request and returns an iterator of
text chunks. The registry checks a class against these rules when it is registered
(:mod:`provider_core.contract`).
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import Any, ClassVar, Literal, TypedDict

from .messages import ValidatedMessages, check_call

__all__ = ["AbstractProvider", "CreateResult", "Message", "Messages", "Role"]

Role = Literal["system", "user", "assistant", "tool"]


class Message(TypedDict):
    """One chat message: ``{"role": "user", "content": "Hello"}``."""

    role: Role
    content: str


#: A non-empty list of messages, oldest first.
Messages = list[Message]
#: What ``create_completion`` returns: text chunks, in order, whose join is the reply.
CreateResult = Iterator[str]


class AbstractProvider(ABC):
    """Base class of every provider.

    Class attributes (capability flags; override them in the subclass):

    ``name``
        Registry key, matched case-insensitively. Defaults to the class name.
    ``url``
        Home of the service (informational).
    ``working``
        Whether the service is believed to answer. Routing skips providers that are not
        working unless asked otherwise; the ``provider_working`` hook may override it.
    ``supports_stream``
        Whether ``create_completion(..., stream=True)`` yields text as it arrives.
    ``supports_gpt_35_turbo`` / ``supports_gpt_4``
        Whether it serves models of those families (informational, shown by the CLI).
    ``supports_message_history`` / ``needs_auth``
        Whether earlier turns are sent along; whether a key is needed.
    ``supports_tools`` / ``supports_vision`` / ``supports_json``
        Whether it carries tool calls (``tools``, assistant ``tool_calls``, ``tool``
        messages), image content parts, and JSON output (a ``response_format`` other than
        text). Routing skips a provider that lacks what a request needs, saying which; a
        provider without ``supports_vision`` gets every message's content as a ``str``.
    ``models``
        Mapping of the model ids it serves to display names; must not be empty.
    ``default_model``
        The model used for an empty model id; ``None`` or a key of ``models``.
    ``priority``
        Routing order among providers of one model: higher first, then by name.
    ``status_reason``
        Why the provider is not working (e.g. ``"model list unavailable: connection
        refused"``), or ``None``; shown by ``providers`` and ``route``. A provider that is
        not working and gives a reason may have empty ``models``.
    """

    name: ClassVar[str] = ""
    url: ClassVar[str] = ""
    working: ClassVar[bool] = False
    supports_stream: ClassVar[bool] = False
    supports_gpt_35_turbo: ClassVar[bool] = False
    supports_gpt_4: ClassVar[bool] = False
    supports_message_history: ClassVar[bool] = True
    needs_auth: ClassVar[bool] = False
    supports_tools: ClassVar[bool] = False
    supports_vision: ClassVar[bool] = False
    supports_json: ClassVar[bool] = False
    models: ClassVar[Mapping[str, Any]] = {}
    default_model: ClassVar[str | None] = None
    priority: ClassVar[int] = 0
    status_reason: ClassVar[str | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = cls.__name__
        raw = cls.__dict__.get("create_completion")
        if isinstance(raw, classmethod) and not getattr(raw.__func__, "__checks_input__", False):
            cls.create_completion = classmethod(_checking(raw.__func__))  # type: ignore[method-assign]

    @classmethod
    @abstractmethod
    def create_completion(cls, model: str, messages: Messages, stream: bool, **kwargs: Any) -> CreateResult:
        """Send one completion request and return its text as an iterator of chunks.

        The input arrives checked, exactly once: ``model`` is one of ``models`` (an empty
        one already replaced by ``default_model``), the messages and options are valid, and
        options named like secrets (``api_key``, ``token``, ...) arrive as pydantic
        ``SecretStr`` when the call came through :func:`provider_core.create_completion`
        (read them with :func:`provider_core.secrets.reveal`). A provider called directly
        checks the same first: this base class wraps every subclass's
        ``create_completion`` so that bad input raises
        :class:`~provider_core.errors.InvalidMessages` or
        :class:`~provider_core.errors.ModelNotSupported` before the method runs (see
        :func:`provider_core.messages.check_call`). With ``stream=True`` chunks are
        yielded as they arrive; with ``stream=False`` they may be yielded as they arrive too
        (the core joins them) or all at once. Unknown keywords the provider does not use are
        ignored. Errors are :class:`~provider_core.errors.ProviderError` subclasses.
        """
        raise NotImplementedError

    @classmethod
    def describe(cls) -> dict[str, Any]:
        """The static capability flags as a JSON-ready dict (used by ``providers --json``)."""
        return {
            "name": cls.name,
            "url": cls.url,
            "working": cls.working,
            "supports_stream": cls.supports_stream,
            "supports_gpt_35_turbo": cls.supports_gpt_35_turbo,
            "supports_gpt_4": cls.supports_gpt_4,
            "supports_message_history": cls.supports_message_history,
            "needs_auth": cls.needs_auth,
            "supports_tools": cls.supports_tools,
            "supports_vision": cls.supports_vision,
            "supports_json": cls.supports_json,
            "priority": cls.priority,
            "default_model": cls.default_model,
            "models": list(cls.models),
            "status_reason": cls.status_reason,
        }


def _checking(func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` (a provider's ``create_completion``) checking its input first unless the
    core already did (the messages are then :class:`~provider_core.messages.ValidatedMessages`)."""

    @functools.wraps(func)
    def create_completion(cls: type, model: Any, messages: Any, *args: Any, **kwargs: Any) -> Any:
        if type(messages) is not ValidatedMessages:
            model, messages = check_call(cls, model, messages, kwargs)
        return func(cls, model, messages, *args, **kwargs)

    create_completion.__checks_input__ = True  # type: ignore[attr-defined]
    return create_completion
