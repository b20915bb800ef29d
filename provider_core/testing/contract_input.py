"""Contract rules about what goes in: flags, models, messages, keywords."""

from __future__ import annotations

import copy
from typing import Any, ClassVar

import pytest

from ..errors import InvalidMessages, ModelNotSupported, ProviderError
from .contract_base import HISTORY, INVALID_INPUTS, REPLY_TEXT, ContractBase, _kind, _strings
from .server import LoopbackServer

_HINT = "; call provider_core.messages.validate_messages(messages) before sending"


class InputRules(ContractBase):
    """The rules about the provider's flags, models, messages and keywords."""

    __test__: ClassVar[bool] = False

    # -- flags and models ---------------------------------------------------------------

    def test_model_families(self) -> None:
        self._require_static()
        models = [str(m) for m in self.provider.models]
        for flag, prefix in (("supports_gpt_35_turbo", "gpt-3.5"), ("supports_gpt_4", "gpt-4")):
            if getattr(self.provider, flag) and not any(m.startswith(prefix) for m in models):
                self._fail("model-families", f"{flag} is True but no model id starts with {prefix!r}: {models[:8]}")

    def test_models_accepted(self, contract_server: LoopbackServer) -> None:
        for model in list(self.provider.models)[:64]:
            contract_server.clear()
            try:
                self._complete(contract_server, REPLY_TEXT, stream=False, model=model)
            except ProviderError as exc:
                self._fail("models-accepted", f"model {model!r}, listed in models, raised {_kind(exc)}")
            self._check_sent_model(contract_server, model, "models-accepted")

    def _check_sent_model(self, server: LoopbackServer, model: str, rule: str) -> None:
        requests = server.requests
        if not requests:
            self._fail(rule, f"model {model!r}: no request reached the server")
        sent = self.sent_model(requests[-1])
        if sent is not None and sent != model:
            self._fail(rule, f"asked for model {model!r}, the request named {sent!r}")

    def test_empty_model(self, contract_server: LoopbackServer) -> None:
        default = self.provider.default_model
        if default is None:
            try:
                self._text(self._call(contract_server, model="", stream=False))
            except ModelNotSupported:
                return
            except Exception as exc:
                self._fail(
                    "empty-model", f"default_model is None, so model '' must raise ModelNotSupported, got {_kind(exc)}"
                )
            self._fail("empty-model", "default_model is None, so model '' must raise ModelNotSupported; it answered")
        try:
            self._complete(contract_server, REPLY_TEXT, stream=False, model="")
        except ProviderError as exc:
            self._fail("empty-model", f"model '' must mean default_model {default!r}, but raised {_kind(exc)}")
        self._check_sent_model(contract_server, default, "empty-model")

    def test_unknown_model(self, contract_server: LoopbackServer) -> None:
        contract_server.enqueue(self.reply(REPLY_TEXT, stream=True))
        try:
            self._text(self._call(contract_server, model=self.unknown_model))
        except ModelNotSupported:
            pass
        except Exception as exc:
            self._fail("unknown-model", f"model {self.unknown_model!r} raised {_kind(exc)}, not ModelNotSupported")
        else:
            self._fail("unknown-model", f"model {self.unknown_model!r} was accepted; it must raise ModelNotSupported")
        if contract_server.requests:
            self._fail("unknown-model", "a request was sent before ModelNotSupported was raised")

    # -- messages -----------------------------------------------------------------------

    def test_messages_accepted(self, contract_server: LoopbackServer) -> None:
        try:
            self._complete(contract_server, REPLY_TEXT, stream=False, messages=copy.deepcopy(HISTORY))
        except Exception as exc:
            self._fail("messages-accepted", f"a valid history (system, user, assistant, tool) raised {_kind(exc)}")

    def test_messages_unchanged(self, contract_server: LoopbackServer) -> None:
        messages = copy.deepcopy(HISTORY)
        self._with_history(contract_server, messages, stream=True)
        if messages != HISTORY:
            self._fail("messages-unchanged", f"the caller's messages were modified: {messages!r:.300}")

    def _with_history(self, server: LoopbackServer, messages: list[dict[str, str]], *, stream: bool) -> None:
        try:
            self._complete(server, REPLY_TEXT, stream=stream, messages=messages)
        except Exception as exc:
            pytest.skip(f"not checked: rule 'messages-accepted' fails ({_kind(exc)})")

    def test_history_sent(self, contract_server: LoopbackServer) -> None:
        self._with_history(contract_server, copy.deepcopy(HISTORY), stream=False)
        (request,) = contract_server.requests
        body = request.json
        sent = list(_strings(body)) if body is not None else [request.text]
        turns = [m for m in HISTORY if m["role"] in ("user", "assistant")]
        if not self.provider.supports_message_history:
            turns = turns[-1:]
        for turn in turns:
            if not any(turn["content"] in s for s in sent):
                why = "the last user message" if turn is HISTORY[-1] else "an earlier turn (supports_message_history)"
                self._fail("history-sent", f"{why} did not reach the server: {turn['content']!r}")

    def test_invalid_messages(self, contract_server: LoopbackServer) -> None:
        from ..registry import Registry

        registry = Registry(load_entry_points=False)
        registry.register(self.provider)
        for what, messages, options in INVALID_INPUTS:
            self._refused(contract_server, what, "provider_core.create_completion", messages, options, registry)
            if not options:  # options are the core's to check; messages the provider's too
                self._refused(contract_server, what, "a direct create_completion call", messages, None, None)

    def _refused(self, server: LoopbackServer, what: str, how: str, messages: Any, options: Any, registry: Any) -> None:
        from ..completion import create_completion

        kwargs = self.provider_kwargs(server)
        try:
            if registry is not None:
                model, name = self._use_model(), self.provider.name
                create_completion(model, messages, stream=True, provider=name, registry=registry, **kwargs, **options)
            else:
                self._text(self.provider.create_completion(self._use_model(), messages, True, **kwargs))
        except InvalidMessages:
            pass
        except Exception as exc:
            self._fail("invalid-messages", f"{what} via {how} raised {_kind(exc)}, not InvalidMessages{_HINT}")
        else:
            self._fail("invalid-messages", f"{what} via {how} was accepted{_HINT}")
        if server.requests:
            self._fail("invalid-messages", f"{what} via {how}: a request was sent")

    def test_unknown_kwargs(self, contract_server: LoopbackServer) -> None:
        try:
            self._complete(contract_server, REPLY_TEXT, stream=True, provider_core_contract_probe="ignored")
        except Exception as exc:
            self._fail("unknown-kwargs", f"an unknown keyword raised {_kind(exc)}; ignore keywords you do not use")
