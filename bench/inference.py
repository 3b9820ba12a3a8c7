#!/usr/bin/env python3
"""Inference benchmark: the chapter's `classify_review`, once per message, vs `spam-cli`.

On the same machine, one after the other:

1. the reference, `bench/reference_inference.py`: the chapter's `classify_review` (124M shapes,
   random weights, `max_length=120`) called once per message on the first
   `--reference-messages` messages of the SMS Spam Collection;
2. ours: a 124M classifier (random weights, one epoch on the first 300 lines so that a real
   run directory exists; its weights do not change the cost) for each token position in
   `--positions`, then
   - `spam-cli classify --model RUN_DIR` on the same messages and on all of them (batched:
     repeated texts once, length-sorted batches, `last` padded to 120 as the chapter does),
   - one message's latency: `spam-cli serve`, then `--latency-requests` sequential
     `POST /v1/classify` requests of one message each (p50, p99).

Prints a markdown table and writes `bench/results/<stamp>-inference/results.{md,json}`.
Needs only Python's standard library; the reference's packages come from `.venv-bench`
(created as `bench/e2e.py` does).
"""

import argparse
import datetime as _dt
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e import (HERE, ROOT, display, ensure_venv, last_json_line, log, machine_info,  # noqa: E402
                 run_child, sms_collection, spam_cli_binary, tail)
from reference_inference import percentile  # noqa: E402


def read_messages(path):
    """The collection's texts, one per line (label TAB text), in file order."""
    out = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        if "\t" in line:
            out.append(line.split("\t", 1)[1].replace("\r", " "))
    return out


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def train_model(binary, data, position, out, logs):
    """A real 124M run directory (1 epoch on the first 300 lines) to classify with."""
    small = out / "first-300-lines.tsv"
    with open(data, "rb") as f:
        small.write_bytes(b"".join(f.readline() for _ in range(300)))
    run_dir = out / f"model-{position}"
    cmd = [str(binary), "train", "--data", str(small), "--weights", "random", "--size", "124M",
           "--epochs", "1", "--token-position", position, "--padding", "fixed:120",
           "--seed", "123", "--quiet", "--out", str(run_dir)]
    code, wall, _ = run_child(cmd, logs / f"train-{position}.log", cwd=str(ROOT))
    if code != 0:
        raise SystemExit(f"training the {position} model failed:\n{tail(logs / f'train-{position}.log')}")
    log(f"{position} model ready ({wall:.0f} s)")
    return run_dir


def classify_batched(binary, run_dir, messages_file, logs, name, precision="fp32"):
    out = logs / f"{name}.jsonl"
    cmd = [str(binary), "classify", "--model", str(run_dir), "--format", "jsonl",
           "--precision", precision]
    start = time.perf_counter()
    with open(messages_file, "rb") as stdin, open(out, "wb") as stdout:
        proc = subprocess.run(cmd, stdin=stdin, stdout=stdout, stderr=subprocess.PIPE, cwd=str(ROOT))
    wall = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed: {proc.stderr.decode(errors='replace')[-2000:]}")
    rows = sum(1 for line in out.read_text().splitlines() if line.strip())
    return wall, rows


def serve_latency(binary, run_dir, messages, requests, logs, name, precision="fp32"):
    port = free_port()
    cmd = [str(binary), "serve", "--model", str(run_dir), "--addr", f"127.0.0.1:{port}",
           "--precision", precision]
    with open(logs / f"{name}-serve.log", "wb") as serve_log:
        proc = subprocess.Popen(cmd, stdout=serve_log, stderr=subprocess.STDOUT, cwd=str(ROOT))
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.time() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise SystemExit(f"spam-cli serve did not start:\n{tail(logs / f'{name}-serve.log')}")
                time.sleep(0.2)

        def post(text):
            body = json.dumps({"text": text}).encode()
            req = urllib.request.Request(base + "/v1/classify", data=body,
                                         headers={"Content-Type": "application/json"})
            with urllib.request.urlopen(req, timeout=60) as r:
                r.read()

        for text in messages[:5]:  # warm-up, not counted
            post(text)
        latencies = []
        for i in range(requests):
            t0 = time.perf_counter()
            post(messages[i % len(messages)])
            latencies.append(1000 * (time.perf_counter() - t0))
        ordered = sorted(latencies)
        return percentile(ordered, 50), percentile(ordered, 99)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main():
    p = argparse.ArgumentParser(description="classify_review once per message vs spam-cli, same machine.")
    p.add_argument("--data", help="SMSSpamCollection (default: $SPAM_SHARED_DIR or <repo>/../shared ...)")
    p.add_argument("--reference-messages", type=int, default=500,
                   help="messages the reference classifies (0: all 5574; ~0.2 s each on 2 cores)")
    p.add_argument("--positions", default="last,flexible", help="our models' token positions")
    p.add_argument("--all-positions", default="flexible",
                   help="positions whose model also classifies all 5574 messages (a `last` model "
                        "pads every message to 120 tokens: ~12 min here)")
    p.add_argument("--latency-requests", type=int, default=200)
    p.add_argument("--precisions", default="fp32",
                   help="comma-separated precisions our models classify in (fp32, bf16); the reference is fp32")
    p.add_argument("--bin", default=str(ROOT / "target" / "release" / "spam-cli"))
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--no-install", action="store_true")
    args = p.parse_args()

    data = sms_collection(args.data, "inference")
    binary = spam_cli_binary(args.bin, "inference")
    python, why = ensure_venv(args.no_install)
    if python is None:
        sys.exit(f"[inference] reference unavailable: {why}")

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + "-inference"
    out = Path(args.out) / stamp
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="spam-inference-"))
    try:
        messages = read_messages(data)
        n_ref = args.reference_messages or len(messages)
        all_file, sub_file = work / "all.txt", work / "subset.txt"
        all_file.write_text("\n".join(messages) + "\n", encoding="utf-8")
        sub_file.write_text("\n".join(messages[:n_ref]) + "\n", encoding="utf-8")
        log(f"{len(messages)} messages; the reference classifies the first {n_ref}")

        log("reference: classify_review once per message")
        code, ref_wall, ref_rss = run_child(
            [str(python), str(HERE / "reference_inference.py"), "--messages", str(sub_file)],
            logs / "reference.log", cwd=str(ROOT))
        ref = last_json_line(logs / "reference.log") if code == 0 else None
        if ref is None:
            sys.exit(f"[inference] reference failed:\n{tail(logs / 'reference.log')}")
        per_msg = ref["total_seconds"] / max(ref["count"], 1)
        log(f"  -> {ref['count']} messages in {ref['total_seconds']:.1f} s "
            f"(p50 {ref['p50_ms']:.1f} ms, p99 {ref['p99_ms']:.1f} ms)")

        rows = []
        precisions = [x.strip() for x in args.precisions.split(",") if x.strip()]
        for position in [x.strip() for x in args.positions.split(",") if x.strip()]:
            run_dir = train_model(binary, data, position, work, logs)
            for precision in precisions:
                name = f"{position}-{precision}"
                sub_wall, sub_rows = classify_batched(binary, run_dir, sub_file, logs,
                                                      f"{name}-subset", precision)
                all_wall = all_rows = None
                if position in [x.strip() for x in args.all_positions.split(",")]:
                    all_wall, all_rows = classify_batched(binary, run_dir, all_file, logs,
                                                          f"{name}-all", precision)
                p50, p99 = serve_latency(binary, run_dir, messages, args.latency_requests, logs,
                                         name, precision)
                rows.append({"position": position, "precision": precision,
                             "subset_seconds": sub_wall, "subset_rows": sub_rows,
                             "all_seconds": all_wall, "all_rows": all_rows, "p50_ms": p50, "p99_ms": p99,
                             "speedup_subset": ref["total_seconds"] / sub_wall,
                             "speedup_all_vs_extrapolated": per_msg * all_rows / all_wall if all_rows else None})
                log(f"  -> ours ({position}, {precision}): first {sub_rows} in {sub_wall:.1f} s, all: "
                    f"{f'{all_rows} in {all_wall:.1f} s' if all_rows else 'not run'}, "
                    f"latency p50 {p50:.1f} ms / p99 {p99:.1f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    lines = [
        f"# Inference benchmark {stamp}", "",
        "GPT-2 124M shapes, random weights, CPU, same machine, one after the other, 1 run each. "
        "Reference: the chapter's `classify_review(..., max_length=120)` called once per message. "
        "Ours: `spam-cli classify` (wall time of the process, model load included) and one "
        "message's latency through `spam-cli serve` (sequential requests).", "",
        "| implementation | messages | seconds | per message ms | speed vs reference | latency p50 ms | latency p99 ms |",
        "|---|---|---|---|---|---|---|",
        f"| reference `classify_review` | {ref['count']} | {ref['total_seconds']:.1f} | {1000 * per_msg:.1f} "
        f"| 1.00× | {ref['p50_ms']:.1f} | {ref['p99_ms']:.1f} |",
    ]
    for r in rows:
        lines.append(f"| ours, `{r['position']}` model, {r['precision']} | {r['subset_rows']} | {r['subset_seconds']:.1f} "
                     f"| {1000 * r['subset_seconds'] / max(r['subset_rows'], 1):.1f} "
                     f"| {r['speedup_subset']:.2f}× | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} |")
        if not r["all_rows"]:
            continue
        lines.append(f"| ours, `{r['position']}` model, {r['precision']} | {r['all_rows']} (all) | {r['all_seconds']:.1f} "
                     f"| {1000 * r['all_seconds'] / max(r['all_rows'], 1):.1f} "
                     f"| {r['speedup_all_vs_extrapolated']:.2f}× (vs the reference's per-message "
                     f"time × {r['all_rows']}) | | |")
    text = "\n".join(lines) + "\n"
    print()
    print(text)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(
        {"stamp": stamp, "machine": machine_info(), "reference": {k: v for k, v in ref.items() if k != "labels"},
         "reference_wall_seconds": ref_wall, "reference_peak_rss_mb": ref_rss, "ours": rows}, indent=1) + "\n")
    log(f"wrote {display(out / 'results.md')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
