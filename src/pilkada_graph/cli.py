"""The ``pilkada-graph`` command line.

Each sub-command is a small function ``cmd_<name>(args) -> int`` registered in
:func:`build_parser`; the exit code is 0 on success, 1 when the input was rejected, 2 on
a usage error.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from pilkada_graph import __version__
from pilkada_graph.config import Settings, load_settings
from pilkada_graph.ingest import ImportReport
from pilkada_graph.progress import ProgressLine
from pilkada_graph.service import Desk

Command = Callable[[argparse.Namespace], int]


def settings_from(args: argparse.Namespace) -> Settings:
    return load_settings(
        args.config,
        database_url_option=args.database_url,
        plugins_dirs=args.plugins_dir,
        event_bus=getattr(args, "event_bus", None),
        production=getattr(args, "production", None) or None,
    )


def open_desk(args: argparse.Namespace, *, with_detection: bool = True) -> Desk:
    return Desk.open(settings_from(args), with_detection=with_detection)


# --------------------------------------------------------------------------- data


def cmd_import(args: argparse.Namespace) -> int:
    folder = Path(args.folder)
    if not folder.exists():
        print(f"error: {folder} does not exist", file=sys.stderr)
        return 2
    if args.format == "sirekap" and not args.paslon:
        print("error: --format sirekap needs --paslon FILE (and --contest CODE for station files)", file=sys.stderr)
        return 2
    desk = open_desk(args, with_detection=not args.no_detect)
    progress = ProgressLine()
    if args.format == "sirekap":
        report = desk.import_sirekap(folder, paslon=Path(args.paslon), contest_code=args.contest,
                                     skip_invalid=args.skip_invalid, progress=progress)
    else:
        report = desk.import_bundle(folder, skip_invalid=args.skip_invalid, progress=progress)
    progress.close()
    return report_import(report, args)


def report_import(report: ImportReport, args: argparse.Namespace) -> int:
    for problem in report.problems:
        print(f"error: {problem}", file=sys.stderr)
    stored = ", ".join(f"{n} {name.removesuffix('.csv')}" for name, n in report.stored.items() if n) or "nothing"
    repeats = sum(report.repeats.values())
    if report.problems and not args.skip_invalid:
        print(f"import rejected: {len(report.problems)} problem(s); nothing was stored", file=sys.stderr)
        return 1
    if report.rejected:
        path = write_rejects(report, Path(args.rejects))
        print(f"skipped {len(report.rejected)} invalid row(s); reasons in {path}", file=sys.stderr)
    print(f"stored {stored}; {repeats} repeated row(s) unchanged")
    return 0


def write_rejects(report: ImportReport, path: Path) -> Path:
    """The rejects file: one row per rejected input row, with every reason."""
    import csv

    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["file", "line", "columns", "rules", "reasons", "row"])
        for row, problems in report.rejected:
            writer.writerow([
                row.file,
                row.line,
                "; ".join(p.column or "" for p in problems),
                "; ".join(p.rule for p in problems),
                "; ".join(p.message for p in problems),
                json.dumps(dict(row.values), ensure_ascii=False),
            ])
    return path


def cmd_report(args: argparse.Namespace) -> int:
    from pilkada_graph.report import write_report

    desk = open_desk(args, with_detection=False)
    out = Path(args.out) if args.out else None
    try:
        written = write_report(desk.engine, args.region, contest_code=args.contest, fmt=args.format,
                               lang=args.lang, out=out)
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    if isinstance(written, Path):
        print(f"report written to {written}", file=sys.stderr)
    else:
        print(written, end="")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from pilkada_graph.export import export_bundle

    desk = open_desk(args, with_detection=False)
    counts = export_bundle(desk.engine, Path(args.folder))
    print(", ".join(f"{n} {name}" for name, n in counts.items()) + f" written to {args.folder}")
    return 0


def cmd_issues(args: argparse.Namespace) -> int:
    from pilkada_graph.issues import list_issues

    desk = open_desk(args, with_detection=False)
    with desk.engine.connect() as connection:
        issues = list_issues(connection, status=args.status)
    if args.json:
        print(json.dumps(issues, ensure_ascii=False, indent=1))
        return 0
    for issue in issues:
        subject = issue["station_code"] or issue["region_code"] or "-"
        print(f"#{issue['id']:<6} {issue['severity']:<8} {issue['status']:<12} {issue['detector']:<22} "
              f"{subject:<20} {issue['contest_code'] or '-':<12} {issue['message']}")
    print(f"{len(issues)} issue(s)", file=sys.stderr)
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    """What is loaded, from where, with which version; each detector with its settings in force."""
    from pilkada_graph.plugins import PluginHost, describe

    host = PluginHost.from_settings(settings_from(args))
    if args.json:
        print(json.dumps(describe(host), ensure_ascii=False, indent=1))
        return 0
    for plugin in host.plugins():
        print(f"{plugin.name} {plugin.version or ''}  ({plugin.source})")
        for name in plugin.detectors:
            detector = host.detectors()[name]
            state = "on " if detector.enabled else "off"
            print(f"  [{state}] {name} ({detector.info.checks}): {json.dumps(dict(detector.settings))}")
    for name in host.unknown_configured():
        print(f"warning: [detectors.{name}] in the config names no loaded detector", file=sys.stderr)
    return 0


def cmd_detect(args: argparse.Namespace) -> int:
    """Re-run every enabled detector on the current revisions (optionally one contest/region)."""
    from pilkada_graph.detect import DetectionRunner

    desk = open_desk(args, with_detection=False)
    runner = DetectionRunner.for_desk(desk)
    summary = runner.detect_all(contest=args.contest, region=args.region)
    print(f"checked {summary.tallies} revision(s) and {summary.regions} region(s); "
          f"{len(summary.issue_ids)} issue(s) raised, updated or cleared")
    return 0


def cmd_forensics(args: argparse.Namespace) -> int:
    """Run one forensic test (or ``all``) on the current tallies of a contest, optionally below a region."""
    from pilkada_graph import forensics
    from pilkada_graph.arrays import UnknownSubject, current_tally_arrays

    desk = open_desk(args, with_detection=False)
    try:
        arrays = current_tally_arrays(desk.engine, args.contest, args.region)
    except UnknownSubject as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    where = f"{args.contest}" + (f" below {args.region}" if args.region else "")
    if not arrays.station_codes:
        print(f"error: no complete current form of {where}", file=sys.stderr)
        return 1
    names = list(forensics.TESTS) if args.test == "all" else [args.test]
    if not set(names) <= set(forensics.TESTS):
        print(f"error: unknown forensic test {args.test!r}; choose from {', '.join(forensics.TESTS)} or all",
              file=sys.stderr)
        return 2
    options = {"seed": args.seed, "n_sim": args.n_sim, "n_boot": args.n_boot}
    results = {name: forensics.run_with(name, arrays, options) for name in names}
    if args.plot:
        for name, result in results.items():
            path = forensics.plot(name, result, arrays, plot_path(Path(args.plot), name, len(names) > 1))
            print(f"plot written to {path}", file=sys.stderr)
    if args.json:
        print(json.dumps({"contest": args.contest, "region": args.region, "stations": len(arrays.station_codes),
                          "results": {name: r.to_dict() for name, r in results.items()}}, ensure_ascii=False))
        return 0
    print(f"{where}: {len(arrays.station_codes)} stations with a complete current form")
    for name, result in results.items():
        print(f"{name}: {result.summary}")
    return 0


def plot_path(path: Path, test: str, several: bool) -> Path:
    """``--plot out.png`` for one test; ``out-<test>.png`` for each test of ``all``."""
    return path.with_name(f"{path.stem}-{test}{path.suffix or '.png'}") if several else path


def cmd_demo_data(args: argparse.Namespace) -> int:
    from pilkada_graph.demo import write_demo_bundle

    progress = ProgressLine()
    counts = write_demo_bundle(Path(args.out_folder), seed=args.seed, scale=args.scale, progress=progress)
    progress.close()
    print(", ".join(f"{n} {name}" for name, n in counts.items()) + f" written to {args.out_folder}")
    return 0


# --------------------------------------------------------------------------- tokens


def cmd_token(args: argparse.Namespace) -> int:
    """Create, list or revoke API tokens; a new token's secret is printed once, alone on the last line."""
    from pilkada_graph.tokens import TokenError, create_token, list_tokens, revoke_token

    desk = open_desk(args, with_detection=False)
    try:
        if args.token_command == "create":
            secret, token = create_token(desk.engine, args.role, regions=args.region, actor=args.name,
                                         expires=args.expires)
            print(f"token {token.id}: {describe_token(token)}", file=sys.stderr)
            print("store it now: it is shown only once", file=sys.stderr)
            print(secret)
        elif args.token_command == "revoke":
            token = revoke_token(desk.engine, args.id)
            print(f"token {token.id} revoked at {token.revoked_at:%Y-%m-%d %H:%M:%S} UTC")
        else:
            for token in list_tokens(desk.engine):
                print(f"{token.id:<5} {describe_token(token)}")
    except TokenError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


def describe_token(token: object) -> str:
    """One line: role, regions, name, expiry, revocation, last use."""
    from pilkada_graph.tokens import TokenInfo

    assert isinstance(token, TokenInfo)
    regions = ",".join(token.regions) or "all regions"
    parts = [f"{token.role:<8}", regions, f"name={token.actor}", f"created {token.created_at:%Y-%m-%d %H:%M}"]
    if token.expires_at:
        parts.append(f"expires {token.expires_at:%Y-%m-%d %H:%M}")
    if token.revoked_at:
        parts.append(f"REVOKED {token.revoked_at:%Y-%m-%d %H:%M}")
    parts.append(f"last used {token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never used")
    return "  ".join(parts)


# --------------------------------------------------------------------------- serving


def cmd_serve(args: argparse.Namespace) -> int:
    import uvicorn

    settings = settings_from(args)
    os.environ["PILKADA_DATABASE_URL"] = settings.database_url
    if args.config:
        os.environ["PILKADA_CONFIG"] = str(Path(args.config).resolve())
    Desk.open(settings, with_detection=False)  # create or upgrade the schema once, before workers start
    uvicorn.run(
        "pilkada_graph.app:app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        timeout_graceful_shutdown=args.shutdown_timeout,
        log_level="info",
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    """Create the SQLite file, load the demo election when the database is empty, and serve.

    With ``--simulate`` only the reference data (regions, contests, stations) is loaded and the
    night's forms are then sent to the running server by :mod:`pilkada_graph.simulate`.
    """
    import tempfile

    from pilkada_graph.demo import write_demo_bundle
    from pilkada_graph.simulate import write_reference_bundle

    desk = open_desk(args)
    with desk.engine.connect() as connection:
        empty = connection.exec_driver_sql("select count(*) from regions").scalar() == 0
    if empty:
        print(f"loading the demo election (seed {args.seed}) ...", file=sys.stderr)
        with tempfile.TemporaryDirectory() as scratch:
            progress = ProgressLine()
            if args.simulate:
                write_reference_bundle(Path(scratch), seed=args.seed, scale="kalteng", progress=progress)
            else:
                write_demo_bundle(Path(scratch), seed=args.seed, scale="kalteng", progress=progress)
            report = desk.import_bundle(Path(scratch), progress=progress)
            progress.close()
            if report_import(report, argparse.Namespace(skip_invalid=False, rejects="rejects.csv")):
                return 1
    token = demo_token(desk)
    print(f"serving on http://{args.host}:{args.port}/: GraphQL at /graphql, the desk console at /desk",
          file=sys.stderr)
    print(f"admin token for the desk console (Authorization: Bearer ...):\n{token}", file=sys.stderr)
    if args.simulate:
        start_simulation_thread(f"http://{args.host}:{args.port}/graphql", args.rate, args.seed, token)
    return cmd_serve(args)


def demo_token(desk: Desk) -> str:
    """A fresh admin token for the demo's desk console and simulation, valid for a week."""
    from pilkada_graph.tokens import create_token

    secret, _ = create_token(desk.engine, "admin", actor="demo", expires="7d")
    return secret


def start_simulation_thread(url: str, rate: float, seed: int, token: str | None = None) -> None:
    """Replay election night against the server this process is about to start."""
    import threading

    from pilkada_graph.simulate import simulate_night, wait_for_server

    def replay() -> None:
        if wait_for_server(url):
            simulate_night(url, rate, seed=seed, token=token)

    threading.Thread(target=replay, name="simulate", daemon=True).start()


def cmd_simulate(args: argparse.Namespace) -> int:
    """Send the demo election night's forms (with injected anomalies) to a server's submitTally."""
    from pilkada_graph.simulate import simulate_night

    report = simulate_night(args.url, args.rate, seed=args.seed, scale=args.scale, token=args.token,
                            anomalies=args.anomalies, limit=args.limit)
    return 1 if report.failures else 0


# --------------------------------------------------------------------------- parser


def add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--database-url", help="sqlite:///file.db or postgresql://user@host:port/db "
                        "(default: $PILKADA_DATABASE_URL or sqlite:///pilkada.db)")
    parser.add_argument("--config", help="TOML settings file (default: $PILKADA_CONFIG)")
    parser.add_argument("--plugins-dir", action="append", help="folder of analysts' detector plugins")


def add_server_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--event-bus", help="memory | redis://host:port/db | postgres")
    parser.add_argument("--production", action="store_true", help="no GraphiQL, no introspection")
    parser.add_argument("--shutdown-timeout", type=float, default=30.0, metavar="SECONDS",
                        help="on SIGTERM, how long requests and subscriptions may take to finish before "
                        "they are cancelled (default 30)")


def add_common_after_action(parser: argparse.ArgumentParser) -> None:
    """The common options after a nested action too (``token create --database-url ...``), without
    their defaults overwriting values given before the action."""
    add_common(parser)
    for action in parser._actions:
        if action.dest in ("database_url", "config", "plugins_dir"):
            action.default = argparse.SUPPRESS


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="pilkada-graph", description="The engine of a Desk Pilkada.")
    parser.add_argument("--version", action="version", version=f"pilkada-graph {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Command, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        add_common(sub)
        sub.set_defaults(handler=handler)
        return sub

    sub = command("import", cmd_import, "import an election bundle folder or Sirekap JSON (all-or-nothing)")
    sub.add_argument("folder", help="bundle folder, or Sirekap JSON file or folder with --format sirekap")
    sub.add_argument("--format", choices=("bundle", "sirekap"), default="bundle")
    sub.add_argument("--contest", help="sirekap: the contest the files report (optional for region files "
                     "with a region-keyed paslon file)")
    sub.add_argument("--paslon", help="sirekap: the candidate file (id -> nomor_urut)")
    sub.add_argument("--skip-invalid", action="store_true", help="store the good rows, write the bad to --rejects")
    sub.add_argument("--rejects", default="rejects.csv", help="where --skip-invalid writes rejected rows")
    sub.add_argument("--no-detect", action="store_true", help="store only; run `detect` later")

    sub = command("report", cmd_report, "the desk's report: progress, results, issues, plots (html, pdf, md)")
    sub.add_argument("--region", required=True, help="region code, e.g. 62 or 62.71")
    sub.add_argument("--contest", help="contest code (default: the one elected in the region)")
    sub.add_argument("--format", choices=("html", "pdf", "md"), default="html")
    sub.add_argument("--out", help="file to write (default: stdout for html/md, laporan-REGION.pdf for pdf)")
    sub.add_argument("--lang", choices=("id", "en"), default="id", help="Bahasa Indonesia (default) or English")

    sub = command("export", cmd_export, "write the stored election as a bundle folder")
    sub.add_argument("folder")

    sub = command("issues", cmd_issues, "list flagged issues")
    sub.add_argument("--json", action="store_true", help="a JSON array, as the bundle spec says")
    sub.add_argument("--status", choices=("open", "acknowledged", "resolved", "dismissed"))

    sub = command("plugins", cmd_plugins, "list the loaded detector plugins and their settings in force")
    sub.add_argument("--json", action="store_true", help="plugins and detectors as JSON")

    sub = command("detect", cmd_detect, "re-run the detectors on the current revisions")
    sub.add_argument("--contest", help="only this contest code")
    sub.add_argument("--region", help="only stations at or below this region code")

    sub = command("forensics", cmd_forensics, "election forensics on a contest's current tallies (docs/forensics.md)")
    sub.add_argument("test", help="second-digit, last-digit, round-numbers, integer-percentages, fingerprint, "
                     "turnout-shape, or all")
    sub.add_argument("--contest", required=True, help="contest code")
    sub.add_argument("--region", help="only stations at or below this region code")
    sub.add_argument("--json", action="store_true", help="the results as one JSON object")
    sub.add_argument("--plot", help="PNG file to draw (with all: FILE-<test>.png for each test)")
    sub.add_argument("--seed", type=int, default=0, help="seed of the simulations and bootstraps (default 0)")
    sub.add_argument("--n-sim", type=int, default=1000, help="integer-percentages: Monte Carlo draws (default 1000)")
    sub.add_argument("--n-boot", type=int, default=1000, help="second-digit: bootstrap draws (default 1000)")

    sub = command("demo-data", cmd_demo_data, "generate the deterministic demo election as a bundle")
    sub.add_argument("out_folder")
    sub.add_argument("--seed", type=int, default=2024)
    sub.add_argument("--scale", choices=("small", "kalteng", "national"), default="kalteng")

    sub = command("serve", cmd_serve, "serve the GraphQL API with uvicorn")
    add_server_options(sub)

    sub = command("demo", cmd_demo, "load the demo election into an empty database and serve it")
    add_server_options(sub)
    sub.add_argument("--seed", type=int, default=2024)
    sub.add_argument("--simulate", action="store_true",
                     help="load only regions, contests and stations, then replay election night live")
    sub.add_argument("--rate", type=float, default=20.0, help="--simulate: forms per second (default 20)")

    sub = command("simulate", cmd_simulate, "replay the demo election night through a server's submitTally")
    sub.add_argument("--url", required=True, help="the server's GraphQL endpoint, http://HOST:PORT/graphql")
    sub.add_argument("--rate", type=float, default=20.0, help="forms per second (default 20)")
    sub.add_argument("--seed", type=int, default=2024, help="the demo election's seed (as `demo --seed`)")
    sub.add_argument("--scale", choices=("small", "kalteng", "national"), default="kalteng")
    sub.add_argument("--token", help="bearer token of a role that may submit tallies")
    sub.add_argument("--anomalies", type=int, default=12, help="bad forms to inject (default 12)")
    sub.add_argument("--limit", type=int, help="stop after this many forms")

    sub = command("token", cmd_token, "create, list or revoke API tokens (roles: viewer, clerk, reviewer, admin)")
    token_commands = sub.add_subparsers(dest="token_command", required=True, metavar="ACTION")
    create = token_commands.add_parser("create", help="a new token, printed once on the last line")
    add_common_after_action(create)
    create.add_argument("--role", required=True, choices=("viewer", "clerk", "reviewer", "admin"))
    create.add_argument("--region", action="append", help="limit to this region code (repeatable); default: all")
    create.add_argument("--expires", help="7d, 12h, 30m, 2w or an ISO time (default: never)")
    create.add_argument("--name", help="the actor name stored with what it writes (default: token:ID:ROLE)")
    add_common_after_action(token_commands.add_parser("list", help="every token (never their secrets)"))
    revoke = token_commands.add_parser("revoke", help="revoke a token from now on")
    add_common_after_action(revoke)
    revoke.add_argument("id", type=int)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args))
    except FileNotFoundError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
