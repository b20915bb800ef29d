"""The provider contract: :class:`AbstractProvider`, its capability flags, and the types.

A provider is a class, never instantiated by the core. Its class attributes say what it
can do; its ``create_completion`` classmethod sends one request and returns an iterator of
text chunks (``str``) and, where its protocol carries them, the events of
:mod:`provider_core.events` (tool calls, usage, the finish reason). The registry checks
a class against these rules when it is registered (:mod:`provider_core.contract`).
"""

from __future__ import annotations

import functools
import sys
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypedDict

from .messages import ValidatedMessages, check_call
from .secrets import safe_url

if sys.version_info >= (3, 11):
    from typing import NotRequired
else:  # pydantic depends on typing_extensions
    from typing_extensions import NotRequired

if TYPE_CHECKING:  # an annotation only: the events are not imported at run time
    from .events import Event

__all__ = ["AbstractProvider", "CreateResult", "Message", "Messages", "Role"]

Role = Literal["system", "user", "assistant", "tool"]


class Message(TypedDict):
    """One chat message: ``{"role": "user", "content": "Hello"}``. ``content`` may also be
    a list of parts (text, ``image_url``) or, for an assistant message with ``tool_calls``,
    ``None``; a ``tool`` message carries ``tool_call_id`` (see
    :func:`provider_core.messages.validate_messages`)."""

    role: Role
    content: str | list[dict[str, Any]] | None
    name: NotRequired[str]
    tool_calls: NotRequired[list[dict[str, Any]]]
    tool_call_id: NotRequired[str]


#: A non-empty list of messages, oldest first.
Messages = list[Message]
#: What ``create_completion`` returns: text chunks, in order, whose join is the reply's
#: text, and the events of :mod:`provider_core.events` where the protocol carries them.
CreateResult = Iterator["str | Event"]


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
        """Send one completion request and return its reply as an iterator: ``str`` text
        chunks and, where the protocol carries them, the events of
        :mod:`provider_core.events` (tool calls, one ``Usage``, a last ``FinishReason``).
        A version-1 provider yields ``str`` only; it receives ``tools``, ``max_tokens``,
        ``temperature``, ... as keywords it may ignore, and plain-string message content
        (text parts joined) unless it declares ``supports_vision``.

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
            "url": safe_url(cls.url),  # whatever a plugin put there, no credentials shown
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
