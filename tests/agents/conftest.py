"""The agent suite's stack: trimwire (``python -m extproc serve``) and a real Envoy from
tests/envoy/stack.py, a scripted model behind Envoy, and a forwarder in front of Envoy that keeps
what the agent sent before trimwire saw it. Each test module runs its agent's session once.

Run it with ``make test-agents`` (``pytest -m agents tests/agents``); the CLIs are installed on
first use (``clis.py``). The size of every tool output, sent and arrived, is printed at the end.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.envoy.stack import TrimwireProcess, find_envoy_or_skip, start_test_envoy, start_trimwire

from .checks import Output, main_bodies, outputs, size_rows
from .forwarder import Forwarder
from .model import ScriptedModel, Step
from .sessions import AgentRun, run_agent
from .workspace import make_workspace

_SIZES: list[str] = []


@dataclass
class Session:
    """One finished agent session: the run, the project it worked in, and what was sent and arrived."""

    run: AgentRun
    root: Path
    model: ScriptedModel
    sent: list[dict]       # main-loop requests as the agent sent them
    arrived: list[dict]    # the same requests as they arrived upstream
    files: dict[str, str]  # the project's text files after the session

    @property
    def outputs(self) -> list[Output]:
        """Every tool output of the last request, sent and arrived."""
        return outputs(self.sent[-1], self.arrived[-1])


Launch = Callable[[str, Path, Path], tuple[list[str], dict[str, str]]]


@pytest.fixture(scope="session")
def agents_trimwire(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TrimwireProcess]:
    find_envoy_or_skip()
    running = start_trimwire(tmp_path_factory.mktemp("trimwire"))
    yield running
    running.stop()


def run_session(trimwire: TrimwireProcess, agent: str, steps: Callable[[Path], list[Step]], main_tool: str,
                launch: Launch) -> Session:
    """Run ``agent`` against the stack: ``launch(url, project, home)`` gives its argv and env."""
    with tempfile.TemporaryDirectory(prefix=f"trimwire-{agent}-") as scratch:
        root, home = make_workspace(Path(scratch) / "project"), Path(scratch) / "home"
        home.mkdir()
        model = ScriptedModel(steps(root), main_tool).start()
        envoy = start_test_envoy(trimwire.grpc_port, model)  # type: ignore[arg-type]
        forwarder = Forwarder(envoy.opts.listen_port).start()
        try:
            argv, env = launch(forwarder.url, root, home)
            run = run_agent(argv, root, env)
        finally:
            forwarder.stop()
            envoy.stop()
            model.stop()
        sent = main_bodies([item.body for item in forwarder.sent], main_tool)
        arrived = main_bodies([item.body for item in model.arrived], main_tool)
        files = {path.name: path.read_text() for path in root.glob("*.txt")}  # the project goes with scratch
        session = Session(run, root, model, sent, arrived, files)
    if sent and arrived:
        _SIZES.extend(size_rows(agent, session.outputs))
    return session


def pytest_terminal_summary(terminalreporter) -> None:  # type: ignore[no-untyped-def]
    if _SIZES:
        terminalreporter.write_sep("-", "agent tool outputs: characters sent -> arrived upstream")
        for line in _SIZES:
            terminalreporter.write_line(line)
