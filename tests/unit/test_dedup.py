"""dedup (``pipeline/dedup.py``): a run of lines the conversation already holds goes out as a pointer.

Real-shaped agent conversations for each kind of repeat (a file viewed again after an edit,
overlapping windows, a test suite re-run, a diff shown twice, a log tailed again, grep hits of a
file viewed before, a file echoed after a heredoc wrote it); every pointer is read back from the
request as sent (``dedup_resolve.py``) and must give exactly the lines it replaced. Resent
history stays byte-identical, protected tools' outputs are never changed, and the line index
kept with the conversation's checkpoint gives what a fresh index gives.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extproc import BodyEngine, BodyRequest, Settings, build_engine
from extproc.compressors.content_types import ROUTER
from extproc.history import History
from extproc.messages import Checkpoints, Surroundings
from extproc.pipeline import Pipeline, Policy, Routes
from extproc.pipeline import lines as lines_module
from extproc.pipeline.cache import MessageCache
from extproc.pipeline.dedup import Dedup
from extproc.pipeline.guard import Guard
from extproc.pipeline.lines import LineIndex, Lines, LinesCache, Source
from extproc.tokens import TokenCounter
from tests.shelf import SHELF

from .compressors import load
from .dedup_resolve import POINTER, check_pointers, expand, output_text, texts_of
from .sessions import numbered, source
from .test_replay import CORPUS_ROWS, assert_history_unchanged

MB = 1 << 20
TOKENS = TokenCounter()


def only_dedup(margin: float = 3.0, cached: bool = True, reads: bool = True, errors: bool = True) -> BodyEngine:
    """A compressor whose only transform is dedup: every other line goes out as it came."""
    settings = Settings(workers=0)
    policy = Policy(protected_tools=settings.protected_tools, min_block_chars=settings.min_block_chars)
    history = History(messages=MessageCache(MB), checkpoints=Checkpoints(MB),
                      surroundings=Surroundings(MB)) if cached else None
    return BodyEngine(settings, Pipeline(policy, Routes(ROUTER, {})), history=history,
                          dedup=Dedup(margin=margin, protected_tools=settings.protected_tools, count=TOKENS.count,
                                      guards=policy.guards, reads=reads, errors=errors))


def conversation(*turns: tuple[str, dict[str, Any], str]) -> dict[str, Any]:
    """An Anthropic body: one tool call and its result per turn (tool name, input, output)."""
    messages: list[dict[str, Any]] = [{"role": "user", "content": "Fix the failing upload test."}]
    for number, (tool, arguments, output) in enumerate(turns):
        messages += [{"role": "assistant", "content": [
                          {"type": "tool_use", "id": f"toolu_{number:02d}", "name": tool, "input": arguments}]},
                     {"role": "user", "content": [
                          {"type": "tool_result", "tool_use_id": f"toolu_{number:02d}", "content": output}]}]
    return {"model": "claude-sonnet-4-5", "max_tokens": 1024, "messages": messages}


def run(compressor: BodyEngine, body: dict[str, Any], mode: str = "cache") -> tuple[list[dict[str, Any]], Any]:
    raw = json.dumps(body).encode()
    result = compressor.run(raw, BodyRequest("anthropic", mode=mode))
    return json.loads(result.body or raw)["messages"], result


def last_output(messages: list[dict[str, Any]]) -> str:
    return messages[-1]["content"][0]["content"]


def bash(command: str, output: str) -> tuple[str, dict[str, Any], str]:
    return "Bash", {"command": command}, output


TRACE_LINE = "E           shop.payments.errors.PaymentError: capture below minimum: 20.00 < 25.00"
SUMMARY_LINE = "FAILED tests/test_tasks.py::test_expire_stale_orders - assert 6 == 7"


def pytest_run(rerun: bool = False) -> str:
    """``pytest -v`` with three failures; run again, the same failures with a new client object's
    address and a new duration, as a real re-run prints them."""
    text = "Exit code 1\n" + load("pytest_verbose.txt").rstrip("\n")
    if rerun:
        text = text.replace("0x7f3a2c1d9e50", "0x7f91c04a7d30").replace("in 41.27s", "in 39.84s")
    return text


def failed_runs(*outputs: str) -> dict[str, Any]:
    """A conversation where each output is the ``is_error`` result of ``pytest -v``."""
    body = conversation(*(bash("pytest -v", output) for output in outputs))
    for message in body["messages"][2::2]:
        message["content"][0]["is_error"] = True
    return body


APP = source("app.py", 120)
EDITED = APP.replace("def step_60(chunk, size=60)", "def step_60(chunk, size=61)")


def window(text: str, first: int, last: int) -> str:
    """SWE-agent's ``open``/``goto`` view: a header and ``N:line`` for lines first to last."""
    lines = text.split("\n")
    body = "\n".join(f"{n}:{lines[n - 1]}" for n in range(first, last + 1))
    return f"[File: /repo/src/app.py ({len(lines)} lines total)]\n({first - 1} more lines above)\n{body}\n" \
           f"({len(lines) - last} more lines below)"


def log_lines(first: int, last: int) -> str:
    return "\n".join(f"2025-03-14T09:{n // 60:02d}:{n % 60:02d}Z worker-3 uploaded chunk {n} of batch 7781 "
                     f"(512 KiB, crc=0x{n * 2654435761 % 2**32:08x})" for n in range(first, last + 1))


HEREDOC_FILE = source("retry.py", 40)

# (name, earlier turns, the turn whose output repeats them, what its pointer must name)
CASES = [
    ("file viewed again after an edit",
     [bash("cat -n src/app.py", numbered(APP)), bash("sed -i s/size=60/size=61/ src/app.py", "")],
     bash("cat -n src/app.py | head -200", numbered(EDITED)), "of the output of toolu_00 (cat -n src/app.py)"),
    ("overlapping cat -n and nl | sed -n windows",
     [bash("cat -n src/app.py", numbered(APP))],
     bash("nl -ba src/app.py | sed -n '40,100p'", numbered("\n".join(APP.split("\n")[39:100]), 40)),
     "lines 41-100 = lines 41-100 of the output of toolu_00"),
    ("a committed version viewed after the numbered file",
     [bash("cat -n src/app.py", numbered(APP))],
     bash("git show HEAD:src/app.py | sed -n '40,100p'", "\n".join(APP.split("\n")[39:100])),
     "(without their line numbers)"),
    ("overlapping editor windows",
     [("bash", {"command": "open src/app.py 30"}, window(APP, 1, 100))],
     ("bash", {"command": "goto 80"}, window(APP, 30, 120)), "lines 30-100 = lines 30-100"),
    ("a test suite re-run with the same failures",
     [bash("pytest -v", load("pytest_verbose.txt"))], bash("pytest -v", load("pytest_verbose.txt")),
     "of the output of toolu_00 (pytest -v)"),
    ("a git diff shown twice",
     [bash("git diff", load("git_diff.txt")), bash("git status --short", "M src/app.py")],
     bash("git diff", load("git_diff.txt")), "of the output of toolu_00 (git diff)"),
    ("a log tailed again",
     [bash("tail -n 60 /var/log/upload.log", log_lines(1, 60))],
     bash("tail -n 60 /var/log/upload.log", log_lines(21, 80)), "= lines 21-60 of the output of toolu_00"),
    ("grep hits repeating lines of a file viewed earlier",
     [bash("cat -n src/app.py", numbered(APP))],
     bash("grep -n -A12 'def step_30' src/app.py",
          "\n".join(f"{n}{':' if n == 31 else '-'}{line}" for n, line in enumerate(APP.split('\n'), 1)
                    if 31 <= n <= 43)), "lines 31-43 = lines 31-43 of the output of toolu_00"),
    ("a file echoed after a heredoc wrote it",
     [bash("ls src", "app.py\nretry.py\n")],
     bash(f"cat > src/retry.py <<'EOF'\n{HEREDOC_FILE}\nEOF\ncat src/retry.py", HEREDOC_FILE),
     "= lines 2-53 of the command argument of toolu_01 (cat > src/retry.py"),
]


class TestRepeats:
    @pytest.mark.parametrize(("name", "earlier", "again", "names"), CASES, ids=[case[0] for case in CASES])
    def test_repeat_becomes_a_pointer_that_reads_back(self, name, earlier, again, names):
        """The repeated run goes out as one pointer naming where it stands; read back, it is the run."""
        compressor = only_dedup()
        messages, result = run(compressor, conversation(*earlier, again))
        sent = last_output(messages)
        pointers = [line for line in sent.split("\n") if POINTER.match(line)]
        assert pointers and any(names in line for line in pointers), sent[:600]
        assert check_pointers(sent, again[2], texts_of(messages)) == len(pointers)
        assert "dedup" in result.transforms and result.events["dedup_saved_tokens"] == result.tokens_saved > 0

    @pytest.mark.parametrize(("name", "earlier", "again", "names"), CASES, ids=[case[0] for case in CASES])
    def test_with_every_compressor(self, compressor, name, earlier, again, names):
        """With the compressors on, dedup points at the earlier output as it went out."""
        messages, result = run(compressor, conversation(*earlier, again))
        sent = last_output(messages)
        assert any(POINTER.match(line) for line in sent.split("\n")), sent[:600]
        assert result.tokens_after < result.tokens_before

    def test_earlier_in_the_same_output(self):
        """A block printed twice in one output points back up to its first copy."""
        block = log_lines(1, 30)
        messages, _ = run(only_dedup(), conversation(bash("./upload --retry", f"try 1\n{block}\ntry 2\n{block}")))
        sent = last_output(messages)
        assert "[trimwire: 30 lines = lines 2-31 above in this output]" in sent
        check_pointers(sent, f"try 1\n{block}\ntry 2\n{block}", texts_of(messages))

    def test_short_runs_stay(self):
        """A run whose tokens are not ``margin`` times its pointer's is sent as it was."""
        short = "\n".join(f"line {n}" for n in range(4))
        messages, result = run(only_dedup(), conversation(bash("a", f"{short}\n" + "x" * 300),
                                                          bash("b", f"{short}\n" + "y" * 300)))
        assert "trimwire" not in last_output(messages) and result.body is None

    def test_default_margin_takes_a_run_half_again_its_pointer(self):
        """With the default ``dedup_margin`` a run of 1.5 to 2 times its pointer's tokens becomes the
        pointer: it still saves a third of what it replaces."""
        pointer = "[trimwire: 3 lines = lines 1-3 of the output of toolu_00 (./deploy --dry-run)]"
        rows = [f"service api-{n}: image registry.local/api:{n}.4.1 ready" for n in range(1, 4)]
        run_tokens = TOKENS.count("\n".join(rows))
        assert 1.5 * TOKENS.count(pointer) <= run_tokens < 2 * TOKENS.count(pointer)
        output = "\n".join(rows) + "\nplan: 3 services unchanged, 0 to create (" + "z" * 300 + ")"
        body = conversation(bash("./deploy --dry-run", "\n".join(rows) + "\n" + "y" * 300),
                            bash("./deploy --dry-run", output))
        messages, _ = run(only_dedup(margin=Settings().dedup_margin), body)
        assert last_output(messages).startswith(pointer + "\n")
        check_pointers(last_output(messages), output, texts_of(messages))

    def test_a_stray_number_does_not_make_an_output_a_numbered_listing(self):
        """SWE-agent's shell ends an output with ``///PROCESS-DONE:0:PROCESS-DONE///``, which starts
        like a ``grep -n`` hit: one such line among many does not make the text's lines named by
        their numbers, so a page fetched twice still points at its first copy, by position."""
        page = "\n".join(["<!DOCTYPE html>", '<html lang="en-US">', "\t<head>", "\t\t<title>Perl File Upload</title>",
                          "\t</head>", "\t<body>", "\t\t<h1>Perl File Upload</h1>",
                          '\t\t<form method="post" enctype="multipart/form-data">',
                          '\t\t\tFile: <input type="file" name="file" />',
                          '\t\t\t<input type="submit" name="Submit!" value="Submit!" />', "\t\t</form>"])
        def fetched(speed: int) -> str:
            return (f"100   975    0   550  100   425   {speed}      0 --:--:-- --:--:-- --:--:--  8478\n{page}\n"
                    "</body></html>///PROCESS-DONE:0:PROCESS-DONE///\n(Open file: /ctf/printenv.pl)\nbash-$")
        body = conversation(bash("curl -F file=@printenv.pl http://web:8000", fetched(4632)),
                            bash("curl -F file=@printenv.pl http://web:8000", fetched(5485)))
        messages, _ = run(only_dedup(margin=1.5), body)
        sent = last_output(messages)
        assert "[trimwire: 14 lines = lines 2-15 of the output of toolu_00 (curl " in sent
        check_pointers(sent, fetched(5485), texts_of(messages))

    def test_a_re_run_points_at_its_earlier_traceback(self):
        """A failed pytest run re-run with the same failures (guarded: ``is_error``): the repeated
        FAILURES section, traceback frames, ``E`` lines and short test summary go out as pointers to
        the first run, which read back give exactly the lines replaced, so every line the error
        guard protects is still in the request byte for byte (``dedup_errors``)."""
        first, again = pytest_run(), pytest_run(rerun=True)
        messages, result = run(only_dedup(), failed_runs(first, again))
        sent = last_output(messages)
        check_pointers(sent, again, texts_of(messages))
        protected = Guard(again).lines
        assert TRACE_LINE in protected and SUMMARY_LINE in protected
        assert TRACE_LINE not in sent.split("\n") and SUMMARY_LINE not in sent.split("\n")
        assert "= lines " in sent and "of the output of toolu_00 (pytest -v)]" in sent
        assert protected <= set(expand(sent, texts_of(messages)).split("\n"))
        assert messages[:-1] == failed_runs(first, again)["messages"][:-1]
        assert result.events["dedup_saved_tokens"] > 0

    def test_a_re_run_through_every_compressor_keeps_its_error_lines_by_pointer(self):
        """The default engine (compressors, then dedup): the re-run loses its passing lines and points
        at the first run's traceback; resolved, every protected line of it is there verbatim."""
        first, again = pytest_run(), pytest_run(rerun=True)
        engine = build_engine(Settings(workers=0), shelf=SHELF)
        messages, result = run(engine, failed_runs(first, again))
        sent = last_output(messages)
        assert "dedup" in result.transforms and TRACE_LINE not in sent.split("\n")
        assert Guard(again).lines <= set(expand(sent, texts_of(messages)).split("\n"))

    @pytest.mark.parametrize("header", [
        "Chunk ID: {chunk}\nWall time: {time} seconds\nProcess exited with code 1\nOriginal token count: 2210\n"
        "Output:\n",
        "Exit code 1\n",
    ])
    def test_a_re_run_keeps_its_harness_header(self, header):
        """A harness's header (Codex's chunk, wall time and exit code; Claude Code's ``Exit code``)
        describes this call: a re-run's repeated output points back, its header stays as sent, even
        where the earlier run's header lines match it line for line."""
        output = load("pytest_verbose.txt").rstrip("\n")
        first = header.format(chunk="1f0c2a", time="41.3") + output
        again = header.format(chunk="923ff6", time="0.8451").replace("Wall time: 0.8451", "Wall time: 41.3") + output
        messages, _ = run(only_dedup(), failed_runs(first, again))
        sent = last_output(messages)
        check_pointers(sent, again, texts_of(messages))
        head = again[:len(again) - len(output)]
        assert sent.startswith(head) and "[trimwire: " in sent[len(head):]

    @pytest.mark.parametrize("engine", ["only_dedup", "default"])
    def test_with_dedup_errors_off_error_lines_stay_verbatim(self, engine):
        """``dedup_errors: false``: repeats may still become pointers, but every line the error guard
        protects goes out in the re-run's own text."""
        first, again = pytest_run(), pytest_run(rerun=True)
        compressor = only_dedup(errors=False) if engine == "only_dedup" else \
            build_engine(Settings(workers=0, dedup_errors=False), shelf=SHELF)
        messages, result = run(compressor, failed_runs(first, again))
        sent = last_output(messages)
        assert "[trimwire: " in sent and "dedup" in result.transforms
        assert Guard(again).lines and Guard(again).lines <= set(sent.split("\n"))
        if engine == "only_dedup":
            check_pointers(sent, again, texts_of(messages))

    def test_a_re_read_file_points_at_the_lines_it_already_showed(self):
        """A second Read of the same file after a one-line edit: the unchanged lines become pointers
        to the first Read, which read back give exactly the lines replaced; the edited line stays."""
        body = conversation(("Read", {"file_path": "src/app.py"}, numbered(APP)),
                            ("Read", {"file_path": "src/app.py"}, numbered(EDITED)))
        messages, result = run(only_dedup(), body)
        sent = last_output(messages)
        assert "of the output of toolu_00 (src/app.py)]" in sent
        assert "def step_60(chunk, size=61)" in sent and "dedup" in result.transforms
        assert messages[:-1] == body["messages"][:-1]
        check_pointers(sent, numbered(EDITED), texts_of(messages))
        assert "dedup_protected_tokens" not in result.events

    def test_a_shell_re_read_points_at_the_first(self):
        """A file the shell printed (``reads.py``) is a read too: a second ``cat -n`` points at the first."""
        body = conversation(bash("cat -n src/app.py", numbered(APP)), bash("cat -n src/app.py", numbered(EDITED)))
        messages, result = run(only_dedup(), body)
        check_pointers(last_output(messages), numbered(EDITED), texts_of(messages))
        assert "dedup" in result.transforms

    def test_a_piped_read_never_points_inside_itself(self):
        """``nl -ba f | sed -n 'A,Bp'`` is a read of a part of ``f`` (``reads.py``): a block the file
        holds twice goes out twice, as the file holds it, while lines shown before still point back."""
        twice = f"{HEREDOC_FILE}\n{HEREDOC_FILE}"
        body = conversation(bash("cat -n src/app.py", numbered(APP)),
                            bash("nl -ba src/retry.py | sed -n '1,80p'", numbered(twice)))
        messages, _ = run(only_dedup(), body)
        assert last_output(messages) == numbered(twice)
        body = conversation(bash("cat -n src/app.py", numbered(APP)),
                            bash("nl -ba src/app.py | sed -n '1,80p'", numbered("\n".join(APP.split("\n")[:80]))))
        messages, _ = run(only_dedup(), body)
        assert "lines 1-80 = lines 1-80 of the output of toolu_00" in last_output(messages)

    def test_with_dedup_reads_off_reads_stay_whole_and_are_measured(self):
        """``dedup_reads: false``: a re-read goes out unchanged; the tokens its repeats hold are counted."""
        for tool, arguments in (("Read", {"file_path": "src/app.py"}), ("Bash", {"command": "cat -n src/app.py"})):
            body = conversation((tool, arguments, numbered(APP)), (tool, arguments, numbered(EDITED)))
            messages, result = run(only_dedup(reads=False), body)
            assert [m["content"] for m in messages] == [m["content"] for m in body["messages"]]
            assert result.body is None and result.events["dedup_protected_tokens"] > 1000

    def test_a_read_is_pointed_at(self):
        """A protected output is a source: a shell re-read of the file points at the Read."""
        messages, _ = run(only_dedup(), conversation(("Read", {"file_path": "src/app.py"}, numbered(APP)),
                                                     bash("cat -n src/app.py | head -200", numbered(EDITED))))
        assert "lines 1-78 = lines 1-78 of the output of toolu_00 (src/app.py)" in last_output(messages)


def _flip(text: str, line: int, word: str) -> str:
    """``text`` with ``word`` added to the end of its line ``line`` (counted from 1)."""
    lines = text.split("\n")
    lines[line - 1] += f" {word}"
    return "\n".join(lines)


COLLIDING = [  # (name, earlier outputs, the later output): one of its lines collides with a line sent before
    ("with an earlier output", [_flip(log_lines(1, 60), 30, "GOOD")], _flip(log_lines(1, 60), 30, "EVIL")),
    ("renumbered", [numbered(_flip(APP, 50, "GOOD"))], "\n".join(_flip(APP, 50, "EVIL").split("\n")[29:100])),
    ("earlier in the same output", [], f"try 1\n{_flip(log_lines(1, 40), 20, 'GOOD')}\n"
                                       f"try 2\n{_flip(log_lines(1, 40), 20, 'EVIL')}"),
]


class TestHashCollisions:
    @pytest.mark.parametrize(("name", "earlier", "again"), COLLIDING, ids=[case[0] for case in COLLIDING])
    def test_colliding_lines_never_pass_for_one_another(self, monkeypatch, name, earlier, again):
        """Two different lines whose hashes collide (forced here through the hash ``lines.py`` uses)
        end a run: the pointer covers only lines equal as text, and the line that differs goes out."""
        monkeypatch.setattr(lines_module, "_hash", lambda text: hash(text.replace("EVIL", "GOOD")))
        turns = [bash("cat -n src/app.py" if "\t" in output else "tail -n 60 upload.log", output)
                 for output in earlier]
        messages, result = run(only_dedup(), conversation(*turns, bash("./show", again)))
        sent = last_output(messages)
        assert "dedup" in result.transforms and sent.count("[trimwire: ") >= 2, sent[:600]
        assert [line for line in again.split("\n") if "EVIL" in line] == \
            [line for line in sent.split("\n") if "EVIL" in line]
        check_pointers(sent, again, texts_of(messages))


class TestCacheSafety:
    # piped, the re-read is a released output; plain, a file read (dedup_reads) that gets pointers too
    @pytest.mark.parametrize("command", ["cat -n src/app.py | head -200", "cat -n src/app.py"])
    def test_same_text_after_other_history(self, command):
        """The same output after a different history comes out differently: the message cache
        (keyed by the message's text alone) never answers a message that holds a pointer, and the
        first history, replayed after the other, gets its pointers again."""
        compressor = only_dedup()
        again = bash(command, numbered(EDITED))
        with_read = conversation(bash("cat -n src/app.py", numbered(APP)), again)
        first, _ = run(compressor, with_read)
        other, _ = run(compressor, conversation(bash("ls", "src\ntests\n" + "README.md\n" * 30), again))
        assert "[trimwire:" in last_output(first) and "[trimwire:" not in last_output(other)
        assert run(only_dedup(), with_read)[0] == first == run(compressor, with_read)[0]

    def test_resent_history_is_byte_identical(self):
        """Every request of a growing conversation repeats each earlier message byte for byte,
        pointers included, whether its checkpoint answers it or not."""
        turns = [case_turn for _, earlier, again, _ in CASES for case_turn in (*earlier, again)]
        bodies = [conversation(*turns[:count]) for count in range(1, len(turns) + 1)]
        compressor = only_dedup()
        assert_history_unchanged(compressor, "anthropic", bodies)
        assert sum("[trimwire:" in json.dumps(m) for m in run(compressor, bodies[-1])[0]) >= len(CASES)
        # without checkpoints or message cache each body is worked out from scratch: the same bytes
        fresh = only_dedup(cached=False)
        assert run(fresh, bodies[-1])[0] == run(compressor, bodies[-1])[0]

    def test_moving_cache_breakpoint(self):
        """Claude Code moves its cache breakpoint to the newest result: the message that loses it is
        read again, after the same history, and comes out as before."""
        turns = [case_turn for _, earlier, again, _ in CASES[:3] for case_turn in (*earlier, again)]
        bodies = []
        for count in range(1, len(turns) + 1):
            body = conversation(*turns[:count])
            body["messages"][-1]["content"][0]["cache_control"] = {"type": "ephemeral"}
            bodies.append(body)
        assert_history_unchanged(only_dedup(), "anthropic", bodies)

    def test_default_compressor_replays_sessions(self, compressor):
        """With every compressor, the session's re-views are pointed at and history never changes."""
        turns = [case_turn for _, earlier, again, _ in CASES for case_turn in (*earlier, again)]
        assert_history_unchanged(compressor, "anthropic",
                                 [conversation(*turns[:count]) for count in range(1, len(turns) + 1)])


class TestTokenMode:
    def test_pointers_read_back_in_token_mode(self):
        """Token mode rewrites stale reads too; a pointer only ever names text still in the request."""
        compressor = build_engine(Settings(workers=0, protect_recent_tool_results=0), shelf=SHELF)
        body = conversation(bash("cat -n src/app.py", numbered(APP)), bash("sed -i s/60/61/ src/app.py", "done"),
                            bash("cat -n src/app.py | head -200", numbered(EDITED)))
        messages, result = run(compressor, body, mode="token")
        assert "dedup" in result.transforms
        assert check_pointers(last_output(messages), numbered(EDITED), texts_of(messages)) >= 1


LINES = st.sampled_from([f"    value_{n} = compute(chunk, offset={n * 17}, retries={n % 5})" for n in range(12)]
                        + ["", "}", "    return None"])
PROPERTY = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _render(lines: list[str], style: str, first: int) -> str:
    if style == "cat":
        return numbered("\n".join(lines), first)
    if style == "grep":
        return "\n".join(f"{n}:{line}" for n, line in enumerate(lines, first))
    return "\n".join(lines)


@st.composite
def repeats(draw):
    """An earlier output and a later one made of slices of it, new lines and its own repeats."""
    file = draw(st.lists(LINES, min_size=3, max_size=60))
    earlier = _render(file, draw(st.sampled_from(["cat", "grep", "plain"])), 1)
    pieces: list[str] = []
    for _ in range(draw(st.integers(1, 5))):
        start = draw(st.integers(0, len(file) - 1))
        stop = draw(st.integers(start + 1, len(file)))
        pieces += draw(st.sampled_from([file[start:stop], draw(st.lists(LINES, max_size=6)), pieces[:]]))
    return earlier, _render(pieces or ["x"], draw(st.sampled_from(["cat", "grep", "plain"])), draw(st.integers(1, 9)))


class TestPointerProperty:
    @PROPERTY
    @given(repeats(), st.sampled_from([1.0, 3.0]))
    def test_pointer_reads_back_to_exactly_the_lines_it_replaced(self, outputs, margin):
        """For any later output, each pointer's range read back from what it names gives the run."""
        earlier, later = outputs
        compressor = only_dedup(margin=margin, cached=False)
        body = conversation(bash("cat -n a.py", earlier + "\n" + "#" * 200), bash("view a.py", later + "\n" + "=" * 200))
        messages, _ = run(compressor, body)
        check_pointers(last_output(messages), later + "\n" + "=" * 200, texts_of(messages))


class TestLineIndex:
    def test_claim_cuts_back_and_only_once_per_version(self):
        """A turn takes the index over at the version its checkpoint saw, cut back to the sources
        the two bodies share; a second turn from the same checkpoint must build its own."""
        index = LineIndex()
        first, second = (Lines(f"{name} alpha line\n{name} beta line\n{name} gamma line") for name in ("a", "b"))
        for lines in (first, second):
            index.add(Source("x", lines.keys, lines.wholes, lines.numbers, lines.numbered, lines.lines))
        version = index.version
        assert index.candidates(second.keys[0], 2) and index.claim(version, 1)
        assert len(index.sources) == 1 and index.candidates(second.keys[0], 2) == []
        assert index.bytes == index.sources[0].cost  # what a checkpoint holding it counts
        assert index.candidates(first.keys[0], 1) == [(index.sources[0], 0)]
        assert not index.claim(version, 1)  # taken already: the index moved on

    def test_a_text_seen_before_is_not_hashed_again(self):
        """``LinesCache`` answers an equal text (another str object) with the Lines made for it first,
        whose hashes are those of a fresh ``Lines``; a short text too, by the text itself (at most
        ``_MEMO_BYTES`` of those, then by digest)."""
        text = "\n".join(f"line {number} of a long enough output" for number in range(20))
        cache = LinesCache()
        first = cache.lines(text)
        again = cache.lines("".join(list(text)))
        assert again is first
        fresh = Lines(text)
        assert (first.keys, first.wholes, first.numbers, first.numbered) == \
            (fresh.keys, fresh.wholes, fresh.numbers, fresh.numbered)
        short = cache.lines("a\nb")
        assert cache.lines("".join(["a\n", "b"])) is short and short.keys == Lines("a\nb").keys
        cache.clear()
        assert cache.lines(text) is not first and cache.lines("a\nb") is not short
        short = cache.lines("a\nb")
        for number in range(lines_module._MEMO_BYTES // 100):
            cache.lines(f"text {number}")
        assert cache._memo.get("a\nb") is None  # the memo forgot the short texts together...
        assert cache.lines("a\nb") is short  # ... and the digest still finds the Lines

    @settings(max_examples=200, deadline=None)
    @given(st.lists(st.lists(st.sampled_from(["alpha line", "beta line", "gamma line", "}", "", "delta line"]),
                             max_size=12), max_size=6),
           st.integers(0, 6))
    def test_candidates_are_every_place_latest_first(self, texts, keep):
        """After ``LineIndex.add`` (whether or not a source brings its ``places``) and ``claim``,
        a hash's candidates are what a plain walk over every run-starting line of every source
        gives: the latest places first, at most ``CANDIDATES``, only among the first ``limit``."""
        index = LineIndex()
        for number, lines in enumerate(Lines("\n".join(text)) for text in texts):
            places = lines.places() if number % 2 else None
            index.add(Source("x", lines.keys, lines.wholes, lines.numbers, lines.numbered, lines.lines, 0, places))
        assert index.claim(index.version, min(keep, len(texts)))
        every = [(number, held, line) for number, held in enumerate(index.sources)
                 for line, key in enumerate(held.keys) if key & 1]
        for key in {held.keys[line] for _, held, line in every}:
            for limit in range(len(index.sources) + 1):
                expected = [(held, line) for number, held, line in reversed(every)
                            if number < limit and held.keys[line] == key][:lines_module.CANDIDATES]
                assert index.candidates(key, limit) == expected
        assert set(index.table) == {held.keys[line] for _, held, line in every}

    def test_starts_name_the_lines_that_may_start_a_run(self):
        lines = Lines("repeated line\nonce only\n}\nrepeated line\n}")
        starts, repeated = lines.starts()
        assert starts == {lines.keys[0], lines.keys[1]} and repeated == {lines.keys[0]}


class TestArgumentSources:
    def test_only_a_call_whose_arguments_span_lines_is_parsed(self):
        """A call's multi-line argument (a heredoc) is a source; a call whose arguments' JSON holds
        no escape and no line break has none, and its arguments are not parsed for it."""
        from extproc.conversation import Block, Kind, ToolCall
        from extproc.pipeline.dedup import _argument_sources

        def call(arguments: str) -> Block:
            return Block(kind=Kind.TOOL_CALL, role="assistant", text=arguments, message_index=1,
                         tool_name="bash", tool_call_id="call_1", call=ToolCall("bash", arguments))

        heredoc = call(json.dumps({"command": "cat > a.py <<'EOF'\nimport os\nprint(os.sep)\nEOF"}))
        [found] = _argument_sources(heredoc, LinesCache())
        assert found.ref.startswith("the command argument of call_1") and len(found.lines) == 4
        plain = call(json.dumps({"command": "grep -rn needle src/"}))
        assert _argument_sources(plain, LinesCache()) == [] and not plain.call._parsed


class TestCorpus:
    @pytest.mark.parametrize("row", CORPUS_ROWS)
    def test_every_pointer_reads_back(self, row):
        """In a captured conversation, every pointer's range, read from what it names in the request
        as sent, gives exactly the lines it replaced in the output the compressors made."""
        fmt = row["format"]
        if fmt == "responses":
            pytest.skip("the resolver reads chat and Anthropic messages")
        raw = json.dumps(row["body"]).encode()
        with_dedup = build_engine(Settings(workers=0), shelf=SHELF).run(raw, BodyRequest(fmt))
        without = build_engine(Settings(workers=0, dedup=False), shelf=SHELF).run(raw, BodyRequest(fmt))
        sent = json.loads(with_dedup.body or raw)["messages"]
        plain = json.loads(without.body or raw)["messages"]
        texts = texts_of(sent)
        outputs = [(key, text) for key, text in texts_of(plain).items() if key[1] is None]
        pointers = sum(check_pointers(output_text(texts[key]), output_text(text), texts) for key, text in outputs
                       if isinstance(texts[key], str))
        assert pointers == sum(line.startswith("[trimwire: ") and " = lines " in line
                               for key, _ in outputs for line in output_text(str(texts[key])).split("\n"))
