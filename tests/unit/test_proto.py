"""The checked-in gRPC code in extproc/_proto is what scripts/gen_proto.py makes from proto/ now."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _generator():
    spec = importlib.util.spec_from_file_location("gen_proto", ROOT / "scripts" / "gen_proto.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_current(tmp_path: Path) -> None:
    """Regenerating from the protos gives byte-identical files: edit a .proto, rerun the script."""
    written = _generator().generate(tmp_path)
    assert sorted(path.name for path in written) == ["compressor_pb2.py", "compressor_pb2_grpc.py"]
    for path in written:
        checked_in = ROOT / "extproc" / "_proto" / path.name
        assert checked_in.read_text(encoding="utf-8") == path.read_text(encoding="utf-8"), (
            f"{checked_in.relative_to(ROOT)} is stale: run python scripts/gen_proto.py")


def test_grpc_module_imports_its_messages_relatively() -> None:
    """The generated stub imports the message module from inside extproc._proto, not a top-level package."""
    text = (ROOT / "extproc" / "_proto" / "compressor_pb2_grpc.py").read_text(encoding="utf-8")
    assert "from . import compressor_pb2 as" in text and "from trimwire" not in text
