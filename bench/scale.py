#!/usr/bin/env python3
"""Batch-classification benchmark: `spam-cli classify --output` (1 task, 2 local shards) vs
transformers' `pipeline("text-classification")` on the same exported model.

    python3 bench/scale.py                          # full run: ~15 min on 2 cores, pipeline ~9 of them
    python3 bench/scale.py --pipeline-messages 1000 # the pipeline on the first 1000 messages only
    python3 bench/scale.py --skip-reference         # ours only (and the FLOP floor, with .venv-bench)
    python3 bench/scale.py --smoke                  # tiny model, 200 messages: checks the driver

On one machine, one after the other:

1. a 124M-shaped `flexible` model of ours (random weights, one epoch on the first 300 lines of
   the collection so that a real run folder exists, as `bench/inference.py` makes it), and the
   transformers folder `spam-cli export` writes from it;
2. ours: `spam-cli classify --model RUN --file MESSAGES --output DIR` over the 5,574 SMS
   messages (a Parquet file with columns id and text), as 1 task with libtorch's default
   threads, then as 2 tasks (`--shard 0/2`, `--shard 1/2`) running at once with one thread
   each (OMP_NUM_THREADS=1: classify runs one batch per libtorch thread);
3. the reference: transformers' `pipeline("text-classification", model=EXPORTED,
   batch_size=64, truncation=True)` on the same messages (`--pipeline-messages N`: the first N),
   with the share of labels that agree with ours;
4. the FLOP floor of the messages on that model (see FLOOR below), with .venv-bench;
5. memory: a tiny model of ours (1 layer, width 16) classifying the messages once and repeated
   100 times (557,400 rows) as 1 task, to show the peak RSS does not grow with the rows. This
   row measures memory, not speed.

Wall time is the child process's, start to exit (model load included); rows/s divides the
rows by it ("classify only": by the time the program reports for classifying). Peak RSS is
each child's `ru_maxrss` from `os.wait4` (the largest process for the 2-task row). Prints a
markdown table and writes bench/results/<stamp>-scale/results.{md,json} with the children's
logs. The driver needs only Python's standard library; the reference, Parquet writing and the
output checks use `.venv-bench` (created as `bench/e2e.py` does, plus transformers and
pyarrow). Without the virtualenv (`--skip-reference --no-install`) the messages are written
as CSV instead.
"""

import argparse
import datetime as _dt
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from e2e import (HERE, ROOT, display, ensure_venv, last_json_line, machine_info,  # noqa: E402
                 run_child, sms_collection, spam_cli_binary, tail)
from inference import read_messages, train_model  # noqa: E402

EXTRAS = ["transformers", "pyarrow"]
EXTRAS_PROBE = "import transformers, pyarrow"
# Variables that would make `spam-cli classify --output` pick a shard by itself.
SCHEDULER_VARS = ("JOB_COMPLETION_INDEX", "SLURM_ARRAY_TASK_ID", "SLURM_ARRAY_TASK_MIN",
                  "SLURM_ARRAY_TASK_MAX", "SLURM_ARRAY_TASK_STEP", "SLURM_ARRAY_TASK_COUNT")
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "RAYON_NUM_THREADS": "1"}
PARQUET_ROW_GROUP = 10_000

TINY_CONFIG = """
[model]
weights = "random"
trainable = "all"
token_position = "flexible"
device = "cpu"

[model.architecture]
vocab_size = 50257
n_ctx = 1024
n_embd = 16
n_layer = 1
n_head = 2
dropout = 0.0
qkv_bias = true

[data]
padding = "dynamic"

[train]
epochs = 1
"""

# Runs in .venv-bench: writes the messages (one JSON string a line) as Parquet or checks parts.
WRITE_PARQUET = """
import json, sys, pyarrow as pa, pyarrow.parquet as pq
src, dst, repeat, group = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
texts = [json.loads(line) for line in open(src, encoding="utf-8")] * repeat
table = pa.table({"id": pa.array(range(len(texts)), pa.int64()), "text": pa.array(texts, pa.string())})
pq.write_table(table, dst, row_group_size=group)
print(json.dumps({"rows": table.num_rows, "row_groups": pq.ParquetFile(dst).num_row_groups}))
"""

# Runs in .venv-bench: the reference, then agreement with our labels (by row) when given parts.
REFERENCE = """
import json, sys, time
t0 = time.perf_counter()
import torch, transformers
from transformers import pipeline
model_dir, messages, n, ours = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4:]
texts = [json.loads(line) for line in open(messages, encoding="utf-8")]
texts = texts[:n] if n > 0 else texts
t1 = time.perf_counter()
classify = pipeline("text-classification", model=model_dir, batch_size=64, truncation=True, device=-1)
t2 = time.perf_counter()
out = classify(texts)
t3 = time.perf_counter()
labels = [o["label"] for o in out]
result = {"count": len(labels), "import_seconds": t1 - t0, "load_seconds": t2 - t1,
          "classify_seconds": t3 - t2, "torch": torch.__version__,
          "transformers": transformers.__version__, "torch_threads": torch.get_num_threads(),
          "labels": {l: labels.count(l) for l in sorted(set(labels))}}
if ours:
    import pyarrow.parquet as pq
    theirs = {}
    for path in ours:
        t = pq.read_table(path, columns=["row", "label"]).to_pydict()
        theirs.update(zip(t["row"], t["label"]))
    same = sum(1 for i, l in enumerate(labels) if theirs.get(i) == l)
    result["agreement"] = same / max(len(labels), 1)
print(json.dumps(result))
"""

FLOOR = """
# The FLOP floor of classifying the messages with our model: the matrix products of the blocks
# over every distinct text's tokens (truncated to the model's training length, as classify
# does; no padding), at the best rate libtorch's BLAS (the same MKL: torch's wheel is our
# libtorch) reaches on one core for the blocks' product shapes, times the cores.
import json, os, sys, time
import torch
from transformers import GPT2TokenizerFast
exported, run_dir, messages = sys.argv[1], sys.argv[2], sys.argv[3]
cfg = json.load(open(os.path.join(exported, "config.json")))
d, layers = cfg["n_embd"], cfg["n_layer"]
max_length = (json.load(open(os.path.join(run_dir, "model", "classifier.json"))).get("max_length")
              or cfg["n_positions"])
tok = GPT2TokenizerFast.from_pretrained(exported)
tok.model_max_length = 10**9
texts = [json.loads(line) for line in open(messages, encoding="utf-8")]
distinct = {tuple(tok(t)["input_ids"][:max_length]) for t in texts}
lengths = [len(ids) for ids in distinct]
# Per block and token: q, k, v and the attention output (4 d^2 multiply-adds), the MLP (8 d^2);
# per block and text: scores and weighted values (2 L^2 d multiply-adds).
flop = sum(layers * (24 * L * d * d + 4 * L * L * d) for L in lengths)
torch.set_num_threads(1)
shapes = [(d, 3 * d), (d, d), (d, 4 * d), (4 * d, d)]
best = 0.0
for m in (640, 1280, 2560):
    seconds = 0.0
    for k, n in shapes:
        a, w, b = torch.randn(m, k), torch.randn(k, n), torch.randn(n)
        for _ in range(3):
            torch.addmm(b, a, w)
        t = time.perf_counter()
        for _ in range(10):
            torch.addmm(b, a, w)
        seconds += (time.perf_counter() - t) / 10
    best = max(best, sum(2 * m * k * n for k, n in shapes) / seconds)
cores = os.cpu_count() or 1
print(json.dumps({"flop": flop, "distinct": len(lengths), "tokens": sum(lengths),
                  "max_length": max_length, "gflops_per_core": best / 1e9, "cores": cores,
                  "floor_seconds": flop / (best * cores)}))
"""


def log(msg):
    print(f"[scale] {msg}", flush=True)


WROTE = re.compile(r"Wrote (\S+) \((\d+) rows in ([0-9.]+) s, ([0-9.]+) rows/s\)")


def child_env(extra=None):
    env = {k: v for k, v in os.environ.items() if k not in SCHEDULER_VARS}
    env["PYTHONUNBUFFERED"] = "1"
    env.update(extra or {})
    return env


def parse_wrote(log_path):
    """(rows, classify seconds) from `Wrote DIR/part-... (N rows in S s, R rows/s)`."""
    m = WROTE.search(Path(log_path).read_text(errors="replace"))
    if not m:
        return None, None
    rows, rate = int(m.group(2)), float(m.group(4))
    return rows, (rows / rate if rate > 0 else float(m.group(3)))


def run_concurrent(cmds, log_paths, env):
    """Starts every command at once; returns (wall s of the whole, [(code, wall, rss MB)])."""
    start = time.perf_counter()
    procs, files = {}, []
    for i, (cmd, path) in enumerate(zip(cmds, log_paths)):
        f = open(path, "wb")
        files.append(f)
        procs[subprocess.Popen(cmd, stdout=f, stderr=subprocess.STDOUT, env=env, cwd=str(ROOT)).pid] = i
    results = [None] * len(cmds)
    try:
        while procs:
            pid, status, usage = os.wait4(-1, 0)
            if pid in procs:
                results[procs.pop(pid)] = (os.waitstatus_to_exitcode(status),
                                           time.perf_counter() - start, usage.ru_maxrss / 1024)
    finally:
        for f in files:
            f.close()
    return time.perf_counter() - start, results


def ensure_extras(python, no_install):
    if subprocess.run([str(python), "-c", EXTRAS_PROBE], capture_output=True).returncode == 0:
        return None
    if no_install:
        return f".venv-bench lacks {', '.join(EXTRAS)} and --no-install was given"
    log(f"installing {', '.join(EXTRAS)} into .venv-bench")
    if subprocess.run([str(python), "-m", "pip", "install", "--quiet", *EXTRAS]).returncode != 0:
        return f"pip install {' '.join(EXTRAS)} failed"
    return None


def write_messages(python, messages_json, dest_stem, repeat, logs):
    """The messages (repeated) as Parquet through the venv, else as CSV (standard library)."""
    if python is not None:
        dest = dest_stem.with_suffix(".parquet")
        code, _, _ = run_child([str(python), "-c", WRITE_PARQUET, str(messages_json), str(dest),
                                str(repeat), str(PARQUET_ROW_GROUP)], logs / f"{dest.stem}.log")
        info = last_json_line(logs / f"{dest.stem}.log")
        if code != 0 or info is None:
            raise SystemExit(f"[scale] writing {dest.name} failed:\n{tail(logs / f'{dest.stem}.log')}")
        return dest, info["rows"]
    import csv
    dest = dest_stem.with_suffix(".csv")
    texts = [json.loads(line) for line in open(messages_json, encoding="utf-8")] * repeat
    with open(dest, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f)
        w.writerow(["id", "text"])
        w.writerows(enumerate(texts))
    return dest, len(texts)


def train_tiny(binary, data, work, logs, lines=400):
    sample = work / "tiny-sample.tsv"
    with open(data, "rb") as f:
        sample.write_bytes(b"".join(f.readline() for _ in range(lines)))
    config = work / "tiny.toml"
    config.write_text(TINY_CONFIG)
    run_dir = work / "model-tiny"
    cmd = [str(binary), "train", "--config", str(config), "--data", str(sample), "--quiet",
           "--out", str(run_dir)]
    code, wall, _ = run_child(cmd, logs / "train-tiny.log", env=child_env(), cwd=str(ROOT))
    if code != 0:
        raise SystemExit(f"[scale] training the tiny model failed:\n{tail(logs / 'train-tiny.log')}")
    log(f"tiny model ready ({wall:.0f} s)")
    return run_dir


def export(binary, run_dir, out, logs):
    code, _, _ = run_child([str(binary), "export", "--model", str(run_dir), "--out", str(out)],
                           logs / f"export-{run_dir.name}.log", env=child_env(), cwd=str(ROOT))
    if code != 0:
        raise SystemExit(f"[scale] spam-cli export failed:\n{tail(logs / f'export-{run_dir.name}.log')}")
    return out


def classify_cmd(binary, run_dir, messages, out_dir, shard=None):
    cmd = [str(binary), "classify", "--model", str(run_dir), "--file", str(messages),
           "--output", str(out_dir), "--id-column", "id"]
    return cmd + (["--shard", shard] if shard else [])


def ours_one_task(binary, run_dir, messages, work, logs, name, model, note=""):
    out_dir = work / f"out-{name}"
    code, wall, rss = run_child(classify_cmd(binary, run_dir, messages, out_dir),
                                logs / f"{name}.log", env=child_env(), cwd=str(ROOT))
    if code != 0:
        raise SystemExit(f"[scale] {name} failed:\n{tail(logs / f'{name}.log')}")
    rows, seconds = parse_wrote(logs / f"{name}.log")
    rec = {"name": name, "implementation": "ours", "model": model, "rows": rows, "tasks": 1,
           "threads_per_task": "default", "wall_seconds": wall, "classify_seconds": seconds,
           "peak_rss_mb": rss, "parts": sorted(str(p) for p in out_dir.glob("part-*")), "note": note}
    log(f"  -> {name}: {rows} rows in {wall:.1f} s ({rows / wall:.0f} rows/s), peak RSS {rss:.0f} MB")
    return rec


def ours_two_shards(binary, run_dir, messages, work, logs, name, model):
    out_dir = work / f"out-{name}"
    cmds = [classify_cmd(binary, run_dir, messages, out_dir, f"{i}/2") for i in range(2)]
    paths = [logs / f"{name}-shard{i}.log" for i in range(2)]
    wall, results = run_concurrent(cmds, paths, child_env(ONE_THREAD))
    for (code, _, _), path in zip(results, paths):
        if code != 0:
            raise SystemExit(f"[scale] {name} failed:\n{tail(path)}")
    parsed = [parse_wrote(p) for p in paths]
    rows = sum(r for r, _ in parsed if r is not None)
    rss = [r for _, _, r in results]
    rec = {"name": name, "implementation": "ours", "model": model, "rows": rows, "tasks": 2,
           "threads_per_task": 1, "wall_seconds": wall,
           "classify_seconds": max((s for _, s in parsed if s is not None), default=None),
           "peak_rss_mb": max(rss), "peak_rss_mb_each": rss, "task_wall_seconds": [w for _, w, _ in results],
           "parts": sorted(str(p) for p in out_dir.glob("part-*")),
           "note": "2 processes at once, `--shard 0/2` and `1/2`, OMP_NUM_THREADS=1 each"}
    log(f"  -> {name}: {rows} rows in {wall:.1f} s ({rows / wall:.0f} rows/s), peak RSS "
        f"{' + '.join(f'{r:.0f}' for r in rss)} MB")
    return rec


def reference(python, exported, messages_json, n, parts, work, logs, model):
    script = work / "reference_hf_pipeline.py"
    script.write_text(REFERENCE)
    cmd = [str(python), str(script), str(exported), str(messages_json), str(n), *parts]
    env = child_env({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "true"})
    code, wall, rss = run_child(cmd, logs / "reference.log", env=env, cwd=str(ROOT))
    raw = last_json_line(logs / "reference.log") if code == 0 else None
    if raw is None:
        return {"name": "reference", "implementation": "reference", "model": model, "status": "failed",
                "error": f"exit code {code}:\n{tail(logs / 'reference.log')}"}
    log(f"  -> reference: {raw['count']} rows, classify {raw['classify_seconds']:.1f} s, wall {wall:.1f} s, "
        f"peak RSS {rss:.0f} MB, agreement with ours {100 * raw.get('agreement', float('nan')):.2f} %")
    return {"name": "reference", "implementation": "reference", "model": model, "rows": raw["count"],
            "tasks": 1, "threads_per_task": raw["torch_threads"], "wall_seconds": wall,
            "classify_seconds": raw["classify_seconds"], "peak_rss_mb": rss, "raw": raw,
            "agreement": raw.get("agreement"),
            "note": f"transformers {raw['transformers']} `pipeline(\"text-classification\", batch_size=64)`, "
                    f"torch {raw['torch']}"}


def flop_floor(python, exported, run_dir, messages_json, work, logs):
    """The FLOP floor of classifying the messages with `run_dir`'s model (see FLOOR)."""
    script = work / "flop_floor.py"
    script.write_text(FLOOR)
    env = child_env({"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **ONE_THREAD})
    code, _, _ = run_child([str(python), str(script), str(exported), str(run_dir), str(messages_json)],
                           logs / "flop-floor.log", env=env, cwd=str(ROOT))
    raw = last_json_line(logs / "flop-floor.log") if code == 0 else None
    if raw is None:
        log(f"  -> FLOP floor failed:\n{tail(logs / 'flop-floor.log')}")
        return None
    log(f"  -> FLOP floor: {raw['flop'] / 1e12:.2f} TFLOP over {raw['tokens']} tokens of {raw['distinct']} "
        f"distinct texts, at {raw['gflops_per_core']:.1f} GFLOP/s per core × {raw['cores']}: "
        f"{raw['floor_seconds']:.1f} s")
    return raw


def table(records):
    lines = ["| run | model | rows | tasks × threads | wall s | rows/s (wall) | rows/s (classify only) "
             "| × FLOP floor (wall / classify only) | peak RSS MB | note |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in records:
        if r.get("status") == "failed":
            lines.append(f"| {r['name']} | {r['model']} | | | | | | | | **failed**: see results.json |")
            continue
        rate = r["rows"] / r["wall_seconds"] if r["wall_seconds"] else 0
        inner = f"{r['rows'] / r['classify_seconds']:.0f}" if r.get("classify_seconds") else "–"
        rss = (" / ".join(f"{x:.0f}" for x in r["peak_rss_mb_each"]) + " (each)"
               if r.get("peak_rss_mb_each") else f"{r['peak_rss_mb']:.0f}")
        note = r.get("note", "")
        if r.get("agreement") is not None:
            note += f"; labels agree with ours on {100 * r['agreement']:.2f} %"
        floor = r.get("floor_seconds")
        times = "–"
        if floor:
            times = f"{r['wall_seconds'] / floor:.2f}"
            if r.get("classify_seconds"):
                times += f" / {r['classify_seconds'] / floor:.2f}"
        lines.append(f"| {r['name']} | {r['model']} | {r['rows']} | {r['tasks']} × {r['threads_per_task']} "
                     f"| {r['wall_seconds']:.1f} | {rate:.0f} | {inner} | {times} | {rss} | {note} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description="spam-cli classify --output (1 task, 2 shards) vs transformers' pipeline.")
    p.add_argument("--data", help="SMSSpamCollection (default: $SPAM_SHARED_DIR or <repo>/../shared ...)")
    p.add_argument("--bin", default=str(ROOT / "target" / "release" / "spam-cli"))
    p.add_argument("--out", default=str(HERE / "results"))
    p.add_argument("--smoke", action="store_true",
                   help="check the driver: the tiny model everywhere, the first 200 messages, ×5 for memory")
    p.add_argument("--skip-reference", action="store_true", help="ours only (no transformers pipeline)")
    p.add_argument("--pipeline-messages", type=int, default=0,
                   help="the pipeline classifies the first N messages (0: all; ~9 min for 5574 on 2 cores)")
    p.add_argument("--repeat", type=int, default=100, help="copies of the messages in the memory row")
    p.add_argument("--no-install", action="store_true", help="never create or fill .venv-bench")
    p.add_argument("--keep-work", action="store_true", help="keep the models, inputs and parts (temporary folder)")
    args = p.parse_args()

    data = sms_collection(args.data, "scale")
    binary = spam_cli_binary(args.bin, "scale")
    python, why = ensure_venv(args.no_install)
    if python is not None:
        why = ensure_extras(python, args.no_install)
        python = None if why else python
    if python is None and not args.skip_reference:
        sys.exit(f"[scale] the reference needs .venv-bench: {why} (or pass --skip-reference)")
    repeat = 5 if args.smoke else args.repeat

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + ("-scale-smoke" if args.smoke else "-scale")
    out = Path(args.out) / stamp
    logs = out / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="spam-scale-"))
    records = []
    started = time.time()
    try:
        messages = read_messages(data)[: 200 if args.smoke else None]
        messages_json = work / "messages.jsonl"
        messages_json.write_text("".join(json.dumps(m) + "\n" for m in messages), encoding="utf-8")
        msg_file, n_rows = write_messages(python, messages_json, work / "messages", 1, logs)
        big_file, n_big = write_messages(python, messages_json, work / f"messages-x{repeat}", repeat, logs)
        log(f"{n_rows} messages in {msg_file.name}; {n_big} rows in {big_file.name}")

        tiny = train_tiny(binary, data, work, logs)
        if args.smoke:
            model, model_name = tiny, "tiny (1 layer, width 16)"
        else:
            model, model_name = train_model(binary, data, "flexible", work, logs), "124M flexible"
        exported = export(binary, model, work / "exported", logs)

        log(f"ours: 1 task over {n_rows} messages ({model_name})")
        records.append(ours_one_task(binary, model, msg_file, work, logs, "ours-1-task", model_name))
        log("ours: 2 local shards at once")
        records.append(ours_two_shards(binary, model, msg_file, work, logs, "ours-2-shards", model_name))

        floor = None
        if python is not None:
            log("FLOP floor of the messages on this model")
            floor = flop_floor(python, exported, model, messages_json, work, logs)
            if floor is not None:
                for r in records:
                    r["floor_seconds"] = floor["floor_seconds"]

        if not args.skip_reference:
            n = args.pipeline_messages if 0 < args.pipeline_messages < n_rows else n_rows
            log(f"reference: transformers pipeline over {n} messages")
            records.append(reference(python, exported, messages_json, n,
                                     records[0]["parts"] if msg_file.suffix == ".parquet" else [],
                                     work, logs, model_name))
            if floor is not None and n == n_rows:
                records[-1]["floor_seconds"] = floor["floor_seconds"]

        log(f"memory: the tiny model over {n_rows} and {n_big} rows")
        records.append(ours_one_task(binary, tiny, msg_file, work, logs, "ours-tiny-1x", "tiny (1 layer, width 16)",
                                     "memory baseline"))
        records.append(ours_one_task(binary, tiny, big_file, work, logs, f"ours-tiny-{repeat}x",
                                     "tiny (1 layer, width 16)",
                                     f"the messages ×{repeat}: for memory, not speed (tiny model; repeated texts are classified once)"))
    finally:
        if args.keep_work:
            log(f"kept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)

    header = (f"# Batch classification benchmark {stamp}\n\n"
              + ("SMOKE RUN (tiny model, 200 messages): checks the driver, not a measurement.\n\n" if args.smoke else "")
              + "CPU, same machine, one after the other, 1 run each. Wall time includes model load; "
                "peak RSS is the process's `ru_maxrss`. Ours writes Parquet parts (`classify --output`, "
                f"`--id-column id`) from a Parquet input of {PARQUET_ROW_GROUP}-row groups.\n\n"
              + (f"FLOP floor: {floor['flop'] / 1e12:.2f} TFLOP (the blocks' matrix products over the "
                 f"{floor['tokens']} tokens of the {floor['distinct']} distinct messages, truncated to "
                 f"{floor['max_length']}) at {floor['gflops_per_core']:.1f} GFLOP/s per core, the best "
                 f"rate this machine's BLAS reached on those products in this run, × {floor['cores']} "
                 f"cores = {floor['floor_seconds']:.1f} s.\n\n" if floor else ""))
    text = header + table(records) + "\n"
    print()
    print(text)
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(
        {"stamp": stamp, "smoke": args.smoke, "machine": machine_info(), "binary": display(binary),
         "input_format": msg_file.suffix.lstrip("."), "repeat": repeat, "flop_floor": floor,
         "elapsed_seconds": time.time() - started,
         "records": [{k: v for k, v in r.items() if k != "parts"} for r in records]}, indent=1) + "\n")
    log(f"wrote {display(out / 'results.md')} and {display(out / 'results.json')}")
    return 1 if any(r.get("status") == "failed" for r in records) else 0


if __name__ == "__main__":
    sys.exit(main())
