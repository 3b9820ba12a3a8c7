#!/usr/bin/env python3
"""Write the training-loop parity fixtures of `spam-train` (crates/train/tests/fixtures/parity/).

`cargo test` never runs Python: it only reads the small files this script writes. Run it by
hand when the fixtures must change:

    python3 crates/train/scripts/make_parity_fixtures.py

It creates (once) the git-ignored virtualenv `.venv-bench` at the workspace root (the same one
`bench/e2e.py` uses), installs pinned torch / llms-from-scratch / safetensors into it, and
re-runs itself there.

What it records, with the chapter's own code (`llms_from_scratch.ch04.GPTModel`,
`llms_from_scratch.ch06.train_classifier_simple / calc_loss_batch / calc_accuracy_loader`):

1. Model. A SMALL GPT-2 (`vocab_size 512, context_length 32, emb_dim 16, n_heads 2, n_layers 2,
   drop_rate 0.0, qkv_bias True`) built after `torch.manual_seed(123)`; every parameter frozen;
   `torch.manual_seed(123)` again and `out_head = Linear(16, 2)` (the chapter re-seeds before
   the new head); then the last transformer block, `final_norm` and `out_head` trainable — the
   chapter's `last_block` setting.
2. Data. 64 training and 16 validation examples of token ids drawn with
   `numpy.random.RandomState(123)`: lengths uniform in 3..=20, ids uniform in 1..512 (never the
   pad id 0, so "last real token" is unambiguous), labels 0/1. Right-padded with pad id 0 to the
   longest TRAINING example (`padded_length`; validation is padded to the same length and is
   generated no longer than it), as the chapter's `SpamDataset` does.
3. Training. `torch.manual_seed(123)`, `AdamW(model.parameters(), lr=5e-4, weight_decay=0.1)`
   (betas 0.9/0.999, eps 1e-8: torch's defaults), loaders of batch 8 over the padded tensors,
   train `shuffle=False, drop_last=True`, validation `shuffle=False, drop_last=False`, so step s
   of epoch e trains on examples `8*s .. 8*s+7` in file order (recorded in `step_batches`).
   `train_classifier_simple(num_epochs=3, eval_freq=5, eval_iter=2)`: 8 steps per epoch, 24
   steps. Every training-step loss is recorded by wrapping `ch06.calc_loss_batch` (the name the
   training function looks up) and keeping only the calls made with grad enabled; the no-grad
   calls of the periodic evaluation are not recorded. The loss is the chapter's: cross-entropy
   of the logits at the LAST position (padding included), mean over the batch.
4. Final accuracies: `calc_accuracy_loader` over all of train and validation after training.

Files written:

* `initial.safetensors`: the weights BEFORE training, float32, in the Hugging Face GPT-2 layout
  (no `transformer.` prefix) that the Rust loader reads, plus the new head. The mapping from the
  chapter's names (torch `Linear.weight` is out x in; HF `Conv1D.weight` is in x out):

      wte.weight [512,16]             = tok_emb.weight
      wpe.weight [32,16]              = pos_emb.weight
      h.{i}.ln_1.weight / .bias       = trf_blocks.{i}.norm1.scale / .shift
      h.{i}.attn.c_attn.weight [16,48]= cat([att.W_query.weight.T, att.W_key.weight.T,
                                             att.W_value.weight.T], dim=1)   (q | k | v)
      h.{i}.attn.c_attn.bias [48]     = cat([att.W_query.bias, att.W_key.bias, att.W_value.bias])
      h.{i}.attn.c_proj.weight [16,16]= att.out_proj.weight.T ; .bias = att.out_proj.bias
      h.{i}.ln_2.weight / .bias       = trf_blocks.{i}.norm2.scale / .shift
      h.{i}.mlp.c_fc.weight [16,64]   = ff.layers.0.weight.T ; .bias = ff.layers.0.bias
      h.{i}.mlp.c_proj.weight [64,16] = ff.layers.2.weight.T ; .bias = ff.layers.2.bias
      ln_f.weight / .bias             = final_norm.scale / .shift
      head.weight [2,16]              = out_head.weight   (torch Linear orientation, out x in)
      head.bias [2]                   = out_head.bias

  The chapter model has no `lm_head` once `out_head` is replaced, and no causal-mask buffers are
  written. Before training the script checks the export two ways: (a) an independent functional
  GPT-2 forward written in the HF convention (Conv1D `x @ w + b`, c_attn split q|k|v, tanh GELU,
  LayerNorm eps 1e-5) over the exported tensors gives the chapter model's logits, and (b) a
  fresh chapter `GPTModel` loaded back through the inverse mapping gives identical logits.
* `data.json`: see `write_data_json` below; the format is also described in the report and in
  the Rust test that reads it.
* `chapter_order.json`: the same model and data trained again from the same initial weights, now
  with the chapter's own loader, `DataLoader(train, batch_size=8, shuffle=True, drop_last=True)`
  created after `torch.manual_seed(123)`, and `torch.manual_seed(123)` again before the
  optimizer, as the chapter does: the example indices of every training step (recovered from the
  batch rows, which are all distinct), every step loss, the periodic estimates (each of which
  draws a new shuffle of the training loader) and the end-of-epoch accuracies. The Rust test
  trains from `Weights::Chapter` with `DataOrder::Chapter` and must take the same batches.
* `lora_adapters.safetensors`: the LoRA adapters the chapter's experiments script adds to the
  same model (`--trainable_layers lora`): `torch.manual_seed(123)`, the new `out_head`, then at
  once `replace_linear_with_lora(model, rank=4, alpha=2)` (appendix E's code from
  `llms_from_scratch.appendix_e`), whose `LoRALayer`s draw `A` in module order. Written as
  `h.{i}.attn.c_attn.lora_a [16,12]` = cat([W_query, W_key, W_value].lora.A, dim=1),
  `h.{i}.attn.c_proj.lora_a` = out_proj's, `h.{i}.mlp.c_fc.lora_a` / `c_proj.lora_a` = the
  feed-forward's, `out_head.lora_a`, and the head's weight and bias; every `B` is zero.
  `--only lora` writes this file alone.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent
WORKSPACE = CRATE.parent.parent
OUT = CRATE / "tests" / "fixtures" / "parity"
VENV = WORKSPACE / ".venv-bench"
# torch's own dependencies come with it; llms-from-scratch is installed without its (tensorflow,
# jupyterlab, ...) dependency list, which the chapter modules used here do not import.
PINS = ["torch==2.13.0", "numpy==2.0.2", "pandas==3.1.1", "tiktoken==0.14.0", "matplotlib",
        "tqdm", "safetensors==0.8.0"]
NO_DEPS_PINS = ["llms-from-scratch==1.0.19"]

CFG = {"vocab_size": 512, "context_length": 32, "emb_dim": 16, "n_heads": 2, "n_layers": 2,
       "drop_rate": 0.0, "qkv_bias": True}
SEED = 123
PAD_ID = 0
N_TRAIN, N_VAL = 64, 16
MIN_LEN, MAX_LEN = 3, 20
BATCH = 8
LR = 5e-4
WEIGHT_DECAY = 0.1
EPOCHS = 3
EVAL_FREQ = 5
EVAL_ITER = 2


def ensure_venv():
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    probe = subprocess.run([str(python), "-c", "import torch, safetensors, llms_from_scratch.ch06"],
                           capture_output=True)
    if probe.returncode != 0:
        subprocess.check_call([str(python), "-m", "pip", "install", "--quiet", *PINS])
        subprocess.check_call([str(python), "-m", "pip", "install", "--quiet", "--no-deps", *NO_DEPS_PINS])
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# --- export: chapter names -> Hugging Face GPT-2 names ----------------------------------------

def export_hf(model):
    """The chapter model's tensors under the HF GPT-2 names (see the module docstring)."""
    import torch

    t = {}

    def put(name, tensor):
        t[name] = tensor.detach().to("cpu").float().contiguous().clone()

    put("wte.weight", model.tok_emb.weight)
    put("wpe.weight", model.pos_emb.weight)
    for i, blk in enumerate(model.trf_blocks):
        a = blk.att
        put(f"h.{i}.ln_1.weight", blk.norm1.scale)
        put(f"h.{i}.ln_1.bias", blk.norm1.shift)
        put(f"h.{i}.attn.c_attn.weight",
            torch.cat([a.W_query.weight.T, a.W_key.weight.T, a.W_value.weight.T], dim=1))
        put(f"h.{i}.attn.c_attn.bias",
            torch.cat([a.W_query.bias, a.W_key.bias, a.W_value.bias]))
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
    put("head.weight", model.out_head.weight)
    put("head.bias", model.out_head.bias)
    return t


def import_hf(model, t):
    """Inverse of `export_hf`: load HF-named tensors into a chapter GPTModel (strict)."""
    import torch

    d = CFG["emb_dim"]
    sd = {"tok_emb.weight": t["wte.weight"], "pos_emb.weight": t["wpe.weight"]}
    for i in range(CFG["n_layers"]):
        p = f"trf_blocks.{i}."
        w, b = t[f"h.{i}.attn.c_attn.weight"], t[f"h.{i}.attn.c_attn.bias"]
        for j, name in enumerate(["W_query", "W_key", "W_value"]):
            sd[p + f"att.{name}.weight"] = w[:, j * d:(j + 1) * d].T
            sd[p + f"att.{name}.bias"] = b[j * d:(j + 1) * d]
        sd[p + "att.out_proj.weight"] = t[f"h.{i}.attn.c_proj.weight"].T
        sd[p + "att.out_proj.bias"] = t[f"h.{i}.attn.c_proj.bias"]
        sd[p + "norm1.scale"], sd[p + "norm1.shift"] = t[f"h.{i}.ln_1.weight"], t[f"h.{i}.ln_1.bias"]
        sd[p + "norm2.scale"], sd[p + "norm2.shift"] = t[f"h.{i}.ln_2.weight"], t[f"h.{i}.ln_2.bias"]
        sd[p + "ff.layers.0.weight"] = t[f"h.{i}.mlp.c_fc.weight"].T
        sd[p + "ff.layers.0.bias"] = t[f"h.{i}.mlp.c_fc.bias"]
        sd[p + "ff.layers.2.weight"] = t[f"h.{i}.mlp.c_proj.weight"].T
        sd[p + "ff.layers.2.bias"] = t[f"h.{i}.mlp.c_proj.bias"]
        # the causal-mask buffer is the model's own (not exported): keep it
        sd[p + "att.mask"] = model.trf_blocks[i].att.mask
    sd["final_norm.scale"], sd["final_norm.shift"] = t["ln_f.weight"], t["ln_f.bias"]
    model.out_head = torch.nn.Linear(d, 2)
    sd["out_head.weight"], sd["out_head.bias"] = t["head.weight"], t["head.bias"]
    model.load_state_dict({k: v.contiguous() for k, v in sd.items()}, strict=True)
    return model


def hf_forward(t, ids):
    """Independent GPT-2 forward in the HF convention over the exported tensors -> [b, n, 2]."""
    import math
    import torch
    import torch.nn.functional as F

    def ln(x, prefix):
        return F.layer_norm(x, (x.shape[-1],), t[prefix + ".weight"], t[prefix + ".bias"], eps=1e-5)

    def conv1d(x, prefix):  # HF Conv1D: x @ w + b with w in x out
        return x @ t[prefix + ".weight"] + t[prefix + ".bias"]

    b, n = ids.shape
    d, nh = CFG["emb_dim"], CFG["n_heads"]
    hd = d // nh
    x = t["wte.weight"][ids] + t["wpe.weight"][torch.arange(n)]
    causal = torch.ones(n, n, dtype=torch.bool).triu(1)
    for i in range(CFG["n_layers"]):
        h = ln(x, f"h.{i}.ln_1")
        q, k, v = conv1d(h, f"h.{i}.attn.c_attn").split(d, dim=-1)
        q, k, v = (z.view(b, n, nh, hd).transpose(1, 2) for z in (q, k, v))
        att = (q @ k.transpose(-1, -2)) / math.sqrt(hd)
        att = att.masked_fill(causal, float("-inf")).softmax(dim=-1)
        ctx = (att @ v).transpose(1, 2).reshape(b, n, d)
        x = x + conv1d(ctx, f"h.{i}.attn.c_proj")
        h = ln(x, f"h.{i}.ln_2")
        h = F.gelu(conv1d(h, f"h.{i}.mlp.c_fc"), approximate="tanh")
        x = x + conv1d(h, f"h.{i}.mlp.c_proj")
    x = ln(x, "ln_f")
    return x @ t["head.weight"].T + t["head.bias"]


# --- data ---------------------------------------------------------------------------------------

def make_data():
    import numpy as np

    rng = np.random.RandomState(SEED)

    def examples(n, max_len):
        lengths = rng.randint(MIN_LEN, max_len + 1, size=n)
        ids = [rng.randint(1, CFG["vocab_size"], size=int(k)).tolist() for k in lengths]
        labels = rng.randint(0, 2, size=n).tolist()
        return ids, labels

    train_ids, train_labels = examples(N_TRAIN, MAX_LEN)
    padded_length = max(len(x) for x in train_ids)
    val_ids, val_labels = examples(N_VAL, padded_length)
    return train_ids, train_labels, val_ids, val_labels, padded_length


def pad(ids, length):
    return [x + [PAD_ID] * (length - len(x)) for x in ids]


def chapter_model():
    """The chapter's set-up: `GPTModel` after `torch.manual_seed(123)`, every parameter
    frozen, then `torch.manual_seed(123)` again and the new 2-class `out_head` (trainable)."""
    import torch
    from llms_from_scratch.ch04 import GPTModel

    torch.manual_seed(SEED)
    model = GPTModel(CFG)
    for param in model.parameters():
        param.requires_grad = False
    torch.manual_seed(SEED)
    model.out_head = torch.nn.Linear(in_features=CFG["emb_dim"], out_features=2)
    return model


def main():
    ensure_venv()
    if sys.argv[1:] == ["--only", "lora"]:
        write_lora_adapters()
        return
    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file
    from torch.utils.data import DataLoader, TensorDataset

    import llms_from_scratch
    from llms_from_scratch import ch06
    from llms_from_scratch.ch04 import GPTModel

    torch.set_num_threads(1)  # deterministic reductions, light on a shared machine

    # Model, as the chapter sets it up.
    model = chapter_model()
    model.eval()
    for param in model.trf_blocks[-1].parameters():
        param.requires_grad = True
    for param in model.final_norm.parameters():
        param.requires_grad = True
    trainable = [n for n, p in model.named_parameters() if p.requires_grad]

    # Data.
    train_ids, train_labels, val_ids, val_labels, padded_length = make_data()
    x_train = torch.tensor(pad(train_ids, padded_length), dtype=torch.long)
    y_train = torch.tensor(train_labels, dtype=torch.long)
    x_val = torch.tensor(pad(val_ids, padded_length), dtype=torch.long)
    y_val = torch.tensor(val_labels, dtype=torch.long)
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH, shuffle=False, drop_last=True)
    val_loader = DataLoader(TensorDataset(x_val, y_val), batch_size=BATCH, shuffle=False, drop_last=False)

    # Export the initial weights and check the export.
    OUT.mkdir(parents=True, exist_ok=True)
    exported = export_hf(model)
    st_path = OUT / "initial.safetensors"
    save_file(exported, str(st_path), metadata={"format": "pt"})
    reloaded = load_file(str(st_path))
    assert set(reloaded) == set(exported)
    with torch.no_grad():
        ref_logits = model(x_train[:16])
        functional = hf_forward(reloaded, x_train[:16])
        err = (functional - ref_logits).abs().max().item()
        assert err < 1e-5, f"HF-layout functional forward differs from the chapter model by {err}"
        torch.manual_seed(999)  # different init: everything must come from the file
        rebuilt = import_hf(GPTModel(CFG), reloaded)
        rebuilt.eval()
        assert torch.equal(rebuilt(x_train[:16]), ref_logits), "round trip through the export differs"
        initial_last_logits = model(x_train[:BATCH])[:, -1, :].tolist()
    print(f"export checked: functional HF forward max |diff| {err:.2e}; round trip exact")

    # Train, recording every training-step loss.
    step_losses = []
    original = ch06.calc_loss_batch

    def recording_calc_loss_batch(input_batch, target_batch, model, device):
        loss = original(input_batch, target_batch, model, device)
        if torch.is_grad_enabled():
            step_losses.append(loss.item())
        return loss

    ch06.calc_loss_batch = recording_calc_loss_batch
    try:
        torch.manual_seed(SEED)
        optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        train_losses, val_losses, train_accs, val_accs, examples_seen = ch06.train_classifier_simple(
            model, train_loader, val_loader, optimizer, torch.device("cpu"),
            num_epochs=EPOCHS, eval_freq=EVAL_FREQ, eval_iter=EVAL_ITER)
    finally:
        ch06.calc_loss_batch = original
    steps_per_epoch = len(train_loader)
    assert len(step_losses) == EPOCHS * steps_per_epoch, len(step_losses)
    final = {
        "train_accuracy": ch06.calc_accuracy_loader(train_loader, model, torch.device("cpu")),
        "validation_accuracy": ch06.calc_accuracy_loader(val_loader, model, torch.device("cpu")),
    }
    step_batches = [list(range(BATCH * s, BATCH * (s + 1))) for s in range(steps_per_epoch)] * EPOCHS

    write_data_json(
        train_ids, train_labels, val_ids, val_labels, padded_length, step_losses, step_batches,
        train_losses, val_losses, train_accs, val_accs, final, trainable, initial_last_logits,
        versions={"torch": torch.__version__, "numpy": np.__version__,
                  "llms_from_scratch": _version("llms-from-scratch")},
    )
    print(f"wrote {st_path.relative_to(WORKSPACE)} ({st_path.stat().st_size} bytes) and "
          f"{(OUT / 'data.json').relative_to(WORKSPACE)} ({(OUT / 'data.json').stat().st_size} bytes)")
    print("step losses:", " ".join(f"{x:.4f}" for x in step_losses))
    print("final:", final)

    write_chapter_order(x_train, y_train, val_loader)
    write_lora_adapters()


def write_lora_adapters():
    """The chapter's LoRA adapters on the parity model; write `lora_adapters.safetensors`."""
    import torch
    from safetensors.torch import save_file

    from llms_from_scratch.appendix_e import replace_linear_with_lora

    model = chapter_model()
    replace_linear_with_lora(model, rank=4, alpha=2)
    out = {}
    for i, block in enumerate(model.trf_blocks):
        att, ff = block.att, block.ff
        out[f"h.{i}.attn.c_attn.lora_a"] = torch.cat(
            [att.W_query.lora.A, att.W_key.lora.A, att.W_value.lora.A], dim=1)
        out[f"h.{i}.attn.c_proj.lora_a"] = att.out_proj.lora.A
        out[f"h.{i}.mlp.c_fc.lora_a"] = ff.layers[0].lora.A
        out[f"h.{i}.mlp.c_proj.lora_a"] = ff.layers[2].lora.A
    out["out_head.lora_a"] = model.out_head.lora.A
    out["out_head.weight"] = model.out_head.linear.weight
    out["out_head.bias"] = model.out_head.linear.bias
    out = {k: v.detach().contiguous() for k, v in out.items()}
    OUT.mkdir(parents=True, exist_ok=True)
    save_file(out, str(OUT / "lora_adapters.safetensors"), metadata={"format": "pt"})
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    print(f"LoRA adapters: {len(out)} tensors, {trainable} trainable parameters")


def write_chapter_order(x_train, y_train, val_loader):
    """Train once more with the chapter's shuffled loader; write `chapter_order.json`."""
    import torch
    from torch.utils.data import DataLoader, TensorDataset

    from llms_from_scratch import ch06

    rows = {tuple(r.tolist()): i for i, r in enumerate(x_train)}
    assert len(rows) == len(x_train), "training rows must be distinct to recover indices"

    model = chapter_model()
    for param in model.trf_blocks[-1].parameters():
        param.requires_grad = True
    for param in model.final_norm.parameters():
        param.requires_grad = True

    torch.manual_seed(SEED)
    train_loader = DataLoader(TensorDataset(x_train, y_train), batch_size=BATCH, shuffle=True,
                              drop_last=True)
    step_losses, step_batches = [], []
    original = ch06.calc_loss_batch

    def recording_calc_loss_batch(input_batch, target_batch, model, device):
        loss = original(input_batch, target_batch, model, device)
        if torch.is_grad_enabled():
            step_losses.append(loss.item())
            step_batches.append([rows[tuple(r.tolist())] for r in input_batch])
        return loss

    ch06.calc_loss_batch = recording_calc_loss_batch
    try:
        torch.manual_seed(SEED)
        optimizer = torch.optim.AdamW(model.parameters(), lr=LR, weight_decay=WEIGHT_DECAY)
        train_losses, val_losses, train_accs, val_accs, _ = ch06.train_classifier_simple(
            model, train_loader, val_loader, optimizer, torch.device("cpu"),
            num_epochs=EPOCHS, eval_freq=EVAL_FREQ, eval_iter=EVAL_ITER)
    finally:
        ch06.calc_loss_batch = original
    data = {
        "description": "The parity model trained with the chapter's shuffled DataLoader; written "
                       "by crates/train/scripts/make_parity_fixtures.py.",
        "shuffle": True,
        "drop_last": True,
        "step_batches": step_batches,
        "step_losses": step_losses,
        "eval": {"steps": [s for s in range(len(step_losses)) if s % EVAL_FREQ == 0],
                 "train_losses": train_losses, "val_losses": val_losses},
        "epoch_accuracy": {"train": train_accs, "validation": val_accs},
    }
    with open(OUT / "chapter_order.json", "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")
    print("chapter order, first batches:", step_batches[:2])


def write_data_json(train_ids, train_labels, val_ids, val_labels, padded_length, step_losses,
                    step_batches, train_losses, val_losses, train_accs, val_accs, final, trainable,
                    initial_last_logits, versions):
    data = {
        "description": "Training-loop parity fixture written by crates/train/scripts/"
                       "make_parity_fixtures.py with the chapter's own train_classifier_simple.",
        "model_config": CFG,
        "trainable": "last_block",
        "trainable_chapter_names": trainable,
        "token_position": "last",
        "pad_id": PAD_ID,
        "padded_length": padded_length,
        "padding_side": "right",
        "train": {"ids": train_ids, "labels": train_labels},
        "validation": {"ids": val_ids, "labels": val_labels},
        "batch_size": BATCH,
        "shuffle": False,
        "drop_last": True,
        "lr": LR,
        "weight_decay": WEIGHT_DECAY,
        "betas": [0.9, 0.999],
        "eps": 1e-8,
        "epochs": EPOCHS,
        "eval_freq": EVAL_FREQ,
        "eval_iter": EVAL_ITER,
        "step_batches": step_batches,
        "step_losses": step_losses,
        "initial_last_logits_first_batch": initial_last_logits,
        "eval": {"steps": [s for s in range(len(step_losses)) if s % EVAL_FREQ == 0],
                 "train_losses": train_losses, "val_losses": val_losses},
        "epoch_accuracy": {"train": train_accs, "validation": val_accs},
        "final": final,
        "seed": SEED,
        "versions": versions,
    }
    with open(OUT / "data.json", "w") as f:
        json.dump(data, f, indent=1)
        f.write("\n")


def _version(dist):
    from importlib.metadata import version
    return version(dist)


if __name__ == "__main__":
    main()
