#!/usr/bin/env python3
"""Continue training an exported classifier with transformers + accelerate (one or many GPUs).

`spam-cli export --model RUN_DIR --out HF_DIR` writes a transformers folder
(GPT2ForSequenceClassification, config.json with id2label/label2id, GPT-2's tokenizer). This
script fine-tunes it further on labelled splits and saves the result with `save_pretrained`,
a folder that `spam-cli classify/eval/serve --model SAVED_DIR` reads back.

    accelerate config                       # once: GPUs, machines, mixed precision
    accelerate launch scripts/continue_training.py --model HF_DIR \\
        --train train.parquet --validation validation.parquet --out SAVED_DIR
    accelerate launch --cpu --num_processes 1 scripts/continue_training.py ...   # a CPU check

Splits: Parquet, CSV or TSV files (`spam-cli prepare` writes both) with a text column
`text`/`Text` and a label column `label`/`Label` (a ClassLabel, class names mapped through
the folder's label2id, or class ids). `--batch-size` is per process; AdamW, constant learning
rate, validation accuracy after each epoch. Needs: pip install torch transformers accelerate datasets
"""

import argparse
import math
from pathlib import Path

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from datasets import ClassLabel, load_dataset
from torch.utils.data import DataLoader
from transformers import AutoModelForSequenceClassification, AutoTokenizer, DataCollatorWithPadding


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", required=True, help="the exported folder (spam-cli export), or a saved one")
    p.add_argument("--train", required=True, help="training split: .parquet, .csv or .tsv")
    p.add_argument("--validation", required=True, help="validation split, same formats")
    p.add_argument("--out", required=True, help="folder to save the trained model and tokenizer in")
    p.add_argument("--epochs", type=int, default=3)
    p.add_argument("--batch-size", type=int, default=8, help="examples per process per step")
    p.add_argument("--lr", type=float, default=5e-5)
    p.add_argument("--weight-decay", type=float, default=0.1)
    p.add_argument("--grad-accum", type=int, default=1, help="batches per optimizer update")
    p.add_argument("--max-length", type=int, help="truncate texts (default: the model's context)")
    p.add_argument("--seed", type=int, default=123)
    return p.parse_args()


def load_split(path):
    suffix = Path(path).suffix.lower()
    if suffix == ".parquet":
        return load_dataset("parquet", data_files=str(path), split="train")
    if suffix in (".csv", ".tsv", ".txt"):
        sep = "," if suffix == ".csv" else "\t"
        return load_dataset("csv", data_files=str(path), split="train", sep=sep)
    raise SystemExit(f"{path}: give a .parquet, .csv or .tsv file")


def pick(columns, names, what, path):
    for name in names:
        if name in columns:
            return name
    raise SystemExit(f"{path}: no {what} column (looked for {', '.join(names)}; has {', '.join(columns)})")


def encode(ds, path, tokenizer, label2id, max_length):
    """Tokenized texts and label ids (the model's own ids) of one split."""
    text = pick(ds.column_names, ["text", "Text"], "text", path)
    label = pick(ds.column_names, ["label", "Label"], "label", path)
    ds = ds.filter(lambda r: r[text] is not None and r[label] is not None)
    feature = ds.features[label]
    names = feature.names if isinstance(feature, ClassLabel) else None

    def to_id(value):
        if names is not None:
            value = names[value]  # ClassLabel: its id -> its name -> the model's id
        if isinstance(value, str):
            if value not in label2id:
                raise SystemExit(f"{path}: label {value!r} is not one of the model's {sorted(label2id)}")
            return label2id[value]
        if not 0 <= int(value) < len(label2id):
            raise SystemExit(f"{path}: label id {value} is outside the model's {len(label2id)} classes")
        return int(value)

    def tokenize(batch):
        return {**tokenizer(batch[text], truncation=True, max_length=max_length),
                "labels": [to_id(v) for v in batch[label]]}

    return ds.map(tokenize, batched=True, remove_columns=ds.column_names)


def main():
    args = parse_args()
    accelerator = Accelerator(gradient_accumulation_steps=args.grad_accum)
    set_seed(args.seed)

    tokenizer = AutoTokenizer.from_pretrained(args.model)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token  # GPT-2 has no pad token: <|endoftext|>, 50256
    model = AutoModelForSequenceClassification.from_pretrained(args.model)
    model.config.pad_token_id = tokenizer.pad_token_id  # the head reads the last non-pad token
    label2id = {str(k): int(v) for k, v in model.config.label2id.items()}
    id2label = model.config.id2label  # read before `prepare` wraps the model (DDP)
    max_length = args.max_length or model.config.n_positions

    with accelerator.main_process_first():  # the main process tokenizes, the others reuse its cache
        train = encode(load_split(args.train), args.train, tokenizer, label2id, max_length)
        val = encode(load_split(args.validation), args.validation, tokenizer, label2id, max_length)
    collate = DataCollatorWithPadding(tokenizer)
    train_dl = DataLoader(train, batch_size=args.batch_size, shuffle=True, collate_fn=collate)
    val_dl = DataLoader(val, batch_size=2 * args.batch_size, collate_fn=collate)

    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    model, optimizer, train_dl, val_dl = accelerator.prepare(model, optimizer, train_dl, val_dl)
    steps = math.ceil(len(train_dl) / args.grad_accum)
    accelerator.print(f"{len(train)} training / {len(val)} validation examples, {accelerator.num_processes} "
                      f"process(es), {steps} updates per epoch, labels {id2label}")

    for epoch in range(1, args.epochs + 1):
        model.train()
        total, count = 0.0, 0
        for batch in train_dl:
            with accelerator.accumulate(model):
                loss = model(**batch).loss
                accelerator.backward(loss)
                optimizer.step()
                optimizer.zero_grad()
            total, count = total + loss.item(), count + 1

        model.eval()
        correct = seen = 0
        for batch in val_dl:
            with torch.no_grad():
                logits = model(**batch).logits
            preds, labels = accelerator.gather_for_metrics((logits.argmax(-1), batch["labels"]))
            correct += (preds == labels).sum().item()
            seen += labels.numel()
        accelerator.print(f"epoch {epoch}: train loss {total / max(count, 1):.4f} (this process), "
                          f"validation accuracy {100 * correct / max(seen, 1):.2f}% ({seen} examples)")

    accelerator.wait_for_everyone()
    if accelerator.is_main_process:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        accelerator.unwrap_model(model).save_pretrained(args.out)
        tokenizer.save_pretrained(args.out)
        accelerator.print(f"saved to {args.out}: spam-cli classify --model {args.out} \"some text\"")
    accelerator.end_training()


if __name__ == "__main__":
    main()
