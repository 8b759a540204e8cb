"""The table of content types: each declared once, tried in its order, routed to its compressors."""

from __future__ import annotations

from extproc.compressors.content_types import CONTENT_TYPES, ROUTER, ContentKind, default_routes, detect
from extproc.pipeline import Pipeline, Policy, Routes
from extproc.pipeline.router import ContentType, Router

from ..test_pipeline import Recorder, conversation
from . import load

TABLE = load("kubectl_get_pods.txt")


def names_table(sample) -> bool:
    return sample.lines[0].startswith("NAMESPACE ")


class TestTable:
    def test_each_type_is_declared_once_and_text_is_the_fallback(self):
        """One entry per type; plain text is the only one without a detector."""
        names = [kind.name for kind in CONTENT_TYPES]
        assert len(names) == len(set(names)) and set(ContentType) <= set(names)
        assert [kind.name for kind in CONTENT_TYPES if kind.detector is None] == [ContentType.TEXT]

    def test_routes_come_from_the_table(self):
        """default_routes offers each declared type the compressors its entry makes, and only those."""
        routes = default_routes()
        for kind in CONTENT_TYPES:
            made = [c.name for c in kind.compressors(None)]
            assert [c.name for c in routes.get(kind.name, ())] == made
        assert routes.router is ROUTER

    def test_a_new_entry_claims_its_text_at_its_place(self):
        """An entry ordered before the table detector claims a table; the declared router is unchanged."""
        recorder = Recorder("pods")
        pods = ContentKind("pods", 35, names_table, lambda _: [recorder])
        kinds = (*CONTENT_TYPES, pods)
        router = Router(shape for kind in kinds for shape in kind.shapes())
        assert router.detect(TABLE) == "pods" and detect(TABLE) is ContentType.TABLE
        late = Router(shape for kind in (*CONTENT_TYPES, ContentKind("pods", 45, names_table)) for shape in kind.shapes())
        assert late.detect(TABLE) is ContentType.TABLE

    def test_a_new_entry_reaches_its_compressor_through_the_pipeline(self):
        """The pipeline offers a block of the new type to that type's compressors only."""
        recorder = Recorder("pods")
        kinds = (*CONTENT_TYPES, ContentKind("pods", 35, names_table, lambda _: [recorder]))
        router = Router(shape for kind in kinds for shape in kind.shapes())
        routes = Routes(router, {kind.name: list(kind.compressors(None)) for kind in kinds})
        Pipeline(Policy(protected_tools=(), min_block_chars=0), routes).run(conversation(TABLE), {})
        assert recorder.seen == [TABLE]

    def test_a_type_may_have_a_second_shape(self):
        """JSON lines of log records are a log, detected before the JSON shapes; other JSON lines are not."""
        records = "\n".join('{"level": "info", "msg": "started %d"}' % i for i in range(5))
        plain = "\n".join('{"id": %d}' % i for i in range(5))
        assert detect(records) is ContentType.LOG and detect(plain) is ContentType.JSONL
