"""Command line: ``trimwire serve | compress | up | stats | envoy-config``.

Every mistake a user can make here (a flag, a file, a port in use, a missing Envoy, a bad
setting) ends in one sentence on stderr and a non-zero exit, never a traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

from .config import MODES, Settings, load_settings
from .config_check import config_warnings
from .envoy_bootstrap import EnvoyOptions, render_yaml
from .errors import ConfigError, KompressUnavailable, UsageError
from .formats import FORMATS
from .logging_setup import configure_logging
from .stats_cli import DEFAULT_STATS_URL

__all__ = ["main"]



class _Formatter(argparse.ArgumentDefaultsHelpFormatter):
    """Each flag's default after its description, unless it has none to show."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or action.default is False:
            return action.help
        return super()._get_help_string(action)


_FORMATTER = _Formatter
# `trimwire up` on a laptop: every port on loopback unless a setting says otherwise, and the
# human per-request lines instead of the JSON request log.
UP_DEFAULTS = {"grpc_address": "127.0.0.1:0", "metrics_address": "127.0.0.1:9090",
               "api_address": "127.0.0.1:8080", "log_level": "warning"}


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="trimwire", description=__doc__, formatter_class=_FORMATTER)
    config_help = ("YAML settings file, accepted before or after the command "
                   "(default: TRIMWIRE_CONFIG, else none)")
    parser.add_argument("--config", help=config_help)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, text: str) -> argparse.ArgumentParser:
        cmd = sub.add_parser(name, help=text, description=text, formatter_class=_FORMATTER)
        cmd.add_argument("--config", default=argparse.SUPPRESS, help=config_help)
        return cmd

    command("serve", "run the ext_proc gRPC server (ports: grpc_address, metrics_address, api_address)")
    comp = command("compress", "compress captured request bodies offline, as the server would")
    comp.add_argument("--format", default="auto", choices=["auto", *FORMATS],
                      help="wire format of the bodies; auto detects it from each body")
    comp.add_argument("--mode", choices=MODES, default=None,
                      help="cache or token (default: the mode setting, cache unless configured)")
    comp.add_argument("--diff", action="store_true",
                      help="print what changed in each string instead of the bodies (default: off)")
    comp.add_argument("file", help="a JSON body, a .jsonl of bodies (one line each), or - for stdin")
    up = command("up", "run Envoy with trimwire as its ext_proc filter, on this machine")
    up.add_argument("--listen", default="127.0.0.1:10000", help="where Envoy listens for your agents (HOST:PORT)")
    up.add_argument("--openai-upstream", default="https://api.openai.com",
                    help="where OpenAI-style requests go on (scheme and host, no path)")
    up.add_argument("--anthropic-upstream", default="https://api.anthropic.com",
                    help="where /v1/messages requests go on (scheme and host, no path)")
    for flag, setting in (("--grpc", "grpc_address"), ("--metrics", "metrics_address"), ("--api", "api_address")):
        up.add_argument(flag, default=None, metavar="HOST:PORT",
                        help=f"the {setting} setting (default: TRIMWIRE_{setting.upper()}, the config file, "
                             f"else {UP_DEFAULTS[setting]})")
    stats = command("stats", "print the savings since start of a running trimwire")
    stats.add_argument("url", nargs="?", default=DEFAULT_STATS_URL,
                       help="trimwire's ops or API port (its /stats)")
    command("envoy-config", "print the local Envoy config (deploy/envoy/local.yaml)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _run(args)
    except (UsageError, ConfigError) as exc:
        kind = "configuration error" if isinstance(exc, ConfigError) else "error"
        print(f"trimwire: {kind}: {exc}", file=sys.stderr)
        return 2
    except KompressUnavailable as exc:  # kompress.required and no model: do not serve without it
        print(f"trimwire: kompress.required is set and no model loads: {exc.detail}", file=sys.stderr)
        return 3
    except KeyboardInterrupt:
        return 130


def _run(args: argparse.Namespace) -> int:
    if args.command == "stats":
        from .stats_cli import fetch_stats, print_stats

        print_stats(fetch_stats(args.url), sys.stdout)
        return 0
    if args.command == "envoy-config":
        sys.stdout.write(render_yaml(EnvoyOptions()))
        return 0
    settings = _settings(args)
    configure_logging(settings.log_level)
    if args.command == "compress":
        from .compress_cli import run_compress

        # one process, and no shared cache: a lazily opened model's results stay in this run
        return run_compress(settings.replace(workers=0, redis_url=""), args.file, fmt=args.format,
                            mode=args.mode, diff=args.diff)
    if args.command == "serve":
        from .server import serve

        _check_ports(settings)
        asyncio.run(serve(settings))
        return 0
    return _up(args, settings)


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {}
    defaults = None
    if args.command == "up":
        from .addresses import parse_listen

        defaults = UP_DEFAULTS
        for flag, setting in (("grpc", "grpc_address"), ("metrics", "metrics_address"), ("api", "api_address")):
            value = getattr(args, flag)
            if value is not None:
                parse_listen(value, f"--{flag}")
                overrides[setting] = value
    settings = load_settings(args.config, defaults=defaults, **overrides)
    for warning in config_warnings(settings, os.environ):
        print(f"trimwire: warning: {warning}", file=sys.stderr)
    return settings


def _check_ports(settings: Settings, *listen: tuple[str, int, str]) -> None:
    """Say which setting to change when one of the ports is taken, before anything starts."""
    from .addresses import check_free, parse_listen

    checks = [*listen, (*parse_listen(settings.metrics_address, "metrics_address"),
                        "metrics_address (--metrics, TRIMWIRE_METRICS_ADDRESS)")]
    if not settings.so_reuseport:  # sharing the gRPC port is then what was asked for
        checks.append((*parse_listen(settings.grpc_address, "grpc_address"),
                       "grpc_address (--grpc, TRIMWIRE_GRPC_ADDRESS)"))
    if settings.api_enabled:
        checks.append((*parse_listen(settings.api_address, "api_address"), "api_address (--api, TRIMWIRE_API_ADDRESS)"))
    for host, port, setting in checks:
        check_free(host, port, setting)


def _up(args: argparse.Namespace, settings: Settings) -> int:
    from .addresses import check_upstream, parse_listen
    from .envoy_bootstrap import find_ca_file
    from .local_stack import find_envoy, run_local_stack

    host, port = parse_listen(args.listen, "--listen")
    upstreams = {}
    for flag, value in (("--openai-upstream", args.openai_upstream), ("--anthropic-upstream", args.anthropic_upstream)):
        upstreams[flag], warning = check_upstream(flag, value)
        if warning:
            print(f"trimwire: warning: {warning}", file=sys.stderr)
    find_envoy()  # before anything starts: a missing Envoy is one sentence, not a half-started stack
    _check_ports(settings, (host, port, "--listen"))
    opts = EnvoyOptions(listen_host=host, listen_port=port, openai_upstream=upstreams["--openai-upstream"],
                        anthropic_upstream=upstreams["--anthropic-upstream"], ca_file=find_ca_file())
    return asyncio.run(run_local_stack(settings, opts))


if __name__ == "__main__":
    sys.exit(main())
