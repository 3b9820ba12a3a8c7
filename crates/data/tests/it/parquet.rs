//! Parquet input and output, on files written by the real writers (`datasets`, pyarrow,
//! pandas: crates/data/scripts/make_parquet_fixtures.py).
#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::{Path, PathBuf};

use spam_data::{
    Column, DataError, ExamplesFile, ParquetOptions, PrepareOptions, SourceFormat, SplitFiles,
    SplitFormat, TableOptions, examples_rows, expand_input, is_parquet, prepare_files,
    read_examples, read_source, read_split_files, text_rows,
};

use crate::common::fixtures;

fn pq(name: &str) -> PathBuf {
    fixtures().join("parquet").join(name)
}

fn err_of<T: std::fmt::Debug>(r: Result<T, DataError>) -> String {
    r.unwrap_err().to_string()
}

fn default_format() -> SourceFormat {
    SourceFormat::Sms(Default::default())
}

/// The hub's layout (`data/train-0000N-of-00002.parquet`, ...) as a data folder: the splits
/// as given, the ClassLabel names as the classes, the same rows as the CSV copy.
#[test]
fn the_hub_layout_reads_as_its_splits_with_classlabel_names() {
    let files = SplitFiles::in_dir(&pq("hub")).unwrap();
    assert!(files.train.ends_with("data/train-*.parquet"), "{files:?}");
    let splits = read_split_files(&files, &default_format()).unwrap();
    assert_eq!(splits.train.label_names, ["ham", "spam"]);
    assert_eq!(
        (
            splits.train.len(),
            splits.validation.len(),
            splits.test.len()
        ),
        (48, 12, 12)
    );
    assert_eq!(splits.train.class_counts(), [24, 24]);
    assert_eq!(
        splits.train.texts[0],
        "Caf\u{e9} on the corner at 11? I'm buying"
    );

    let csv = |name: &str| pq("hub_csv").join(name);
    let csv_files = SplitFiles {
        train: csv("train.csv"),
        validation: csv("validation.csv"),
        test: Some(csv("test.csv")),
    };
    let table = SourceFormat::Table(TableOptions::csv("sms", "label"));
    let from_csv = read_split_files(&csv_files, &table).unwrap();
    assert_eq!(from_csv, splits, "Parquet and CSV give the same rows");
}

#[test]
fn a_folder_of_splits_given_as_one_table_is_refused_with_a_hint() {
    let msg = err_of(read_source(&pq("hub"), &default_format()));
    assert!(
        msg.contains("--data-dir") && msg.contains("train-*.parquet"),
        "{msg}"
    );
    // One split's shards, by pattern: one table.
    let ds = read_source(&pq("hub/data/train-*.parquet"), &default_format()).unwrap();
    assert_eq!((ds.len(), ds.label_names.len()), (48, 2));
    let msg = err_of(read_source(
        &pq("hub/data/nothing-*.parquet"),
        &default_format(),
    ));
    assert!(msg.contains("no file matches"), "{msg}");
}

#[test]
fn labels_without_names_are_numbers_and_strings_are_names() {
    let read = |name: &str| read_examples(pq(name), &ExamplesFile::default()).unwrap();
    let ints = read("int_labels.parquet");
    assert_eq!(ints.label_names, ["0", "1", "2"]);
    assert_eq!(ints.len(), 12);
    let strings = read("string_labels.parquet");
    assert_eq!(strings.label_names, ["neg", "pos"]);
    let large = read("large_string.parquet");
    assert_eq!(large.len(), 6);
    let dict = read("dictionary.parquet");
    assert_eq!(
        (dict.len(), dict.label_names.clone()),
        (8, vec!["ham".into(), "spam".into()])
    );
    // `Text` is the text column when there is no `text`.
    assert_eq!(read("Text_column.parquet").len(), 4);
}

#[test]
fn a_classlabel_id_out_of_range_names_its_row() {
    let msg = err_of(read_examples(
        pq("label_out_of_range.parquet"),
        &ExamplesFile::default(),
    ));
    assert!(
        msg.contains(
            "label_out_of_range.parquet: row 3: label 7 is not one of 2 classes (ham, spam)"
        ),
        "{msg}"
    );
}

#[test]
fn bad_files_get_one_clear_line() {
    let read = |name: &str| err_of(read_examples(pq(name), &ExamplesFile::default()));
    let msg = read("not_parquet.parquet");
    assert!(msg.contains("not a Parquet file"), "{msg}");
    let msg = read("wrong_types.parquet");
    assert!(
        msg.contains("the text column `text` is int64") && msg.contains("label (float64)"),
        "{msg}"
    );
    let msg = read("nested.parquet");
    assert!(msg.contains("is list<string>"), "{msg}");
    let msg = read("empty.parquet");
    assert!(msg.contains("the file is empty"), "{msg}");
    let msg = read("two_text_columns.parquet");
    assert!(
        msg.contains("not exactly one string column")
            && msg.contains("title (string), body (string), label (int64)"),
        "{msg}"
    );
    let named = ExamplesFile {
        text_column: Column::Name("body".into()),
        ..ExamplesFile::default()
    };
    assert_eq!(
        read_examples(pq("two_text_columns.parquet"), &named)
            .unwrap()
            .len(),
        4
    );
    let named = ExamplesFile {
        label_column: Column::Name("class".into()),
        ..ExamplesFile::default()
    };
    let msg = err_of(read_examples(pq("int_labels.parquet"), &named));
    assert!(
        msg.contains("no column \"class\"") && msg.contains("text (string), label (int64)"),
        "{msg}"
    );

    // A download cut short: no footer.
    let dir = tempfile::tempdir().unwrap();
    let cut = dir.path().join("cut.parquet");
    let bytes = std::fs::read(pq("hub/data/test-00000-of-00001.parquet")).unwrap();
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let msg = err_of(read_examples(&cut, &ExamplesFile::default()));
    assert!(msg.contains("truncated Parquet file"), "{msg}");
}

#[test]
fn null_labelled_rows_are_refused_and_null_texts_skipped_when_classifying() {
    let msg = err_of(read_examples(pq("nulls.parquet"), &ExamplesFile::default()));
    assert!(
        msg.contains("nulls.parquet: row 1: the text is null") && msg.contains("dropna"),
        "{msg}"
    );
    let opts = TableOptions::csv(Column::Default, Column::Default);
    let batches: Vec<_> = text_rows(pq("nulls.parquet"), &opts)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let rows: Vec<u64> = batches.iter().flat_map(|b| b.rows.clone()).collect();
    assert_eq!(rows, [0, 2, 3, 4, 5, 7, 8, 9], "rows 1 and 6 have no text");
    let nulls: Vec<u64> = batches
        .iter()
        .flat_map(|b| b.nulls.iter().map(|n| n.0))
        .collect();
    assert_eq!(nulls, [1, 6]);
}

#[test]
fn rows_stream_in_batches_with_their_places() {
    let opts = TableOptions::csv(Column::Default, Column::Default);
    let batches: Vec<_> = text_rows(pq("row_groups.parquet"), &opts)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let rows: Vec<u64> = batches.iter().flat_map(|b| b.rows.clone()).collect();
    assert_eq!(rows, (0..100).collect::<Vec<u64>>());
    assert!(batches[0].place(5).ends_with("row_groups.parquet: row 5"));

    // A CSV's places are its lines (a quoted text over two lines moves the next one down).
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("t.csv");
    std::fs::write(&csv, "text,label\n\"two\nlines\",ham\nnext,spam\n").unwrap();
    let batch = examples_rows(&csv, &ExamplesFile::default())
        .unwrap()
        .next()
        .unwrap()
        .unwrap();
    assert_eq!(
        batch.labels.as_deref(),
        Some(&["ham".to_string(), "spam".into()][..])
    );
    assert!(batch.place(1).ends_with("t.csv:4"), "{}", batch.place(1));
}

#[test]
fn parquet_is_recognised_by_name_magic_and_folder() {
    assert!(is_parquet(&pq("hub/data/test-00000-of-00001.parquet")));
    assert!(is_parquet(&pq("hub")));
    let dir = tempfile::tempdir().unwrap();
    let unnamed = dir.path().join("data.bin");
    std::fs::copy(pq("int_labels.parquet"), &unnamed).unwrap();
    assert!(is_parquet(&unnamed));
    assert!(!is_parquet(&pq("hub_csv/train.csv")));
    assert_eq!(
        expand_input(&pq("hub/data/train-*.parquet")).unwrap().len(),
        2
    );
}

/// `prepare --output-format parquet`: the hub's layout with a ClassLabel, which reads back
/// as the same splits (and which `datasets` reads: the generator script's `check-prepare`).
#[test]
fn prepared_parquet_splits_read_back_the_same() {
    let out = tempfile::tempdir().unwrap();
    let files = SplitFiles::in_dir(&pq("hub")).unwrap();
    let opts = PrepareOptions {
        out_dir: Some(out.path().to_path_buf()),
        out_format: SplitFormat::Parquet,
        batch_size: 8,
        ..PrepareOptions::sms(Path::new(""), None)
    };
    let prepared = prepare_files(&opts, &files).unwrap();
    let written = prepared.files.clone().unwrap();
    assert!(written[0].ends_with("train-00000-of-00001.parquet"));
    let again = read_split_files(
        &SplitFiles::in_dir(out.path()).unwrap(),
        &SourceFormat::Parquet(ParquetOptions::default()),
    )
    .unwrap();
    assert_eq!(again, prepared.splits);
    assert_eq!(again.train.label_names, ["ham", "spam"]);
}
