#!/usr/bin/env python3
"""Regenerate the reference fixtures of the `spam-data` crate (crates/data/tests/fixtures/).

`cargo test` never runs Python: it only reads the small files this script writes. Run it by hand
when a fixture needs to change:

    python3 crates/data/scripts/make_fixtures.py

What it does:

* Creates (once) a git-ignored virtualenv `.venv-data` at the workspace root, installs pinned
  numpy, pandas and tiktoken into it, and re-runs itself there.
* numpy: records values of the legacy `np.random.RandomState` (MT19937 with numpy's own seeding,
  `random_sample`, bounded `randint`, `permutation`, array seeds) for `src/numpy_rng.rs`.
* pandas: runs the chapter's exact code (`read_csv(sep="\t", header=None, names=["Label",
  "Text"])`, `create_balanced_dataset`, `random_split(0.7, 0.1)`, `to_csv(index=None)`, the same
  code as `llms_from_scratch.ch06`) on the real SMS Spam Collection and records the sha256 and row
  count of the train/validation/test CSVs it writes, and runs it on a small committed synthetic
  TSV full of quoting quirks, committing the three CSVs pandas wrote for it.
* tiktoken: Python tiktoken downloads its BPE files at run time, which is not possible on an
  offline machine. Instead the script exports the `r50k_base.tiktoken` ranks file that the Rust
  crate tiktoken-rs ships (read from its crate source in the local cargo registry) into a
  temporary directory, checks its sha256 against the hash Python tiktoken expects for the official
  file, and builds the encoding with
  `tiktoken.Encoding(name="gpt2", pat_str=<r50k/gpt2 pattern>,
  mergeable_ranks=tiktoken.load.load_tiktoken_bpe(path), special_tokens={"<|endoftext|>": 50256})`.
  The ranks file is not committed. It then records, for every line-based message of the real file,
  the token count and a short hash of the ids, plus full ids for selected tricky texts.

The real dataset is read from `$SPAM_SHARED_DIR/datasets/sms_spam_collection/SMSSpamCollection`,
or `<workspace>/../shared/datasets/...` when the variable is unset. It is never copied.
"""

import glob
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent
WORKSPACE = CRATE.parent.parent
FIXTURES = CRATE / "tests" / "fixtures"
VENV = WORKSPACE / ".venv-data"
PINS = ["numpy==2.4.6", "pandas==3.1.1", "tiktoken==0.14.0"]
R50K_SHA256 = "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"
R50K_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


def ensure_venv():
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    subprocess.check_call([str(python), "-m", "pip", "install", "--quiet", *PINS])
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


def shared_file():
    root = os.environ.get("SPAM_SHARED_DIR")
    base = Path(root) if root else WORKSPACE.parent / "shared"
    path = base / "datasets" / "sms_spam_collection" / "SMSSpamCollection"
    if not path.exists():
        sys.exit(f"{path} not found: set SPAM_SHARED_DIR to the folder holding datasets/")
    return path


def sha256(data):
    return hashlib.sha256(data).hexdigest()


def ids_hash(ids):
    """sha256 of the ids written as ASCII decimals joined by single spaces."""
    return sha256(" ".join(map(str, ids)).encode())


def numpy_fixture():
    import numpy as np

    out = {}
    rs = np.random.RandomState(123)
    out["seed123_uint32"] = [int(v) for v in rs.randint(0, 2**32, size=8, dtype=np.uint64)]
    rs = np.random.RandomState(123)
    out["seed123_random_sample"] = [float(v) for v in rs.random_sample(6)]
    rs = np.random.RandomState(123)
    out["seed123_randint_0_10"] = [int(v) for v in rs.randint(0, 10, size=20)]
    rs = np.random.RandomState(123)
    out["seed123_randint_5_1000"] = [int(v) for v in rs.randint(5, 1000, size=20)]
    rs = np.random.RandomState(123)
    out["seed123_randint_0_2pow40"] = [int(v) for v in rs.randint(0, 2**40, size=6)]
    out["seed123_permutation_10"] = [int(v) for v in np.random.RandomState(123).permutation(10)]
    out["seed0_permutation_20"] = [int(v) for v in np.random.RandomState(0).permutation(20)]
    out["seed123_choice_4825_747_head"] = [
        int(v) for v in np.random.RandomState(123).choice(4825, 747, replace=False)[:25]
    ]
    out["seed123_permutation_1494_head"] = [
        int(v) for v in np.random.RandomState(123).permutation(1494)[:25]
    ]
    out["seed4294967295_random_sample"] = [
        float(v) for v in np.random.RandomState(2**32 - 1).random_sample(3)
    ]
    out["key_1_2_3_uint32"] = [
        int(v) for v in np.random.RandomState([1, 2, 3]).randint(0, 2**32, size=5, dtype=np.uint64)
    ]
    out["key_123_0_7_permutation_12"] = [
        int(v) for v in np.random.RandomState([123, 0, 7]).permutation(12)
    ]
    return out


def chapter_pipeline(data_file, out_dir):
    """The chapter's code, verbatim in substance (llms_from_scratch.ch06)."""
    import pandas as pd

    df = pd.read_csv(data_file, sep="\t", header=None, names=["Label", "Text"])
    rows = len(df)
    num_spam = df[df["Label"] == "spam"].shape[0]
    ham_subset = df[df["Label"] == "ham"].sample(num_spam, random_state=123)
    balanced_df = pd.concat([ham_subset, df[df["Label"] == "spam"]])
    balanced_df["Label"] = balanced_df["Label"].map({"ham": 0, "spam": 1})
    df = balanced_df.sample(frac=1, random_state=123).reset_index(drop=True)
    train_end = int(len(df) * 0.7)
    validation_end = train_end + int(len(df) * 0.1)
    parts = {
        "train": df[:train_end],
        "validation": df[train_end:validation_end],
        "test": df[validation_end:],
    }
    for name, part in parts.items():
        part.to_csv(out_dir / f"{name}.csv", index=None)
    return rows, num_spam, {k: len(v) for k, v in parts.items()}


# A synthetic TSV exercising pandas' quoting on a tab-separated file: quoted fields, quotes in
# the middle, doubled quotes, commas, and an opening quote that only closes lines later (which
# merges physical lines into one record, as on the real file).
QUIRKS = [
    ("ham", "plain message, with a comma"),
    ("spam", '"Quoted whole message"'),
    ("ham", '"Quoted start" then more text'),
    ("ham", 'He said "hi" in the middle'),
    ("spam", "WIN a prize! Call 0800 now & claim £100"),
    ("ham", '"Doubled "" quote inside" tail'),
    ("ham", "trailing quote here\""),
    ("spam", "Free entry: reply STOP; text YES to 80082"),
    ("ham", '"opens and never closes on this line'),
    ("ham", "this line is swallowed into the previous record"),
    ("spam", 'closing" here ends it'),
    ("ham", "Ok lar... Joking wif u oni..."),
    ("ham", "U dun say so early hor... U c already then say..."),
    ("spam", "URGENT! You have won a 1 week FREE membership"),
    ("ham", "&lt;#&gt; minutes ago"),
    ("ham", "Nah I don't think he goes to usf, he lives around here though"),
    ("spam", "SIX chances to win CASH! From 100 to 20,000 pounds"),
    ("ham", "Even my brother is not like to speak with me."),
    ("ham", "Ü still there? Wat time ü reaching?"),
    ("spam", "XXXMobileMovieClub: To use your credit, click the WAP link"),
    ("ham", "I'm gonna be home soon"),
    ("ham", "   leading spaces and trailing spaces   "),
    ("spam", "Congrats! 1 year special cinema pass for 2 is yours. call 09061209465 now!"),
    ("ham", "Yeah he got in at 2 and was v apologetic."),
    ("ham", "emoji \U0001F600 and accents é ñ"),
    ("spam", "Had your mobile 11 months or more? U R entitled to Update"),
    ("ham", "K tell me anything about you."),
    ("ham", "Sorry, I'll call later"),
    ("spam", "England v Macedonia - dont miss the goals/team news. Txt ur national team"),
    ("ham", "Is that seriously how you spell his name?"),
    ("ham", "Going for dinner.msg you after."),
    ("spam", "Thanks for your subscription to Ringtone UK your mobile will be charged"),
    ("ham", "I see the letter B on my car"),
    ("ham", "Please don't text me anymore. I have nothing else to say."),
    ("spam", "07732584351 - Rodger Burns - MSG = We tried to call you"),
    ("ham", "Lol your always so convincing."),
    ("ham", "What you doing?how are you?"),
    ("spam", "Please call our customer service representative on 0800 169 6031"),
    ("ham", 'A "quoted, comma" part'),
    ("ham", "Did you catch the bus ? Are you frying an egg ?"),
    ("spam", "Your free ringtone is waiting to be collected. Simply text the password"),
    ("ham", "Ahhh. Work. I vaguely remember that! What does it feel like? Lol"),
]


def quirks_fixture():
    import pandas as pd

    d = FIXTURES / "pandas_quirks"
    d.mkdir(parents=True, exist_ok=True)
    tsv = d / "input.tsv"
    tsv.write_bytes("".join(f"{l}\t{t}\n" for l, t in QUIRKS).encode())
    rows, spam, counts = chapter_pipeline(tsv, d)
    df = pd.read_csv(tsv, sep="\t", header=None, names=["Label", "Text"])
    return {"lines": len(QUIRKS), "rows": rows, "spam": spam, "splits": counts,
            "texts": list(df["Text"])}


def real_fixture(data_file):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        rows, spam, counts = chapter_pipeline(data_file, tmp)
        out = {"rows_pandas": rows, "spam": spam}
        for name, n in counts.items():
            data = (tmp / f"{name}.csv").read_bytes()
            out[name] = {"rows": n, "sha256": sha256(data)}
        return out, {n: (tmp / f"{n}.csv").read_text() for n in counts}


def tiktoken_encoding():
    import tiktoken
    import tiktoken.load

    pattern = str(Path.home() / ".cargo" / "registry" / "src" / "*" / "tiktoken-rs-0.12.*" /
                  "assets" / "r50k_base.tiktoken")
    found = sorted(glob.glob(pattern))
    if not found:
        sys.exit("tiktoken-rs 0.12 crate source not found: run `cargo fetch` first")
    tmp = Path(tempfile.mkdtemp())
    ranks = tmp / "r50k_base.tiktoken"
    shutil.copyfile(found[-1], ranks)
    if sha256(ranks.read_bytes()) != R50K_SHA256:
        sys.exit(f"{found[-1]} is not the official r50k_base ranks file")
    enc = tiktoken.Encoding(
        name="gpt2",
        pat_str=R50K_PATTERN,
        mergeable_ranks=tiktoken.load.load_tiktoken_bpe(str(ranks)),
        special_tokens={"<|endoftext|>": 50256},
    )
    shutil.rmtree(tmp)
    return enc


EXTRA_TEXTS = [
    "",
    " ",
    "Hello world",
    "  two leading spaces and a trailing one ",
    "tabs\tand\nnewlines\r\n",
    "<|endoftext|>",
    "text with <|endoftext|> inside",
    "emoji \U0001F600\U0001F44D\U0001F3FD and flags \U0001F1EC\U0001F1E7",
    "CJK 你好，世界 and Japanese かな カナ",
    "accents: café naïve Ü ü £ € ¥ — “quotes” ‘single’ …",
    "HTML entities &lt;#&gt; &amp; &quot; &#39;",
    "numbers 0800 169 6031 and 1,000,000.50",
    "contractions: I'm, you're, he's, we've, they'll, I'd, don't",
    "C1 control \x96 and zero width \u200b joiner",
    "URL http://www.example.com/path?q=1&x=2",
    "A" * 300,
]


def tiktoken_fixtures(enc, data_file):
    raw = data_file.read_bytes().decode("utf-8")
    messages = [line.split("\t", 1)[1] for line in raw.split("\n") if line]
    lines = [f"# messages {len(messages)}"]
    everything = []
    for text in messages:
        ids = enc.encode(text)
        assert ids == enc.encode_ordinary(text)
        everything.extend(ids)
        lines.append(f"{len(ids)} {ids_hash(ids)[:16]}")
    lines[0] += f" tokens {len(everything)} sha256 {ids_hash(everything)}"
    (FIXTURES / "tiktoken_sms_ids.txt").write_text("\n".join(lines) + "\n")

    picked = [t for t in messages if any(ord(c) > 127 for c in t) or "&" in t][:40]
    cases = [{"text": t, "ids": enc.encode_ordinary(t)} for t in EXTRA_TEXTS + picked]
    with open(FIXTURES / "tiktoken_cases.jsonl", "w") as f:
        for case in cases:
            f.write(json.dumps(case, ensure_ascii=True) + "\n")
    return len(messages), len(everything)


def token_stats(enc, csvs):
    import io

    import pandas as pd

    stats = {}
    for name, text in csvs.items():
        df = pd.read_csv(io.StringIO(text))
        lens = [len(enc.encode(t)) for t in df["Text"]]
        stats[name] = {"tokens": sum(lens), "longest": max(lens)}
    return stats


def main():
    ensure_venv()
    FIXTURES.mkdir(parents=True, exist_ok=True)
    data_file = shared_file()
    (FIXTURES / "numpy_random_state.json").write_text(
        json.dumps(numpy_fixture(), indent=1) + "\n")
    quirks = quirks_fixture()
    real, csvs = real_fixture(data_file)
    enc = tiktoken_encoding()
    real["tokens"] = token_stats(enc, csvs)
    real["file_sha256"] = sha256(data_file.read_bytes())
    real["quirks"] = quirks
    real["messages"], real["message_tokens"] = tiktoken_fixtures(enc, data_file)
    (FIXTURES / "chapter_reference.json").write_text(json.dumps(real, indent=1) + "\n")
    print(json.dumps({k: v for k, v in real.items() if k != "quirks"}, indent=1))


if __name__ == "__main__":
    main()
