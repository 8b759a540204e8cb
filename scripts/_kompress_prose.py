"""``bench_kompress.py``'s prose part: does Kompress fire on the prose agents read, and what does
it save there against the rule-only baseline, within the deadline a request gives it?

Held-out documents of each kind an agent reads (none is a source of ``scripts/train_kompress.py``):

* the test fixtures written for them (``tests/unit/kompress/fixtures``): a man page, a ``--help``,
  a README, a reStructuredText guide, a changelog, a ``gh issue view`` thread, and a web page
  after HTML extraction (``HtmlCompressor``, whose output the pipeline offers to Kompress);
* real man pages of this machine as an agent's shell gets them (``man PAGE | cat``: 80 columns,
  justified, hyphenated, body indented 7 columns, option text 14, nothing removed): the common
  pages of ``COMMON_PAGES`` and a fixed hashed sample of the rest; and real ``--help`` outputs of
  the commands installed here (``HELP_COMMANDS``, and apart ``MORE_HELP_COMMANDS``: docker,
  kubectl, npm, cargo, gcc, node, systemd...).

Per document: whether Kompress takes it (``Kompress.applies`` on a tool result: routed as text and
``looks_like_prose``), its tokens before and after the model (``compress_within``) and after
*rule-only* (the same forced words, candidates ranked rarest first by their count over the
documents of the same kind: the same number of words kept), and whether every must-keep word
(``rules.must_keep``) of the document is still in the output. Deadline: the longest common man
page cut to about 13k tokens, thinned under the production deadline (``request_deadline_ms`` times
``compress.INFERENCE_SHARE``) on the intra-op threads a server gives each process on this machine
(``cpus.cpu_share``; on a busy 2-CPU machine one thread scores a chunk faster than two): the share
of its prose thinned in time (the rest is kept byte for byte), the seconds, and what that saved;
then the same page with no deadline.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from extproc.compress import INFERENCE_SHARE
from extproc.compressors.content_types import detect
from extproc.compressors.html import HtmlCompressor
from extproc.compressors.kompress import Kompress
from extproc.compressors.kompress.rules import EDGE, must_keep
from extproc.compressors.kompress.words import split_prose
from extproc.config import DEFAULT_REQUEST_DEADLINE_MS
from extproc.pipeline import BlockInputs, Budget
from extproc.pipeline.router import ContentType
from extproc.tokens import TokenCounter

__all__ = ["prose_part", "prose_lines"]

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "tests" / "unit" / "kompress" / "fixtures"
KINDS = {"man_page.txt": "man page", "help_output.txt": "--help", "readme.md": "README (markdown)",
         "guide.rst": "reStructuredText", "changelog.md": "changelog", "gh_issue.txt": "issue thread",
         "article.html": "web page (HTML extracted)"}
MAN_DIRS = ("/usr/share/man/man1", "/usr/share/man/man8")
HELP_COMMANDS = (("ls", "--help"), ("grep", "--help"), ("tar", "--help"), ("curl", "--help", "all"),
                 ("git", "help", "-a"), ("python3", "--help"), ("pip", "--help"), ("man", "--help"),
                 ("rsync", "--help"), ("ssh-keygen", "--help"), ("find", "--help"), ("sed", "--help"),
                 ("cp", "--help"), ("du", "--help"), ("sort", "--help"), ("diff", "--help"), ("wget", "--help"),
                 ("xargs", "--help"))
# More tools agents ask (whichever are installed here), reported apart so the row above stays
# comparable with earlier runs.
MORE_HELP_COMMANDS = (("docker", "--help"), ("docker", "run", "--help"), ("kubectl", "--help"),
                      ("kubectl", "get", "--help"), ("npm", "help"), ("cargo", "--help"), ("rustc", "--help"),
                      ("gcc", "--help"), ("node", "--help"), ("make", "--help"), ("pip", "install", "--help"),
                      ("systemctl", "--help"), ("journalctl", "--help"), ("jq", "--help"), ("gzip", "--help"),
                      ("apt-get", "--help"))
# Pages an agent reads, whichever exist here; the longest is cut to DEADLINE_TOKENS for the deadline run.
COMMON_PAGES = ("ls", "cp", "grep", "sed", "tar", "find", "ssh", "curl", "git-commit", "chmod", "du", "sort")
DEADLINE_TOKENS = 13_000
# As an agent's shell gets a page: man writes to a pipe, 80 columns, justified and hyphenated.
MAN_ENV = {"MANWIDTH": "80", "LC_ALL": "C.UTF-8", "MAN_KEEP_FORMATTING": ""}


@dataclass
class Document:
    kind: str
    name: str
    text: str
    fixture: bool


def documents(man_pages: int) -> list[Document]:
    """The fixtures, ``man_pages`` real man pages as man prints them, and real --help outputs."""
    docs = []
    for name, kind in KINDS.items():
        text = (FIXTURES / name).read_text(encoding="utf-8")
        if name.endswith(".html"):
            text = HtmlCompressor().compress(text) or text
        docs.append(Document(kind, name, text, True))
    docs += [Document("man page (common)", name, text, False) for name, text in common_man_pages()]
    docs += [Document("man page (real)", name, text, False) for name, text in real_man_pages(man_pages)]
    for kind, commands in (("--help (real)", HELP_COMMANDS), ("--help (real, more tools)", MORE_HELP_COMMANDS)):
        for command in commands:
            text = run_text(list(command))
            if len(text.split()) >= 40:
                docs.append(Document(kind, " ".join(command), text, False))
    return docs


def run_text(command: list[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, errors="replace", env=env)
    except (OSError, subprocess.SubprocessError):
        return ""
    return re.sub(r".\x08", "", done.stdout)  # overstrike bold and underline


def common_man_pages() -> list[tuple[str, str]]:
    """The pages of ``COMMON_PAGES`` installed here, whole, as ``man PAGE | cat`` prints them."""
    pages = [(name, run_text(["man", name], dict(os.environ, **MAN_ENV))) for name in COMMON_PAGES]
    return [(name, text) for name, text in pages if len(text.split()) >= 200]


def man_page_files(dirs: tuple[str, ...]) -> Iterator[Path]:
    """The man page files under ``dirs`` in a fixed hashed order, aliases of other pages left out;
    read lazily, so a caller that stops early opens no more of them."""
    pages = sorted((p for d in dirs if Path(d).is_dir() for p in Path(d).iterdir() if p.is_file()),
                   key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())
    for page in pages:
        if page.suffix == ".gz":
            with gzip.open(page) as head:
                if head.read(4) == b".so ":  # an alias of another page
                    continue
        yield page


def real_man_pages(count: int) -> list[tuple[str, str]]:
    """``count`` man pages with some prose, in a fixed hashed order, as ``man`` prints them."""
    env = dict(os.environ, **MAN_ENV)
    out: list[tuple[str, str]] = []
    for page in man_page_files(MAN_DIRS):
        if len(out) >= count:
            break
        text = run_text(["man", "-P", "cat", "-l", str(page)], env)[:20_000]
        if len(text.split()) >= 200:
            out.append((page.name.split(".")[0], text))
    return out


def rule_only(text: str, kept_words: int, counts: Counter) -> str:
    """The text with the forced words and the rarest other candidates, ``kept_words`` in all."""
    prose = split_prose(text)
    forced = {i for i, word in enumerate(prose.words) if word.keep}
    ranked = sorted(prose.candidates, key=lambda i: (counts[prose.words[i].text.strip(EDGE).lower()], i))
    return prose.join(forced | set(ranked[:max(0, kept_words - len(forced))]))


def must_lost(before: str, after: str) -> tuple[int, int]:
    """(must-keep words of ``before``, how many of them ``after`` lost)."""
    kept = Counter(after.split())
    must = Counter(word for word in before.split() if must_keep(word))
    return sum(must.values()), sum(max(0, n - kept[word]) for word, n in must.items())


def prose_part(kompress: Kompress, counter: TokenCounter, man_pages: int, threads: int) -> dict:
    docs = documents(man_pages)
    counts: dict[str, Counter] = {}
    for doc in docs:
        counts.setdefault(doc.kind, Counter()).update(w.text.strip(EDGE).lower() for w in split_prose(doc.text).words)
    rows = []
    for doc in docs:
        fires = detect(doc.text) is ContentType.TEXT and kompress.applies(BlockInputs(doc.text))  # as routed
        before = counter.count(doc.text)
        row = {"kind": doc.kind, "name": doc.name, "fixture": doc.fixture, "fires": fires, "tokens": before,
               "model": before, "rule_only": before, "must": must_lost(doc.text, doc.text)[0], "must_lost": 0}
        if fires:
            out = kompress.compress_within(doc.text, Budget(deadline=time.monotonic() + 600)) or doc.text
            kept_words = len(out.split()) - (len(doc.text.split()) - len(split_prose(doc.text).words))
            baseline = rule_only(doc.text, kept_words, counts[doc.kind])
            row.update(model=counter.count(out), rule_only=counter.count(baseline),
                       must_lost=must_lost(doc.text, out)[1], rule_must_lost=must_lost(doc.text, baseline)[1])
        rows.append(row)
    pages = [d for d in docs if d.kind == "man page (common)"] or [d for d in docs if d.kind == "man page (real)"]
    deadline = deadline_run(kompress, counter, pages)
    return {"rows": rows, "deadline": {**deadline, "threads": threads} if deadline else {}}


def deadline_run(kompress: Kompress, counter: TokenCounter, pages: list[Document]) -> dict:
    """The longest common man page cut to about 13k tokens (at a line end), thinned under the
    production deadline, then with no deadline: how much of it is thinned in time, how fast."""
    if not pages:
        return {}
    page = max(pages, key=lambda d: len(d.text))
    text = page.text
    while counter.count(text) < DEADLINE_TOKENS:  # a short page: the page again
        text += "\n" + page.text
    lines = text.split("\n")
    while counter.count("\n".join(lines)) > DEADLINE_TOKENS * 1.02:
        lines = lines[:max(1, int(len(lines) * 0.98))]
    text = "\n".join(lines)
    seconds = DEFAULT_REQUEST_DEADLINE_MS / 1000 * INFERENCE_SHARE
    load = os.getloadavg()[0]
    budget = Budget(deadline=time.monotonic() + seconds)
    started = time.perf_counter()
    out, scored = _scored_share(kompress, text, budget)
    took = time.perf_counter() - started
    unbounded = Budget(deadline=time.monotonic() + 600)
    started = time.perf_counter()
    full = kompress.compress_within(text, unbounded) or text
    took_full = time.perf_counter() - started
    return {"name": page.name, "tokens": counter.count(text), "deadline_s": seconds, "seconds": round(took, 3),
            "chunks": budget.events.get("kompress_chunks", 0), "events": budget.events,
            "thinned_share": scored, "tokens_after": counter.count(out),
            "tokens_after_no_deadline": counter.count(full), "seconds_no_deadline": round(took_full, 3),
            "load_average": round(load, 2), "load_average_end": round(os.getloadavg()[0], 2)}


def _scored_share(kompress: Kompress, text: str, budget: Budget) -> tuple[str, float]:
    """``compress_within``'s output, and the share of its prose words that were scored in time
    (the others, in chunks the deadline left out, are kept whole)."""
    shares: list[float] = []
    score = kompress._score

    def observed(prose, deadline, spent):  # Kompress._score, its result counted on the way out
        scores, missed = score(prose, deadline, spent)
        shares.append(sum(s is not None for s in scores) / len(scores) if scores else 0.0)
        return scores, missed

    kompress._score = observed  # this instance only, for this one call
    try:
        out = kompress.compress_within(text, budget) or text
    finally:
        del kompress._score
    return out, shares[0] if shares else 0.0


def _saved(after: int, tokens: int) -> str:
    return f"{1 - after / tokens:.1%}" if tokens else "-"


def prose_lines(part: dict, counter_name: str) -> list[str]:
    rows = part["rows"]
    out = ["| kind | documents | Kompress fires on | tokens | saved, model | saved, rule-only "
           "| must-keep words lost (model) |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    kinds = list(dict.fromkeys(row["kind"] for row in rows))
    for kind in [*kinds, "all fixtures"]:
        mine = [r for r in rows if (r["fixture"] if kind == "all fixtures" else r["kind"] == kind)]
        fired = [r for r in mine if r["fires"]]
        tokens = sum(r["tokens"] for r in fired)
        model, rule = sum(r["model"] for r in fired), sum(r["rule_only"] for r in fired)
        must, lost = sum(r["must"] for r in fired), sum(r["must_lost"] for r in fired)
        out.append(f"| {kind} | {len(mine)} | {len(fired)} | {tokens:,} | {_saved(model, tokens)} "
                   f"| {_saved(rule, tokens)} "
                   f"| {lost} of {must:,} |")
    d = part["deadline"]
    if d:
        out += ["", f"Deadline: man page `{d['name']}` as `man {d['name']} | cat` prints it (80 columns), cut to "
                f"{d['tokens']:,} tokens ({counter_name}) at a line end, thinned under the production deadline "
                f"({d['deadline_s']:.1f} s of inference: `request_deadline_ms` {DEFAULT_REQUEST_DEADLINE_MS} times "
                f"{INFERENCE_SHARE}) on {d.get('threads', '?')} intra-op thread(s) (a server's share of this "
                f"machine's CPUs): {d['chunks']} chunks, {d['seconds']:.2f} s, events {d['events']}, load "
                f"average {d['load_average']} before, {d.get('load_average_end', '?')} after; "
                f"**{d['thinned_share']:.0%} of its prose words lie in chunks scored in "
                f"time** and were thinned, the rest kept as is: {d['tokens']:,} -> {d['tokens_after']:,} tokens. "
                f"With no deadline: "
                f"{d['seconds_no_deadline']:.2f} s ({d['seconds_no_deadline'] / max(1, d['chunks']) * 1000:.0f} ms "
                f"a chunk), {d['tokens_after_no_deadline']:,} tokens."]
    return out
