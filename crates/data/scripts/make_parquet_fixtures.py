#!/usr/bin/env python3
"""Regenerate the Parquet fixtures of the `spam-data` crate (crates/data/tests/fixtures/parquet/).

`cargo test` never runs Python: the files this script writes are small and committed, and the
tests only read them (and `expected.json`, which describes them). Run it by hand when a fixture
needs to change:

    python3 crates/data/scripts/make_parquet_fixtures.py                       # write fixtures
    python3 crates/data/scripts/make_parquet_fixtures.py check-prepare DIR ham,spam
    python3 crates/data/scripts/make_parquet_fixtures.py dump FILE.parquet

It creates (once) a git-ignored virtualenv `.venv-parquet` at the workspace root, installs the
pinned pyarrow, datasets and pandas below into it (from the package index; only the first run
needs the network) and re-runs itself there.

All texts are synthetic, made up for these fixtures (nothing from the SMS Spam Collection, which
is never committed). Content is fixed (no clock, fixed shuffle seed), and rerunning with the same
pins rewrites byte-identical files; the Parquet footers name the writer
(`parquet-cpp-arrow version <pyarrow version>`) and `dictionary.parquet` carries pandas' own
metadata (with the pandas and pyarrow versions), so other pins give other bytes.

Default mode writes:

* `hub/data/{train-00000-of-00002,train-00001-of-00002,validation-00000-of-00001,
  test-00000-of-00001}.parquet`: a Hugging Face dataset laid out as the hub serves one, shaped
  like the hub's copy of ucirvine/sms_spam (columns `sms` string, `label` ClassLabel ham/spam),
  written by the real writer (`datasets.Dataset.from_dict(..., features=...).to_parquet(...)`),
  so the Arrow schema carries the `huggingface` metadata key with
  `info.features.label.names == ["ham", "spam"]` (the script checks it). datasets 5.2 writes
  with content-defined chunking, so these footers also hold a `content_defined_chunking` key.
* `hub_csv/{train,validation,test}.csv`: the same rows in the same order (train = shard 0 then
  shard 1), header `sms,label`, labels as names, written by pandas `to_csv(index=False)`.
* Single files written by pyarrow (`pq.write_table`, defaults: snappy) unless noted:
  `int_labels` (text string, label int64 0/1/2, no huggingface metadata), `string_labels`
  (label strings neg/pos), `nulls` (2 null texts, 1 null label), `wrong_types` (text int64,
  label float64), `nested` (text list<string>), `large_string` (text large_string, label int8),
  `dictionary` (pandas categoricals -> dictionary-encoded columns, written by pandas),
  `empty` (0 rows), `row_groups` (100 rows, id/text/label, row_group_size=16 -> 7 row groups),
  `label_out_of_range` (huggingface ClassLabel ham/spam metadata as datasets serializes it, via
  `Features.arrow_schema`, but row 3 has label 7), `two_text_columns` (title, body, label),
  `Text_column` (Text, label), and `not_parquet.parquet` (plain text bytes, not Parquet).
* `expected.json`: for every fixture its path, row count, columns with Arrow types as pyarrow
  prints them (read back from the file), null rows per column, number of row groups (pyarrow
  writes one, empty, row group for `empty.parquet`), the metadata keys, the
  `huggingface` metadata (verbatim) and its label names when present, plus, for the hub dataset,
  its splits (files, rows, label counts) and label names.

`check-prepare DIR NAMES` loads `datasets.load_dataset("parquet", data_dir=DIR)` offline (empty
temporary cache, HF_DATASETS_OFFLINE=1, HF_HUB_OFFLINE=1), requires train, validation and test
splits, finds the label column (the one whose feature is a ClassLabel), requires its `.names` to
equal NAMES (comma-separated) and every label to be in range, prints each split's row count and
features, and exits nonzero on any mismatch. It checks that what the Rust
`prepare --output-format parquet` writes (`DIR/{train,validation,test}-00000-of-00001.parquet`
with columns `text` and `label`) reads back in `datasets` with its class names.

`dump FILE` prints a Parquet file's Arrow schema, metadata keys, `huggingface` metadata and row
groups.
"""

import hashlib
import json
import os
import random
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CRATE = HERE.parent
WORKSPACE = CRATE.parent.parent
OUT = CRATE / "tests" / "fixtures" / "parquet"
VENV = WORKSPACE / ".venv-parquet"
PINS = ["pyarrow==26.0.1", "datasets==5.2.0", "pandas==3.1.1"]
NAMES = ["ham", "spam"]
SEED = 20240607


def ensure_venv():
    python = VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == VENV.resolve():
        return
    if not python.exists():
        subprocess.check_call([sys.executable, "-m", "venv", str(VENV)])
    subprocess.check_call([str(python), "-m", "pip", "install", "--quiet", *PINS])
    os.execv(str(python), [str(python), __file__, *sys.argv[1:]])


# ---------------------------------------------------------------------------------------------
# Synthetic texts. Spam texts carry obvious cues ("WIN", "prize", "txt", "call now", "FREE",
# "claim"), ham texts are everyday chat, so a classifier can learn them.

SPAM = [
    "WIN a brand new phone! txt WIN to 80000 now",
    "Congratulations, you have been selected for a cash prize of 500 pounds. Call now on 0900 111 222 to claim",
    "FREE entry to our weekly prize draw! txt PRIZE to 81234",
    "URGENT: your prize is waiting. call now 0871 000 111",
    "You are a WINNER!! Claim your FREE holiday, txt GO to 85000",
    'Reply "YES" to WIN 2 tickets, 1st prize guaranteed',
    "Final notice: unclaimed prize\nCall now to collect, 150p/min",
    "WIN WIN WIN! \U0001F389 txt STOP to opt out, 18+ only",
    "Your mobile number won a \u00a31000 prize! call now",
    "Exclusive offer: FREE ringtones every week, txt TONE to 83300",
    "Cash prize alert: txt CLAIM plus your postcode to 88888 today",
    "Bonus! You have 2 unclaimed prizes, call now, lines close at midnight",
    "WIN a luxury cruise for two: txt SEA to 80999, T&Cs apply",
    "Dear customer, your account earned a FREE prize voucher. Call now to redeem",
    "txt WIN to 84444 for your chance to WIN \u20ac2000 cash",
    "Last chance! Prize draw closes tonight. call now 0800 123 456",
    'Special "VIP" prize for you \u2014 txt VIP to 87070',
    "Congrats! You won the weekly jackpot prize. Call now to claim it, ref 4X9",
    "FREE gift card! txt GIFT to 86006, 1 prize per number",
    "WIN big this weekend \U0001F4B0\U0001F4B0 txt BIG to 89898",
    "Your entry was drawn: prize code A77. call now before it expires",
    "Guaranteed prize!\nReply WIN or call now 0906 555 000",
    "Hot deal: WIN a tablet, txt TAB to 80808, std rates",
    "You have been chosen, claim your prize: call now, quote \"BONUS\"",
    "WIN a year of FREE cinema, txt FILM to 82828",
    "Prize notice: 3 days left to claim. call now",
    "Na\u00efve offer? No! Real prize, txt REAL to 81818",
    "WIN \u00a3250 shopping spree! call now 0870 246 810",
    "Text WIN to 83838 and get a FREE prize entry every day",
    "ALERT: prize transfer pending, call now to confirm, txt HELP for info",
    "Weekly quiz: answer A, B or C, txt to 84848 and WIN a prize",
    "Hurry, prize pot at \u00a35000, call now!",
    "WIN a weekend in Paris \U0001F1EB\U0001F1F7 txt PARIS to 85858",
    "Congratulations winner, your reward is ready, txt YES to claim your prize",
    "Mega prize draw, call now, calls cost 25p",
    "FREE prize! txt NOW",
]

HAM = [
    "Are we still meeting for lunch tomorrow?",
    "Running late, be there in 10",
    "Can you pick up some milk on the way home, please",
    'She said "maybe" so I guess we wait',
    "Thanks for yesterday, it was really fun",
    "I'll ring you after work, ok?",
    "The meeting moved to 3pm, room B",
    "Happy birthday! \U0001F382 Hope you have a great day",
    "Did you finish the report? No rush, Friday is fine",
    "On the bus now.\nSee you soon",
    "Mum says dinner at 7, don't be late",
    "Where did you park the car",
    "Good luck with the exam, you'll be great",
    "lol that was hilarious",
    "Can we move our call to Thursday, same time",
    "Caf\u00e9 on the corner at 11? I'm buying",
    "Just landed, will text when I'm through security",
    "Forgot my keys again, are you home",
    "Nice one, thanks mate",
    "The kids loved the park, we should go again",
    "Ok, see you there",
    "Is the match on tonight or tomorrow",
    "I'm at the library till 6, then free",
    'He called it "the best pizza ever", I disagree',
    "Sorry, missed your call, what's up",
    "Weather looks bad, bring an umbrella \u2614",
    "Sent you the photos from the trip",
    "Let me know when you get home safe",
    "Can you water the plants while I'm away, thanks a lot",
    "Dinner was lovely.\nThanks again, both of you",
    "Got the tickets, row F, seats 12 and 13",
    "Are you coming to the gym later",
    "No worries, take your time",
    "Stuck in traffic, start without me",
    "Do you want tea or coffee",
    "See you Sunday",
]


def hub_rows():
    """72 labelled rows split into train shard 0/1 (24 each), validation (12) and test (12),
    both classes in every split."""
    rng = random.Random(SEED)
    spam = list(SPAM)
    ham = list(HAM)
    rng.shuffle(spam)
    rng.shuffle(ham)
    parts = {}
    sizes = [("train0", 12), ("train1", 12), ("validation", 6), ("test", 6)]
    for name, half in sizes:
        rows = [(t, 1) for t in spam[:half]] + [(t, 0) for t in ham[:half]]
        spam, ham = spam[half:], ham[half:]
        rng.shuffle(rows)
        parts[name] = rows
    assert not spam and not ham
    return parts


# ---------------------------------------------------------------------------------------------


def describe(path):
    """What expected.json records for one Parquet file (read back from the file)."""
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    schema = f.schema_arrow
    table = f.read()
    meta = schema.metadata or {}
    out = {
        "path": path.relative_to(OUT).as_posix(),
        "rows": f.metadata.num_rows,
        "row_groups": f.metadata.num_row_groups,
        "columns": [{"name": fld.name, "type": str(fld.type)} for fld in schema],
        "null_rows": {
            name: [i for i, v in enumerate(table.column(name).to_pylist()) if v is None]
            for name in schema.names
        },
        # keys of the Arrow schema's metadata (pyarrow hides its own ARROW:schema there) and
        # of the Parquet footer's key-value metadata (which holds ARROW:schema too)
        "metadata_keys": sorted(k.decode() for k in meta),
        "parquet_metadata_keys": sorted(k.decode() for k in (f.metadata.metadata or {})),
        "huggingface": None,
        "label_names": None,
    }
    if b"huggingface" in meta:
        raw = meta[b"huggingface"].decode()
        out["huggingface"] = raw
        for feature in json.loads(raw)["info"]["features"].values():
            if feature.get("_type") == "ClassLabel":
                out["label_names"] = feature["names"]
    return out


def write_hub(expected):
    from datasets import ClassLabel, Dataset, Features, Value

    import pandas as pd

    features = Features({"sms": Value("string"), "label": ClassLabel(names=NAMES)})
    parts = hub_rows()
    files = {
        "train0": "train-00000-of-00002.parquet",
        "train1": "train-00001-of-00002.parquet",
        "validation": "validation-00000-of-00001.parquet",
        "test": "test-00000-of-00001.parquet",
    }
    data = OUT / "hub" / "data"
    data.mkdir(parents=True, exist_ok=True)
    written = {}
    for part, name in files.items():
        rows = parts[part]
        ds = Dataset.from_dict(
            {"sms": [t for t, _ in rows], "label": [l for _, l in rows]}, features=features
        )
        path = data / name
        ds.to_parquet(str(path))
        d = describe(path)
        if d["label_names"] != NAMES:
            sys.exit(f"{path}: datasets did not embed the ClassLabel names: {d['huggingface']}")
        written[part] = d
        expected["files"].append(d)

    csv_dir = OUT / "hub_csv"
    csv_dir.mkdir(parents=True, exist_ok=True)
    splits = {
        "train": ["train0", "train1"],
        "validation": ["validation"],
        "test": ["test"],
    }
    hub = {"dir": "hub/data", "label_names": NAMES, "text_column": "sms",
           "label_column": "label", "splits": {}}
    for split, pieces in splits.items():
        rows = [r for p in pieces for r in parts[p]]
        df = pd.DataFrame({"sms": [t for t, _ in rows], "label": [NAMES[l] for _, l in rows]})
        csv = csv_dir / f"{split}.csv"
        df.to_csv(csv, index=False)
        hub["splits"][split] = {
            "files": [written[p]["path"] for p in pieces],
            "rows": len(rows),
            "label_counts": {n: sum(1 for _, l in rows if l == i) for i, n in enumerate(NAMES)},
            "csv": csv.relative_to(OUT).as_posix(),
            "first_text": rows[0][0],
            "last_text": rows[-1][0],
        }
    expected["hub"] = hub
    print("huggingface metadata written by datasets:", written["train0"]["huggingface"])


def write_singles(expected):
    import pandas as pd
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import ClassLabel, Features, Value

    def put(name, table, **kw):
        path = OUT / name
        pq.write_table(table, path, **kw)
        return path

    paths = []

    paths.append(put("int_labels.parquet", pa.table({
        "text": pa.array([
            "the battery lasts all day", "screen cracked after a week", "it is a phone",
            "love the camera, great photos", "stopped charging, very annoyed", "arrived on Tuesday",
            "fantastic value for money", "worst purchase this year", "comes in a box",
            "brilliant, would buy again", "refund took a month", "the case is blue",
        ], pa.string()),
        "label": pa.array([2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1], pa.int64()),
    })))

    paths.append(put("string_labels.parquet", pa.table({
        "text": pa.array([
            "what a lovely film", "boring and far too long", "the actors were superb",
            "I fell asleep halfway", "a joy from start to finish", "the plot made no sense",
            "great soundtrack, great cast", "would not watch again", "funny, warm, clever",
            "a total waste of time",
        ], pa.string()),
        "label": pa.array(["pos", "neg", "pos", "neg", "pos", "neg", "pos", "neg", "pos", "neg"],
                          pa.string()),
    })))

    paths.append(put("nulls.parquet", pa.table({
        "text": pa.array([
            "first row", None, "third row", "fourth row", "fifth row", "sixth row", None,
            "eighth row", "ninth row", "tenth row",
        ], pa.string()),
        "label": pa.array([0, 1, 0, 1, None, 1, 0, 1, 0, 1], pa.int64()),
    })))

    paths.append(put("wrong_types.parquet", pa.table({
        "text": pa.array([11, 22, 33, 44], pa.int64()),
        "label": pa.array([0.0, 1.0, 0.5, 1.0], pa.float64()),
    })))

    paths.append(put("nested.parquet", pa.table({
        "text": pa.array([["hello", "there"], ["one"], [], ["a", "b", "c"]],
                         pa.list_(pa.string())),
        "label": pa.array([0, 1, 0, 1], pa.int64()),
    })))

    paths.append(put("large_string.parquet", pa.table({
        "text": pa.array([
            "large string one", "large string two, with a comma", "caf\u00e9 \u00fcber",
            "line\nbreak", "\U0001F600 emoji", "last",
        ], pa.large_string()),
        "label": pa.array([0, 1, 0, 1, 0, 1], pa.int8()),
    })))

    df = pd.DataFrame({
        "text": pd.Categorical([
            "call now to WIN", "see you later", "call now to WIN", "lunch?",
            "FREE prize txt", "see you later", "lunch?", "FREE prize txt",
        ]),
        "label": pd.Categorical(["spam", "ham", "spam", "ham", "spam", "ham", "ham", "spam"]),
    })
    path = OUT / "dictionary.parquet"
    df.to_parquet(path, engine="pyarrow", index=False)
    paths.append(path)

    paths.append(put("empty.parquet", pa.table({
        "text": pa.array([], pa.string()),
        "label": pa.array([], pa.int64()),
    })))

    paths.append(put("row_groups.parquet", pa.table({
        "id": pa.array(range(1000, 1100), pa.int64()),
        "text": pa.array(
            [f"row {i}: " + ("call now to WIN a prize" if i % 2 else "see you at home")
             for i in range(100)], pa.string()),
        "label": pa.array([i % 2 for i in range(100)], pa.int64()),
    }), row_group_size=16))

    # datasets' own serialization of the features (Features.arrow_schema, the schema the
    # datasets writer uses), written by pyarrow because datasets would refuse label 7.
    schema = Features({"text": Value("string"), "label": ClassLabel(names=NAMES)}).arrow_schema
    paths.append(put("label_out_of_range.parquet", pa.table({
        "text": pa.array(["hello", "WIN a prize, call now", "see you soon", "out of range",
                          "txt WIN to 80000", "bye"], pa.string()),
        "label": pa.array([0, 1, 0, 7, 1, 0], pa.int64()),
    }, schema=schema)))

    paths.append(put("two_text_columns.parquet", pa.table({
        "title": pa.array(["Prize!", "Lunch", "Offer", "Trip"], pa.string()),
        "body": pa.array(["WIN now, txt 80000", "12:30 at the caf\u00e9?",
                          "FREE entry, call now", "Train leaves at 9"], pa.string()),
        "label": pa.array([1, 0, 1, 0], pa.int64()),
    })))

    paths.append(put("Text_column.parquet", pa.table({
        "Text": pa.array(["capital T column", "WIN a prize", "see you", "call now"], pa.string()),
        "label": pa.array([0, 1, 0, 1], pa.int64()),
    })))

    for p in paths:
        expected["files"].append(describe(p))

    bad = OUT / "not_parquet.parquet"
    bad.write_bytes(b"text,label\nhello,0\n")
    expected["files"].append({"path": bad.relative_to(OUT).as_posix(), "parquet": False,
                              "bytes": len(bad.read_bytes())})


def write_fixtures():
    import datasets
    import pandas
    import pyarrow

    OUT.mkdir(parents=True, exist_ok=True)
    expected = {
        "generator": "crates/data/scripts/make_parquet_fixtures.py",
        "versions": {"pyarrow": pyarrow.__version__, "datasets": datasets.__version__,
                     "pandas": pandas.__version__},
        "hub": None,
        "files": [],
    }
    write_hub(expected)
    write_singles(expected)
    for f in expected["files"]:
        f.setdefault("parquet", True)
    (OUT / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=False) + "\n")

    total = 0
    for p in sorted(OUT.rglob("*")):
        if p.is_file():
            data = p.read_bytes()
            total += len(data)
            print(f"{len(data):7d}  {hashlib.sha256(data).hexdigest()[:16]}  "
                  f"{p.relative_to(OUT).as_posix()}")
    print(f"{total:7d}  total")


# ---------------------------------------------------------------------------------------------


def check_prepare(directory, names):
    os.environ["HF_DATASETS_OFFLINE"] = "1"
    os.environ["HF_HUB_OFFLINE"] = "1"
    with tempfile.TemporaryDirectory(prefix="hf-cache-") as cache:
        os.environ["HF_HOME"] = cache
        os.environ["HF_DATASETS_CACHE"] = str(Path(cache) / "datasets")
        import datasets
        from datasets import ClassLabel

        expected = names.split(",")
        dd = datasets.load_dataset("parquet", data_dir=directory,
                                   cache_dir=str(Path(cache) / "datasets"))
        problems = []
        for split in ("train", "validation", "test"):
            if split not in dd:
                problems.append(f"no {split} split (found {sorted(dd)})")
        for split, ds in dd.items():
            print(f"{split}: {ds.num_rows} rows, features {ds.features}")
            labels = [c for c, f in ds.features.items() if isinstance(f, ClassLabel)]
            if len(labels) != 1:
                problems.append(f"{split}: {len(labels)} ClassLabel columns ({labels}), want 1")
                continue
            feature = ds.features[labels[0]]
            if feature.names != expected:
                problems.append(f"{split}: {labels[0]}.names {feature.names} != {expected}")
            values = ds[labels[0]]
            bad = [v for v in values if v is None or not 0 <= v < len(feature.names)]
            if bad:
                problems.append(f"{split}: {len(bad)} labels out of range, e.g. {bad[0]}")
            counts = {n: values.count(i) for i, n in enumerate(feature.names)}
            print(f"{split}: label column {labels[0]!r}, counts {counts}")
        for p in problems:
            print("MISMATCH:", p, file=sys.stderr)
        if problems:
            sys.exit(1)
        print("ok")


def dump(path):
    import pyarrow.parquet as pq

    f = pq.ParquetFile(path)
    print(f.schema_arrow)
    meta = f.metadata
    print(f"rows {meta.num_rows}, row groups {meta.num_row_groups}, created_by {meta.created_by}")
    for i in range(meta.num_row_groups):
        print(f"  row group {i}: {meta.row_group(i).num_rows} rows")
    kv = meta.metadata or {}
    print("metadata keys:", sorted(k.decode() for k in kv))
    hf = kv.get(b"huggingface")
    if hf is None:
        print("huggingface: none")
    else:
        print("huggingface:", hf.decode())
        print(json.dumps(json.loads(hf), indent=1, ensure_ascii=False))


def main():
    ensure_venv()
    args = sys.argv[1:]
    if not args:
        write_fixtures()
    elif args[0] == "check-prepare" and len(args) == 3:
        check_prepare(args[1], args[2])
    elif args[0] == "dump" and len(args) == 2:
        dump(args[1])
    else:
        sys.exit(__doc__.split("\n\n")[1] + "\n\nusage: make_parquet_fixtures.py "
                 "[check-prepare DIR NAMES | dump FILE]")


if __name__ == "__main__":
    main()
