#!/usr/bin/env python3
"""Side-by-side end-to-end benchmark: the chapter's PyTorch pipeline vs. our `spam-cli train`.

    python3 bench/e2e.py [--configs chapter,flexible,all] [--runs 1] [--epochs 5] [--out bench/results]
    python3 bench/e2e.py --precisions fp32,bf16 --seeds 123,124,125   # ours in both precisions
    python3 bench/e2e.py --smoke          # tiny data subset, 1 epoch: checks the driver works

For every configuration and run it starts, one after the other on this machine,

* the reference: `bench/reference_pipeline.py` in the virtualenv `.venv-bench` (created and
  filled on first use: torch 2.13.0, llms-from-scratch, tiktoken, pandas, ...), i.e. the
  chapter's own functions on the real SMS Spam Collection with GPT-2 124M shapes and random
  weights;
* ours: `target/release/spam-cli train ... --weights random --size 124M` with the same settings,
  whose `RUN_DIR/metrics.json` it reads.

It measures each child's wall time and peak RSS (`os.wait4` rusage, `ru_maxrss`), prints a
markdown table and writes it with the raw JSON and the children's logs under `--out`.
Only pure-standard-library Python is needed to run this driver itself.
"""

import argparse
import datetime as _dt
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
VENV = ROOT / ".venv-bench"
REFERENCE = HERE / "reference_pipeline.py"

# torch's own (CUDA) dependency set comes with it: the CPU-only `--no-deps` set is enough for a
# Rust program linking libtorch but not for `import torch`. llms-from-scratch is installed
# without its dependency list (tensorflow, jupyterlab, ...), which ch04/ch05/ch06 do not import.
PINS = ["torch==2.13.0", "numpy==2.0.2", "pandas==3.1.1", "tiktoken==0.14.0", "matplotlib",
        "tqdm", "safetensors==0.8.0"]
NO_DEPS_PINS = ["llms-from-scratch==1.0.19"]
PROBE = "import torch, pandas, tiktoken, matplotlib, llms_from_scratch.ch04, llms_from_scratch.ch06"

# config name -> (token position, trainable), with the reference table's row.
CONFIGS = {
    "chapter": ("last", "last_block", "row 1"),
    "flexible": ("flexible", "last_block", "row 16"),
    "all": ("last", "all", "rows 5/10"),
}
# Our padding per config. `flexible` classifies the last real token, which under the causal
# mask never sees padding: dynamic padding gives the same logits as the reference's padding
# to 120 (tested in spam-train) and skips the pad positions' compute.
OUR_PADDING = {"chapter": "longest", "flexible": "dynamic", "all": "longest"}


def log(msg):
    print(f"[e2e] {msg}", flush=True)


def shared_dir():
    return Path(os.environ.get("SPAM_SHARED_DIR") or (ROOT.parent / "shared"))


def sms_collection(arg, tag):
    """The SMS collection: `--data` if given, else the shared folder's; exits (with `tag`)
    naming the path when it is not a file."""
    data = Path(arg) if arg else shared_dir() / "datasets" / "sms_spam_collection" / "SMSSpamCollection"
    if not data.is_file():
        sys.exit(f"[{tag}] data file not found: {data} (set SPAM_SHARED_DIR or pass --data)")
    return data


def spam_cli_binary(arg, tag):
    """The `spam-cli` binary `--bin` names; exits (with `tag`) saying how to build it."""
    binary = Path(arg)
    if not binary.is_file():
        sys.exit(f"[{tag}] {display(binary)} not found: cargo build --release -p spam-cli (or pass --bin)")
    return binary


# --- environment ----------------------------------------------------------------------------------

def ensure_venv(skip_install):
    """Returns (python path, None) or (None, reason)."""
    python = VENV / "bin" / "python"
    if not python.exists():
        if skip_install:
            return None, f"{VENV.name} does not exist (and --no-install was given)"
        log(f"creating virtualenv {VENV.name}")
        r = subprocess.run([sys.executable, "-m", "venv", str(VENV)])
        if r.returncode != 0:
            return None, "python3 -m venv failed"
    if subprocess.run([str(python), "-c", PROBE], capture_output=True).returncode == 0:
        return python, None
    if skip_install:
        return None, f"{VENV.name} lacks packages ({PROBE}) and --no-install was given"
    log("installing the reference's packages into .venv-bench (torch 2.13.0 is a few GB, once)")
    for extra, pins in (([], PINS), (["--no-deps"], NO_DEPS_PINS)):
        r = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *extra, *pins])
        if r.returncode != 0:
            return None, f"pip install {' '.join(extra + pins)} failed (see pip's message above)"
    probe = subprocess.run([str(python), "-c", PROBE], capture_output=True, text=True)
    if probe.returncode != 0:
        return None, "packages installed but the import check fails: " + probe.stderr.strip()[-500:]
    return python, None


def make_smoke_data(source, lines, workdir):
    """The first `lines` lines of the data file, in a temporary file outside the project."""
    path = Path(workdir) / "SMSSpamCollection.smoke"
    with open(source, "rb") as f:
        head = [f.readline() for _ in range(lines)]
    path.write_bytes(b"".join(head))
    return path


def machine_info():
    cpu = None
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": cpu, "platform": platform.platform(),
            "python": platform.python_version()}


# --- running one child --------------------------------------------------------------------------

def run_child(cmd, log_path, env=None, cwd=None):
    """Runs cmd with stdout+stderr to log_path; returns (exit code, wall s, peak RSS MB)."""
    with open(log_path, "wb") as out:
        start = time.perf_counter()
        try:
            proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        except OSError as e:
            out.write(f"could not start {cmd[0]}: {e}\n".encode())
            return None, 0.0, None
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except KeyboardInterrupt:
            proc.kill()
            proc.wait()
            raise
        wall = time.perf_counter() - start
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code  # already reaped by wait4
    # Linux reports ru_maxrss in KiB (macOS in bytes).
    rss_mb = usage.ru_maxrss / (1024 * 1024 if sys.platform == "darwin" else 1024)
    return code, wall, rss_mb


def tail(path, n=15):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return ""
    return "\n".join(lines[-n:])


def last_json_line(path):
    try:
        lines = Path(path).read_text(errors="replace").splitlines()
    except OSError:
        return None
    for line in reversed(lines):
        line = line.strip()
        if line.startswith("{"):
            try:
                return json.loads(line)
            except json.JSONDecodeError:
                return None
    return None


def run_reference(python, cfg, args, data, logs, run):
    token_position, trainable, _ = CONFIGS[cfg]
    rec = {"config": cfg, "implementation": "reference (PyTorch chapter)", "run": run}
    if python is None:
        rec.update(status="not run", error=args.venv_error)
        return rec
    cmd = [str(python), str(REFERENCE), "--data", str(data), "--token-position", token_position,
           "--trainable", trainable, "--epochs", str(args.epochs)]
    if args.threads:
        cmd += ["--threads", str(args.threads)]
    log_path = logs / f"{cfg}-reference-run{run}.log"
    log(f"{cfg} run {run}: reference (bench/{REFERENCE.name} --token-position {token_position} "
        f"--trainable {trainable} ...), log {log_path.name}")
    code, wall, rss = run_child(cmd, log_path, env=child_env(args))
    rec.update(wall_seconds=wall, peak_rss_mb=rss, exit_code=code, log=str(log_path))
    result = last_json_line(log_path) if code == 0 else None
    if result is None:
        rec.update(status="failed", error=f"exit code {code}; last lines:\n{tail(log_path)}")
        return rec
    rec.update(status="ok", raw=result, training_seconds=result.get("training_seconds"),
               **{k: result["final"][k] for k in ("train_accuracy", "validation_accuracy", "test_accuracy")})
    return rec


def run_ours(cfg, args, data, logs, runs_dir, run, precision="fp32", seed=123):
    token_position, trainable, _ = CONFIGS[cfg]
    rec = {"config": cfg, "implementation": f"ours (spam-cli, {precision})", "run": run,
           "precision": precision, "seed": seed}
    binary = Path(args.bin)
    if not binary.is_file() or not os.access(binary, os.X_OK):
        rec.update(status="missing", error=f"{display(binary)} not found: build it with "
                                           "`cargo build --release -p spam-cli` (or pass --build / --bin)")
        return rec
    name = f"{cfg}-{precision}-seed{seed}-run{run}"
    run_dir = runs_dir / name
    if run_dir.exists():
        shutil.rmtree(run_dir)
    # `--init chapter` draws the model the reference's `GPTModel` gets under
    # `torch.manual_seed(123)`, and the head it swaps in, bit for bit (spam-model's tests);
    # `--init gpt2` is GPT-2's own std-0.02 scheme.
    init = "chapter" if args.same_init else "gpt2"
    cmd = [str(binary), "train", "--data", str(data), "--weights", "random", "--init", init,
           "--out", str(run_dir),
           "--size", "124M", "--epochs", str(args.epochs), "--batch-size", "8", "--lr", "5e-5",
           "--weight-decay", "0.1", "--seed", str(seed), "--token-position", token_position,
           "--trainable", trainable, "--padding", OUR_PADDING[cfg], "--parse-mode", "pandas",
           "--precision", precision, "--quiet"]
    log_path = logs / f"{name}-ours.log"
    log(f"{cfg} run {run}: ours ({display(binary)} train ...), log {log_path.name}")
    code, wall, rss = run_child(cmd, log_path, env=child_env(args), cwd=str(ROOT))
    rec.update(wall_seconds=wall, peak_rss_mb=rss, exit_code=code, log=str(log_path),
               command=" ".join(display(c) for c in cmd))
    text = tail(log_path, 40)
    if code != 0:
        rejected = [ln for ln in text.splitlines()
                    if "unexpected argument" in ln or "invalid value" in ln or "unrecognized" in ln
                    or "unknown" in ln.lower()]
        why = ("a flag was rejected: " + rejected[0].strip()) if rejected else f"exit code {code}"
        rec.update(status="failed", error=f"{why}; last lines:\n{tail(log_path)}")
        return rec
    metrics_path = run_dir / "metrics.json"
    try:
        metrics = json.loads(metrics_path.read_text())
        final = metrics["final"]
        rec.update(status="ok", raw={"final": final, "timing": metrics.get("timing"),
                                     "path": metrics.get("path"), "exact": metrics.get("exact")},
                   training_seconds=(metrics.get("timing") or {}).get("training_seconds"),
                   train_accuracy=final["train_accuracy"],
                   validation_accuracy=final["validation_accuracy"],
                   test_accuracy=final["test_accuracy"])
        shutil.copy(metrics_path, logs / f"{name}-ours.metrics.json")
    except (OSError, KeyError, TypeError, json.JSONDecodeError) as e:
        rec.update(status="failed", error=f"exit code 0 but {display(metrics_path)} is missing or "
                                          f"lacks final accuracies ({e!r})")
    if not args.keep_run_dirs:
        shutil.rmtree(run_dir, ignore_errors=True)  # holds a 124M model: ~0.5 GB
    return rec


def child_env(args):
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"  # the reference's progress lines reach its log as they happen
    if args.threads:
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS"):
            env[var] = str(args.threads)
    return env


def display(p):
    """A path relative to the repository root when it is inside it."""
    try:
        return str(Path(p).resolve().relative_to(ROOT))
    except ValueError:
        return str(p)


# --- report ---------------------------------------------------------------------------------------

def fmt(x, spec):
    return "–" if x is None else format(x, spec)


def pct(x):
    return "–" if x is None else f"{100 * x:.2f}"


def median_of(records, key):
    vals = [r[key] for r in records if r.get("status") == "ok" and r.get(key) is not None]
    return statistics.median(vals) if vals else None


def table(records, configs):
    lines = ["| config | implementation | run | status | wall s | training s | peak RSS MB "
             "| train % | val % | test % | speed ref/ours (wall) | speed ref/ours (training) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for cfg in configs:
        rows = [r for r in records if r["config"] == cfg]
        ref = [r for r in rows if r["implementation"].startswith("reference")]
        # One ratio per implementation of ours (one per precision), on its first row: medians
        # over its runs and seeds against the reference's.
        seen = set()
        for r in rows:
            ratio_wall = ratio_train = None
            if r["implementation"].startswith("ours") and r["implementation"] not in seen:
                seen.add(r["implementation"])
                group = [x for x in rows if x["implementation"] == r["implementation"]]
                if median_of(ref, "wall_seconds") and median_of(group, "wall_seconds"):
                    ratio_wall = median_of(ref, "wall_seconds") / median_of(group, "wall_seconds")
                if median_of(ref, "training_seconds") and median_of(group, "training_seconds"):
                    ratio_train = median_of(ref, "training_seconds") / median_of(group, "training_seconds")
            ok = r.get("status") == "ok"
            run = r["run"] if "seed" not in r else f"{r['run']} (seed {r['seed']})"
            lines.append(
                f"| {cfg} ({CONFIGS[cfg][2]}) | {r['implementation']} | {run} | {r['status']} "
                f"| {fmt(r.get('wall_seconds') if ok else None, '.1f')} "
                f"| {fmt(r.get('training_seconds'), '.1f')} "
                f"| {fmt(r.get('peak_rss_mb') if ok else None, '.0f')} "
                f"| {pct(r.get('train_accuracy'))} | {pct(r.get('validation_accuracy'))} "
                f"| {pct(r.get('test_accuracy'))} "
                f"| {fmt(ratio_wall, '.2f') + '×' if ratio_wall else ''} "
                f"| {fmt(ratio_train, '.2f') + '×' if ratio_train else ''} |")
    return "\n".join(lines)


def accuracy_spread(records, configs):
    """Test accuracy of ours per config and precision over its runs and seeds: mean and range,
    and bf16's mean against fp32's."""
    lines = []
    for cfg in configs:
        means = {}
        for precision in ("fp32", "bf16"):
            acc = [r["test_accuracy"] for r in records if r["config"] == cfg
                   and r.get("precision") == precision and r.get("status") == "ok"
                   and r.get("test_accuracy") is not None]
            if not acc:
                continue
            means[precision] = statistics.mean(acc)
            lines.append(f"- ours `{cfg}` {precision}: test accuracy over {len(acc)} run(s) mean "
                         f"{pct(means[precision])} %, range {pct(min(acc))}–{pct(max(acc))} %")
        if len(means) == 2:
            lines.append(f"- ours `{cfg}`: bf16 mean − fp32 mean = "
                         f"{100 * (means['bf16'] - means['fp32']):+.2f} points")
    if not lines:
        return ""
    return "\n\nTest accuracy (ours, by precision):\n\n" + "\n".join(lines) + "\n"


def main():
    p = argparse.ArgumentParser(description="Chapter pipeline (PyTorch) vs. spam-cli, same machine, same run.")
    p.add_argument("--configs", default="chapter,flexible,all",
                   help="comma-separated: chapter (last token, last block), flexible (last non-padding "
                        "token), all (every parameter trainable)")
    p.add_argument("--reference-configs",
                   help="configs whose reference pipeline runs (default: all of --configs); ours is "
                        "still compared with the reference's `chapter` row when that one runs")
    p.add_argument("--runs", type=int, default=1, help="runs of each implementation per config")
    p.add_argument("--precisions", default="fp32",
                   help="comma-separated precisions of our runs (fp32, bf16); the reference is fp32")
    p.add_argument("--seeds", default="123",
                   help="comma-separated --seed values of our runs (data order, head): each precision "
                        "runs once per seed and run; the reference always uses the chapter's 123")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--out", default=str(HERE / "results"), help="results folder (default bench/results)")
    p.add_argument("--data", help="SMSSpamCollection (default: $SPAM_SHARED_DIR or <repo>/../shared "
                                  "/datasets/sms_spam_collection/SMSSpamCollection)")
    p.add_argument("--bin", default=str(ROOT / "target" / "release" / "spam-cli"), help="our binary")
    p.add_argument("--build", action="store_true", help="run `cargo build --release -p spam-cli` first")
    p.add_argument("--only", choices=["reference", "ours"], help="run one implementation only")
    p.add_argument("--threads", type=int, default=0,
                   help="set OMP/MKL threads (and torch.set_num_threads) for both; 0 = their defaults")
    p.add_argument("--smoke", action="store_true",
                   help="tiny run to test the driver: the first --smoke-lines lines of the data, 1 epoch")
    p.add_argument("--smoke-lines", type=int, default=150)
    p.add_argument("--no-install", action="store_true", help="never create or fill .venv-bench")
    p.add_argument("--keep-run-dirs", action="store_true", help="keep our RUN_DIRs (each holds a 124M model)")
    p.add_argument("--same-init", action=argparse.BooleanOptionalAction, default=True,
                   help="ours starts from the reference's own random initial weights, drawn by "
                        "`--init chapter` (default: yes; --no-same-init uses GPT-2's std-0.02 "
                        "initialisation, `--init gpt2`, instead)")
    args = p.parse_args()

    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        p.error(f"unknown config(s) {unknown}: choose from {list(CONFIGS)}")
    ref_configs = configs if args.reference_configs is None else \
        [c.strip() for c in args.reference_configs.split(",") if c.strip()]
    if [c for c in ref_configs if c not in configs]:
        p.error("--reference-configs must be a subset of --configs")
    precisions = [x.strip() for x in args.precisions.split(",") if x.strip()]
    if [x for x in precisions if x not in ("fp32", "bf16")]:
        p.error("--precisions takes fp32 and/or bf16")
    try:
        seeds = [int(x) for x in args.seeds.split(",") if x.strip()]
    except ValueError:
        p.error("--seeds takes comma-separated whole numbers")
    if args.smoke:
        args.epochs = 1

    data = sms_collection(args.data, "e2e")

    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S") + ("-smoke" if args.smoke else "")
    out = Path(args.out) / stamp
    logs = out / "logs"
    runs_dir = out / "runs"
    logs.mkdir(parents=True, exist_ok=True)
    runs_dir.mkdir(exist_ok=True)

    python = None
    args.venv_error = None
    if args.only != "ours":
        python, args.venv_error = ensure_venv(args.no_install)
        if python is None:
            log(f"REFERENCE UNAVAILABLE: {args.venv_error}")
    if args.build and args.only != "reference":
        log("cargo build --release -p spam-cli")
        if subprocess.run(["cargo", "build", "--release", "-p", "spam-cli"], cwd=str(ROOT)).returncode != 0:
            log("cargo build failed: our rows will report it")

    tmp = tempfile.mkdtemp(prefix="spam-e2e-")
    records = []
    try:
        if args.smoke:
            data = make_smoke_data(data, args.smoke_lines, tmp)
            log(f"smoke: first {args.smoke_lines} lines of the data, 1 epoch")
        started = time.time()
        for cfg in configs:
            for run in range(1, args.runs + 1):
                if args.only != "ours" and cfg in ref_configs:
                    records.append(run_reference(python, cfg, args, data, logs, run))
                    report_one(records[-1])
                if args.only != "reference":
                    for precision in precisions:
                        for seed in seeds:
                            records.append(run_ours(cfg, args, data, logs, runs_dir, run,
                                                    precision, seed))
                            report_one(records[-1])
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    md = table(records, configs)
    header = (f"# End-to-end benchmark {stamp}\n\n"
              f"{'SMOKE RUN (data subset, 1 epoch): not a measurement. ' if args.smoke else ''}"
              f"GPT-2 124M shapes, random weights, {args.epochs} epoch(s), batch 8, AdamW 5e-5 / 0.1, "
              f"same machine, one after the other. Speed = reference time / our time "
              f"(medians over runs; > 1 means ours is faster).\n\n")
    md += cross_ratios(records, configs)
    md += accuracy_spread(records, configs)
    notes = [f"- {r['config']} {r['implementation']} run {r['run']}: **{r['status']}**: {r['error']}"
             for r in records if r.get("error")]
    text = header + md + "\n" + ("\n" + "\n".join(notes) + "\n" if notes else "")
    print()
    print(text)
    raw = {"stamp": stamp, "smoke": args.smoke, "epochs": args.epochs, "configs": configs,
           "runs": args.runs, "precisions": precisions, "seeds": seeds, "threads": args.threads or "default", "machine": machine_info(),
           "data": display(args.data) if args.data else "shared/datasets/sms_spam_collection/SMSSpamCollection",
           "elapsed_seconds": time.time() - started, "records": records}
    (out / "results.md").write_text(text)
    (out / "results.json").write_text(json.dumps(raw, indent=1) + "\n")
    if not args.keep_run_dirs:
        shutil.rmtree(runs_dir, ignore_errors=True)
    log(f"wrote {display(out / 'results.md')} and {display(out / 'results.json')}")
    failed = [r for r in records if r.get("status") != "ok"]
    return 1 if failed else 0


def cross_ratios(records, configs):
    """Each of our configs (and precisions) against the reference's chapter run (the issue's
    yardstick for `flexible`: how much faster the better setting is than the chapter's
    pipeline)."""
    ref = [r for r in records if r["config"] == "chapter" and r["implementation"].startswith("reference")]
    ref_wall = median_of(ref, "wall_seconds")
    if not ref_wall:
        return ""
    lines = ["", "", "Against the reference's `chapter` run (wall, medians):", ""]
    for cfg in configs:
        impls = sorted({r["implementation"] for r in records if r["config"] == cfg
                        and r["implementation"].startswith("ours")})
        for impl in impls:
            ours = median_of([r for r in records if r["config"] == cfg
                              and r["implementation"] == impl], "wall_seconds")
            if ours:
                lines.append(f"- {impl} `{cfg}`: {ref_wall:.1f} s / {ours:.1f} s = "
                             f"**{ref_wall / ours:.2f}×**")
    return "\n".join(lines) + "\n"


def report_one(r):
    if r.get("status") == "ok":
        log(f"  -> ok: wall {r['wall_seconds']:.1f} s, peak RSS {r['peak_rss_mb']:.0f} MB, "
            f"accuracy train {pct(r['train_accuracy'])} / val {pct(r['validation_accuracy'])} / "
            f"test {pct(r['test_accuracy'])}")
    else:
        log(f"  -> {r['status'].upper()}: {r.get('error', '')}")


if __name__ == "__main__":
    sys.exit(main())
