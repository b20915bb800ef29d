"""The provider-core demo (``make demo``): the real CLI against a loopback Aivvm server.

Run with the Python of a virtualenv where provider-core and its plugins are installed: it
starts the loopback Aivvm-protocol server (``provider_aivvm.server``, a test aid that echoes
the prompt, NOT the real service) in this process on a free port, then runs the installed
``provider-core`` console script as subprocesses with ``AIVVM_BASE_URL`` pointing at it:

1. ``providers``: Aivvm is listed, marked not working;
2. ``route gpt-4``: Aivvm is skipped (marked not working), and how to override is shown;
3. ``chat -m gpt-4 ...``: refused with a one-line explanation (exit 1, as expected);
4. ``chat --provider aivvm -m gpt-4 ...``: streams a completion from the loopback server;
5. ``chat -m gpt-4 --include-not-working ...``: routed by model name to Aivvm, streamed.

Nothing leaves the machine: the subprocesses get an environment with no provider
configuration (no ``OPENAI_*`` variables, an empty config location), so no installed
plugin can reach a real service. Each step is checked; the demo exits 1 when one behaves
unexpectedly, naming it.
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

STEP_TIMEOUT = 60.0
PROMPT = "Stream this back exactly: Привет, 世界! 👋 (cut into 3-byte chunks on the wire)"


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


def cli_path() -> Path:
    path = Path(sys.executable).with_name("provider-core")
    if not path.exists():
        sys.exit(f"demo: error: {path} not found; install provider-core into this Python's environment first")
    return path


def header(text: str) -> None:
    print(f"\n\033[1m{text}\033[0m" if sys.stdout.isatty() else f"\n{text}", flush=True)


def run(cli: Path, args: list[str], env: dict[str, str], shown_env: str) -> Result:
    """Run the CLI, relaying its stdout and stderr as they arrive (so streaming is visible)."""
    header(f"$ {shown_env}provider-core {shlex.join(args)}")
    proc = subprocess.Popen([str(cli), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    out, err = bytearray(), bytearray()
    deadline = time.monotonic() + STEP_TIMEOUT
    assert proc.stdout is not None and proc.stderr is not None
    os.set_blocking(proc.stdout.fileno(), False)
    os.set_blocking(proc.stderr.fileno(), False)
    open_streams = {proc.stdout: (out, sys.stdout), proc.stderr: (err, sys.stderr)}
    while open_streams:
        if time.monotonic() > deadline:
            proc.kill()
            break
        idle = True
        for stream in list(open_streams):
            buffer, sink = open_streams[stream]
            try:
                data = os.read(stream.fileno(), 4096)
            except BlockingIOError:
                continue
            idle = False
            if not data:
                del open_streams[stream]
                continue
            buffer += data
            sink.buffer.write(data)
            sink.flush()
        if idle:
            time.sleep(0.005)
    code = proc.wait(timeout=10)
    proc.stdout.close()
    proc.stderr.close()
    return Result(code, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))


def note(text: str) -> None:
    print(f"  -> {text}", flush=True)


def main() -> int:
    from provider_aivvm.server import AivvmServer

    cli = cli_path()
    problems: list[str] = []

    def expect(ok: bool, what: str) -> None:
        if not ok:
            problems.append(what)
            print(f"  !! UNEXPECTED: {what}", file=sys.stderr, flush=True)

    with (
        tempfile.TemporaryDirectory(prefix="provider-core-demo-") as home,
        AivvmServer(chunk_size=3, delay_between=0.02) as server,
    ):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AIVVM_", "PROVIDER_CORE_"))}
        env.update(
            AIVVM_BASE_URL=server.url,
            PROVIDER_CORE_CONFIG=str(Path(home) / "config.toml"),  # absent: no configured endpoints
            XDG_CONFIG_HOME=home,
            PYTHONIOENCODING="utf-8",
        )
        shown = f"AIVVM_BASE_URL={server.url} "
        header(
            f"== provider-core demo: the loopback Aivvm server (a test aid, NOT the real service) is at {server.url}"
        )

        r = run(cli, ["providers"], env, "")
        rows = [line.split() for line in r.stdout.splitlines()]
        aivvm = next((row for row in rows if row and row[0] == "Aivvm"), None)
        expect(r.code == 0, f"'providers' exited {r.code}")
        expect(
            aivvm is not None and aivvm[1:5] == ["no", "yes", "yes", "yes"],
            "'providers' should list Aivvm as: not working, stream, GPT-3.5, GPT-4",
        )

        r = run(cli, ["route", "gpt-4"], env, shown)
        note(f"exit {r.code}: expected 1, Aivvm is skipped because it is marked not working")
        expect(r.code == 1, f"'route gpt-4' exited {r.code}, expected 1 (no working provider)")
        expect(
            "skipped Aivvm: marked not working" in r.stdout, "'route gpt-4' should say Aivvm was skipped as not working"
        )
        expect("--provider Aivvm" in r.stderr, "'route gpt-4' should say how to override (--provider Aivvm)")

        r = run(cli, ["chat", "-m", "gpt-4", "Hello"], env, shown)
        note(f"exit {r.code}: expected 1, a one-line explanation and how to override")
        error_lines = r.stderr.strip().splitlines()
        expect(r.code == 1, f"'chat -m gpt-4' exited {r.code}, expected 1")
        expect(
            len(error_lines) == 1 and error_lines[0].startswith("error:") and "not working" in error_lines[0],
            "'chat -m gpt-4' should print one 'error:' line saying the provider is not working",
        )
        expect("--provider" in r.stderr, "'chat -m gpt-4' should say how to override (--provider)")
        expect(r.stdout == "", "'chat -m gpt-4' should print nothing on stdout")
        expect(server.requests == [], "the refused steps must not send any request")

        r = run(cli, ["chat", "--provider", "aivvm", "-m", "gpt-4", PROMPT], env, shown)
        note(
            f"exit {r.code}: streamed {len(PROMPT)} characters in {len(PROMPT.encode())} bytes from the loopback server"
        )
        expect(r.code == 0, f"'chat --provider aivvm' exited {r.code}")
        expect(r.stdout == PROMPT + "\n", "'chat --provider aivvm' should print the echoed prompt exactly")
        sent = [req.json for req in server.requests]
        expect(
            len(sent) == 1 and sent[0]["model"] == {"id": "gpt-4", "name": "GPT-4"},
            "the loopback server should have received exactly one valid gpt-4 request",
        )

        r = run(cli, ["chat", "-m", "gpt-4", "--include-not-working", "Routed by model name"], env, shown)
        note(f"exit {r.code}: routed by model name to Aivvm, allowed although it is marked not working")
        expect(r.code == 0, f"'chat -m gpt-4 --include-not-working' exited {r.code}")
        expect(r.stdout == "Routed by model name\n", "the routed chat should print the echoed prompt exactly")
        expect(len(server.requests) == 2, "the routed chat should have sent exactly one more request")

    if problems:
        print(f"\ndemo: {len(problems)} step(s) behaved unexpectedly:", file=sys.stderr)
        for problem in problems:
            print(f"  - {problem}", file=sys.stderr)
        return 1
    header("== demo finished: every step behaved as expected")
    return 0


if __name__ == "__main__":
    sys.exit(main())
