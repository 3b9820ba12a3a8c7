"""The transformers side of `spam-cli export` (run through hf_fixtures.sh).

model                 writes crates/model/tests/fixtures/hf_tiny/: a tiny GPT2ForSequenceClassification
                      with random weights saved by save_pretrained, and expected.json, its logits
                      for a few token sequences (one at a time, and as a right-padded batch).
tokenizer EXPORT_DIR  writes crates/data/tests/fixtures/hf_tokenizer_ids.txt: the ids transformers'
                      AutoTokenizer (loaded from an exported folder) gives every message of the
                      SMS collection (as digests) and some tricky texts (in full).
check EXPORT_DIR      classifies SMS messages with transformers and with `spam-cli classify
                      --model EXPORT_DIR` and reports the largest probability difference and the
                      label agreement (exit 1 above --tolerance).
"""

import argparse
import hashlib
import json
import pathlib
import subprocess
import sys

import torch
import transformers
from transformers import (
    AutoModelForSequenceClassification,
    AutoTokenizer,
    GPT2Config,
    GPT2ForSequenceClassification,
)

REPO = pathlib.Path(__file__).resolve().parents[3]
SMS = REPO.parent / "shared" / "datasets" / "sms_spam_collection" / "SMSSpamCollection"

# Unicode, emoji, whitespace runs, digits, contractions: where byte-level BPE goes wrong first.
TRICKY = [
    "Hello, world",
    "  leading and trailing spaces  ",
    "tabs\tand\nnewlines\r\n and   runs     of  spaces",
    "numbers 1234567890 3.14159 +44 7700 900123 £1000 $5 50%",
    "I'm sure you've said they'll go, we'd, she's, it'd",
    "ÀÉÎÕÜ àéîõü ñ ç ß ø å",
    "日本語のテキスト、中文文本，한국어 텍스트",
    "emoji 😀🎉👍🏽 👨‍👩‍👧‍👦 ❤️",
    "Ünïcödé​zero​width and ﬁ ligature",
    "URGENT!!! Call 09061701461 now, claim code KL341. Valid 12hrs only",
    "",
    " ",
    "a",
    "\u00a0non-breaking\u00a0spaces",
    "mixed: ÄÖÜ😀123abc!!!???...",
]


def digest(s):
    return hashlib.sha256(s.encode("utf-8")).hexdigest()[:16]


def sms_texts():
    texts = []
    for line in SMS.read_text(encoding="utf-8").split("\n"):
        line = line.rstrip("\r")
        if "\t" not in line:
            continue
        texts.append(line.split("\t", 1)[1])
    return texts


def make_model(args):
    out = REPO / "crates/model/tests/fixtures/hf_tiny"
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(7)
    cfg = GPT2Config(
        vocab_size=300,
        n_positions=32,
        n_embd=16,
        n_layer=2,
        n_head=2,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        attn_pdrop=0.0,
        pad_token_id=299,
        id2label={0: "ham", 1: "spam", 2: "other"},
        label2id={"ham": 0, "spam": 1, "other": 2},
    )
    model = GPT2ForSequenceClassification(cfg).eval()
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(0.0, 0.3)
    model.save_pretrained(out)
    sequences = [[5], [1, 2, 3], [17, 250, 3, 99, 42, 8], list(range(10, 40))]
    single = []
    with torch.no_grad():
        for seq in sequences:
            single.append(model(torch.tensor([seq])).logits[0].tolist())
        width = max(len(s) for s in sequences)
        batch = torch.tensor([s + [299] * (width - len(s)) for s in sequences])
        padded = model(batch).logits.tolist()
    expected = {
        "transformers": transformers.__version__,
        "torch": torch.__version__,
        "pad_token_id": 299,
        "sequences": sequences,
        "logits": single,
        "padded_batch_logits": padded,
    }
    (out / "expected.json").write_text(json.dumps(expected, indent=1) + "\n")
    print(f"wrote {out}")


def make_tokenizer(args):
    folder = pathlib.Path(args.export_dir)
    tok = AutoTokenizer.from_pretrained(folder)
    out = REPO / "crates/data/tests/fixtures/hf_tokenizer_ids.txt"
    lines = [
        f"# ids of transformers {transformers.__version__} {type(tok).__name__} loaded from an export",
        f"vocab.json {hashlib.sha256((folder / 'vocab.json').read_bytes()).hexdigest()}",
        f"merges.txt {hashlib.sha256((folder / 'merges.txt').read_bytes()).hexdigest()}",
    ]
    for text in TRICKY:
        ids = tok(text)["input_ids"]
        lines.append("tricky " + json.dumps(text) + " " + json.dumps(ids))
    texts = sms_texts()
    for text in texts:
        ids = tok(text)["input_ids"]
        lines.append(f"sms {digest(text)} {digest(','.join(map(str, ids)))}")
    out.write_text("\n".join(lines) + "\n")
    print(f"wrote {out}: {len(TRICKY)} tricky texts, {len(texts)} SMS messages")


def check(args):
    folder = pathlib.Path(args.export_dir)
    texts = [t for t in sms_texts() if t.strip()][: args.n]
    run = subprocess.run(
        [args.cli, "classify", "--model", str(folder), "--format", "jsonl", "--device", "cpu"],
        input="\n".join(texts) + "\n",
        capture_output=True,
        text=True,
        check=True,
    )
    ours = [json.loads(l) for l in run.stdout.splitlines() if l.strip()]
    tok = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder).eval()
    names = [model.config.id2label[i] for i in range(model.config.num_labels)]
    worst, agree = 0.0, 0
    with torch.no_grad():
        for row in ours:
            enc = tok(row["text"], return_tensors="pt", truncation=True)
            probs = model(**enc).logits.double().softmax(-1)[0].tolist()
            theirs = names[max(range(len(probs)), key=probs.__getitem__)]
            agree += theirs == row["label"]
            for name, p in zip(names, probs):
                worst = max(worst, abs(p - row["probabilities"][name]))
    print(
        f"{len(ours)} messages: max |p_transformers - p_spam-cli| = {worst:.3e}, "
        f"labels agree on {agree}/{len(ours)}"
    )
    if worst > args.tolerance or agree != len(ours):
        sys.exit(1)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    sub = parser.add_subparsers(dest="mode", required=True)
    sub.add_parser("model")
    t = sub.add_parser("tokenizer")
    t.add_argument("export_dir")
    c = sub.add_parser("check")
    c.add_argument("export_dir")
    c.add_argument("--cli", default=str(REPO / "target/debug/spam-cli"))
    c.add_argument("--n", type=int, default=300)
    c.add_argument("--tolerance", type=float, default=1e-4)
    args = parser.parse_args()
    {"model": make_model, "tokenizer": make_tokenizer, "check": check}[args.mode](args)


if __name__ == "__main__":
    main()
