#!/usr/bin/env python3
"""The chapter's own spam-classification pipeline, for the side-by-side benchmark.

Runs the GPT-2 fine-tuning of chapter 6 of "Build a Large Language Model From Scratch" with the
functions of the `llms-from-scratch` package itself (`llms_from_scratch.ch04.GPTModel`,
`llms_from_scratch.ch06.create_balanced_dataset / random_split / SpamDataset /
train_classifier_simple / calc_accuracy_loader`), on CPU, with the chapter's settings:

* data: `pandas.read_csv(path, sep="\\t", header=None, names=["Label", "Text"])`, balanced
  (`random_state=123`), labels ham=0 / spam=1, `random_split(0.7, 0.1)`, the three splits
  written to CSV and read back by `SpamDataset` (pad id 50256, padded to the longest training
  example; validation and test padded / truncated to that length);
* loaders: batch 8, `torch.manual_seed(123)` then train `shuffle=True, drop_last=True`,
  validation/test in order, `num_workers=0`;
* model: GPT-2 124M shapes (768 wide, 12 layers, 12 heads, context 1024, drop 0.0, qkv bias)
  with RANDOM weights (`torch.manual_seed(123)` before `GPTModel`, as the bonus
  additional-experiments script does for `--weights random`: pretrained weights cannot be
  downloaded here), all parameters frozen, `torch.manual_seed(123)` then a new
  `out_head = Linear(768, 2)`;
* trainable (`--trainable`): `last_block` = last transformer block + final_norm + out_head (the
  chapter), or `all` (every parameter);
* token position (`--token-position`): `last` (the chapter: logits of the last position,
  padding included) or `flexible` (the bonus script's `trainable_token_pos="flexible"`: the
  logits at the last non-padding token, `mask = ids != 50256; pos = mask.sum(1) - 1;
  logits[arange(b), pos]`), applied to the training loss, the periodic evaluation and the
  accuracy passes by replacing `ch06.calc_loss_batch` and `ch06.calc_accuracy_loader`;
* training: `torch.manual_seed(123)`, `AdamW(lr=5e-5, weight_decay=0.1)`,
  `train_classifier_simple(num_epochs=5, eval_freq=50, eval_iter=5)`, then
  `calc_accuracy_loader` over all of train / validation / test.

Python tiktoken downloads its BPE file at run time, which cannot work offline: the GPT-2
encoding is built from the `r50k_base.tiktoken` ranks file that the Rust crate tiktoken-rs
ships in the local cargo registry (or `--ranks PATH` / `$R50K_RANKS`), checked against the
sha256 tiktoken expects, and `tiktoken.get_encoding` is patched to return it.

The last line printed on stdout is one JSON object: wall / setup / training / final-eval
seconds, final accuracies (fractions), the losses and per-epoch accuracies, threads, versions.
"""

import time

T_START = time.perf_counter()

import argparse  # noqa: E402
import glob  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import shutil  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

PAD_ID = 50256
R50K_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
# The r50k_base / gpt2 split pattern as written in tiktoken's own `tiktoken_ext.openai_public`
# (tiktoken >= 0.8 uses possessive quantifiers); older releases used the shorter
# `'(?:[sdmt]|ll|ve|re)| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`, which splits
# text the same way. The installed package's own value is preferred when it can be read.
R50K_PATTERN_FALLBACK = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


def find_ranks_file(explicit=None):
    candidates = []
    if explicit:
        candidates.append(explicit)
    if os.environ.get("R50K_RANKS"):
        candidates.append(os.environ["R50K_RANKS"])
    cargo_home = os.environ.get("CARGO_HOME", os.path.join(os.path.expanduser("~"), ".cargo"))
    found = sorted(glob.glob(os.path.join(cargo_home, "registry", "src", "*", "tiktoken-rs-*",
                                          "assets", "r50k_base.tiktoken")))
    candidates.extend(reversed(found))  # newest crate version first
    for c in candidates:
        if c and os.path.isfile(c):
            return c
    raise SystemExit("r50k_base.tiktoken not found: build the workspace once (cargo fetch) so the "
                     "tiktoken-rs crate is in the cargo registry, or pass --ranks / $R50K_RANKS")


def r50k_pattern():
    """tiktoken's own r50k_base pattern, read from the installed package when possible."""
    try:
        import tiktoken_ext.openai_public as op
        for name in ("r50k_pat_str", "R50K_PAT_STR"):
            if hasattr(op, name):
                return getattr(op, name), f"tiktoken_ext.openai_public.{name}"
        # Older releases inline it in gpt2(): call with a stub loader to read the dict.
        import tiktoken.load as tl
        saved = (tl.data_gym_to_mergeable_bpe_ranks, tl.load_tiktoken_bpe)
        op.data_gym_to_mergeable_bpe_ranks = lambda *a, **k: {}
        op.load_tiktoken_bpe = lambda *a, **k: {}
        try:
            return op.gpt2()["pat_str"], "tiktoken_ext.openai_public.gpt2()"
        finally:
            op.data_gym_to_mergeable_bpe_ranks, op.load_tiktoken_bpe = saved
    except Exception:  # pragma: no cover - fallback keeps the benchmark usable
        return R50K_PATTERN_FALLBACK, "fallback constant"


def make_gpt2_encoding(ranks_path):
    import tiktoken
    import tiktoken.load

    with open(ranks_path, "rb") as f:
        digest = hashlib.sha256(f.read()).hexdigest()
    if digest != R50K_SHA256:
        raise SystemExit(f"{ranks_path}: sha256 {digest} is not the r50k_base file tiktoken expects")
    pat, pat_source = r50k_pattern()
    enc = tiktoken.Encoding(
        name="gpt2",
        pat_str=pat,
        mergeable_ranks=tiktoken.load.load_tiktoken_bpe(ranks_path),
        special_tokens={"<|endoftext|>": PAD_ID},
    )
    # Spot check: a known GPT-2 tokenization.
    assert enc.encode("Hello world") == [15496, 995], enc.encode("Hello world")
    assert enc.encode("<|endoftext|>", allowed_special={"<|endoftext|>"}) == [PAD_ID]
    original = tiktoken.get_encoding

    def get_encoding(name):
        if name in ("gpt2", "r50k_base"):
            return enc
        return original(name)

    tiktoken.get_encoding = get_encoding
    return enc, pat_source


def flexible_functions(torch):
    """The bonus script's `trainable_token_pos="flexible"` loss and accuracy, same logic."""

    def last_real_logits(model, input_batch):
        mask = input_batch != PAD_ID
        last_token_pos = mask.sum(dim=1) - 1  # position of the last real token
        logits = model(input_batch)
        return logits[torch.arange(logits.size(0)), last_token_pos]

    def calc_loss_batch(input_batch, target_batch, model, device):
        input_batch, target_batch = input_batch.to(device), target_batch.to(device)
        return torch.nn.functional.cross_entropy(last_real_logits(model, input_batch), target_batch)

    @torch.no_grad()
    def calc_accuracy_loader(data_loader, model, device, num_batches=None):
        model.eval()
        correct, total = 0, 0
        num_batches = len(data_loader) if num_batches is None else min(num_batches, len(data_loader))
        for i, (input_batch, target_batch) in enumerate(data_loader):
            if i >= num_batches:
                break
            input_batch, target_batch = input_batch.to(device), target_batch.to(device)
            predicted = torch.argmax(last_real_logits(model, input_batch), dim=-1)
            total += predicted.shape[0]
            correct += (predicted == target_batch).sum().item()
        return correct / total

    return calc_loss_batch, calc_accuracy_loader


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", required=True, help="SMSSpamCollection (TSV: label, TAB, message)")
    p.add_argument("--token-position", choices=["last", "flexible"], default="last")
    p.add_argument("--trainable", choices=["last_block", "all"], default="last_block")
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--eval-freq", type=int, default=50)
    p.add_argument("--eval-iter", type=int, default=5)
    p.add_argument("--seed", type=int, default=123)
    p.add_argument("--ranks", help="r50k_base.tiktoken (default: from tiktoken-rs in the cargo registry)")
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--save-initial", metavar="PATH",
                   help="write the initial (random) backbone as a hub-layout safetensors file, so the "
                        "other implementation can start from the very same weights")
    args = p.parse_args()

    import torch
    import pandas as pd
    import tiktoken
    from torch.utils.data import DataLoader
    import llms_from_scratch
    from llms_from_scratch import ch06
    from llms_from_scratch.ch04 import GPTModel

    if args.threads:
        torch.set_num_threads(args.threads)
    enc, pat_source = make_gpt2_encoding(find_ranks_file(args.ranks))

    if args.token_position == "flexible":
        ch06.calc_loss_batch, ch06.calc_accuracy_loader = flexible_functions(torch)

    # --- data, as the chapter prepares it -------------------------------------------------
    workdir = tempfile.mkdtemp(prefix="spam-reference-")
    try:
        df = pd.read_csv(args.data, sep="\t", header=None, names=["Label", "Text"])
        balanced_df = ch06.create_balanced_dataset(df)
        balanced_df["Label"] = balanced_df["Label"].map({"ham": 0, "spam": 1})
        train_df, validation_df, test_df = ch06.random_split(balanced_df, 0.7, 0.1)
        paths = {}
        for name, frame in (("train", train_df), ("validation", validation_df), ("test", test_df)):
            paths[name] = os.path.join(workdir, f"{name}.csv")
            frame.to_csv(paths[name], index=None)

        tokenizer = tiktoken.get_encoding("gpt2")
        train_dataset = ch06.SpamDataset(csv_file=paths["train"], max_length=None, tokenizer=tokenizer)
        val_dataset = ch06.SpamDataset(csv_file=paths["validation"], max_length=train_dataset.max_length,
                                       tokenizer=tokenizer)
        test_dataset = ch06.SpamDataset(csv_file=paths["test"], max_length=train_dataset.max_length,
                                        tokenizer=tokenizer)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    torch.manual_seed(args.seed)
    train_loader = DataLoader(train_dataset, batch_size=args.batch_size, shuffle=True,
                              num_workers=0, drop_last=True)
    val_loader = DataLoader(val_dataset, batch_size=args.batch_size, num_workers=0, drop_last=False)
    test_loader = DataLoader(test_dataset, batch_size=args.batch_size, num_workers=0, drop_last=False)

    # --- model ----------------------------------------------------------------------------
    config = {"vocab_size": 50257, "context_length": 1024, "drop_rate": 0.0, "qkv_bias": True,
              "emb_dim": 768, "n_layers": 12, "n_heads": 12}
    torch.manual_seed(args.seed)  # random weights, as the bonus script does
    model = GPTModel(config)
    model.eval()
    for param in model.parameters():
        param.requires_grad = False
    torch.manual_seed(args.seed)
    model.out_head = torch.nn.Linear(in_features=config["emb_dim"], out_features=2)
    if args.trainable == "last_block":
        for param in model.trf_blocks[-1].parameters():
            param.requires_grad = True
        for param in model.final_norm.parameters():
            param.requires_grad = True
    else:
        for param in model.parameters():
            param.requires_grad = True
    save_seconds = 0.0
    if args.save_initial:
        t0 = time.perf_counter()
        save_hub_safetensors(model, args.save_initial)
        save_seconds = time.perf_counter() - t0  # not the reference's work: left out of its times
    device = torch.device("cpu")
    model.to(device)
    n_trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)

    # --- training -------------------------------------------------------------------------
    t_setup_end = time.perf_counter()
    torch.manual_seed(args.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    train_losses, val_losses, train_accs, val_accs, examples_seen = ch06.train_classifier_simple(
        model, train_loader, val_loader, optimizer, device,
        num_epochs=args.epochs, eval_freq=args.eval_freq, eval_iter=args.eval_iter)
    t_train_end = time.perf_counter()

    train_accuracy = ch06.calc_accuracy_loader(train_loader, model, device)
    val_accuracy = ch06.calc_accuracy_loader(val_loader, model, device)
    test_accuracy = ch06.calc_accuracy_loader(test_loader, model, device)
    t_end = time.perf_counter()

    result = {
        "implementation": "reference",
        "token_position": args.token_position,
        "trainable": args.trainable,
        "epochs": args.epochs,
        "wall_seconds": t_end - T_START - save_seconds,
        "setup_seconds": t_setup_end - T_START - save_seconds,
        "save_initial_seconds": save_seconds,
        "training_seconds": t_train_end - t_setup_end,
        "final_eval_seconds": t_end - t_train_end,
        "final": {"train_accuracy": train_accuracy, "validation_accuracy": val_accuracy,
                  "test_accuracy": test_accuracy},
        "examples": {"train": len(train_dataset), "validation": len(val_dataset), "test": len(test_dataset)},
        "padded_length": train_dataset.max_length,
        "steps": len(train_loader) * args.epochs,
        "examples_seen": examples_seen,
        "trainable_parameters": n_trainable,
        "eval_train_losses": train_losses,
        "eval_val_losses": val_losses,
        "epoch_train_accuracy": train_accs,
        "epoch_val_accuracy": val_accs,
        "torch_threads": torch.get_num_threads(),
        "versions": {"python": sys.version.split()[0], "torch": torch.__version__,
                     "llms_from_scratch": getattr(llms_from_scratch, "__version__", None) or _dist_version(),
                     "tiktoken": getattr(tiktoken, "__version__", None), "pandas": pd.__version__},
        "tokenizer_pattern_source": pat_source,
    }
    sys.stdout.flush()
    print(json.dumps(result), flush=True)


def save_hub_safetensors(model, path):
    """The chapter model's backbone under the hub's GPT-2 names (Conv1D orientation: in x out;
    c_attn = q|k|v), written as safetensors by hand (the format is a JSON header + raw bytes),
    atomically."""
    import struct
    import torch

    t = {}

    def put(name, tensor):
        t[name] = tensor.detach().to("cpu").float().contiguous()

    put("wte.weight", model.tok_emb.weight)
    put("wpe.weight", model.pos_emb.weight)
    for i, blk in enumerate(model.trf_blocks):
        a = blk.att
        put(f"h.{i}.ln_1.weight", blk.norm1.scale)
        put(f"h.{i}.ln_1.bias", blk.norm1.shift)
        put(f"h.{i}.attn.c_attn.weight",
            torch.cat([a.W_query.weight.T, a.W_key.weight.T, a.W_value.weight.T], dim=1))
        put(f"h.{i}.attn.c_attn.bias", torch.cat([a.W_query.bias, a.W_key.bias, a.W_value.bias]))
        put(f"h.{i}.attn.c_proj.weight", a.out_proj.weight.T)
        put(f"h.{i}.attn.c_proj.bias", a.out_proj.bias)
        put(f"h.{i}.ln_2.weight", blk.norm2.scale)
        put(f"h.{i}.ln_2.bias", blk.norm2.shift)
        put(f"h.{i}.mlp.c_fc.weight", blk.ff.layers[0].weight.T)
        put(f"h.{i}.mlp.c_fc.bias", blk.ff.layers[0].bias)
        put(f"h.{i}.mlp.c_proj.weight", blk.ff.layers[2].weight.T)
        put(f"h.{i}.mlp.c_proj.bias", blk.ff.layers[2].bias)
    put("ln_f.weight", model.final_norm.scale)
    put("ln_f.bias", model.final_norm.shift)
    header, offset, blobs = {}, 0, []
    for name, tensor in t.items():
        blob = tensor.contiguous().numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(tensor.shape), "data_offsets": [offset, offset + len(blob)]}
        offset += len(blob)
        blobs.append(blob)
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    tmp = f"{path}.partial"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


def _dist_version():
    try:
        from importlib.metadata import version
        return version("llms-from-scratch")
    except Exception:
        return None


if __name__ == "__main__":
    main()
