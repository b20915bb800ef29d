"""Installing and removing plugins: pip, run as ``sys.executable -m pip``, so that they go
into (and come out of) the very environment provider-core runs in, whichever it is (a
venv, pipx's, the system's).

:func:`install` takes whatever pip accepts (a distribution name with or without a version,
a local source directory such as ``./plugins/openai``, a wheel file, a URL) and then asks a
fresh interpreter which plugins the requested distributions brought and what they
registered (:func:`plugins_of`), so a plugin that fails to load says so at once. A
requested distribution without an entry point in the group ``provider_core`` adds no
provider: the report says so. :func:`plan_uninstall` finds what a name means (a
distribution, or the entry-point name of a plugin, ``openai`` for
``provider-core-openai``) and refuses provider-core itself and pip; :func:`uninstall`
removes the distributions. pip's own output goes to ``output`` (the CLI passes stderr, so
that stdout carries only the report). Errors are :class:`InstallError`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, TextIO

from .errors import ProviderError
from .plugins import ENTRY_POINT_GROUP, canonical_name, discover, installed_distributions

__all__ = [
    "PROTECTED",
    "DistributionReport",
    "InstallError",
    "InstallReport",
    "environment",
    "install",
    "plan_uninstall",
    "plugins_of",
    "uninstall",
]

#: Distributions ``uninstall`` refuses to remove: the core itself, and the tool that installs.
PROTECTED = frozenset({"provider-core", "pip"})
#: A generous bound for pip (a build from source included) and for the reporting child.
PIP_TIMEOUT = 1800
CHILD_TIMEOUT = 300


class InstallError(ProviderError):
    """pip failed, is missing, or a name given to uninstall is wrong or protected."""

    exit_code = 1

    def __init__(self, message: str, *, exit_code: int | None = None, suggestions: Sequence[str] = ()) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
        self.suggestions = list(suggestions)


@dataclass
class DistributionReport:
    """One distribution installed (or about to be removed) and its plugins' records
    (:meth:`provider_core.plugins.PluginInfo.to_dict`, read from a fresh interpreter)."""

    name: str
    version: str | None
    plugins: list[dict[str, Any]] = field(default_factory=list)

    @property
    def providers(self) -> list[str]:
        return [name for plugin in self.plugins for name in plugin.get("providers", [])]

    def to_dict(self) -> dict[str, Any]:
        return {"distribution": self.name, "version": self.version, "plugins": self.plugins}


@dataclass
class InstallReport:
    """What :func:`install` did: the ``requested`` distributions it installed (with their
    plugins), the ``dependencies`` it installed along, and ``warnings``."""

    requested: list[DistributionReport] = field(default_factory=list)
    dependencies: list[DistributionReport] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "installed": [d.to_dict() for d in self.requested],
            "dependencies": [{"distribution": d.name, "version": d.version} for d in self.dependencies],
            "warnings": list(self.warnings),
        }


def environment() -> str:
    """Where pip installs: the environment's prefix and its Python."""
    return f"{sys.prefix} (Python {sys.version.split()[0]})"


def _pip(args: Sequence[str], output: TextIO | None) -> None:
    """Run pip; its output goes to ``output`` (a file with a descriptor; ``None``: inherited)."""
    command = [sys.executable, "-m", "pip", *args]
    if output is not None:
        output.flush()
    try:
        proc = subprocess.run(
            command, stdout=output, stderr=output, stdin=subprocess.DEVNULL, timeout=PIP_TIMEOUT, check=False
        )
    except subprocess.TimeoutExpired:
        raise InstallError(f"pip {args[0]} took more than {PIP_TIMEOUT} s and was stopped") from None
    except OSError as exc:
        raise InstallError(f"cannot run {sys.executable}: {exc.strerror or exc}") from None
    if proc.returncode == 0:
        return
    probe = subprocess.run(
        [sys.executable, "-c", "import pip"], capture_output=True, timeout=CHILD_TIMEOUT, check=False
    )
    if probe.returncode != 0:
        raise InstallError(
            f"pip is not installed in this environment ({sys.prefix}): "
            f"add it with '{sys.executable} -m ensurepip', then try again"
        )
    raise InstallError(f"pip {args[0]} failed (exit code {proc.returncode}; its messages are above)")


def plugins_of(distributions: Sequence[str]) -> dict[str, list[dict[str, Any]]]:
    """The plugin records of ``distributions`` (canonical names), as a fresh interpreter
    loads them now (``python -m provider_core plugins --json``)."""
    wanted = {canonical_name(d) for d in distributions}
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "provider_core", "plugins", "--json"],
            capture_output=True,
            stdin=subprocess.DEVNULL,
            timeout=CHILD_TIMEOUT,
            check=False,
        )
        records = json.loads(proc.stdout.decode("utf-8", "replace"))["plugins"]
    except (OSError, subprocess.TimeoutExpired, ValueError, KeyError, TypeError):
        return {}
    found: dict[str, list[dict[str, Any]]] = {}
    for record in records:
        dist = canonical_name(str(record.get("distribution") or ""))
        if dist in wanted and record.get("status") != "builtin":
            found.setdefault(dist, []).append(record)
    return found


def _requested(report_path: str) -> list[tuple[str, str | None, bool]] | None:
    """``(name, version, requested)`` of what pip's installation report lists, or ``None``
    when there is no report (a pip older than 22.2)."""
    try:
        with open(report_path, encoding="utf-8") as handle:
            report = json.load(handle)
        return [
            (str(item["metadata"]["name"]), item["metadata"].get("version"), bool(item.get("requested", True)))
            for item in report.get("install", [])
        ]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def install(specs: Sequence[str], *, upgrade: bool = False, output: TextIO | None = None) -> InstallReport:
    """``pip install`` ``specs`` into this environment and report what arrived (see the
    module docstring). Raises :class:`InstallError` when pip fails."""
    if not specs:
        raise InstallError("nothing to install: name at least one distribution or path", exit_code=2)
    before = installed_distributions()
    fd, report_path = tempfile.mkstemp(prefix="provider-core-pip-", suffix=".json")
    os.close(fd)
    try:
        _pip(["install", *(["--upgrade"] if upgrade else []), "--report", report_path, *specs], output)
        listed = _requested(report_path)
    finally:
        try:
            os.unlink(report_path)
        except OSError:
            pass
    after = installed_distributions()
    if listed is None:  # no report: everything new or changed counts as requested
        listed = [(name, version, True) for name, version in after.items() if before.get(name) != version]
    report = InstallReport()
    records = plugins_of([name for name, _, wanted in listed if wanted])
    for name, version, wanted in listed:
        key = canonical_name(name)
        if not wanted:
            report.dependencies.append(DistributionReport(name, version))
            continue
        dist = DistributionReport(name, version, records.get(key, []))
        report.requested.append(dist)
        if not dist.plugins:
            report.warnings.append(
                f"{name} {version or ''}".rstrip()
                + f" has no '{ENTRY_POINT_GROUP}' entry point: it is not a provider-core plugin and adds no provider"
            )
    return report


def plan_uninstall(names: Sequence[str]) -> list[DistributionReport]:
    """The distributions ``names`` mean, each a distribution name or a plugin's entry-point
    name, with their plugins' records; raises :class:`InstallError` for a name that is not
    installed (with close matches) or protected (:data:`PROTECTED`)."""
    if not names:
        raise InstallError("nothing to uninstall: name at least one plugin or distribution", exit_code=2)
    installed = installed_distributions()
    by_plugin: dict[str, str] = {}
    for source in discover({}):
        if source.distribution:
            by_plugin.setdefault(source.name.lower(), canonical_name(source.distribution))
    chosen: list[str] = []
    for name in names:
        key = canonical_name(name)
        dist = key if key in installed else by_plugin.get(name.lower())
        if dist is None:
            import difflib  # only on this error path

            known = sorted(set(by_plugin) | set(by_plugin.values()))
            close = difflib.get_close_matches(key, known, n=3, cutoff=0.6)
            hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
            raise InstallError(f"{name!r} is not installed here{hint}", exit_code=2, suggestions=close)
        if dist in PROTECTED:
            why = "provider-core itself" if dist == "provider-core" else "the installer provider-core uses"
            raise InstallError(f"refusing to uninstall {dist}: it is {why}", exit_code=2)
        if dist not in chosen:
            chosen.append(dist)
    records = plugins_of(chosen)
    return [DistributionReport(d, installed.get(d), records.get(d, [])) for d in chosen]


def uninstall(distributions: Sequence[DistributionReport], *, output: TextIO | None = None) -> list[str]:
    """``pip uninstall`` the distributions :func:`plan_uninstall` chose; returns those gone."""
    names = [d.name for d in distributions]
    if any(canonical_name(n) in PROTECTED for n in names):
        raise InstallError("refusing to uninstall provider-core or pip", exit_code=2)
    _pip(["uninstall", "--yes", *names], output)
    left = installed_distributions()
    return [n for n in names if canonical_name(n) not in left]
