"""The registry's plugin manager: what it remembers of each plugin's hooks says the same as
pluggy's own (slower, quadratic) answers, for every kind of plugin and hook option."""

from __future__ import annotations

import sys
import threading
import types

import pytest
from pluggy import PluginValidationError

from provider_core import hookimpl, hookspecs
from provider_core.manager import PluginManager


def _manager() -> PluginManager:
    manager = PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    return manager


def _module(name: str, **attrs: object) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def _plain(n: int) -> types.ModuleType:
    return _module(f"plain{n}", register_providers=hookimpl(lambda register: None), VALUE=n)


class _Object:
    """A plugin that is an object: two implementations of one hook (``specname``)."""

    @hookimpl
    def register_providers(self, register):
        pass

    @hookimpl(specname="register_providers", trylast=True)
    def also_registers(self, register, warn):
        pass

    @hookimpl(tryfirst=True)
    def provider_working(self, provider, model):
        return None


class _Class:
    """A plugin that is a class, with a wrapper."""

    @staticmethod
    @hookimpl(wrapper=True)
    def provider_working(provider, model):
        return (yield)


def _plugins() -> dict[str, object]:
    plugins: dict[str, object] = {f"plain{n}": _plain(n) for n in range(6)}
    plugins["first"] = _module("first", register_providers=hookimpl(tryfirst=True)(lambda register: None))
    plugins["last"] = _module("last", register_providers=hookimpl(trylast=True)(lambda warn: None))
    plugins["object"] = _Object()
    plugins["class"] = _Class
    plugins["none"] = _module("none", helper=lambda: None, hookimpl=hookimpl)
    plugins["aliases"] = _module("aliases", register_aliases=hookimpl(lambda register: None))
    plugins.update({f"more{n}": _plain(n) for n in range(6, 9)})
    return plugins


def _hookcaller_names(manager: PluginManager, plugin: object) -> list[str]:
    return sorted(caller.name for caller in manager.get_hookcallers(plugin) or ())


def test_hook_names_and_implementations_agree_with_pluggys_own_lookups():
    manager = _manager()
    plugins = _plugins()
    for name, plugin in plugins.items():
        assert manager.register(plugin, name=name) == name
    for name, plugin in plugins.items():
        assert sorted(set(manager.hook_names(name))) == _hookcaller_names(manager, plugin), name
        for hook in ("register_providers", "register_aliases", "provider_working", "fetch_models"):
            everyone = getattr(manager.hook, hook).get_hookimpls()
            assert manager.plugin_hookimpls(name, hook) == [i for i in everyone if i.plugin is plugin], (name, hook)
    assert sorted(manager.hook_names("object")) == ["provider_working", "register_providers", "register_providers"]
    assert manager.hook_names("none") == ()


def test_an_unregistered_or_blocked_plugin_has_no_hooks():
    manager = _manager()
    plugins = _plugins()
    for name, plugin in plugins.items():
        manager.register(plugin, name=name)
    manager.unregister(plugins["plain2"])
    manager.unregister(name="object")
    manager.set_blocked("more7")
    for name in ("plain2", "object", "more7", "never-registered"):
        assert manager.hook_names(name) == ()
        assert manager.plugin_hookimpls(name, "register_providers") == []
    assert manager.register(_plain(99), name="more7") is None  # blocked: pluggy registers nothing
    assert manager.hook_names("more7") == ()
    assert manager.plugin_hookimpls("plain3", "register_providers")[0].plugin is plugins["plain3"]


def test_a_plugin_that_fails_validation_leaves_no_record():
    manager = _manager()
    bad = _module("bad", register_providers=hookimpl(lambda register, nonsense: None))
    with pytest.raises(PluginValidationError):
        manager.register(bad, name="bad")
    assert manager.hook_names("bad") == ()
    assert manager.get_plugin("bad") is None
    manager.register(_plain(1), name="bad")  # the name is free, and the record is the new plugin's
    assert manager.hook_names("bad") == ("register_providers",)


def test_an_unknown_hook_is_named_too():
    """pluggy accepts an implementation of a hook with no specification (it may come later)."""
    manager = _manager()
    plugin = _module("later", not_yet_specified=hookimpl(lambda: None))
    manager.register(plugin, name="later")
    assert manager.hook_names("later") == ("not_yet_specified",)
    assert manager.plugin_hookimpls("later", "not_yet_specified")[0].plugin is plugin


def test_plugins_registered_from_many_threads_at_once_each_keep_their_own_hooks():
    manager = _manager()
    plugins = {
        f"t{n}": _plain(n) if n % 3 else _module(f"t{n}", register_aliases=hookimpl(lambda register: None))
        for n in range(200)
    }
    names = list(plugins)
    start = threading.Barrier(4)

    def register(part: list[str]) -> None:
        start.wait()
        for name in part:
            manager.register(plugins[name], name=name)

    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible, inside pluggy's register too
    try:
        threads = [threading.Thread(target=register, args=(names[i::4],)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(interval)
    for name, plugin in plugins.items():
        assert sorted(manager.hook_names(name)) == _hookcaller_names(manager, plugin), name


def test_a_plugin_registered_by_another_plugins_historic_hook_keeps_its_own_hooks():
    class Spec:
        @hookspecs.hookspec(historic=True)
        def loaded(self, manager):
            """Called for every plugin, the ones registered later included."""

    manager = _manager()
    manager.add_hookspecs(Spec)
    inner = _plain(1)
    outer = _module("outer", loaded=hookimpl(lambda manager: manager.register(inner, name="inner")))
    manager.hook.loaded.call_historic(kwargs={"manager": manager})
    manager.register(outer, name="outer")
    assert manager.get_plugin("inner") is inner
    assert manager.hook_names("outer") == ("loaded",)
    assert manager.hook_names("inner") == ("register_providers",)
