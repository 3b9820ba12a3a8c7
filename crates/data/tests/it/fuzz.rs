//! Property tests over the readers of untrusted files (issue 15): the SMS parser, the CSV/TSV
//! reader, the split-CSV reader and the zip reader get arbitrary bytes and structured mutations
//! of valid inputs (truncation, byte flips, inserted quotes/TABs/newlines/NULs, forged size
//! fields). Each must return `Ok` or `Err`, never panic, and never ask for an absurd amount of
//! memory (the largest single allocation is checked against the input's size).
//!
//! CI runs [`DEFAULT_CASES`] cases per property (a few seconds); for a long local run set
//! `PROPTEST_CASES`, e.g. `PROPTEST_CASES=100000 cargo test -p spam-data --test it fuzz`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{Cursor, Write};
use std::path::Path;

use proptest::prelude::*;
use proptest::test_runner::Config;

use spam_data::{
    Column, Dataset, ParseMode, TableOptions, parse_labelled, parse_sms, read_split_csv,
    read_zip_member,
};
use spam_test_support::alloc_peak;
use spam_test_support::mutate::{interesting_byte, mutate, mutation};

/// Cases per property in CI.
const DEFAULT_CASES: u32 = 256;

fn config() -> Config {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(DEFAULT_CASES);
    Config {
        cases,
        // Failures are reported with their minimal input; nothing is written to the tree.
        failure_persistence: None,
        ..Config::default()
    }
}

fn arbitrary_text_bytes() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(interesting_byte(), 0..2048)
}

fn valid_sms() -> Vec<u8> {
    let mut s = String::from("\u{feff}");
    for i in 0..40 {
        let label = if i % 3 == 0 { "spam" } else { "ham" };
        let text = match i % 5 {
            0 => format!("\"quoted {i}\" rest"),
            1 => format!("with \"\"doubled\"\" {i}"),
            2 => format!("crlf {i}\r"),
            3 => "NA".to_string(),
            _ => format!("plain message {i}, with a comma"),
        };
        s += &format!("{label}\t{text}\n");
    }
    s.into_bytes()
}

fn valid_csv(delimiter: u8) -> Vec<u8> {
    let d = char::from(delimiter);
    let mut s = format!("id{d}text{d}label\n");
    for i in 0..40 {
        let text = match i % 4 {
            0 => format!("\"multi\nline {i}\""),
            1 => format!("\"say \"\"hi\"\" {i}\""),
            2 => format!("plain {i}"),
            _ => String::new(),
        };
        s += &format!("{i}{d}{text}{d}{}\n", i % 3);
    }
    s.into_bytes()
}

fn valid_zip(member: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let deflated = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    w.start_file("readme", stored).unwrap();
    w.write_all(b"a readme").unwrap();
    w.start_file("data/SMSSpamCollection", deflated).unwrap();
    w.write_all(member).unwrap();
    w.finish().unwrap().into_inner()
}

/// What every parsed dataset must satisfy.
fn check_dataset(ds: &Dataset) {
    assert_eq!(ds.texts.len(), ds.labels.len());
    assert!(ds.labels.iter().all(|&l| l < ds.label_names.len()));
}

/// Runs `f` and checks that no single allocation on this thread was larger than `limit`.
fn bounded<T>(limit: usize, f: impl FnOnce() -> T) -> T {
    alloc_peak::reset_peak();
    let out = f();
    let peak = alloc_peak::peak();
    assert!(
        peak <= limit,
        "one allocation of {peak} bytes for an input of this size (limit {limit})"
    );
    out
}

/// Generous: the parsers copy the input a few times; nothing should need more.
fn limit_for(input: &[u8]) -> usize {
    (1 << 20) + 16 * input.len()
}

fn sms_modes(bytes: &[u8]) {
    for mode in [ParseMode::Lines, ParseMode::PandasCompatible] {
        let r = bounded(limit_for(bytes), || {
            parse_sms(Path::new("fuzz.tsv"), bytes, mode)
        });
        if let Ok(ds) = r {
            check_dataset(&ds);
        }
    }
}

fn table_options() -> impl Strategy<Value = TableOptions> {
    let column = prop_oneof![
        prop::sample::select(vec!["text", "label", "id", "missing"])
            .prop_map(|s| Column::Name(s.into())),
        (0usize..5).prop_map(Column::Index),
    ];
    (
        prop::sample::select(vec![b',', b'\t', b';']),
        any::<bool>(),
        any::<bool>(),
        column.clone(),
        column,
        prop::option::of(Just(vec!["0".to_string(), "1".to_string()])),
    )
        .prop_map(
            |(delimiter, has_header, quoting, text_column, label_column, label_names)| {
                TableOptions {
                    delimiter,
                    has_header,
                    quoting,
                    text_column,
                    label_column,
                    label_names,
                }
            },
        )
}

fn table(bytes: &[u8], opts: &TableOptions) {
    let r = bounded(limit_for(bytes), || {
        parse_labelled(Path::new("fuzz.csv"), bytes, opts)
    });
    if let Ok(ds) = r {
        check_dataset(&ds);
    }
}

fn split_csv(bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("test.csv");
    std::fs::write(&path, bytes).unwrap();
    if let Ok(ds) = bounded(limit_for(bytes), || read_split_csv(&path)) {
        check_dataset(&ds);
    }
}

fn zip(bytes: &[u8]) {
    for member in ["SMSSpamCollection", "readme"] {
        let r = bounded(limit_for(bytes), || {
            read_zip_member(Path::new("fuzz.zip"), bytes, member)
        });
        if let Ok(data) = r {
            assert!(data.len() as u64 <= spam_data::MAX_ZIP_MEMBER_BYTES);
        }
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn sms_parser_on_arbitrary_bytes(bytes in arbitrary_text_bytes()) {
        sms_modes(&bytes);
    }

    #[test]
    fn sms_parser_on_mutated_input(m in prop::collection::vec(mutation(), 1..6)) {
        sms_modes(&mutate(valid_sms(), &m));
    }

    #[test]
    fn table_reader_on_arbitrary_bytes(
        bytes in arbitrary_text_bytes(),
        opts in table_options(),
    ) {
        table(&bytes, &opts);
    }

    #[test]
    fn table_reader_on_mutated_input(
        m in prop::collection::vec(mutation(), 1..6),
        opts in table_options(),
    ) {
        table(&mutate(valid_csv(opts.delimiter), &m), &opts);
    }

    #[test]
    fn split_csv_reader_on_mutated_input(
        m in prop::collection::vec(mutation(), 0..6),
    ) {
        // The rows of `valid_csv` under a split CSV's header: `Label` is the id column.
        let body = valid_csv(b',');
        let first_row = body.iter().position(|&b| b == b'\n').map_or(0, |n| n + 1);
        let mut csv = b"Label,Text,Class\n".to_vec();
        csv.extend_from_slice(&body[first_row..]);
        split_csv(&mutate(csv, &m));
    }

    #[test]
    fn zip_reader_on_arbitrary_bytes(mut bytes in prop::collection::vec(any::<u8>(), 0..1024)) {
        bytes.splice(0..0, *b"PK\x03\x04");
        zip(&bytes);
    }

    #[test]
    fn zip_reader_on_mutated_archives(m in prop::collection::vec(mutation(), 1..6)) {
        zip(&mutate(valid_zip(&valid_sms()), &m));
    }
}
