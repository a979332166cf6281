"""The process the crash test kills: a GraphQL server and a client ingesting through it.

Run as ``python -m tests.security.crash_worker DATABASE_URL ACK_FILE TOKEN STATIONS_FILE``. It
imports everything once, then forks a child per line ``go ROUND`` read from stdin (a fork costs
milliseconds where a fresh interpreter costs seconds). Each child serves the app with uvicorn in a
thread and, in its main thread, sends ``submitTally`` forms in a loop; only after an HTTP 200 whose
answer is ``TallyAccepted`` does it append the submission id to ACK_FILE. It prints ``ready PID``
once the first form was acknowledged; the test then kills it with SIGKILL whenever it likes.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import sys
import threading
import time
from pathlib import Path

import httpx
import uvicorn

from pilkada_graph.app import create_app
from pilkada_graph.config import Settings

SUBMIT = """mutation ($input: SubmitTallyInput!) { submitTally(input: $input) {
  __typename ... on TallyAccepted { tally { submissionId } } ... on TallyRejected { errors { rule } } } }"""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def form(submission_id: str, station: str, rng: random.Random) -> dict[str, object]:
    votes = [rng.randint(0, 150) for _ in range(2)]
    invalid = rng.randint(0, 9)
    return {"submissionId": submission_id, "stationCode": station, "contestCode": "gub-62",
            "submittedAt": f"2024-11-28T{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:00+07:00",
            "source": "crash", "voters": sum(votes) + invalid,
            "votes": [{"number": n, "votes": v} for n, v in enumerate(votes, start=1)],
            "validVotes": sum(votes), "invalidVotes": invalid}


def serve(database_url: str) -> str:
    port = free_port()
    config = uvicorn.Config(create_app(Settings(database_url=database_url)), host="127.0.0.1", port=port,
                            log_level="error")
    threading.Thread(target=uvicorn.Server(config).run, daemon=True).start()
    url = f"http://127.0.0.1:{port}"
    while True:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return f"{url}/graphql"
        except httpx.TransportError:
            time.sleep(0.02)


def ingest(url: str, ack_file: Path, token: str, stations: list[str], round_number: int) -> None:
    rng = random.Random(round_number)
    headers = {"Authorization": f"Bearer {token}"}
    ack = os.open(ack_file, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    with httpx.Client(headers=headers, timeout=30) as client:
        for n in range(1_000_000):
            submission_id = f"crash-{round_number}-{n}"
            response = client.post(url, json={"query": SUBMIT,
                                              "variables": {"input": form(submission_id, rng.choice(stations), rng)}})
            if response.status_code == 200 and \
                    (response.json().get("data") or {}).get("submitTally", {}).get("__typename") == "TallyAccepted":
                os.write(ack, f"{submission_id}\n".encode())
                if n == 0:
                    print(f"ready {os.getpid()}", flush=True)


def child(database_url: str, ack_file: Path, token: str, stations: list[str], round_number: int) -> None:
    try:
        ingest(serve(database_url), ack_file, token, stations, round_number)
    finally:
        os._exit(0)


def warm_up(scratch: Path) -> None:
    """Import everything a server imports lazily (detectors, migrations), on a throwaway database."""
    app = create_app(Settings(database_url=f"sqlite:///{scratch / 'warm-up.db'}"))
    app.state.desk.engine.dispose()


def main() -> None:
    database_url, ack_file, token, stations_file = sys.argv[1:5]
    stations = Path(stations_file).read_text().split()
    warm_up(Path(ack_file).parent)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed children are reaped by the kernel
    print("zygote", flush=True)
    for line in sys.stdin:
        command, _, argument = line.strip().partition(" ")
        if command == "go" and os.fork() == 0:
            child(database_url, Path(ack_file), token, stations, int(argument))


if __name__ == "__main__":
    main()
