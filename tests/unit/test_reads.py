"""Shell commands that print a file count as file reads: exact in every mode, stale in token mode."""

from __future__ import annotations

import json

import pytest

from extproc import Block, BodyRequest, Kind, Policy, Settings, build_engine
from extproc.conversation import ToolCall
from extproc.formats import parse_body
from extproc.pipeline.age import stale_reads
from extproc.pipeline.reads import FileRead, file_read
from tests.shelf import SHELF

from .sessions import Turn, build

PACKAGE = json.dumps({"name": "shop", "version": "1.4.2", "scripts": {"test": "pytest", "lint": "ruff check ."},
                      "dependencies": {f"dep-{i}": f"^{i}.0.0" for i in range(12)}}, indent=2) + "\n"
FILLER = [Turn("Bash", {"command": "ls"}, "x\n" * 150)] * 2


def codex_output(output: str, code: int = 0) -> str:
    return (f"Chunk ID: 8f2f3c\nWall time: 0.0000 seconds\nProcess exited with code {code}\n"
            f"Original token count: {len(output) // 4}\nOutput:\n{output}")


class TestFileRead:
    @pytest.mark.parametrize(("tool", "args", "expected"), [
        ("Bash", {"command": "cat package.json"}, FileRead("package.json", True)),
        ("Bash", {"command": "cat -n ./src/app.py"}, FileRead("src/app.py", True)),
        ("exec_command", {"cmd": "nl -ba src/app.py", "workdir": "/repo"}, FileRead("/repo/src/app.py", True)),
        ("exec_command", {"cmd": "sed -n '1,120p' src/app.py"}, FileRead("src/app.py", False)),
        ("exec_command", {"cmd": "head -n 40 README.md"}, FileRead("README.md", False)),
        ("bash", {"command": "tail -20 /etc/hosts"}, FileRead("/etc/hosts", False)),
        ("bash", {"command": "cd /repo && cat setup.cfg"}, FileRead("/repo/setup.cfg", True)),
        ("shell", {"command": ["bash", "-lc", "cat Cargo.toml"]}, FileRead("Cargo.toml", True)),
        ("shell", {"command": ["cat", "go.mod"]}, FileRead("go.mod", True)),
        ("Read", {"file_path": "/repo/a.py", "offset": 10}, FileRead("/repo/a.py", False)),
        ("str_replace_editor", {"command": "view", "path": "a.py"}, FileRead("a.py", True)),
        # piped into programs that pick or number lines by position: a part of the file as shown
        ("bash", {"command": "nl -ba holmes/core/llm.py | sed -n '1,700p'"}, FileRead("holmes/core/llm.py", False)),
        ("bash", {"command": "cat -n ./pyvista/core/grid.py | sed -n '489,550p'"}, FileRead("pyvista/core/grid.py", False)),
        ("bash", {"command": "cd /testbed && cat src/rules/L003.py | head -100"}, FileRead("/testbed/src/rules/L003.py", False)),
        ("shell", {"command": ["bash", "-lc", "sed -n '40,80p' a.py | nl -ba"]}, FileRead("a.py", False)),
        ("bash", {"command": "cat a.py | cat -n"}, FileRead("a.py", True)),
    ])
    def test_reads(self, tool, args, expected):
        """Each way of printing one file is a read of that path, whole or in part."""
        assert file_read(tool, args) == expected

    @pytest.mark.parametrize(("tool", "args"), [
        ("Bash", {"command": "cat package.json | jq .scripts"}),
        ("Bash", {"command": "cat a.py | grep -n def"}),
        ("Bash", {"command": "cat a.py | tail -n +5"}),
        ("Bash", {"command": "nl -ba a.py | sed -n '/def/p'"}),
        ("Bash", {"command": "cat a.py | head -50 > b.py"}),
        ("Bash", {"command": "cat a.py | head -5 b.py"}),
        ("Bash", {"command": "cat a.py |"}),
        ("Bash", {"command": "cat tests.log | tail -50"}),
        ("Bash", {"command": "cat a.txt > b.txt"}),
        ("Bash", {"command": "cat a.py b.py"}),
        ("Bash", {"command": "cat a.py; rm a.py"}),
        ("Bash", {"command": "sed -i 's/a/b/' a.py"}),
        ("Bash", {"command": "sed -n '/def/p' a.py"}),
        ("Bash", {"command": "python -m pytest"}),
        ("Bash", {"command": "cat 'unbalanced"}),
        ("exec_command", {"cmd": "cat logs/tests.log"}),
        ("bash", {"command": "tail -n 1500 /logs/agent.log.1"}),
        ("search_issues", {"command": "cat a.py"}),
        ("exec_command", {"cmd": 42}),
    ])
    def test_not_reads(self, tool, args):
        """Pipes into filters by content, redirects, several files, edits, log files, other programs and
        other tools are not reads."""
        assert file_read(tool, args) is None


def result(tool: str, args: dict, text: str) -> Block:
    return Block(kind=Kind.TOOL_RESULT, role="tool", text=text, message_index=1, tool_name=tool,
                 path=("messages", 1, "content"), call=ToolCall(tool, json.dumps(args)))


class TestShellReadsStayExact:
    def test_policy_holds_shell_reads(self):
        """The policy keeps a printed file whole and releases the same tool's other output."""
        policy = Policy(protected_tools=("Read",), min_block_chars=200)
        assert not policy.releases(result("Bash", {"command": "cat package.json"}, PACKAGE))
        assert not policy.releases(result("exec_command", {"cmd": "cat package.json"}, codex_output(PACKAGE)))
        assert not policy.releases(result("Bash", {"command": "cat package.json | head -50"}, PACKAGE))
        assert policy.releases(result("Bash", {"command": "cat package.json | jq ."}, PACKAGE))

    @pytest.mark.parametrize("mode", ["cache", "token"])
    def test_cat_of_json_arrives_exact_through_the_compressor(self, mode):
        """Codex's ``cat package.json`` keeps its layout; the same JSON from a script is compacted."""
        turns = [Turn("exec_command", {"cmd": "cat package.json"}, codex_output(PACKAGE)),
                 Turn("exec_command", {"cmd": "python print_package.py"}, codex_output(PACKAGE)), *FILLER * 2]
        body = build("responses", turns)
        out = build_engine(Settings(workers=0), shelf=SHELF).run(json.dumps(body).encode(), BodyRequest("responses", mode=mode))
        outputs = [item["output"] for item in json.loads(out.body)["input"] if item.get("type") == "function_call_output"]
        assert outputs[0] == codex_output(PACKAGE)
        assert outputs[1].startswith("Chunk ID: 8f2f3c\n") and len(outputs[1]) < len(codex_output(PACKAGE))


class TestShellReadsGoStale:
    def test_codex_cat_then_patch(self):
        """A ``cat`` in a workdir is made stale by a later patch naming the file relative to it."""
        patch = "*** Begin Patch\n*** Update File: notes.txt\n@@\n-a\n+b\n*** End Patch\n"
        turns = [Turn("exec_command", {"cmd": "cat notes.txt", "workdir": "/repo"}, codex_output("line\n" * 60)),
                 Turn("apply_patch", patch, "Success. Updated the following files:\nM notes.txt\n"), *FILLER]
        stale = stale_reads(parse_body("responses", build("responses", turns)))
        assert list(stale.values()) == ["[trimwire: earlier read of /repo/notes.txt omitted; the file was edited later]"]

    def test_claude_bash_cat_then_edit(self):
        """Claude Code's ``cat src/app.py`` is stale once Edit changes /repo/src/app.py."""
        turns = [Turn("Bash", {"command": "cat src/app.py"}, "x = 1\n" * 60),
                 Turn("Edit", {"file_path": "/repo/src/app.py", "old_string": "x", "new_string": "y"}, "ok"),
                 *FILLER]
        stale = stale_reads(parse_body("anthropic", build("anthropic", turns)))
        assert list(stale.values()) == ["[trimwire: earlier read of src/app.py omitted; the file was edited later]"]

    def test_failed_cat_is_never_marked(self):
        """A ``cat`` whose header reports a non-zero exit read nothing: a later full read leaves it."""
        missing = codex_output("cat: notes.txt: No such file or directory\n" * 9, 1)
        turns = [Turn("exec_command", {"cmd": "cat notes.txt"}, missing),
                 Turn("exec_command", {"cmd": "cat notes.txt"}, codex_output("line\n" * 300)), *FILLER]
        body = build("responses", turns)
        out = build_engine(Settings(workers=0), shelf=SHELF).run(json.dumps(body).encode(), BodyRequest("responses", mode="token"))
        sent = json.loads(out.body) if out.body is not None else body
        assert [item["output"] for item in sent["input"] if item.get("type") == "function_call_output"][0] == missing
