"""The static provider contract: every rule in contract.RULES refuses what breaks it, with an
error naming the class and the rule, at registration time."""

from __future__ import annotations

import pytest

from provider_core import AbstractProvider, ProviderContractError
from provider_core.contract import RULES, check_provider, validate_provider


def _good_attrs() -> dict:
    return {
        "working": True,
        "supports_stream": True,
        "models": {"m1": "M1", "m2": "M2"},
        "default_model": "m1",
        "create_completion": classmethod(lambda cls, model, messages, stream, **kw: iter(["x"])),
    }


def _make(cls_name: str, /, **overrides):
    attrs = _good_attrs()
    attrs.update(overrides)
    attrs = {k: v for k, v in attrs.items() if v is not _DELETE}
    return type(cls_name, (AbstractProvider,), attrs)


_DELETE = object()


def _plain(model, messages, stream, **kwargs):
    return iter(["x"])


# Each case breaks exactly one rule: (rule id, class name, overrides, text the detail must contain).
BROKEN = [
    ("name", "EmptyName", {"name": ""}, "non-empty"),
    ("name", "SpacedName", {"name": "has space"}, "spaces"),
    ("name", "NotStrName", {"name": 42}, "non-empty string"),
    ("flags-bool", "IntWorking", {"working": 1}, "working=1"),
    ("flags-bool", "StrStream", {"supports_stream": "yes"}, "supports_stream='yes'"),
    ("flags-bool", "NoneAuth", {"needs_auth": None}, "needs_auth=None"),
    ("url", "IntUrl", {"url": 5}, "url must be a string, got int"),
    ("url", "BytesUrl", {"url": b"https://bob:pw-in-the-url-123@h/"}, "url must be a string, got bytes"),
    ("models", "EmptyModels", {"models": {}, "default_model": None}, "must not be empty"),
    ("models", "ListModels", {"models": ["m1"], "default_model": None}, "mapping"),
    ("models", "BlankModelId", {"models": {"": "blank"}, "default_model": None}, "non-empty printable"),
    ("default-model", "StrayDefault", {"default_model": "m9"}, "'m9' is not one of models"),
    ("priority", "FloatPriority", {"priority": 1.5}, "priority must be an int"),
    ("priority", "BoolPriority", {"priority": True}, "priority must be an int"),
    ("create-completion", "PlainFunction", {"create_completion": _plain}, "must be a classmethod"),
    ("create-completion", "StaticMethod", {"create_completion": staticmethod(_plain)}, "must be a classmethod"),
    (
        "create-completion",
        "NoKwargs",
        {"create_completion": classmethod(lambda cls, model, messages, stream: iter([]))},
        "**kwargs",
    ),
    (
        "create-completion",
        "NoStreamParam",
        {"create_completion": classmethod(lambda cls, model, messages, **kw: iter([]))},
        "(model, messages, stream, **kwargs)",
    ),
    ("create-completion", "Missing", {"create_completion": _DELETE}, "create_completion"),
]


def test_the_good_class_keeps_every_rule():
    results = check_provider(_make("Good"))
    assert [r.rule for r in results] == [r.id for r in RULES]
    assert all(r.ok for r in results), results
    validate_provider(_make("Good"))


@pytest.mark.parametrize(("rule", "cls_name", "overrides", "detail"), BROKEN, ids=[c[1] for c in BROKEN])
def test_each_rule_refuses_with_class_and_rule_named(registry, rule, cls_name, overrides, detail):
    cls = _make(cls_name, **overrides)
    failed = [r for r in check_provider(cls) if not r.ok]
    assert [r.rule for r in failed] == [rule], failed
    with pytest.raises(ProviderContractError) as info:
        registry.register(cls)
    err = info.value
    assert err.rule == rule
    text = str(err)
    assert cls_name in text and f"'{rule}'" in text and detail in text
    assert "pw-in-the-url-123" not in text  # a refused url is named by its type, not quoted
    assert f"{__name__}.{cls_name}" in text or f"{cls.__module__}.{cls_name}" in text
    assert len(registry) == 0, "a refused class must not be registered"


def test_every_rule_is_exercised_by_a_broken_case():
    exercised = {case[0] for case in BROKEN} | {"subclass"}
    assert exercised == {r.id for r in RULES}


@pytest.mark.parametrize("thing", [object, int, "NotAClass", None, type("Loose", (), {"models": {"m": 1}})])
def test_not_a_provider_subclass_is_refused(registry, thing):
    with pytest.raises(ProviderContractError) as info:
        registry.register(thing)
    assert info.value.rule == "subclass"
    assert "AbstractProvider" in str(info.value)


def test_missing_create_completion_is_an_abstract_method():
    cls = _make("Abstract", create_completion=_DELETE)
    (failed,) = [r for r in check_provider(cls) if not r.ok]
    assert "abstract methods not implemented: create_completion" in failed.detail


def test_flags_error_lists_every_bad_flag():
    cls = _make("TwoBad", working=1, supports_gpt_4="no")
    (failed,) = [r for r in check_provider(cls) if not r.ok]
    assert "working=1" in failed.detail and "supports_gpt_4='no'" in failed.detail


def test_a_hostile_attribute_is_reported_not_raised():
    class Meta(type(AbstractProvider)):
        @property
        def models(cls):
            raise RuntimeError("boom")

    cls = Meta("Hostile", (AbstractProvider,), _good_attrs())  # the metaclass property wins
    results = {r.rule: r for r in check_provider(cls)}
    assert not results["models"].ok
    assert "RuntimeError" in results["models"].detail
    with pytest.raises(ProviderContractError):
        validate_provider(cls)


def test_defaults_match_the_design_card():
    class Defaults(AbstractProvider):
        models = {"m": "M"}  # noqa: RUF012

        @classmethod
        def create_completion(cls, model, messages, stream, **kwargs):
            yield "x"

    assert Defaults.name == "Defaults"
    assert (Defaults.working, Defaults.supports_stream, Defaults.needs_auth) == (False, False, False)
    assert (Defaults.supports_gpt_35_turbo, Defaults.supports_gpt_4) == (False, False)
    assert Defaults.supports_message_history is True
    assert Defaults.default_model is None and Defaults.priority == 0
    validate_provider(Defaults)
    described = Defaults.describe()
    assert described["name"] == "Defaults" and described["models"] == ["m"]


def test_an_explicit_name_is_kept_and_subclasses_get_their_own():
    class Base(AbstractProvider):
        name = "custom-name"
        models = {"m": "M"}  # noqa: RUF012

        @classmethod
        def create_completion(cls, model, messages, stream, **kwargs):
            yield "x"

    class Child(Base):
        pass

    assert Base.name == "custom-name"
    assert Child.name == "Child"
