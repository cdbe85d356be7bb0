"""``dvt-us health --config CONFIG``: is the local service up? Exit 0 if healthy, 1 if not (a container's HEALTHCHECK).

Healthy means: the HTTP API answers ``GET /health`` with 200 (so the database is reachable), the DICOM node is
running and the job loop is alive. The API's address and bearer token come from the same config as ``serve``.
"""

from __future__ import annotations

import argparse
import json
import sys
import urllib.error
import urllib.request

from dvt_us.cli.service_args import add_config_arguments, service_config

_WILDCARD = {"0.0.0.0": "127.0.0.1", "::": "::1", "": "127.0.0.1"}


def register(parser: argparse.ArgumentParser) -> None:
    """Add the arguments of ``health``."""
    add_config_arguments(parser, log_level="WARNING")
    parser.add_argument("--url", default=None, help="base URL of the HTTP API (default: from the config)")
    parser.add_argument("--timeout", type=float, default=5.0, help="seconds to wait for the answer (default 5)")


def _problems(body: dict[str, object]) -> list[str]:
    components = body.get("components")
    parts = components if isinstance(components, dict) else {}
    problems = [] if body.get("status") == "ok" else [f"status {body.get('status')!r}"]
    for part in ("dicom_node", "job_loop"):
        if parts.get(part) != "running":
            problems.append(f"{part} is {parts.get(part, 'not reported')!r}")
    return problems


def run(args: argparse.Namespace) -> int:
    """Ask ``/health``; print one line; 0 when healthy, 1 when not, 2 for a bad config."""
    config = service_config(args, "health")
    if config is None:
        return 2
    if not config.http.enabled and args.url is None:
        print("dvt-us health: http.enabled is false in the config: nothing to ask", file=sys.stderr)
        return 2
    from dvt_us.service.http_server import resolve_token  # noqa: PLC0415 (the service extra)

    try:
        token = resolve_token(config.http)
    except (ValueError, OSError) as exc:
        print(f"dvt-us health: {exc}", file=sys.stderr)
        return 2
    host = _WILDCARD.get(config.http.host, config.http.host)
    base = (args.url or f"http://{f'[{host}]' if ':' in host else host}:{config.http.port}").rstrip("/")
    problems = _ask(base, token, args.timeout)
    if problems:
        print(f"dvt-us health: unhealthy: {'; '.join(problems)}", file=sys.stderr)
        return 1
    print(f"dvt-us health: ok ({base})")
    return 0


def _ask(base: str, token: str, timeout_s: float) -> list[str]:
    """What is wrong, from ``GET {base}/health``; empty when healthy."""
    request = urllib.request.Request(f"{base}/health", headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as answer:
            body = json.load(answer)
    except urllib.error.HTTPError as exc:
        return [f"{base}/health answered {exc.code}"]
    except (OSError, ValueError) as exc:
        return [f"{base}/health: {exc}"]
    return _problems(body if isinstance(body, dict) else {})
