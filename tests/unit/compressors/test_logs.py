"""LogCompressor: errors, tracebacks and summaries kept byte for byte; noise collapsed into markers."""

from __future__ import annotations

import re

import pytest

from extproc.compressors.content_types import detect
from extproc.compressors.logs import LogCompressor

from . import MARKER, block, content_lines, is_subsequence, load

RUN = re.compile(r"^\[trimwire: (\d+) lines? omitted \((.+)\)\]$")


def omitted(out: str) -> int:
    """Lines the run markers of ``out`` say were dropped."""
    return sum(int(m.group(1)) for m in map(RUN.match, out.split("\n")) if m)


def categories(out: str) -> dict[str, int]:
    totals: dict[str, int] = {}
    for m in filter(None, map(RUN.match, out.split("\n"))):
        for part in m.group(2).split(", "):
            count, name = part.split(" ", 1)
            totals[name] = totals.get(name, 0) + int(count)
    return totals


@pytest.fixture
def logs() -> LogCompressor:
    return LogCompressor()


class TestLogCompressor:
    @pytest.mark.parametrize("name", ["pytest_verbose.txt", "pip_install.txt", "npm_install.txt", "cargo_build.txt",
                                      "maven_test.txt", "apt_uv_install.txt"])
    def test_kept_lines_are_original_lines_and_markers_add_up(self, logs, name):
        """Every kept line is an original line in order, and the markers count exactly what is gone."""
        text = load(name)
        out = logs.compress(text)
        kept = content_lines(out)
        assert is_subsequence(kept, text.split("\n"))
        assert omitted(out) == len(text.split("\n")) - len(kept)
        assert len(out) < len(text)

    def test_pytest_failures_survive(self, logs):
        """FAILED lines, the FAILURES section, the short summary and the totals are all kept."""
        text = load("pytest_verbose.txt")
        out = logs.compress(text)
        failures = text[text.index("=== FAILURES ==="):text.index("=== warnings summary")]
        assert failures in out
        for line in ("tests/test_views.py::test_refund_payment_17 FAILED",
                     "E           shop.payments.errors.PaymentError: capture below minimum: 20.00 < 25.00",
                     "tests/test_tasks.py:57: AssertionError",
                     "FAILED tests/test_tasks.py::test_expire_stale_orders - assert 6 == 7",
                     "=========== 3 failed, 314 passed, 3 skipped, 80 warnings in 41.27s ============"):
            assert line in out
        assert len(out) < 0.2 * len(text)

    def test_pytest_passing_lines_are_counted(self, logs):
        """Every PASSED and SKIPPED line goes, and the markers say how many of each."""
        out = logs.compress(load("pytest_verbose.txt"))
        assert categories(out) == {"passing test": 314, "skipped test": 3}
        assert "[trimwire: 112 lines omitted (112 passing test)]" in out
        assert "test_update_order_1 PASSED" not in out

    def test_pip_failure_names_the_package(self, logs):
        """The error block and the Collecting line of the package that failed survive; downloads go."""
        text = load("pip_install.txt")
        out = logs.compress(text)
        for line in ("Collecting psycopg-c==3.2.1 (from psycopg[c]==3.2.1->-r requirements.txt (line 3))",
                     "      Error: pg_config executable not found.",
                     "  │ exit code: 1",
                     "  Getting requirements to build wheel: finished with status 'error'",
                     "WARNING: You are using pip version 24.0; however, version 24.2 is available."):
            assert line in out
        assert "Downloading celery-5.4.0-py3-none-any.whl" not in out
        assert set(categories(out)) == {"progress"}

    def test_npm_errors_survive_and_fetches_go(self, logs):
        """Every npm error line is kept; http fetch and timing lines collapse into progress markers."""
        text = load("npm_install.txt")
        out = logs.compress(text)
        errors = [line for line in text.split("\n") if line.startswith("npm error")]
        assert errors and all(line in out.split("\n") for line in errors)
        assert "npm error gyp ERR! stack Error: `gyp` failed with exit code: 1" in out
        assert "[trimwire: 160 lines omitted (160 progress)]" in out  # 120 fetches, 40 timings

    def test_cargo_errors_keep_their_snippets(self, logs):
        """rustc errors keep their --> locations and caret snippets; the crate that failed stays named."""
        text = load("cargo_build.txt")
        out = logs.compress(text)
        start = text.index("error[E0308]")
        assert text[start:text.index("Some errors have")] in out
        for line in ("   Compiling ledger-api v0.3.0 (/home/dev/ledger-api)",
                     "  --> src/handlers/transfers.rs:112:37",
                     'error: could not compile `ledger-api` (bin "ledger-api") due to 2 previous errors; 1 warning emitted'):
            assert line in out
        assert "   Compiling serde v1.0.204" not in out
        assert "  Downloaded tokio v1.39.2" not in out

    def test_repeated_warnings_are_kept_once_with_a_count(self, logs):
        """A warning repeated through an app log is kept once with a note saying how many copies went."""
        lines = [f"2024-07-31T09:{i // 60:02d}:{i % 60:02d}Z INFO  request {i} served in 12ms" for i in range(300)]
        warning = "2024-07-31T09:00:00Z WARN  pool exhausted, waiting for a free connection"
        for i in range(40, 240, 5):
            lines[i] = warning
        out = logs.compress("\n".join(lines))
        assert out.split("\n").count(warning) == 1
        assert f"{warning}\n[trimwire: 39 more copies of the line above omitted]" in out
        assert categories(out)["duplicate"] == 39

    def test_context_around_errors(self, logs):
        """Two lines either side of an error are kept, the rest of a long log's plain lines go."""
        lines = [f"2024-07-31T10:00:{i % 60:02d}Z INFO  step {i} ok" for i in range(400)]
        lines[200] = "2024-07-31T10:03:20Z ERROR payment webhook rejected: signature mismatch (key id k_77)"
        out = logs.compress("\n".join(lines))
        assert "\n".join(lines[198:203]) in out
        assert lines[197] not in out and lines[203] not in out
        assert "[trimwire: 188 lines omitted (188 other)]" in out  # 200 - 10 head - 2 context
        assert "[trimwire: 177 lines omitted (177 other)]" in out  # 400 - 203 - 20 tail

    def test_carriage_return_progress(self, logs):
        """Progress bars redrawn with carriage returns collapse; the summary after them stays."""
        bar = "\r".join(f"Downloading model.bin: {p}% |{'#' * (p // 10)}{' ' * (10 - p // 10)}|" for p in range(0, 101, 5))
        lines = ["Fetching 60 files"] + [bar] * 1 + [f"Fetching shard {i}/60 {bar}" for i in range(60)]
        lines += ["Done: 60 files, 4.2 GB in 31s", "exit code 0"]
        out = logs.compress("\n".join(lines))
        assert "Done: 60 files, 4.2 GB in 31s" in out and "exit code 0" in out
        assert categories(out) == {"progress": 61}

    def test_crlf_lines_stay_byte_identical(self, logs):
        """Windows line endings are kept on every kept line."""
        lines = [f"[{i:04d}] INFO compiled module_{i}.c" for i in range(200)] + ["[0200] ERROR link failed: undefined _main"]
        text = "\r\n".join(lines) + "\r\n"
        out = logs.compress(text)
        assert "[0200] ERROR link failed: undefined _main\r" in out.split("\n")
        assert is_subsequence(content_lines(out), text.split("\n"))

    def test_short_logs_are_left_alone(self, logs):
        """A log under min_lines is not touched, even with noise in it."""
        text = "\n".join(f"Collecting pkg{i}==1.0" for i in range(20))
        assert logs.compress(text) is None
        assert not logs.applies(block(text))

    def test_a_short_test_run_loses_only_its_passing_lines(self, logs):
        """A 25-line pytest -v run drops its PASSED lines and keeps its header, warnings and summary."""
        passed = [f"tests/test_dates.py::test_parse_rfc822[value{i}-rfc] PASSED" for i in range(14)]
        head = ["============================= test session starts ==============================",
                "platform linux -- Python 3.11.5, pytest-8.3.2, pluggy-1.5.0", "rootdir: /testbed",
                "collecting ... collected 101 items / 87 deselected / 14 selected", ""]
        tail = ["", "=============================== warnings summary ===============================",
                "src/dates/__init__.py:17", "  /testbed/src/dates/__init__.py:17: DeprecationWarning: LooseVersion",
                "", "================= 14 passed, 87 deselected, 1 warning in 0.08s ================="]
        text = "\n".join(head + passed + tail)
        out = logs.compress(text)
        assert out == "\n".join(head + ["[trimwire: 14 lines omitted (14 passing test)]"] + tail)

    def test_a_percentage_that_is_a_result_is_not_progress(self, logs):
        """cmake's "[ 45%] Building" lines go; "95% of requests ..." printed by a load test stays."""
        steps = [f"[{round(100 * i / 60):3d}%] Building C object src/CMakeFiles/core.dir/m{i}.c.o" for i in range(60)]
        results = ["95% of requests finished under 120 ms", "100% of checks green"]
        out = logs.compress("\n".join(steps[:30] + results + steps[30:]))
        assert all(line in out.split("\n") for line in results)
        assert steps[40] not in out

    def test_nothing_to_drop(self, logs):
        """A log of distinct signal lines compresses to nothing and is left alone."""
        text = "\n".join(f"src/m{i}.c:{i}:1: error: unknown type name 'T{i}'" for i in range(80))
        assert logs.compress(text) is None

    def test_routed_only_logs(self, logs):
        """The router sends a log here, not a grep result or a JSON document."""
        assert detect(load("pytest_verbose.txt")) == "log" and logs.applies(block(load("pytest_verbose.txt")))
        assert detect(load("grep_rn.txt")) != "log" and detect(load("github_issues.json")) != "log"

    def test_deterministic(self, logs):
        """The same text gives the same bytes every time."""
        text = load("npm_install.txt")
        assert logs.compress(text) == LogCompressor().compress(text)

    def test_markers_are_whole_lines(self, logs):
        """Markers sit on their own lines and never touch a kept line."""
        out = logs.compress(load("pytest_verbose.txt"))
        assert all(MARKER.match(line) for line in out.split("\n") if "[trimwire:" in line)


class TestKubernetesSignals:
    def test_crash_and_backoff_lines_are_kept(self, logs):
        """Pod crash loops, image pull back-offs, evictions and degraded states are signals, not noise."""
        noise = [f"INFO reconcile loop {i} finished for ns default" for i in range(120)]
        news = ["Warning  BackOff  pod/api-1  Back-off restarting failed container",
                "pod/worker-2 status CrashLoopBackOff", "pod/batch-9 was Evicted: node low on memory",
                "clusteroperator ingress is Degraded"]
        text = "\n".join(noise[:50] + news + noise[50:])
        out = logs.compress(text)
        assert out is not None and all(line in out.split("\n") for line in news)


class TestMavenSurefire:
    def test_clean_test_classes_go_and_are_counted(self, logs):
        """Each test class that ran clean loses its Running line and its result line, counted as passing tests."""
        out = logs.compress(load("maven_test.txt"))
        assert "[INFO] Running com.acme.billing.InvoiceTest" not in out
        assert "Time elapsed: 0.084 s -- in com.acme.billing.InvoiceTest" not in out
        assert categories(out)["passing test"] == 2 * 28  # 30 classes, one failed and one skipped a test

    def test_failing_and_skipping_classes_and_totals_stay(self, logs):
        """The failed class (its Running line, result, failure and stack frames), the class that skipped a test,
        the failure list, the run's total and the build result are all kept."""
        text = load("maven_test.txt")
        out = logs.compress(text)
        failed = text[text.index("[INFO] Running com.acme.billing.ProrationTest"):text.index("(ProrationTest.java:58)")]
        assert failed in out
        for line in ("[WARNING] Tests run: 28, Failures: 0, Errors: 0, Skipped: 1, Time elapsed: 0.350 s -- in "
                     "com.acme.billing.TrialPeriodTest",
                     "[ERROR]   ProrationTest.splitsMidCycleUpgrade:58 expected: <10.02> but was: <10.03>",
                     "[ERROR] Tests run: 401, Failures: 1, Errors: 0, Skipped: 1",
                     "[INFO] BUILD FAILURE"):
            assert line in out.split("\n")

    def test_a_clean_total_is_a_summary_not_a_class(self, logs):
        """A run's clean total has no "Time elapsed" and is kept; a Running line not followed by a clean result stays."""
        lines = [f"[INFO] Running org.example.Case{i}Test" if i % 2 == 0 else
                 f"[INFO] Tests run: 3, Failures: 0, Errors: 0, Skipped: 0, Time elapsed: 0.0{i % 10} s -- in "
                 f"org.example.Case{i - 1}Test" for i in range(80)]
        lines += ["[INFO] Running org.example.HangingTest", "[INFO] ", "[INFO] Results:",
                  "[INFO] Tests run: 120, Failures: 0, Errors: 0, Skipped: 0", "[INFO] BUILD SUCCESS"]
        out = logs.compress("\n".join(lines))
        assert "[INFO] Tests run: 120, Failures: 0, Errors: 0, Skipped: 0" in out
        assert "[INFO] Running org.example.HangingTest" in out
        assert categories(out) == {"passing test": 80}

    def test_maven_downloads_are_progress(self, logs):
        """Maven's "[INFO] Downloading from" / "Downloaded from" lines are progress, like pip's downloads."""
        out = logs.compress(load("maven_test.txt"))
        assert "Downloaded from central" not in out
        assert "[trimwire: 8 lines omitted (8 progress)]" in out


class TestIndentedBlocks:
    def test_a_warning_does_not_take_lines_at_its_own_depth(self, logs):
        """In a log indented throughout (pip's build output), a warning keeps only lines indented deeper than it."""
        body = [f"  writing manifest file 'build/lib/pkg{i}.egg-info/SOURCES.txt'" for i in range(100)]
        text = "\n".join(["Building wheel for pkg (pyproject.toml) ... started",
                          "  setup.py:12: SetuptoolsDeprecationWarning: License classifiers are deprecated.",
                          *body, "  Building wheel for pkg (pyproject.toml) ... done"])
        out = logs.compress(text)
        assert body[50] not in out
        assert "  setup.py:12: SetuptoolsDeprecationWarning: License classifiers are deprecated." in out

    def test_indented_summaries_are_kept(self, logs):
        """Summaries printed indented by a nested tool (pip's build env, cargo) are kept among many plain lines."""
        plain = [f"  writing build/lib/pkg/module_{i}.py -> build/bdist/pkg" for i in range(120)]
        summaries = ["  Successfully installed cython-0.29.22 numpy-1.19.3 setuptools-68.0.0",
                     "    Finished `release` profile [optimized] target(s) in 41.07s",
                     "0 upgraded, 2 newly installed, 0 to remove and 3 not upgraded.",
                     "patching file src/pkg/tests/test_separable.py"]
        out = logs.compress("\n".join(plain[:40] + summaries[:2] + plain[40:80] + summaries[2:] + plain[80:]))
        assert all(line in out.split("\n") for line in summaries)
        assert plain[60] not in out

    def test_deeper_snippets_under_a_warning_are_kept(self, logs):
        """gcc's source and caret lines, indented deeper than its warning, stay with it."""
        noise = [f"  gcc -O2 -fPIC -c src/mod{i}.c -o build/mod{i}.o" for i in range(150)]
        warning = ["  src/wrap.c:807:5: warning: 'strncpy' specified bound 72 equals destination size",
                   "    807 |     strncpy(ps[i].value, strvalue, 72);",
                   "        |     ^~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~"]
        out = logs.compress("\n".join(noise[:75] + warning + noise[75:]))
        assert "\n".join(warning) in out
        assert noise[100] not in out


class TestAptAndUv:
    def test_apt_keeps_what_it_set_up_and_drops_the_fetches(self, logs):
        """apt's Setting up lines (package and version) stay; Get, Selecting, Preparing and Unpacking lines go."""
        text = load("apt_uv_install.txt")
        out = logs.compress(text)
        assert "Setting up curl:amd64 (8.5.0-2ubuntu10.6) ..." in out
        assert all(line in out for line in text.split("\n") if line.startswith("Setting up "))
        assert "Unpacking curl:amd64 (8.5.0-2ubuntu10.6) ..." not in out
        assert "amd64 curl amd64 8.5.0-2ubuntu10.6 [226 kB]" not in out

    def test_uv_bars_and_spinners_go_and_the_install_list_stays(self, logs):
        """uv's download bars and spinner frames are progress; the packages it installed are kept."""
        out = logs.compress(load("apt_uv_install.txt"))
        assert "------------------------------ 16.00 KiB/63.65 KiB" not in out
        assert "Preparing packages... (0/4)" not in out
        assert " + requests==2.32.5" in out
