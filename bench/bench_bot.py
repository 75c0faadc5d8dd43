"""Slack-side latency: acks under load, and how soon the asker sees something.

The bot runs as deployed, `python -m bot` in HTTP mode (waitress, one process
with threads), in its own process; this process plays Slack (a fake Web API and
signed requests to /slack/events) and Ollama (a fake producing tokens at a fixed
rate), over the sample corpus.

1. Idle: one question at a time → ack, time to the first visible reply in the thread
   (thread status or placeholder) and to the first streamed token (chat.startStream).
2. Load: 20 mentions arriving within about a second, then 20 `/rag-sources` while those
   answers are generating → ack latency p50/p99 of events and of slash commands
   (target p99 < 50 ms), first visible reply / first token under load, and a check
   that every question got exactly one answer.
3. Burst: 20 mentions sent at the same instant (reported for information: the last of
   a simultaneous burst waits for the 19 before it on one process's GIL).

Run: `python bench/bench_bot.py [--mentions 20] [--token-rate 30] [--workers 2]`. Not a unit test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.request import urlopen

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.fakes.fake_ollama import FakeOllama  # noqa: E402
from tests.fakes.fake_slack import FakeSlack  # noqa: E402
from tests.fakes.slack_signing import Sent, SlackSender  # noqa: E402

MODEL = "llama3.2:3b"
SECRET = "bench-signing-secret"
CHANNEL = "C0BENCH"
QUESTIONS = [
    "How many days of annual leave can I carry over?", "What is the hotel limit per night?",
    "When must a data breach be reported?", "What are the payment terms for invoices?",
    "Who approves expense claims?", "How long is the termination notice?",
    "What happens to my laptop when I leave?", "How do customers return damaged goods?",
    "Which password rules apply to administrators?", "出差住宿費每晚上限是多少？",
]
ANSWER = ("According to the documents, the rule is stated clearly and applies to every employee; "
          "the exact figures, deadlines and approvers are listed in the cited section [1]. ") * 2


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))]


def summary(name: str, values_s: list[float]) -> str:
    ms = [v * 1000 for v in values_s]
    if not ms:
        return f"{name:<44} n=  0"
    return (f"{name:<44} n={len(ms):>3}  p50 {pct(ms, 50):8.1f} ms  p99 {pct(ms, 99):8.1f} ms  "
            f"max {max(ms):8.1f} ms")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Bench:
    def __init__(self, slack: FakeSlack, send: SlackSender) -> None:
        self.slack = slack
        self.send = send

    def ask(self, question: str) -> tuple[str, float, Sent]:
        ts = self.slack.add_message(CHANNEL, f"<@{self.slack.bot_user_id}> {question}", user="U0BENCH")
        started = time.monotonic()
        return ts, started, self.send.mention(CHANNEL, ts, question, user="U0BENCH")

    def command(self) -> Sent:
        return self.send.command("/rag-sources", "policy", response_url=self.slack.response_url())

    def answered(self, thread_ts: str) -> int:
        return sum(1 for m in self.slack.thread(CHANNEL, thread_ts)
                   if m.bot_id and any(b.get("block_id") == "feedback" for b in m.blocks))

    def first_times(self, thread_ts: str, sent_at: float) -> tuple[float | None, float | None]:
        """From sending the mention to the first visible sign in its thread, and to the first token."""
        visible = token = None
        for call in self.slack.calls():
            if call.args.get("thread_ts") != thread_ts or not (call.response or {}).get("ok"):
                continue
            if visible is None and call.method in ("assistant.threads.setStatus", "chat.postMessage",
                                                   "chat.startStream"):
                visible = call.at - sent_at
            if token is None and call.method == "chat.startStream":
                token = call.at - sent_at
        return visible, token

    def wait_answered(self, threads: list[str], timeout: float = 600) -> list[int]:
        deadline = time.monotonic() + timeout
        while any(self.answered(ts) == 0 for ts in threads):
            if time.monotonic() > deadline:
                raise TimeoutError("answers did not all arrive")
            time.sleep(0.2)
        time.sleep(0.5)  # a duplicate would show up now
        return [self.answered(ts) for ts in threads]


def start_bot(work: Path, slack: FakeSlack, ollama: FakeOllama, args: argparse.Namespace) -> tuple[Any, str]:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLACK_", "OLLAMA_"))},
        "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", "LANCE_LOG": "error",
        "DOCS_DIR": str(ROOT / "examples" / "docs"), "LANCEDB_URI": str(work / "index"),
        "OLLAMA_HOST": ollama.url, "OLLAMA_MODEL": MODEL, "SYNC_INTERVAL_MINUTES": "off",
        "SLACK_BOT_TOKEN": slack.bot_token, "SLACK_SIGNING_SECRET": SECRET, "SLACK_MODE": "http",
        "SLACK_API_URL": slack.api_url, "HOST": "127.0.0.1", "PORT": str(port), "LOG_LEVEL": "WARNING",
        "WORKER_THREADS": str(args.workers), "QUEUE_MAX": str(max(20, 2 * args.mentions)),
    }
    log = (work / "bot.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "bot"], cwd=work, env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 180
    while True:  # healthy, and the start-up sync has indexed the corpus
        if proc.poll() is not None:
            raise RuntimeError("the bot exited:\n" + (work / "bot.log").read_text())
        try:
            with urlopen(base + "/healthz", timeout=2) as resp:
                if json.loads(resp.read()).get("documents"):
                    return proc, base
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise TimeoutError("the bot did not become ready:\n" + (work / "bot.log").read_text())
        time.sleep(0.5)


def run(bench: Bench, args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {"token_rate": args.token_rate, "workers": args.workers}

    visible, token, acks = [], [], []
    for i in range(args.idle_runs):
        ts, started, sent = bench.ask(QUESTIONS[i % len(QUESTIONS)])
        assert sent.status == 200
        bench.wait_answered([ts])
        v, t = bench.first_times(ts, started)
        acks.append(sent.seconds)
        visible += [v] if v is not None else []
        token += [t] if t is not None else []
    results["idle"] = {"event_ack_s": acks, "first_visible_s": visible, "first_token_s": token}

    # paced: N mentions over ~spread seconds, then commands while those answers generate
    gap = args.spread / max(1, args.mentions)
    with ThreadPoolExecutor(args.mentions + args.commands) as pool:
        futures = []
        for i in range(args.mentions):
            futures.append(pool.submit(bench.ask, QUESTIONS[i % len(QUESTIONS)]))
            time.sleep(gap)
        commands = []
        for _ in range(args.commands):
            commands.append(pool.submit(bench.command))
            time.sleep(gap)
        asked = [f.result() for f in futures]
        command_sent = [f.result() for f in commands]
    counts = bench.wait_answered([ts for ts, _, _ in asked])
    firsts = [bench.first_times(ts, started) for ts, started, _ in asked]
    results["load"] = {
        "event_ack_s": [s.seconds for _, _, s in asked],
        "command_ack_s": [s.seconds for s in command_sent],
        "statuses": sorted({s.status for _, _, s in asked} | {s.status for s in command_sent}),
        "first_visible_s": [v for v, _ in firsts if v is not None],
        "first_token_s": [t for _, t in firsts if t is not None],
        "answers_per_question": counts,
    }

    # burst: N mentions at the same instant
    with ThreadPoolExecutor(args.mentions) as pool:
        burst = list(pool.map(lambda i: bench.ask(QUESTIONS[i % len(QUESTIONS)]), range(args.mentions)))
    results["burst"] = {
        "event_ack_s": [s.seconds for _, _, s in burst],
        "answers_per_question": bench.wait_answered([ts for ts, _, _ in burst]),
    }
    results["command_responses"] = len(bench.slack.responses)
    return results


def report(results: dict[str, Any], args: argparse.Namespace) -> None:
    idle, load, burst = results["idle"], results["load"], results["burst"]
    print(f"\nbot process: waitress, WORKER_THREADS={args.workers}; fake Ollama at {args.token_rate:g} tokens/s\n")
    print("idle (one question at a time)")
    print("  " + summary("event ack", idle["event_ack_s"]))
    print("  " + summary("first visible reply (status/placeholder)", idle["first_visible_s"]))
    print("  " + summary("first streamed token", idle["first_token_s"]))
    print(f"\nload ({args.mentions} mentions within {args.spread:g} s, then {args.commands} /rag-sources "
          "while they generate)")
    print("  " + summary("event ack", load["event_ack_s"]))
    print("  " + summary("slash command ack", load["command_ack_s"]))
    print("  " + summary("first visible reply", load["first_visible_s"]))
    print("  " + summary("first streamed token (queued behind others)", load["first_token_s"]))
    print(f"\nburst ({args.mentions} mentions at the same instant)")
    print("  " + summary("event ack", burst["event_ack_s"]))
    once = all(c == 1 for c in load["answers_per_question"] + burst["answers_per_question"])
    p99 = max(pct(load["event_ack_s"], 99), pct(load["command_ack_s"], 99)) * 1000
    print(f"\n  HTTP statuses: {load['statuses']}; /rag-sources responses: {results['command_responses']}"
          f"/{args.commands}")
    print(f"  every question answered exactly once: {'yes' if once else 'NO'}")
    print(f"  ack p99 under load {p99:.1f} ms (target < 50 ms): {'ok' if p99 < 50 else 'OVER'}")
    print("  (no-answer questions stream no tokens, hence fewer first-token samples than questions)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mentions", type=int, default=20)
    parser.add_argument("--commands", type=int, default=20)
    parser.add_argument("--spread", type=float, default=1.0, help="seconds over which the mentions arrive")
    parser.add_argument("--token-rate", type=float, default=30.0, help="fake Ollama tokens per second")
    parser.add_argument("--workers", type=int, default=2, help="WORKER_THREADS (Ollama parallelism)")
    parser.add_argument("--idle-runs", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the raw numbers here")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-bot-"))
    proc = None
    try:
        with (FakeOllama(models=[MODEL], reply=ANSWER, token_delay=1.0 / args.token_rate) as ollama,
              FakeSlack() as slack):
            print("starting the bot (waitress) and indexing examples/docs …", flush=True)
            proc, base = start_bot(work, slack, ollama, args)
            bench = Bench(slack, SlackSender(base + "/slack/events", SECRET, team_id=slack.team_id))
            results = run(bench, args)
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
        report(results, args)
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
