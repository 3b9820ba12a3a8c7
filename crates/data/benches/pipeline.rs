//! Parse + tokenize + pad of the whole SMS Spam Collection (5574 messages).
//!
//! Reads the real file from `$SPAM_SHARED_DIR/datasets/sms_spam_collection/SMSSpamCollection`
//! (default: the `shared` folder beside the workspace).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use spam_data::{EncodedSplit, GPT2_CONTEXT, ParseMode, Tokenizer, parse_sms};

fn data_file() -> PathBuf {
    spam_test_support::shared_dir().join(spam_test_support::SMS_COLLECTION)
}

fn pipeline(c: &mut Criterion) {
    let path = data_file();
    let bytes = match std::fs::read(&path) {
        Ok(b) => b,
        Err(e) => panic!(
            "{}: {e}; set SPAM_SHARED_DIR to the folder holding datasets/",
            path.display()
        ),
    };
    let tok = Tokenizer::gpt2();
    let run = |mode: ParseMode, parallel: bool| {
        let ds = parse_sms(&path, &bytes, mode).expect("parse");
        let ids = if parallel {
            tok.encode_all(&ds.texts)
        } else {
            ds.texts.iter().map(|t| tok.encode(t)).collect()
        };
        let longest = ids
            .iter()
            .map(Vec::len)
            .max()
            .unwrap_or(0)
            .min(GPT2_CONTEXT);
        EncodedSplit::from_ids(ids, ds.labels, longest, Some(longest))
    };
    let mut g = c.benchmark_group("sms_collection");
    g.throughput(Throughput::Bytes(bytes.len() as u64));
    g.bench_function("parse_lines", |b| {
        b.iter(|| parse_sms(&path, black_box(&bytes), ParseMode::Lines))
    });
    g.bench_function("parse_pandas", |b| {
        b.iter(|| parse_sms(&path, black_box(&bytes), ParseMode::PandasCompatible))
    });
    g.bench_function("parse_tokenize_pad/lines/parallel", |b| {
        b.iter(|| black_box(run(ParseMode::Lines, true)))
    });
    g.bench_function("parse_tokenize_pad/lines/1_thread", |b| {
        b.iter(|| black_box(run(ParseMode::Lines, false)))
    });
    g.bench_function("parse_tokenize_pad/pandas/parallel", |b| {
        b.iter(|| black_box(run(ParseMode::PandasCompatible, true)))
    });
    g.finish();
}

criterion_group!(benches, pipeline);
criterion_main!(benches);
