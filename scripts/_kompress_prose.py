"""``bench_kompress.py``'s prose part: does Kompress fire on the prose agents read, and what does
it save there against the rule-only baseline, within the deadline a request gives it?

Held-out documents of each kind an agent reads (none is a source of ``scripts/train_kompress.py``):

* the test fixtures written for them (``tests/unit/kompress/fixtures``): a man page, a ``--help``,
  a README, a reStructuredText guide, a changelog, a ``gh issue view`` thread, and a web page
  after HTML extraction (``HtmlCompressor``, whose output the pipeline offers to Kompress);
* real man pages of this machine as ``man`` prints them (body indented 7 columns, option text 14,
  nothing removed), and real ``--help`` outputs of the commands installed here.

Per document: whether Kompress takes it (``Kompress.applies`` on a tool result: routed as text and
``looks_like_prose``), its tokens before and after the model (``compress_within``) and after
*rule-only* (the same forced words, candidates ranked rarest first by their count over the
documents of the same kind: the same number of words kept), and whether every must-keep word
(``rules.must_keep``) of the document is still in the output. Deadline: the longest man page cut
to about 13k tokens, thinned under the production deadline (``request_deadline_ms`` times
``compress.INFERENCE_SHARE``): the share of its chunks scored in time, and what that saved.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import re
import subprocess
import time
from collections import Counter
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
                 ("rsync", "--help"), ("ssh-keygen", "--help"), ("find", "--help"), ("sed", "--help"))
DEADLINE_TOKENS = 13_000


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
    docs += [Document("man page (real)", name, text, False) for name, text in real_man_pages(man_pages)]
    for command in HELP_COMMANDS:
        text = run_text(list(command))
        if len(text.split()) >= 40:
            docs.append(Document("--help (real)", " ".join(command), text, False))
    return docs


def run_text(command: list[str], env: dict[str, str] | None = None) -> str:
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=20, errors="replace", env=env)
    except (OSError, subprocess.SubprocessError):
        return ""
    return re.sub(r".\x08", "", done.stdout)  # overstrike bold and underline


def real_man_pages(count: int) -> list[tuple[str, str]]:
    """``count`` man pages with some prose, in a fixed hashed order, as ``man`` prints them."""
    env = dict(os.environ, MANWIDTH="90", LC_ALL="C.UTF-8", MAN_KEEP_FORMATTING="")
    pages = sorted((p for d in MAN_DIRS if Path(d).is_dir() for p in Path(d).iterdir() if p.is_file()),
                   key=lambda p: hashlib.sha1(p.name.encode()).hexdigest())
    out: list[tuple[str, str]] = []
    for page in pages:
        if len(out) >= count:
            break
        if page.suffix == ".gz" and gzip.open(page).read(4) == b".so ":  # an alias of another page
            continue
        text = run_text(["man", "--nh", "--nj", "-P", "cat", "-l", str(page)], env)[:20_000]
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


def prose_part(kompress: Kompress, counter: TokenCounter, man_pages: int) -> dict:
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
    return {"rows": rows, "deadline": deadline_run(kompress, counter, [d for d in docs if d.kind == "man page (real)"])}


def deadline_run(kompress: Kompress, counter: TokenCounter, pages: list[Document]) -> dict:
    """The longest real man page, cut to about 13k tokens, under the production deadline."""
    if not pages:
        return {}
    page = max(pages, key=lambda d: len(d.text))
    text = page.text
    while counter.count(text) < DEADLINE_TOKENS:  # a long page, as `man bash` is: the page again
        text += "\n" + page.text
    seconds = DEFAULT_REQUEST_DEADLINE_MS / 1000 * INFERENCE_SHARE
    budget = Budget(deadline=time.monotonic() + seconds)
    started = time.perf_counter()
    out = kompress.compress_within(text, budget) or text
    took = time.perf_counter() - started
    full = kompress.compress_within(text, Budget(deadline=time.monotonic() + 600)) or text
    chunks = budget.events.get("kompress_chunks", 0)
    thinned = _thinned_chunks(kompress, text, out)
    return {"name": page.name, "tokens": counter.count(text), "deadline_s": seconds, "seconds": round(took, 3),
            "chunks": chunks, "events": budget.events, "thinned_share": thinned,
            "tokens_after": counter.count(out), "tokens_after_no_deadline": counter.count(full)}


def _thinned_chunks(kompress: Kompress, text: str, out: str) -> float:
    """Share of the prose words that lie in chunks scored in time (words after the first
    unscored chunk are all kept whole: the batcher scores chunks in order)."""
    words_in, words_out = split_prose(text).words, out.split("\n")
    lines_in = text.split("\n")
    last_changed = max((n for n, (a, b) in enumerate(zip(lines_in, words_out)) if a != b), default=-1)
    return sum(1 for w in words_in if w.line <= last_changed) / len(words_in) if words_in else 0.0


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
        saved = lambda after: f"{1 - after / tokens:.1%}" if tokens else "-"  # noqa: E731
        out.append(f"| {kind} | {len(mine)} | {len(fired)} | {tokens:,} | {saved(model)} | {saved(rule)} "
                   f"| {lost} of {must:,} |")
    d = part["deadline"]
    if d:
        out += ["", f"Deadline: man page `{d['name']}` as man prints it, repeated to {d['tokens']:,} tokens "
                f"({counter_name}), thinned under the production deadline ({d['deadline_s']:.1f} s of inference: "
                f"`request_deadline_ms` {DEFAULT_REQUEST_DEADLINE_MS} times {INFERENCE_SHARE}): {d['chunks']} chunks, "
                f"{d['seconds']:.2f} s, events {d['events']}; **{d['thinned_share']:.0%} of its prose words lie in "
                f"chunks scored in time** and were thinned, the rest kept as is: {d['tokens']:,} -> "
                f"{d['tokens_after']:,} tokens ({d['tokens_after_no_deadline']:,} with no deadline)."]
    return out
