"""The error guard: which lines of a failure's output are protected, and that they reach the model.

Pure tests of ``protected_lines`` per trace and error shape, pipeline tests of a guarded block
(released, checked, rejected when a line goes), fixtures of real failures compressed through the
default routes, and a property: random logs with injected tracebacks and error lines keep every
one of them verbatim, also run again through dedup with its pointers read back; the same for
traces inside JSON strings (log records' "stack" fields).
"""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from extproc import Block, BodyEngine, BodyRequest, Kind, Settings, build_engine
from extproc.compressors import JsonSampler, default_routes
from extproc.compressors.content_types import ROUTER, detect
from extproc.conversation import Conversation
from extproc.pipeline import BlockInputs, Budget, Pipeline, Policy, Routes
from extproc.pipeline.guard import Guard, escaped_trace_lines, protected_lines
from extproc.pipeline.router import ContentType
from tests.shelf import SHELF

from .compressors import load
from .dedup_resolve import expand, texts_of

PYTHON = """Traceback (most recent call last):
  File "/srv/app/jobs.py", line 41, in run
    total = compute(rows)
            ^^^^^^^^^^^^^
KeyError: 'amount'

During handling of the above exception, another exception occurred:

Traceback (most recent call last):
  File "/srv/app/main.py", line 9, in <module>
    run()
RuntimeError: job failed"""
JAVA = """java.lang.IllegalStateException: pool closed
\tat com.acme.db.Pool.borrow(Pool.java:88)
\tat com.acme.db.Repo.find(Repo.java:31)
Caused by: java.io.IOException: broken pipe
\tat com.acme.net.Conn.write(Conn.java:120)
\t... 12 more"""
GO = """panic: runtime error: index out of range [3] with length 3

goroutine 1 [running]:
main.pick(...)
\t/home/dev/app/main.go:12
main.main()
\t/home/dev/app/main.go:7 +0x1d
exit status 2"""
RUST = """thread 'main' panicked at src/main.rs:4:5:
called `Option::unwrap()` on a `None` value
stack backtrace:
   0: rust_begin_unwind
             at /rustc/abc/library/std/src/panicking.rs:647:5
   1: app::main
             at ./src/main.rs:4:5"""
NODE = """TypeError: Cannot read properties of undefined (reading 'id')
    at getUser (/app/src/users.js:14:22)
    at async Promise.all (index 0)
    at Object.<anonymous> (/app/src/index.js:3:1)"""
ERRORS = [
    "FAILED tests/test_api.py::test_refund - assert 500 == 202",
    "ERROR tests/test_db.py::test_migrate - OperationalError: no such table",
    "E       assert 500 == 202",
    "error[E0308]: mismatched types",
    "  --> src/store.rs:42:24",
    "src/parse.c:88:12: error: 'hdr_len' undeclared",
    "npm ERR! code ELIFECYCLE",
    "make: *** [Makefile:10: all] Error 2",
    "fatal: not a git repository (or any of the parent directories): .git",
    "ERROR: Could not find a version that satisfies the requirement torch==9.9",
    "--- FAIL: TestParse (0.00s)",
    "    parse_test.go:31: got 2 fields, want 3",
    "  ● Cart › adds an item",
    "tests/test_api.py::TestRefund::test_partial FAILED                    [ 42%]",
]
TRACES = [PYTHON, JAVA, GO, RUST, NODE]


class FirstLines:
    """Keeps the first ten lines: drops whatever follows, error lines included."""

    name = "first"

    then = None

    def applies(self, block: BlockInputs) -> bool:
        return True

    def compress_block(self, block: BlockInputs, budget: Budget) -> str | None:
        return self.compress(block.text)

    def compress(self, text: str) -> str | None:
        return "\n".join(text.split("\n")[:10])


class LastLines(FirstLines):
    """Keeps the last twenty lines."""

    name = "last"

    def compress(self, text: str) -> str | None:
        return "\n".join(text.split("\n")[-20:])


def all_lines(text: str) -> set[int]:
    return {index for index, line in enumerate(text.split("\n")) if line.strip()}


def pipeline(**overrides) -> Pipeline:
    policy = Policy(protected_tools=(), min_block_chars=0, compress_errors=overrides.pop("compress_errors", True))
    return Pipeline(policy, default_routes(), **overrides)


def compressed(text: str, *, is_error: bool = True, **overrides) -> str:
    """What the default pipeline sends for a tool result holding ``text``."""
    conv = Conversation(format="test", model=None)
    block = Block(kind=Kind.TOOL_RESULT, role="tool", text=text, message_index=0, is_error=is_error,
                  path=("messages", 0, "content"))
    conv.blocks.append(block)
    pipeline(**overrides).run(conv, {})
    return conv.changes[0].new_text if conv.changes else text


class TestProtectedLines:
    def test_every_trace_line_is_protected(self):
        """Python (chained), Java, Go, Rust and Node traces are protected line for line."""
        for trace in TRACES:
            assert protected_lines(trace) == all_lines(trace), trace.split("\n")[0]

    def test_error_lines_are_protected(self):
        """Each named error or failure line is protected on its own."""
        for line in ERRORS:
            assert protected_lines(f"building...\n{line}\ndone") == {1}, line

    def test_ordinary_lines_are_not(self):
        """Progress, passing tests and prose are left to the compressors."""
        text = "Collecting numpy\ntests/test_a.py::test_ok PASSED [ 10%]\nAll good here.\n    at the moment"
        assert protected_lines(text) == set()

    def test_pytest_sections_are_protected_whole(self):
        """The FAILURES section and the short test summary are kept whole, up to the closing line."""
        text = load("pytest_verbose.txt")
        lines = text.split("\n")
        start = lines.index(next(line for line in lines if "FAILURES" in line))
        summary = lines.index(next(line for line in lines if "short test summary info" in line))
        protected = protected_lines(text)
        assert set(range(summary, len(lines) - 1)) <= protected and start in protected

    def test_html_is_read_by_its_visible_lines(self):
        """A traceback in a highlighted <pre> is protected as the page shows it."""
        guard = Guard(load("docs_traceback.html"), is_html=True)
        assert "Traceback (most recent call last):" in guard.lines
        assert 'File "<stdin>", line 1, in <module>' in guard.lines


def test_a_guard_is_made_once_per_text():
    """``Guard.of`` answers an equal text (another str object) with the guard made for it first,
    which protects what a fresh ``Guard`` does; an HTML page's guard is its own."""
    text = f"{PYTHON}\nchecked by the guard memo test"
    first = Guard.of(text)
    assert Guard.of("".join(list(text))) is first and first.lines == Guard(text).lines
    page = Guard.of(text, is_html=True)
    assert page is not first and page.lines == Guard(text, is_html=True).lines


class TestGuardedPipeline:
    def test_a_failing_test_run_is_compressed_with_every_error_line(self):
        """An is_error pytest run loses its passing lines and keeps every protected line."""
        text = "Exit code 1\n" + load("pytest_verbose.txt")
        out = compressed(text)
        assert len(out) < 0.3 * len(text) and Guard(text).kept_by(out)
        assert "[trimwire: " in out and "passing test" in out

    def test_compress_errors_off_leaves_it_whole(self):
        """With compress_errors false the same run reaches the model as sent."""
        text = "Exit code 1\n" + load("pytest_verbose.txt")
        assert compressed(text, compress_errors=False) == text

    def test_an_output_that_drops_a_protected_line_is_rejected(self):
        """A compressor that cuts the traceback is passed over for the next one, and counted."""
        text = "\n".join(f"line {i}" for i in range(40)) + "\n" + PYTHON
        routes = Routes(ROUTER, dict.fromkeys(ContentType, [FirstLines(), LastLines()]))
        guarded = Pipeline(Policy(protected_tools=(), min_block_chars=0), routes)
        budget = Budget()
        out, by = guarded._run_compressors(BlockInputs(text, guarded=True), {}, budget)
        assert by == "last" and Guard(text).kept_by(out) and budget.events == {"guard_rejected": 1}
        assert guarded._run_compressors(BlockInputs(text), {}, Budget())[1] == "first"

    def test_no_compressor_keeping_the_lines_leaves_the_block_whole(self):
        """When every output drops a protected line the block is sent as it was."""
        text = PYTHON + "\n" + "\n".join(f"line {i}" for i in range(40))
        routes = Routes(ROUTER, dict.fromkeys(ContentType, [FirstLines()]))
        conv = Conversation(format="test", model=None)
        conv.blocks.append(Block(kind=Kind.TOOL_RESULT, role="tool", text=text, message_index=0, is_error=True,
                                 path=("x",)))
        Pipeline(Policy(protected_tools=(), min_block_chars=0), routes).run(conv, {})
        assert not conv.changes

    def test_guarded_and_plain_results_have_their_own_cache_keys(self):
        """The same text guarded or not may come out differently, so the key says which."""
        cache = pipeline(cache_bytes=1 << 20)
        assert cache.key(BlockInputs("text", "Bash", guarded=True)) != cache.key(BlockInputs("text", "Bash"))

    def test_fixtures_keep_every_protected_line_and_shrink(self):
        """Real failures (pytest, pip, npm, cargo, gcc, maven, a go test panic, a docs page, JSON log
        records with traces) save at least 30%."""
        for name in ("pytest_verbose.txt", "pip_install.txt", "npm_install.txt", "cargo_failed.txt",
                     "gcc_make_failed.txt", "maven_test.txt", "docs_traceback.html", "diff_u.txt",
                     "go_test_panic.txt", "json_log_traces.json"):
            text = load(name)
            out = compressed(text)
            guard = Guard(text, is_html=detect(text) is ContentType.HTML)
            assert guard.kept_by(out), name
            assert len(out) <= 0.7 * len(text), name

    def test_named_compiler_lines_survive(self):
        """rustc's error lines and their --> locations reach the model verbatim."""
        text = load("cargo_failed.txt")
        out = compressed(text).split("\n")
        for line in ("error[E0308]: mismatched types", "  --> src/store.rs:42:24",
                     "error[E0425]: cannot find value `totl` in this scope",
                     "error: could not compile `inventory` (lib) due to 2 previous errors; 1 warning emitted"):
            assert line in out


noise_line = st.one_of(
    st.integers(0, 999).map(lambda i: f"tests/test_mod.py::test_case_{i} PASSED [ {i % 100}%]"),
    st.integers(0, 999).map(lambda i: f"Downloading pkg_{i}-1.0.tar.gz (12 kB)"),
    st.integers(0, 99).map(lambda i: f"2024-05-01 10:00:{i % 60:02d} INFO worker {i % 3} heartbeat ok"),
    st.sampled_from(["", "compiling sources", "running checks", "  | context", "step done"]),
)
injected = st.sampled_from(TRACES + ERRORS)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(noise_line, min_size=30, max_size=200), st.lists(st.tuples(st.integers(0, 10**6), injected),
                                                                 min_size=1, max_size=6))
def test_injected_error_lines_survive_verbatim(noise, injections):
    """Random logs with tracebacks and error lines injected: each of their lines arrives verbatim."""
    lines = list(noise)
    for position, piece in injections:
        lines.insert(position % (len(lines) + 1), "\n" + piece + "\n")
    text = "Exit code 1\n" + "\n".join(lines)
    out_lines = set(compressed(text).split("\n"))
    for _, piece in injections:
        for line in piece.split("\n"):
            assert line in out_lines, line


_ENGINE: list[BodyEngine] = []


def engine() -> BodyEngine:
    """The default engine, compressors then dedup (``dedup_errors`` on), built once."""
    if not _ENGINE:
        _ENGINE.append(build_engine(Settings(workers=0), shelf=SHELF))
    return _ENGINE[0]


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(noise_line, min_size=30, max_size=200), st.lists(st.tuples(st.integers(0, 10**6), injected),
                                                                 min_size=1, max_size=6),
       st.lists(noise_line, max_size=20))
def test_injected_error_lines_survive_a_re_run_by_pointer(noise, injections, progress):
    """The same random logs run again (other noise first): through the default engine, dedup may
    point the re-run's traces and error lines at the first run or earlier in its own output;
    each pointer read back, every one of their lines is there verbatim."""
    lines = list(noise)
    for position, piece in injections:
        lines.insert(position % (len(lines) + 1), "\n" + piece + "\n")
    first = "Exit code 1\n" + "\n".join(lines)
    again = "Exit code 1\n" + "\n".join([*progress, *lines])
    messages = [{"role": "user", "content": "Make the build pass."}]
    for number, text in enumerate((first, again)):
        messages += [{"role": "assistant", "content": [{"type": "tool_use", "id": f"toolu_{number}", "name": "Bash",
                                                        "input": {"command": "make check"}}]},
                     {"role": "user", "content": [{"type": "tool_result", "tool_use_id": f"toolu_{number}",
                                                   "is_error": True, "content": text}]}]
    raw = json.dumps({"model": "claude-sonnet-4-5", "max_tokens": 64, "messages": messages}).encode()
    result = engine().run(raw, BodyRequest("anthropic"))
    sent = json.loads(result.body or raw)["messages"]
    texts = texts_of(sent)
    for number in (0, 1):
        out_lines = set(expand(texts[(f"toolu_{number}", None)], texts).split("\n"))
        for _, piece in injections:
            for line in piece.split("\n"):
                assert line in out_lines, line


def log_records(count: int, traces: dict[int, str], seed: int = 0) -> list[dict]:
    """``count`` JSON log records, every one with a ``stack`` field, many of them errors with a
    one-line stack (so error status alone cannot single out the traced ones), and the full trace
    ``traces[i]`` in record ``i``."""
    records = []
    for i in range(count):
        error = (i + seed) % 4 == 0
        records.append({"ts": f"2024-05-01T10:{i // 60 % 60:02d}:{i % 60:02d}Z", "level": "error" if error else "info",
                        "msg": f"request {i} {'failed' if error else 'served'}", "path": f"/api/items/{i % 50}",
                        "ms": 10 + (i * 7 + seed) % 40, "stack": f"ValueError: bad item {i}" if error else ""})
    for index, trace in traces.items():
        records[index]["stack"] = trace
    return records


def string_lines(out: str) -> set[str]:
    """Every line of every string of the JSON ``out`` (a document or one a line)."""
    found: set[str] = set()

    def walk(node):
        if isinstance(node, str):
            found.update(node.split("\n"))
        elif isinstance(node, dict):
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    for document in out.split("\n"):
        walk(json.loads(document))
    return found


class TestTracesInJsonStrings:
    def test_escaped_traces_are_found_in_their_lines(self):
        """A line holding a JSON string with a Python or Java trace is protected, and the trace's
        lines are what must survive of it."""
        line = json.dumps({"level": "error", "stack": PYTHON})
        assert protected_lines(f"start\n{line}\nend") == {1}
        assert escaped_trace_lines(line) == frozenset(PYTHON.split("\n")) - {""}
        assert escaped_trace_lines(json.dumps({"stack": JAVA})) == frozenset(JAVA.split("\n"))
        assert escaped_trace_lines(json.dumps({"msg": "one\ntwo\nthree"})) == frozenset()

    def test_log_records_keep_every_trace_line(self):
        """A JSON array of 300 log records, one with a Python traceback in "stack" and one with a
        Java trace, the rest ordinary or one-line errors: it shrinks, and every frame and exception
        line of both traces is a line of a string of the output, verbatim."""
        text = json.dumps(log_records(300, {137: PYTHON, 211: JAVA}), indent=2)
        for is_error in (True, False):  # a traceback alone makes the block guarded
            out = compressed(text, is_error=is_error)
            assert len(out) < 0.3 * len(text)
            assert set(PYTHON.split("\n")) | set(JAVA.split("\n")) <= string_lines(out)
            assert Guard(text).kept_by(out)

    def test_sampler_keeps_the_traced_records_by_itself(self):
        """JsonSampler keeps every record holding a trace, past its cap on standing-out items."""
        records = log_records(300, {137: PYTHON, 211: JAVA, 299 - 3: NODE})
        out = JsonSampler().compress(json.dumps(records))
        for trace in (PYTHON, JAVA, NODE):
            assert set(trace.split("\n")) <= string_lines(out)

    def test_an_output_dropping_the_trace_string_is_rejected(self):
        """Compact JSON without the traced record fails the guard; with it, re-laid, it passes."""
        records = log_records(40, {7: PYTHON})
        text = json.dumps(records, indent=2)
        guard = Guard(text)
        assert not guard.kept_by(json.dumps(records[:7] + records[8:]))
        assert guard.kept_by(json.dumps(records, separators=(",", ":")))

    def test_json_log_lines_keep_their_trace_line_whole(self):
        """Structured log lines (one JSON record a line): the record with the trace stays whole."""
        records = log_records(200, {151: PYTHON, 61: JAVA})  # "info" records
        text = "\n".join(json.dumps(record) for record in records)
        out = compressed(text).split("\n")
        assert json.dumps(records[151]) in out and json.dumps(records[61]) in out


record_trace = st.sampled_from([PYTHON, JAVA, GO, RUST, NODE])


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(30, 400), st.lists(st.tuples(st.integers(0, 10**6), record_trace), min_size=1, max_size=5),
       st.integers(0, 3), st.booleans(), st.booleans())
def test_traces_in_random_records_survive(count, traces, seed, indent, is_error):
    """Random log record arrays with traces in their "stack" fields: every trace line survives as
    a line of a string of the output, however the JSON was laid out."""
    placed = {position % count: trace for position, trace in traces}
    records = log_records(count, placed, seed)
    text = json.dumps(records, indent=2 if indent else None)
    out = compressed(text, is_error=is_error)
    for trace in placed.values():
        assert set(trace.split("\n")) <= string_lines(out)
