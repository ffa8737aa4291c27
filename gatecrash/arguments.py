"""The `gatecrash` command line: every command, option and its help text."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from pathlib import Path

from gatecrash.capacity_cli import add_capacity_parser
from gatecrash.experiment import MAX_TRIALS
from loadtests.remote import DEFAULT_JOIN_TIMEOUT_S, DEFAULT_MASTER_PORT
from targets.stack import RuntimeKind
from targets.topology import GatewayKind, LlmRouterKind

__all__ = ["DEFAULT_STACK", "DEFAULT_SUITE", "Handler", "build_parser"]

Handler = Callable[[argparse.Namespace], int]
RUNTIMES = [k.value for k in RuntimeKind]
GATEWAYS = [k.value for k in GatewayKind]
LLM_ROUTERS = [k.value for k in LlmRouterKind]
# The claims suite of a checkout; `--suite` points elsewhere.
DEFAULT_SUITE = Path(__file__).resolve().parent.parent / "experiments"
DEFAULT_STACK = "default"


def _trials(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if not 1 <= value <= MAX_TRIALS:
        raise argparse.ArgumentTypeError(f"{value}: give 1 to {MAX_TRIALS} trials")
    return value


def _trials_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--trials", type=_trials, default=None, metavar="N",
                        help="repeat the fault schedule N times on one deployed stack, with "
                        "a recovery gap between trials; rows are pooled per window "
                        "(default: the experiment's `trials`, else 1)")


def _gateway_list(text: str) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    wrong = [c for c in chosen if c not in GATEWAYS]
    if wrong or not chosen:
        raise argparse.ArgumentTypeError(f"{text!r}: choose from {', '.join(GATEWAYS)} "
                                         "(several: comma-separated)")
    return chosen


def _product_options(parser: argparse.ArgumentParser, *, several: bool = False) -> None:
    """--gateway and --llm-router (docs/gateways.md); unset: what the experiment says."""
    if several:
        parser.add_argument("--gateway", type=_gateway_list, default=None,
                            help="gateway/router implementation(s): builtin, nginx, haproxy; "
                            "several (comma-separated) run the suite once each, side by side")
    else:
        parser.add_argument("--gateway", choices=GATEWAYS, default=None,
                            help="what runs in the gateway and router roles (default: builtin)")
    parser.add_argument("--llm-router", choices=LLM_ROUTERS, default=None,
                        help="what routes chat generation: builtin (chat's own pool) or "
                        "litellm (a LiteLLM proxy)")


def build_parser(handlers: Mapping[str, Handler]) -> argparse.ArgumentParser:
    """The command line; `handlers`: each command's function, by name."""
    parser = argparse.ArgumentParser(
        prog="gatecrash",
        description="Chaos-and-load harness for API-gateway architectures serving LLMs.")
    sub = parser.add_subparsers(dest="command", required=True)

    up = sub.add_parser("up", help="deploy an architecture (local processes or containers)")
    up.add_argument("--arch", choices=["single", "dual"], default="dual")
    up.add_argument("--name", default=DEFAULT_STACK, help="stack name (default: %(default)s)")
    up.add_argument("--detach", action="store_true", help="leave it running and return")
    up.add_argument("--base-port", type=int, default=None,
                    help="first port of the stack's block of 100 (default: a free block)")
    up.add_argument("--replicas", type=int, default=None,
                    help="replicas of every backend service (default: 2)")
    up.add_argument("--entries", type=int, default=1,
                    help="instances of the entry service (router/gateway), each its own "
                         "entry point (default: 1)")
    up.add_argument("--inference-backend", default=None,
                    help="tiny (default), smollm2, path:/dir or upstream:URL")
    up.add_argument("--timeout", type=float, default=None,
                    help="seconds to wait for health (default: 120 local, 240 docker)")
    _runtime_option(up)
    _product_options(up)
    up.set_defaults(func=handlers["up"])

    status = sub.add_parser("status", help="show a stack and its instances")
    status.add_argument("--name", default=DEFAULT_STACK)
    status.add_argument("--all", action="store_true", help="every stack on this machine")
    status.add_argument("--json", action="store_true")
    status.set_defaults(func=handlers["status"])

    down = sub.add_parser("down", help="remove a stack and everything it started")
    down.add_argument("--name", default=DEFAULT_STACK)
    down.add_argument("--all", action="store_true",
                      help="every stack of this GATECRASH_HOME, and what crashed runs of it "
                      "left (never another home's: they may share the Docker engine)")
    down.set_defaults(func=handlers["down"])

    toxi = sub.add_parser("toxiproxy", help="run the built-in Toxiproxy-API server standalone")
    toxi.add_argument("--host", default="127.0.0.1")
    toxi.add_argument("--port", type=int, default=8474)
    toxi.add_argument("--config", type=Path, default=None,
                      help="JSON list of proxies to create at start (as Toxiproxy's -config)")
    toxi.set_defaults(func=handlers["toxiproxy"])

    dash = sub.add_parser("dashboard", help="browse run folders in a web page (read-only)")
    dash.add_argument("--runs", type=Path, default=Path("runs"))
    dash.add_argument("--host", default="127.0.0.1")
    dash.add_argument("--port", type=int, default=8765)
    dash.set_defaults(func=handlers["dashboard"])

    run = sub.add_parser("run", help="run one experiment file; exit 0 hold, 1 fail, "
                         "2 error, 3 inconclusive")
    run.add_argument("file", type=Path)
    run.add_argument("--arch", choices=["single", "dual", "both", "auto"], default="auto",
                     help="default: the file's architectures")
    run.add_argument("--out", type=Path, default=Path("runs"), help="runs folder")
    _runtime_option(run)
    _capacity_from(run)
    _trials_option(run)
    _product_options(run)
    run.add_argument("--remote-workers", type=int, default=0, metavar="N",
                     help="the load comes from N workers started with `gatecrash worker "
                     "--master HOST:PORT` (anywhere); their rows come back to this run")
    run.add_argument("--master-bind", default=f"127.0.0.1:{DEFAULT_MASTER_PORT}",
                     metavar="HOST[:PORT]", help="where the load master listens for workers "
                     "(default %(default)s; bind a reachable address for other machines)")
    run.add_argument("--join-timeout", type=int, default=DEFAULT_JOIN_TIMEOUT_S, metavar="S",
                     help="seconds to wait for every worker to join (default %(default)s)")
    run.set_defaults(func=handlers["run"])

    plan = sub.add_parser("plan", help="expected samples per window and what they can decide, "
                          "before deploying anything")
    plan.add_argument("file", type=Path)
    plan.add_argument("--arch", choices=["single", "dual", "both", "auto"], default="auto",
                      help="default: the file's architectures")
    plan.add_argument("--from", dest="rates_from", type=Path, action="append",
                      metavar="RUN_DIR", help="plan from the request rates measured in a "
                      "previous run folder (once per architecture) instead of assuming a "
                      "service time")
    plan.add_argument("--quick", action="store_true",
                      help="plan the hypotheses as `evidence --quick` judges them (their "
                      "`quick` forms)")
    _trials_option(plan)
    plan.set_defaults(func=handlers["plan"])

    worker = sub.add_parser("worker", help="generate load for a run started elsewhere with "
                            "--remote-workers (Locust's worker; rows go back to its master)")
    worker.add_argument("--master", required=True, metavar="HOST[:PORT]",
                        help=f"the run's load master (port {DEFAULT_MASTER_PORT} by default)")
    worker.add_argument("--name", default=None,
                        help="this worker's name in the rows (default: host-pid)")
    worker.set_defaults(func=handlers["worker"])

    gate = sub.add_parser("gate", help="run experiment files as a CI gate (exit codes as run)")
    gate.add_argument("paths", nargs="+", type=Path, help="experiment files or folders")
    gate.add_argument("--arch", choices=["single", "dual", "both", "auto"], default="auto")
    gate.add_argument("--out", type=Path, default=Path("runs"))
    gate.add_argument("--junit", type=Path, default=None, help="write JUnit XML here")
    _runtime_option(gate)
    _capacity_from(gate)
    _trials_option(gate)
    _product_options(gate)
    gate.set_defaults(func=handlers["gate"])

    evidence = sub.add_parser("evidence", help="the claims suite (experiments/c*.yaml) on "
                              "both architectures, with one evidence report; without "
                              "--quick sized to decide the seeds' claims (it says how long "
                              "first)")
    evidence.add_argument("--quick", action="store_true",
                          help="the seeds' claims only (not C9, C12), short runs, each "
                          "hypothesis in the form its samples can decide")
    evidence.add_argument("--suite", type=Path, default=DEFAULT_SUITE)
    evidence.add_argument("--out", type=Path, default=Path("runs"))
    _runtime_option(evidence)
    _capacity_from(evidence)
    _trials_option(evidence)
    _product_options(evidence, several=True)
    evidence.set_defaults(func=handlers["evidence"])

    add_capacity_parser(sub, RUNTIMES).set_defaults(func=handlers["capacity"])
    return parser


def _runtime_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--runtime", choices=RUNTIMES, default=RuntimeKind.LOCAL.value,
                        help="local processes (default) or Docker containers")


def _capacity_from(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--capacity-from", type=Path, default=None, metavar="FILE",
                        help='capacities to take "rate: 50%%" of: a JSON object of req/s by '
                        'architecture, e.g. {"single": 60, "dual": 55} (default: measured '
                        "on this machine, cached under GATECRASH_HOME)")
