"""Command line: ``trimwire serve | compress | up | envoy-config``."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path

from .compress import BodyRequest, build_compressor
from .config import MODES, load_settings
from .envoy_config import EnvoyOptions, find_ca_file, render_yaml
from .errors import ConfigError, KompressUnavailable, UnsupportedBody
from .formats import FORMATS, detect_format
from .logs import configure_logging

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trimwire", description=__doc__)
    parser.add_argument("--config", help="YAML settings file (also TRIMWIRE_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("serve", help="run the ext_proc gRPC server")
    comp = sub.add_parser("compress", help="compress captured request bodies offline")
    comp.add_argument("--format", default="auto", choices=["auto", *FORMATS])
    comp.add_argument("--mode", choices=MODES, help="cache or token (default: the mode setting)")
    comp.add_argument("file", help="a JSON body, a .jsonl of bodies, or - for stdin")
    up = sub.add_parser("up", help="run Envoy with trimwire as its ext_proc filter, locally")
    up.add_argument("--listen", default="127.0.0.1:10000")
    up.add_argument("--openai-upstream", default="https://api.openai.com")
    up.add_argument("--anthropic-upstream", default="https://api.anthropic.com")
    sub.add_parser("envoy-config", help="print the local Envoy config (deploy/envoy/local.yaml)")
    return parser


def _compress(args: argparse.Namespace, settings) -> int:  # type: ignore[no-untyped-def]
    compressor = build_compressor(settings)
    text = sys.stdin.read() if args.file == "-" else Path(args.file).read_text(encoding="utf-8")
    lines = text.splitlines() if args.file.endswith(".jsonl") else [text]
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        raw = line.encode("utf-8")
        try:
            body = json.loads(raw)
            if isinstance(body, dict) and "body" in body and "format" in body:  # corpus rows
                body = body["body"]
                raw = json.dumps(body, ensure_ascii=False).encode("utf-8")
            fmt = detect_format(body) if args.format == "auto" else args.format
        except (ValueError, UnsupportedBody) as exc:
            print(f"#{number}: passthrough ({type(exc).__name__})", file=sys.stderr)
            sys.stdout.write(line + "\n")
            continue
        result = compressor.run(raw, BodyRequest(format=fmt, mode=args.mode))
        sys.stdout.write((result.body or raw).decode("utf-8") + "\n")
        print(f"#{number}: format={fmt} outcome={result.outcome} tokens_before={result.tokens_before} "
              f"tokens_after={result.tokens_after} saved={result.tokens_saved}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = load_settings(args.config)
    except ConfigError as exc:
        print(f"trimwire: configuration error: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level)
    if args.command == "serve":
        from .server import serve

        try:
            asyncio.run(serve(settings))
        except KompressUnavailable as exc:  # kompress.required and no model: do not serve without it
            print(f"trimwire: kompress.required is set and no model loads: {exc.detail}", file=sys.stderr)
            return 3
        return 0
    if args.command == "compress":
        return _compress(args, settings.replace(workers=0))
    if args.command == "envoy-config":
        sys.stdout.write(render_yaml(EnvoyOptions()))
        return 0
    from .local_stack import run_local_stack

    host, _, port = args.listen.rpartition(":")
    opts = EnvoyOptions(listen_host=host, listen_port=int(port), openai_upstream=args.openai_upstream,
                        anthropic_upstream=args.anthropic_upstream, ca_file=find_ca_file())
    if settings.grpc_address == "0.0.0.0:50051":
        settings = settings.replace(grpc_address="127.0.0.1:0", metrics_address="127.0.0.1:9090",
                                    api_address="127.0.0.1:8080")
    return asyncio.run(run_local_stack(settings, opts))


if __name__ == "__main__":
    sys.exit(main())
