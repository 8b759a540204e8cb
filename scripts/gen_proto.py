"""Generate the Python code for proto/trimwire/v1/*.proto into extproc/_proto/ (checked in).

    python scripts/gen_proto.py [--out DIR]

Uses grpcio-tools (a test dependency). The generated gRPC module imports its message module
relatively, so the code lives inside the extproc package. tests/unit/test_proto.py regenerates
into a temporary folder and fails when the checked-in files differ.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROTO_ROOT = ROOT / "proto"
PROTOS = ("trimwire/v1/compressor.proto",)
DEFAULT_OUT = ROOT / "extproc" / "_proto"
_ABSOLUTE_IMPORT = re.compile(r"^from trimwire\.v1 import (\w+_pb2) as", re.MULTILINE)


def generate(out: Path) -> list[Path]:
    """Write ``*_pb2.py`` and ``*_pb2_grpc.py`` for every proto into ``out``; return their paths."""
    from grpc_tools import protoc

    out.mkdir(parents=True, exist_ok=True)
    for proto in PROTOS:
        code = protoc.main(["grpc_tools.protoc", f"-I{PROTO_ROOT}", f"--python_out={out}",
                            f"--grpc_python_out={out}", str(PROTO_ROOT / proto)])
        if code:
            raise SystemExit(f"protoc failed on {proto} (exit {code})")
    written = []
    for proto in PROTOS:
        stem = Path(proto).stem
        generated = out / Path(proto).parent
        for name in (f"{stem}_pb2.py", f"{stem}_pb2_grpc.py"):
            target = out / name
            text = (generated / name).read_text(encoding="utf-8")
            target.write_text(_ABSOLUTE_IMPORT.sub(r"from . import \1 as", text), encoding="utf-8")
            (generated / name).unlink()
            written.append(target)
    for folder in sorted({(out / p).parent for p in PROTOS}, key=lambda p: -len(p.parts)):
        while folder != out and folder.exists() and not any(folder.iterdir()):
            folder.rmdir()
            folder = folder.parent
    return written


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()
    for path in generate(args.out):
        print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path, file=sys.stderr)


if __name__ == "__main__":
    main()
