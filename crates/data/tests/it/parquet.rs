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
    // `datasets` takes the ClassLabel from the Arrow schema's metadata, and only for fields
    // equal to its own (nullable): a non-nullable field or file-only metadata reads as int64.
    let file = std::fs::File::open(&written[0]).unwrap();
    let builder =
        parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(file).unwrap();
    let schema = builder.schema();
    let features: serde_json::Value =
        serde_json::from_str(&schema.metadata()["huggingface"]).unwrap();
    assert_eq!(
        features["info"]["features"]["label"]["names"],
        serde_json::json!(["ham", "spam"])
    );
    assert!(schema.fields().iter().all(|f| f.is_nullable()));
}

/// Shards of rows over several files: every row in exactly one shard, shards within one row
/// of each other, and reading a shard's ranges gives exactly its rows (Parquet reads the
/// row groups the range touches; CSV is read whole and cut).
#[test]
fn shards_cover_every_row_once() {
    use spam_data::{RowRange, Shard, count_rows, shard_ranges, text_rows_in};
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("a.csv");
    let mut text = String::from("id,text\n");
    for i in 0..23 {
        text += &format!("c{i},message {i}\n");
    }
    std::fs::write(&csv, text).unwrap();
    let files = vec![
        pq("row_groups.parquet"),
        csv.clone(),
        pq("int_labels.parquet"),
    ];
    let opts = TableOptions::csv(Column::Default, Column::Default);
    let rows: Vec<u64> = files
        .iter()
        .map(|f| count_rows(f, &opts, None).unwrap())
        .collect();
    assert_eq!(rows, [100, 23, 12]);
    let id = Column::Name("id".into());
    for n in [1, 3, 7] {
        let mut seen: Vec<(PathBuf, u64, String)> = Vec::new();
        let mut sizes = Vec::new();
        for i in 0..n {
            let shard = Shard::new(i, n).unwrap();
            let ranges = shard_ranges(&files, &rows, shard);
            let mut size = 0;
            for range in &ranges {
                let with_id = (range.file != files[2]).then_some(&id);
                for batch in text_rows_in(range, &opts, with_id).unwrap() {
                    let batch = batch.unwrap();
                    size += batch.len();
                    for (k, &row) in batch.rows.iter().enumerate() {
                        let id = batch
                            .ids
                            .as_ref()
                            .map_or(String::new(), |ids| ids[k].clone());
                        seen.push((range.file.clone(), row, id));
                    }
                }
            }
            sizes.push(size);
        }
        assert_eq!(seen.len(), 135, "{n} shards");
        let mut sorted = seen.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(sorted.len(), 135, "{n} shards: a row read twice");
        assert!(
            sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1,
            "{sizes:?}"
        );
        // Ids travel with their rows.
        assert!(seen.contains(&(files[0].clone(), 41, "1041".into())), "{n}");
        assert!(seen.contains(&(csv.clone(), 5, "c5".into())), "{n}");
    }
    let range = |index: usize, start, end| RowRange {
        file: files[index].clone(),
        index,
        start,
        end,
    };
    assert_eq!(
        shard_ranges(&files, &rows, Shard::new(1, 3).unwrap()),
        [range(0, 45, 90)]
    );
    assert_eq!(
        shard_ranges(&files, &rows, Shard::new(2, 3).unwrap()),
        [range(0, 90, 100), range(1, 0, 23), range(2, 0, 12)]
    );
    let msg = "3/3".parse::<Shard>().unwrap_err().to_string();
    assert!(msg.contains("below the number of shards"), "{msg}");
    assert_eq!("2/7".parse::<Shard>().unwrap(), Shard::new(2, 7).unwrap());
}

/// A part is written whole or not at all, with its metadata in the footer.
#[test]
fn parts_are_written_whole_with_their_metadata() {
    use spam_data::{PartFormat, PartRow, PartWriter, Shard, part_metadata};
    let dir = tempfile::tempdir().unwrap();
    let names = vec!["ham".to_string(), "spam".to_string()];
    let shard = Shard::new(2, 3).unwrap();
    for (done, format) in [PartFormat::Parquet, PartFormat::Csv, PartFormat::Jsonl]
        .into_iter()
        .enumerate()
    {
        let target = dir.path().join(format.part_name(shard));
        let mut w = PartWriter::create(&target, format, &names, true, ("k", "{\"a\":1}")).unwrap();
        w.write(&[
            PartRow {
                file: "in.parquet",
                row: 0,
                id: Some("x"),
                label: Some("spam"),
                score: Some(0.9),
                probabilities: Some(&[0.1, 0.9]),
            },
            PartRow {
                file: "in.parquet",
                row: 1,
                id: Some("y"),
                label: None,
                score: None,
                probabilities: None,
            },
        ])
        .unwrap();
        assert!(!target.exists(), "{format}: not in place before finish");
        drop(w);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            done,
            "{format}: dropped unfinished, nothing left"
        );
        let mut w = PartWriter::create(&target, format, &names, true, ("k", "{\"a\":1}")).unwrap();
        w.write(&[PartRow {
            file: "in.parquet",
            row: 0,
            id: Some("x"),
            label: Some("spam"),
            score: Some(0.9),
            probabilities: Some(&[0.1, 0.9]),
        }])
        .unwrap();
        assert_eq!(w.finish().unwrap(), target);
    }
    let parquet = dir.path().join("part-00002-of-00003.parquet");
    assert_eq!(part_metadata(&parquet, "k").as_deref(), Some("{\"a\":1}"));
    let csv = std::fs::read_to_string(dir.path().join("part-00002-of-00003.csv")).unwrap();
    assert_eq!(
        csv,
        "file,row,id,label,score,prob_ham,prob_spam\nin.parquet,0,x,spam,0.9,0.1,0.9\n"
    );
    let jsonl = std::fs::read_to_string(dir.path().join("part-00002-of-00003.jsonl")).unwrap();
    assert!(
        jsonl.starts_with("{\"file\":\"in.parquet\",\"row\":0,\"id\":\"x\",\"label\":\"spam\""),
        "{jsonl}"
    );
    // The Parquet part reads back as a table.
    let opts = TableOptions::csv(Column::Name("file".into()), Column::Default);
    let batch = text_rows(&parquet, &opts).unwrap().next().unwrap().unwrap();
    assert_eq!(batch.texts, ["in.parquet"]);
}

/// Merged batches hold the same rows in the same order, never join two files, and reach the
/// size asked for.
#[test]
fn merged_batches_keep_rows_and_files_apart() {
    use spam_data::text_rows;
    let opts = TableOptions::csv(Column::Default, Column::Default);
    let file = pq("row_groups.parquet");
    let plain: Vec<_> = text_rows(&file, &opts)
        .unwrap()
        .map(|b| b.unwrap())
        .collect();
    let merged: Vec<_> = text_rows(&file, &opts)
        .unwrap()
        .merged(40)
        .map(|b| b.unwrap())
        .collect();
    let rows = |bs: &[spam_data::RowBatch]| -> Vec<(u64, String)> {
        bs.iter()
            .flat_map(|b| b.rows.iter().copied().zip(b.texts.iter().cloned()))
            .collect()
    };
    assert_eq!(rows(&merged), rows(&plain));
    assert_eq!(rows(&plain).len(), 100);
    assert!(
        merged[..merged.len() - 1]
            .iter()
            .all(|b| b.texts.len() >= 40)
    );
    assert!(merged.len() < plain.len() || plain.len() == 1);
}
