"""The embedded default model shipped in the package: it loads offline and thins prose sensibly."""

from __future__ import annotations

import json
import time
from pathlib import Path

from extproc.compressors.kompress import load_kompress
from extproc.compressors.kompress.model import EMBEDDED_DIR
from extproc.compressors.kompress.rules import must_keep
from extproc.config import KompressSettings
from extproc.pipeline import Budget
from tests.shelf import SHELF

ISSUE = Path(__file__).resolve().parents[1] / "compressors" / "fixtures" / "issue_thread.txt"


class TestEmbeddedModel:
    def test_ships_with_its_card_and_licence(self):
        """model.onnx, tokenizer.json, the Apache-2.0 LICENSE, NOTICE and the card are in the package."""
        names = {p.name for p in EMBEDDED_DIR.iterdir()}
        assert {"model.onnx", "tokenizer.json", "LICENSE", "NOTICE", "model.json"} <= names
        assert "Apache License" in (EMBEDDED_DIR / "LICENSE").read_text()
        card = json.loads((EMBEDDED_DIR / "model.json").read_text())
        assert card["base_model"]["license"] == "Apache-2.0"

    def test_loads_on_cpu_in_the_logits_layout(self):
        """With no model_dir the embedded model loads, on CPU, as the LLMLingua-2 BERT layout."""
        compressor, status = load_kompress(KompressSettings(device="cpu"), threads=1, shelf=SHELF)
        assert status.available and status.model == "embedded" and status.provider == "CPUExecutionProvider"
        assert compressor._model.info.layout == "logits"

    def test_thins_a_real_issue_thread(self):
        """On an issue thread: about keep_ratio of the prose words stay, every rule word stays,
        fillers go first, and the non-prose lines (title, commenter lines) are unchanged."""
        compressor, _ = load_kompress(KompressSettings(device="cpu"), threads=1, shelf=SHELF)
        text = ISSUE.read_text()
        budget = Budget(deadline=time.monotonic() + 60)
        out = compressor.compress_within(text, budget)
        assert out is not None and budget.events["kompress_compressed"] == 1
        before, after = text.split(), out.split()
        assert 0.5 * len(before) < len(after) < 0.85 * len(before)
        kept = set(after)
        assert all(word in kept for word in before if must_keep(word))
        lines_in, lines_out = text.split("\n"), out.split("\n")
        assert lines_out[0] == lines_in[0] and [line for line in lines_out if line.endswith("commented:")] == \
            [line for line in lines_in if line.endswith("commented:")]
        fillers = sum(w.lower() in ("the", "a", "an") for w in before)
        assert sum(w.lower() in ("the", "a", "an") for w in after) < 0.5 * fillers

    def test_runs_one_chunk_per_call_so_batches_never_change_bytes(self):
        """The dynamic-int8 model scores a chunk differently beside others, so it is run alone:
        a block compressed while other requests' blocks are in flight gives the same bytes."""
        import threading

        from tests.envoy.prose import stdlib_prose

        compressor, status = load_kompress(KompressSettings(device="cpu"), threads=1, shelf=SHELF)
        assert not compressor._model.batch_independent() and status.max_batch == compressor.max_batch == 1
        text = ISSUE.read_text()
        alone = compressor.compress(text)
        others = [stdlib_prose(700, offset=17 * n) for n in range(3)]
        outputs: list = []
        threads = [threading.Thread(target=lambda t=t: outputs.append(compressor.compress(t))) for t in others]
        for thread in threads:
            thread.start()
        again = compressor.compress(text)
        for thread in threads:
            thread.join(60)
        assert again == alone and len(outputs) == 3
