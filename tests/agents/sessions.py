"""The scripted sessions, one per agent, and running an agent CLI through the stack.

Both sessions do the same work: the failing test run, the pod listing, the test run again, then
reads; each agent with its own tools.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .model import Call

__all__ = ["claude_steps", "codex_steps", "AgentRun", "run_agent", "TEST_RUN", "POD_LISTING", "CAT_CONFIG"]

TEST_RUN = "python -m pytest -v -p no:cacheprovider test_suite.py"
POD_LISTING = "python pods.py"
CAT_CONFIG = "cat config.json"
AGENT_TIMEOUT_S = 600


def claude_steps(root: Path) -> list:
    """Claude Code: Bash (test run, listing, test run), Read, Grep, Glob, Bash cat."""
    def bash(command: str) -> Any:
        return lambda body: Call("Bash", {"command": command, "description": command})
    return [
        bash(TEST_RUN),
        bash(POD_LISTING),
        bash(TEST_RUN),
        lambda body: Call("Read", {"file_path": str(root / "src" / "app.py")}),
        _offered("Grep", {"pattern": "checkout", "path": str(root), "output_mode": "content", "-n": True},
                 "grep -rn checkout --include=*.py ."),
        _offered("Glob", {"pattern": "**/*.py", "path": str(root)}, "find . -name '*.py'"),
        bash(CAT_CONFIG),
    ]


def _offered(tool: str, arguments: dict[str, Any], command: str) -> Any:
    """``tool`` when the request offers it; else the same search with Bash (Claude Code 2.1.197
    offers no Grep or Glob tool: it tells the model to use grep and find)."""
    def step(body: dict[str, Any]) -> Call:
        if any(item.get("name") == tool for item in body.get("tools", [])):
            return Call(tool, arguments)
        return Call("Bash", {"command": command, "description": command})
    return step


_SESSION_ID = re.compile(r"Process running with session ID (\d+)")


def _last_output(body: dict[str, Any]) -> str:
    outputs = [item for item in body.get("input", []) if isinstance(item, dict)
               and item.get("type") in ("function_call_output", "custom_tool_call_output")]
    output = outputs[-1].get("output", "") if outputs else ""
    return output if isinstance(output, str) else json.dumps(output)


def _write_stdin(body: dict[str, Any]) -> Call:
    session = _SESSION_ID.search(_last_output(body))
    if session is None:
        raise ValueError("the last exec_command output names no running session")
    return Call("write_stdin", {"session_id": int(session[1]), "chars": "ship it\n", "yield_time_ms": 2000})


_PATCH = "*** Begin Patch\n*** Update File: notes.txt\n@@\n-status: draft\n+status: ready\n*** End Patch\n"


def _apply_patch(root: Path) -> Any:
    """apply_patch as the request offers it: a freeform (custom) tool, a function with ``input``, or
    (Codex 0.171 with a model it has no metadata for) the ``apply_patch`` command that Codex's
    exec_command runs itself."""
    def step(body: dict[str, Any]) -> Call:
        for tool in body.get("tools", []):
            if tool.get("name") == "apply_patch":
                return (Call("apply_patch", raw=_PATCH) if tool.get("type") == "custom"
                        else Call("apply_patch", {"input": _PATCH}))
        return Call("exec_command", {"cmd": f"apply_patch <<'EOF'\n{_PATCH}EOF\n", "workdir": str(root)})
    return step


def codex_steps(root: Path) -> list:
    """Codex: exec_command (test run, listing, test run, cat), write_stdin to a waiting process, apply_patch."""
    def run(cmd: str, **extra: Any) -> Any:
        return lambda body: Call("exec_command", {"cmd": cmd, "workdir": str(root), "login": False,
                                                   "yield_time_ms": 10000, **extra})
    return [
        run(TEST_RUN),
        run(POD_LISTING),
        run(TEST_RUN),
        run(CAT_CONFIG),
        run("python -c \"print(input().upper())\"", yield_time_ms=500, tty=True),
        _write_stdin,
        _apply_patch(root),
    ]


@dataclass
class AgentRun:
    code: int
    stdout: str
    stderr: str


def run_agent(argv: list[str], cwd: Path, env: dict[str, str]) -> AgentRun:
    done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=AGENT_TIMEOUT_S)
    return AgentRun(done.returncode, done.stdout, done.stderr)
