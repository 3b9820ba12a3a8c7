//! CSV/TSV read a batch at a time (`text_rows`, `examples_rows`, `count_rows`,
//! `text_rows_in`): the same rows and lines as reading the file whole, across the reader's
//! buffer boundaries; the whole-file checks' errors, with their lines, from deep in a file; and
//! memory that does not grow with the file.

use std::path::{Path, PathBuf};

use spam_data::{
    Column, DataError, ExamplesFile, RowBatch, RowRange, Shard, TableOptions, count_rows,
    examples_rows, read_labelled, read_texts, shard_ranges, text_rows, text_rows_in,
};
use spam_test_support::alloc_peak;

/// A CSV of `n` rows (with a BOM and CRLF endings) whose texts hold commas, escaped quotes,
/// quoted line breaks and non-ASCII text; returns its path and, per row, (line, text, label).
fn tricky_csv(dir: &Path, n: usize) -> (PathBuf, Vec<(usize, String, String)>) {
    let mut text = String::from("\u{feff}id,text,label\r\n");
    let mut rows = Vec::new();
    let mut line = 2;
    for i in 0..n {
        let body = match i % 5 {
            0 => format!("plain message {i}"),
            1 => format!("a, comma and \"quotes\" {i}"),
            2 => format!("two\r\nlines {i}"),
            3 => format!("café ✓ {}", "x".repeat(i % 97)),
            _ => format!("\"\" starts with a quote {i}"),
        };
        let label = if i % 3 == 0 { "spam" } else { "ham" };
        text.push_str(&format!(
            "{i},\"{}\",{label}\r\n",
            body.replace('"', "\"\"")
        ));
        rows.push((line, body.clone(), label.to_string()));
        line += 1 + body.matches('\n').count();
    }
    let path = dir.join("tricky.csv");
    std::fs::write(&path, text).expect("write");
    (path, rows)
}

fn all(batches: impl Iterator<Item = spam_data::Result<RowBatch>>) -> Vec<RowBatch> {
    batches.map(|b| b.expect("a batch")).collect()
}

#[test]
fn batches_hold_the_same_rows_and_lines_as_the_whole_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, rows) = tricky_csv(dir.path(), 5_000);
    let opts = TableOptions::csv("text", "label");
    let batches = all(text_rows(&path, &opts).expect("opens"));
    assert!(batches.len() >= 5, "several batches: {}", batches.len());
    let texts: Vec<String> = batches.iter().flat_map(|b| b.texts.clone()).collect();
    assert_eq!(texts, read_texts(&path, &opts).expect("read whole"));
    let expected: Vec<String> = rows.iter().map(|(_, t, _)| t.clone()).collect();
    assert_eq!(texts, expected);
    let lines: Vec<usize> = batches
        .iter()
        .flat_map(|b| b.lines.clone().expect("lines"))
        .collect();
    assert_eq!(lines, rows.iter().map(|(l, _, _)| *l).collect::<Vec<_>>());
    let numbers: Vec<u64> = batches.iter().flat_map(|b| b.rows.clone()).collect();
    assert_eq!(numbers, (0..5_000).collect::<Vec<u64>>());

    // Labelled (what eval reads): the labels as written, as the whole-file reader has them.
    let file = ExamplesFile {
        text_column: Column::Name("text".into()),
        label_column: Column::Name("label".into()),
        ..ExamplesFile::default()
    };
    let batches = all(examples_rows(&path, &file).expect("opens"));
    let labels: Vec<String> = batches
        .iter()
        .flat_map(|b| b.labels.clone().expect("labels"))
        .collect();
    let whole = read_labelled(&path, &opts).expect("read whole");
    let by_name: Vec<String> = whole
        .labels
        .iter()
        .map(|&l| whole.label_names[l].clone())
        .collect();
    assert_eq!(labels, by_name);
}

#[test]
fn counting_and_ranges_read_through_the_file_in_batches() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (path, rows) = tricky_csv(dir.path(), 3_001);
    let opts = TableOptions::csv("text", "label");
    let id = Column::Name("id".into());
    assert_eq!(count_rows(&path, &opts, Some(&id)).expect("count"), 3_001);
    let files = vec![path.clone()];
    let mut seen = Vec::new();
    for i in 0..7 {
        for range in shard_ranges(&files, &[3_001], Shard::new(i, 7).expect("shard")) {
            for b in text_rows_in(&range, &opts, Some(&id)).expect("range") {
                let b = b.expect("batch");
                let ids = b.ids.clone().expect("ids");
                for ((row, text), id) in b.rows.iter().zip(&b.texts).zip(ids) {
                    assert_eq!(id, row.to_string());
                    assert_eq!(text, &rows[*row as usize].1);
                    seen.push(*row);
                }
            }
        }
    }
    assert_eq!(
        seen,
        (0..3_001).collect::<Vec<u64>>(),
        "every row once, in order"
    );
    // A range inside one batch.
    let range = RowRange {
        file: path,
        index: 0,
        start: 1_500,
        end: 1_503,
    };
    let rows: Vec<u64> = all(text_rows_in(&range, &opts, None).expect("range"))
        .iter()
        .flat_map(|b| b.rows.clone())
        .collect();
    assert_eq!(rows, [1_500, 1_501, 1_502]);
}

/// What the whole-file checks found before reading (a NUL byte, a quote that never closes) is
/// still found deep in a large file, with its line; a small file still fails at once.
#[test]
fn errors_deep_in_a_large_file_name_their_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = TableOptions::csv("text", "label");
    let mut body = String::from("text,label\n");
    for i in 0..4_000 {
        body.push_str(&format!("message number {i},ham\n"));
    }
    // Line 1 is the header: row i is on line i + 2.
    let nul = body.replacen("message number 3000,", "message \0 number 3000,", 1);
    let path = dir.path().join("nul.csv");
    std::fs::write(&path, nul).expect("write");
    let err = text_rows(&path, &opts)
        .expect("the first batch is fine")
        .find_map(Result::err)
        .expect("the NUL byte is found");
    assert!(
        matches!(&err, DataError::NotText { what, .. } if what.contains("line 3002")),
        "{err}"
    );

    let unclosed = format!("{body}\"never closed,ham\nmore,ham\n");
    let path = dir.path().join("quote.csv");
    std::fs::write(&path, unclosed).expect("write");
    let err = text_rows(&path, &opts)
        .expect("the first batch is fine")
        .find_map(Result::err)
        .expect("the open quote is found");
    assert!(
        matches!(err, DataError::UnclosedQuote { line: 4002, .. }),
        "{err}"
    );
    assert!(
        count_rows(&path, &opts, None).is_err(),
        "counting finds it too"
    );

    // A small file fails before any batch, as when it was read whole.
    let path = dir.path().join("small.csv");
    std::fs::write(&path, "text,label\n\"open,ham\nnext,spam\n").expect("write");
    let err = text_rows(&path, &opts).expect_err("refused at once");
    assert!(
        matches!(err, DataError::UnclosedQuote { line: 2, .. }),
        "{err}"
    );
    std::fs::write(&path, "text,label\n").expect("write");
    let err = text_rows(&path, &opts).expect_err("refused at once");
    assert!(matches!(err, DataError::Empty { .. }), "{err}");
}

/// Reading a 10 MB CSV through never asks for more than a batch's worth at once (reading it
/// whole asked for the whole file).
#[test]
fn memory_does_not_grow_with_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut body = String::from("text\n");
    let mut n = 0;
    while body.len() < 10_000_000 {
        body.push_str(&format!(
            "a message of some length: number {n} to classify\n"
        ));
        n += 1;
    }
    let path = dir.path().join("big.csv");
    std::fs::write(&path, &body).expect("write");
    let opts = TableOptions::csv("text", "label");
    alloc_peak::reset_peak();
    let mut rows = 0;
    for b in text_rows(&path, &opts).expect("opens") {
        rows += b.expect("batch").len();
    }
    let peak = alloc_peak::peak();
    assert_eq!(rows, n);
    assert!(peak < 1 << 20, "largest allocation {peak} bytes");
}
