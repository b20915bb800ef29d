"""The provider contract suite: subclass :class:`ProviderContract` to test a provider.

::

    from provider_core.testing import ProviderContract

    class TestMyProvider(ProviderContract):
        provider = MyProvider

        def provider_kwargs(self, server):
            return {"base_url": server.url}    # send every request to the loopback server

That class collects one test per rule, so a broken rule fails exactly one test, whose
message starts with the rule id in brackets. Rules that cannot be judged because another
rule fails are *skipped* and say which rule to fix first: when a static rule fails, every
runtime test is skipped; when chunks are not ``str``, the tests that read text are skipped.

The static rules are those of :mod:`provider_core.contract` (``test_static[<rule>]``); the
runtime rules (:data:`RUNTIME_RULES`) call ``create_completion`` against a real HTTP
server on 127.0.0.1 (:class:`~provider_core.testing.server.LoopbackServer`) that replays
scripted replies and faults. Hooks to override for another wire protocol:

``make_server()``
    the server (default: a plain :class:`LoopbackServer`; e.g. one that validates requests);
``provider_kwargs(server)``
    the keywords that point the provider at ``server`` (default ``{"base_url": server.url}``);
``reply(text, stream=...)``
    the :class:`Reply` that carries ``text`` in your protocol (default: the text as UTF-8,
    in 1-byte HTTP chunks, so every multi-byte character arrives split);
``sent_model(request)``
    the model id a recorded request asked for, or ``None`` when not known (default);
``tool_call_reply(call, stream=...)``
    the :class:`Reply` in which your server makes tool call ``call`` (required with
    ``supports_tools``: the ``tool-call`` rule sends ``tools=[TOOL]`` and checks the call
    arrives whole);
``model``
    the model the runtime tests use (default: ``default_model``, else the first of ``models``).
"""

from __future__ import annotations

from typing import ClassVar

from ..reply import ITEM_RULES
from .contract_input import InputRules
from .contract_output import OutputRules

__all__ = ["RUNTIME_RULES", "ProviderContract"]

RUNTIME_RULES: dict[str, str] = {
    "model-families": "supports_gpt_35_turbo / supports_gpt_4 are set only with a model of that family",
    "models-accepted": "every id in models is accepted (and sent, when sent_model() can tell)",
    "empty-model": "an empty model means default_model (ModelNotSupported when default_model is None)",
    "unknown-model": "an unknown model raises ModelNotSupported before any request",
    "messages-accepted": "every message list the core accepts works: all roles, history, any script",
    "messages-unchanged": "the caller's messages are not modified",
    "history-sent": "the last user message, and with supports_message_history every turn, reaches the server",
    "invalid-messages": "invalid messages raise InvalidMessages and send nothing, called directly or via the core",
    "unknown-kwargs": "keywords the provider does not use are ignored",
    "result-iterator": "create_completion returns an iterator of chunks, not a str, bytes or None",
    "chunk-str": "every item is a str (text) or an event of provider_core.events, with stream=True and False",
    "usage-once": ITEM_RULES["usage-once"],
    "finish-last": ITEM_RULES["finish-last"],
    "tool-call-delta": ITEM_RULES["tool-call-delta"],
    "tool-call": "supports_tools: the tool call the server makes (tool_call_reply) arrives whole, streamed and not",
    "stream-text": "stream=True: the joined chunks are exactly the text sent, however it was split",
    "stream-incremental": "supports_stream: the first chunk is yielded before the reply is complete",
    "non-stream-text": "stream=False: the joined chunks are exactly the text sent",
    "close-early": "supports_stream: closing the iterator early closes the connection",
    "http-error": "an HTTP 4xx/5xx status raises ProviderHTTPError with that status_code",
    "connection-error": "a refused connection raises ProviderConnectionError",
    "stream-interrupted": "a reply cut mid-body raises a ProviderError; the text before it is intact",
    "empty-reply": "an empty 200 reply yields nothing or raises a ProviderError",
}


class ProviderContract(InputRules, OutputRules):
    """Base class of a provider's contract tests; set ``provider`` in a ``Test*`` subclass.

    Not collected itself (``__test__`` is false here and true in subclasses). Override
    the hooks listed in the module docstring when the provider speaks another protocol.
    """

    __test__: ClassVar[bool] = False
