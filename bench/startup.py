"""Start-up figures, each in fresh interpreters: ``import provider_core``, the CLI's cold
start (against bare Python and the peers), the CLI with fifty and a hundred plugins
installed, and the CLI with a configuration file of endpoints."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

from .config import Config
from .measure import REPO, BenchError, alternate, child_env, median, run_process
from .plugingen import install_plugins
from .report import Row

__all__ = ["bench_cli", "bench_config", "bench_import", "bench_many_plugins", "cli_argv", "peers_venv"]

#: start-up with N plugins, against one: the target ratio of each count measured
PLUGIN_TARGETS = {50: 1.5, 100: 1.3}
#: the CLI's cold start over bare Python, with this repository's plugins installed
CLI_OVER_BARE = 0.040
#: start-up with a configuration file of endpoints, against none
CONFIG_TARGET = 1.1
#: a directory changed this recently is not in the entry-point cache (provider_core.epcache)
SETTLE_SECONDS = 2.0

HEAVY = ("pluggy", "pydantic", "requests", "urllib3", "importlib_metadata")
#: Peers must never reach the network from a benchmark: LiteLLM would fetch its price list.
PEER_ENV = {"LITELLM_LOCAL_MODEL_COST_MAP": "True", "NO_PROXY": "*"}


def _python() -> str:
    return sys.executable


def cli_argv() -> list[str]:
    script = Path(sys.executable).with_name("provider-core")
    return [str(script)] if script.exists() else [sys.executable, "-m", "provider_core"]


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f} ms"


def _importtime(cwd: str) -> float:
    """Cumulative microseconds ``-X importtime`` reports for the top-level provider_core."""
    proc = subprocess.run(
        [_python(), "-X", "importtime", "-c", "import provider_core"],
        env=child_env(),
        cwd=cwd,
        capture_output=True,
        timeout=60,
        check=True,
    )
    for line in proc.stderr.decode().splitlines():
        m = re.match(r"import time:\s+\d+ \|\s+(\d+) \| provider_core$", line)
        if m:
            return int(m.group(1)) / 1e6
    raise BenchError("-X importtime printed no line for provider_core")


def _top_level_imports(argv: list[str], cwd: str) -> dict[str, float]:
    """Seconds of each top-level import of ``python -X importtime ARGV``, summed by root
    package (``provider_core.cli`` and ``provider_core.registry`` count as ``provider_core``)."""
    proc = subprocess.run(
        [_python(), "-X", "importtime", *argv], env=child_env(), cwd=cwd, capture_output=True, timeout=60, check=False
    )
    out: dict[str, float] = {}
    for line in proc.stderr.decode().splitlines():
        parts = line.split("|")
        if len(parts) != 3 or not line.startswith("import time:") or not parts[1].strip().isdigit():
            continue
        name = parts[2][1:]
        if name != name.lstrip():
            continue  # nested: counted in its top-level importer
        root = name.split(".")[0]
        out[root] = out.get(root, 0.0) + int(parts[1]) / 1e6
    return out


def _import_breakdown(cwd: str, runs: int) -> str:
    """Where the CLI's imports go: the largest root packages it imports that bare Python does not."""
    cli = cli_argv()
    argv = [*(cli[1:] if cli[0] == sys.executable else cli), "providers", "--json"]
    bare = _top_level_imports(["-c", "pass"], cwd)
    samples = [_top_level_imports(argv, cwd) for _ in range(runs)]
    roots = {root for sample in samples for root in sample if root not in bare}
    ms = {root: median([sample.get(root, 0.0) for sample in samples]) * 1e3 for root in roots}
    top = sorted(ms.items(), key=lambda kv: -kv[1])[:8]
    return (
        f"`-X importtime` of the CLI: imports beyond bare Python total {sum(ms.values()):.0f} ms, largest "
        + ", ".join(f"{root} {value:.1f}" for root, value in top)
        + " ms (a package counts the modules it imports first, stdlib included)."
    )


def bench_import(cfg: Config) -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="bench-import-") as cwd:
        py = _python()
        samples = alternate(
            {
                "bare": lambda: run_process([py, "-c", "pass"], cwd=cwd),
                "import": lambda: run_process([py, "-c", "import provider_core"], cwd=cwd),
            },
            cfg.process_rounds,
        )
        importtime = median([_importtime(cwd) for _ in range(max(3, cfg.process_rounds // 3))])
        probe = f"import sys, provider_core; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
        loaded = subprocess.run(
            [py, "-c", probe], env=child_env(), cwd=cwd, capture_output=True, timeout=60, check=True
        ).stdout.decode()
    over = samples.difference("import", "bare")
    heavy = [m for m in loaded.strip().split(",") if m]
    notes = [
        f"`-X importtime` puts provider_core's own cumulative import at {_ms(importtime)}; "
        + (f"it loads {', '.join(heavy)}" if heavy else f"it loads none of {', '.join(HEAVY)}")
        + " (they load at the first query or request)."
    ]
    return [
        Row(
            "`import provider_core`",
            f"{over * 1e3:+.1f} ms over bare ({_ms(samples.median('import'))} vs {_ms(samples.median('bare'))} wall)",
            "`python -c pass`",
            "<= 25 ms over bare Python",
            over <= 0.025,
            notes,
        )
    ]


def peers_venv() -> Path | None:
    """The venv `make bench-peers` made (or ``BENCH_PEERS_VENV``), when it has llm and litellm."""
    root = Path(os.environ.get("BENCH_PEERS_VENV") or REPO / ".bench-peers-venv")
    ok = (root / "bin" / "llm").exists() and (root / "bin" / "python").exists()
    return root if ok else None


def _peer_version(venv: Path, dist: str) -> str:
    code = f"from importlib.metadata import version; print(version({dist!r}))"
    proc = subprocess.run(
        [str(venv / "bin" / "python"), "-c", code], capture_output=True, timeout=60, check=False, env=child_env()
    )
    return proc.stdout.decode().strip() or "?"


def _providers_json(expect: set[str]):
    def check(out: bytes) -> bool:
        names = {p["name"] for p in json.loads(out)["providers"]}
        return expect <= names

    return check


def _aivvm_installed() -> bool:
    try:
        metadata.distribution("provider-core-aivvm")
    except metadata.PackageNotFoundError:
        return False
    return True


def _installed_plugins(cwd: str) -> str:
    proc = subprocess.run(
        [*cli_argv(), "plugins", "--json"], env=child_env(), cwd=cwd, capture_output=True, timeout=60, check=False
    )
    try:
        plugins = json.loads(proc.stdout)["plugins"]
    except (ValueError, KeyError):
        return "?"
    return ", ".join(f"{p['name']} ({p['status']})" for p in plugins) or "none"


def bench_cli(cfg: Config) -> list[Row]:
    aivvm = _aivvm_installed()
    expect = {"Aivvm"} if aivvm else set()
    notes = []
    if not aivvm:
        notes.append("provider-core-aivvm is not installed here: the CLI started with the core alone.")
    cli = [*cli_argv(), "providers", "--json"]
    with tempfile.TemporaryDirectory(prefix="bench-cli-") as cwd:
        py = _python()
        sides = {
            "bare": lambda: run_process([py, "-c", "pass"], cwd=cwd),
            "cli": lambda: run_process(cli, cwd=cwd, check_output=_providers_json(expect)),
            # for scale: what any CLI on pluggy, argparse and json imports, and the core alone
            "floor": lambda: run_process([py, "-c", "import pluggy, argparse, json"], cwd=cwd),
            "core": lambda: run_process(cli, cwd=cwd, env=child_env({"PROVIDER_CORE_PLUGINS": ""})),
        }
        ours = alternate(sides, cfg.process_rounds)
        sides = {name: sides[name] for name in ("bare", "cli")}  # the peers' rounds compare these
        notes.append(f"plugins: {_installed_plugins(cwd)}.")
        notes.append(_import_breakdown(cwd, max(3, cfg.process_rounds // 3)))
        venv = peers_venv() if cfg.peer_rounds else None
        peers = None
        if venv is not None:
            env = child_env({**PEER_ENV, "LLM_USER_PATH": str(Path(cwd) / "llm-home")})
            sides["llm models"] = lambda: run_process([str(venv / "bin" / "llm"), "models"], cwd=cwd, env=env)
            sides["import litellm"] = lambda: run_process(
                [str(venv / "bin" / "python"), "-c", "import litellm"], cwd=cwd, env=env
            )
            sides["import llm"] = lambda: run_process(
                [str(venv / "bin" / "python"), "-c", "import llm"], cwd=cwd, env=env
            )
            peers = alternate(sides, cfg.peer_rounds)
    over = ours.difference("cli", "bare")
    result = f"{_ms(ours.median('cli'))} wall, {over * 1e3:+.1f} ms over bare"
    rows = [
        Row(
            "CLI cold start over bare Python",
            f"**{over * 1e3:+.1f} ms** ({_ms(ours.median('cli'))} vs {_ms(ours.median('bare'))}); "
            f"CPU {ours.cpu_difference('cli', 'bare') * 1e3:+.1f} ms"
            if ours.cpu
            else f"**{over * 1e3:+.1f} ms**",
            "`python -c pass`",
            f"<= {CLI_OVER_BARE * 1e3:.0f} ms over bare Python, this repository's plugins installed",
            over <= CLI_OVER_BARE,
            [
                "`provider-core providers --json`, the entry-point cache warm (the first start after an "
                "install scans).",
                f"For scale, in the same rounds: `python -c 'import pluggy, argparse, json'` "
                f"{ours.difference('floor', 'bare') * 1e3:+.1f} ms over bare Python (what a CLI on pluggy "
                f"with argparse and JSON output cannot avoid); the CLI with no plugin loaded "
                f"(`PROVIDER_CORE_PLUGINS=`) {ours.difference('core', 'bare') * 1e3:+.1f} ms.",
            ],
        )
    ]
    if peers is None:
        why = "the quick run skips peers" if not cfg.peer_rounds else "no peers venv (run `make bench-peers`)"
        notes.append(f"peer comparison skipped: {why}.")
        rows.append(Row("CLI cold start", result, "`python -c pass`", "<= 0.15x `llm models`", None, notes))
        return rows
    vs_llm = peers.ratio("cli", "llm models")
    vs_litellm = peers.ratio("cli", "import litellm")
    llm_v, litellm_v = _peer_version(venv, "llm"), _peer_version(venv, "litellm")
    notes.append(
        f"peers from {venv.name}: llm {llm_v}, litellm {litellm_v}; "
        f"`llm models` {_ms(peers.median('llm models'))}, `import llm` {_ms(peers.median('import llm'))}, "
        f"`import litellm` {_ms(peers.median('import litellm'))}, "
        f"bare Python {_ms(peers.median('bare'))} in those rounds ({cfg.peer_rounds} rounds)."
    )
    rows.append(
        Row(
            "CLI cold start: `provider-core providers --json`",
            f"{result}; **{vs_llm:.3f}x** `llm models`, {vs_litellm:.3f}x `import litellm`",
            "`python -c pass`, `llm models`, `python -c 'import litellm'`",
            "<= 0.15x `llm models`",
            vs_llm <= 0.15,
            notes,
        )
    )
    return rows


def _settled(*paths: Path) -> None:
    """Wait until the files just written (plugins by pip, a configuration file) are older
    than the caches' settle time, so that the warm-up start can cache them (as for any
    plugin installed, or configuration written, more than two seconds before)."""
    newest = max(p.stat().st_mtime for p in paths)
    time.sleep(max(0.0, newest + SETTLE_SECONDS + 0.1 - time.time()))


REGISTER = """import {modules}
import sys
from provider_core import hookspecs
from provider_core.manager import PluginManager
manager = PluginManager(hookspecs.PROJECT_NAME)
manager.add_hookspecs(hookspecs)
for name, module in list(sys.modules.items()):
    if name.startswith("bench_plugin_"):
        manager.register(module, name=name)
"""


def bench_many_plugins(cfg: Config) -> list[Row]:
    counts = sorted({cfg.plugin_count, *PLUGIN_TARGETS})
    with tempfile.TemporaryDirectory(prefix="bench-plugins-") as tmp:
        root = Path(tmp)
        cache = root / "cache"
        cli = [*cli_argv(), "providers", "--json"]
        sites = {1: root / "one"}
        sites.update({n: root / f"n{n}" for n in counts})
        sides = {}
        for n, site in sites.items():
            names = install_plugins(n, site, root / f"wheels-{n}")
            env = child_env({"PYTHONPATH": str(site), "PROVIDER_CORE_CACHE_DIR": str(cache)})
            check = _providers_json(set(names))
            sides[str(n)] = lambda env=env, check=check: run_process(cli, cwd=tmp, env=env, check_output=check)
            # for scale: Python importing the same plugin modules, then registering them with
            # the registry's plugin manager, and doing nothing else
            modules = ", ".join(f"bench_plugin_{i:03d}" for i in range(1, n + 1))
            imports = [_python(), "-c", f"import {modules}"]
            sides[f"import {n}"] = lambda env=env, argv=imports: run_process(argv, cwd=tmp, env=env)
            registers = [_python(), "-c", REGISTER.format(modules=modules)]
            sides[f"register {n}"] = lambda env=env, argv=registers: run_process(argv, cwd=tmp, env=env)
        _settled(*sites.values())
        samples = alternate(sides, cfg.process_rounds)
    rows = []
    for n in counts:
        ratio = samples.ratio(str(n), "1")
        per = samples.difference(str(n), "1") / (n - 1)
        per_import = samples.difference(f"import {n}", "import 1") / (n - 1)
        per_register = samples.difference(f"register {n}", "register 1") / (n - 1)
        target = PLUGIN_TARGETS.get(n, 1.5)
        allowed = (target - 1) * samples.median("1") / (n - 1)
        rows.append(
            Row(
                f"start-up with {n} plugins",
                f"**{ratio:.2f}x** one plugin ({_ms(samples.median(str(n)))} vs {_ms(samples.median('1'))}; "
                f"{per * 1e3:.2f} ms per extra plugin)",
                "`providers --json` with 1 generated plugin",
                f"<= {target}x start-up with one",
                ratio <= target,
                [
                    f"{n} generated wheels, `pip install --no-deps --target`, on PYTHONPATH; every run checks "
                    "that all are listed; the entry-point cache warm (one untimed start after the install).",
                    f"For scale, in the same rounds, per extra plugin: Python importing the plugins' modules "
                    f"and nothing else (`python -c 'import bench_plugin_001, ...'`) {per_import * 1e3:.2f} ms; "
                    f"importing them and registering each with the registry's plugin manager (pluggy's "
                    f"`register`) {per_register * 1e3:.2f} ms; {target}x of this one-plugin start allows "
                    f"{allowed * 1e3:.2f} ms in all.",
                ],
            )
        )
    return rows


CONFIG = """[openai.endpoints.ollama]
base_url = "http://127.0.0.1:11434/v1"
[openai.endpoints.llamacpp]
base_url = "http://127.0.0.1:8081/v1"
models = ["local-gguf"]
default_model = "local-gguf"
timeout = [5, 600]
[openai.endpoints.vllm]
base_url = "http://127.0.0.1:8000/v1"
models = { "qwen2.5-7b" = "Qwen 2.5 7B", "llama-3.1-8b" = "Llama 3.1 8B" }
priority = 2
[openai.endpoints.router]
base_url = "https://router.example/api/v1"
api_key_env = "BENCH_ROUTER_KEY"
models_ttl = 600
[openai.endpoints.work]
base_url = "https://gateway.example/v1"
api_key_env = "BENCH_WORK_KEY"
models = ["gpt-4o", "gpt-4o-mini"]
"""


def _model_cache(cache: Path) -> None:
    """The model catalog's cache as a refresh would leave it for the endpoints with live lists."""
    now = time.time()
    lists = {
        "ollama http://127.0.0.1:11434/v1": ["llama3.2", "qwen2.5-coder"],
        "router https://router.example/api/v1": ["a/b"],
    }
    entries = {k: {"models": v, "fetched_at": now, "error": None, "checked_at": now} for k, v in lists.items()}
    cache.mkdir(parents=True, exist_ok=True)
    (cache / "models.json").write_text(json.dumps({"format": 1, "entries": entries}))


def _openai_installed() -> bool:
    try:
        metadata.distribution("provider-core-openai")
    except metadata.PackageNotFoundError:
        return False
    return True


def bench_config(cfg: Config) -> list[Row]:
    if not _openai_installed():
        return [
            Row(
                "start-up with a config file",
                "-",
                "-",
                f"<= {CONFIG_TARGET}x",
                None,
                ["provider-core-openai is not installed"],
            )
        ]
    with tempfile.TemporaryDirectory(prefix="bench-config-") as tmp:
        root = Path(tmp)
        config = root / "config.toml"
        config.write_text(CONFIG)
        _model_cache(root / "cache")
        _settled(config)  # a file written in the last 2 s is parsed every time (provider_core.tomlcache)
        base = {"PROVIDER_CORE_CACHE_DIR": str(root / "cache"), "XDG_CONFIG_HOME": str(root / "no-config")}
        base.update(BENCH_ROUTER_KEY="sk-bench-router-0000", BENCH_WORK_KEY="sk-bench-work-0000")
        with_file = child_env({**base, "PROVIDER_CORE_CONFIG": str(config)})
        without = child_env(base)
        for env in (with_file, without):
            for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
                env.pop(name, None)
        cli = [*cli_argv(), "providers", "--json"]
        endpoints = {"ollama", "llamacpp", "vllm", "router", "work"}
        sides = {
            "none": lambda: run_process(cli, cwd=tmp, env=without),
            "config": lambda: run_process(cli, cwd=tmp, env=with_file, check_output=_providers_json(endpoints)),
        }
        samples = alternate(sides, cfg.process_rounds)
    ratio = samples.ratio("config", "none")
    return [
        Row(
            "start-up with a config file",
            f"**{ratio:.3f}x** none ({_ms(samples.median('config'))} vs {_ms(samples.median('none'))}; "
            f"{samples.difference('config', 'none') * 1e3:+.1f} ms)",
            "`providers --json` without a configuration file",
            f"<= {CONFIG_TARGET}x start-up without one",
            ratio <= CONFIG_TARGET,
            [
                "5 OpenAI-compatible endpoints (two with keys from the environment, timeouts, listed models, two "
                "live lists read from the model catalog's cache); every run checks that all are listed. A table "
                "with headers or a proxy is parsed at every start (about 4 ms more): they may hold secrets, which "
                "the parsed-TOML cache does not copy."
            ],
        )
    ]
