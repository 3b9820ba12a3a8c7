//! The chapter's pipeline on the real file, checked against what pandas and tiktoken wrote
//! (fixtures from scripts/make_fixtures.py).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use crate::common;

use spam_data::{
    Padding, ParseMode, PrepareOptions, SPLIT_FILES, Tokenizer, balance, encode_splits, prepare,
    read_sms, read_split_csv, split, split_csv,
};

#[test]
fn real_file_row_counts_in_both_modes() {
    let path = common::real_sms();
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(common::sha256(&bytes), spam_data::SMS_SHA256);

    let lines = read_sms(&path, ParseMode::Lines).unwrap();
    assert_eq!(lines.len(), 5574);
    assert_eq!(lines.class_counts(), [4827, 747]);

    let pandas = read_sms(&path, ParseMode::PandasCompatible).unwrap();
    assert_eq!(pandas.len(), 5572);
    assert_eq!(pandas.class_counts(), [4825, 747]);
    assert_eq!(ParseMode::default(), ParseMode::PandasCompatible);
}

#[test]
fn prepare_writes_the_chapters_csvs_byte_for_byte() {
    let reference = common::reference();
    let out = tempfile::tempdir().unwrap();
    let opts = PrepareOptions::sms(common::real_sms(), Some(out.path().to_path_buf()));
    let prepared = prepare(&opts).unwrap();

    assert_eq!(prepared.rows_read, 5572);
    assert_eq!(prepared.class_counts, [4825, 747]);
    assert_eq!(prepared.balanced_rows, 1494);
    assert_eq!(
        (
            prepared.train_rows,
            prepared.validation_rows,
            prepared.test_rows
        ),
        (1045, 149, 300)
    );
    assert_eq!(prepared.padded_len, Some(120));
    assert_eq!(prepared.label_names, ["ham", "spam"]);

    for (name, file) in ["train", "validation", "test"].iter().zip(SPLIT_FILES) {
        let bytes = std::fs::read(out.path().join(file)).unwrap();
        let expected = &reference[name];
        assert_eq!(
            common::sha256(&bytes),
            expected["sha256"].as_str().unwrap(),
            "{file} differs from pandas'"
        );
        let back = read_split_csv(out.path().join(file)).unwrap();
        assert_eq!(back.len() as u64, expected["rows"].as_u64().unwrap());
    }
    // Hard-coded too, so a regenerated fixture cannot silently move the target.
    let sha = |f: &str| common::sha256(&std::fs::read(out.path().join(f)).unwrap());
    assert_eq!(
        sha("train.csv"),
        "c89a1156b8476e6f4c0bfa4bc944f3d934e3db2942c5dc2a1456a65a795afcde"
    );
    assert_eq!(
        sha("validation.csv"),
        "0ac7a07215729476975e070029ced8452a3d4e49fcdd8b17c167a317150b5439"
    );
    assert_eq!(
        sha("test.csv"),
        "a5764d4eed041dada859601e1715bc68885aa5e74713e127968ead8ddf6a9e04"
    );

    // Token counts of the splits as tiktoken counted them on the CSVs pandas reads back.
    let enc = &prepared.encoded;
    for (name, split) in [
        ("train", &enc.train),
        ("validation", &enc.validation),
        ("test", &enc.test),
    ] {
        let t = &reference["tokens"][name];
        assert_eq!(
            split.real_tokens() as u64,
            t["tokens"].as_u64().unwrap(),
            "{name}"
        );
        assert!(split.ids.iter().all(|r| r.len() == 120));
    }
    assert_eq!(enc.train.real_tokens(), 31_779);
    assert_eq!(enc.train.longest(), 120);
    assert_eq!(
        (enc.validation.real_tokens(), enc.test.real_tokens()),
        (4_933, 8_990)
    );
}

#[test]
fn csvs_round_trip_through_read_split_csv() {
    let ds = read_sms(common::real_sms(), ParseMode::PandasCompatible).unwrap();
    let splits = split(&balance(&ds, 123).unwrap(), (0.7, 0.1), 123).unwrap();
    let dir = tempfile::tempdir().unwrap();
    spam_data::write_splits(dir.path(), &splits).unwrap();
    let back = read_split_csv(dir.path().join("train.csv")).unwrap();
    assert_eq!(back.texts, splits.train.texts);
    assert_eq!(back.labels, splits.train.labels);
    assert_eq!(split_csv(&back), split_csv(&splits.train));
}

#[test]
fn lines_mode_pipeline_on_the_real_file() {
    let ds = read_sms(common::real_sms(), ParseMode::Lines).unwrap();
    let b = balance(&ds, 123).unwrap();
    assert_eq!(b.class_counts(), [747, 747]);
    let s = split(&b, (0.7, 0.1), 123).unwrap();
    assert_eq!(
        (s.train.len(), s.validation.len(), s.test.len()),
        (1045, 149, 300)
    );
    let e = encode_splits(&Tokenizer::gpt2(), &s, Padding::Dynamic, 1024).unwrap();
    assert_eq!(e.padded_len, None);
}

#[test]
fn synthetic_quirks_match_the_csvs_pandas_wrote() {
    let dir = common::fixtures().join("pandas_quirks");
    let reference = common::reference();
    let q = &reference["quirks"];
    let ds = read_sms(dir.join("input.tsv"), ParseMode::PandasCompatible).unwrap();
    assert_eq!(ds.len() as u64, q["rows"].as_u64().unwrap());
    let texts: Vec<&str> = q["texts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert_eq!(ds.texts, texts);
    let out = tempfile::tempdir().unwrap();
    let splits = split(&balance(&ds, 123).unwrap(), (0.7, 0.1), 123).unwrap();
    spam_data::write_splits(out.path(), &splits).unwrap();
    for file in SPLIT_FILES {
        let ours = std::fs::read_to_string(out.path().join(file)).unwrap();
        let theirs = std::fs::read_to_string(dir.join(file)).unwrap();
        assert_eq!(ours, theirs, "{file}");
    }
    assert_eq!(
        read_sms(dir.join("input.tsv"), ParseMode::Lines)
            .unwrap()
            .len() as u64,
        q["lines"].as_u64().unwrap()
    );
}

#[test]
fn prepare_reads_the_uci_zip_directly() {
    use std::io::Write;
    let data = std::fs::read(common::real_sms()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let zip_path = dir.path().join("sms+spam+collection.zip");
    let mut w = zip::ZipWriter::new(std::fs::File::create(&zip_path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file("readme", opts).unwrap();
    w.write_all(b"SMS Spam Collection v.1").unwrap();
    w.start_file("SMSSpamCollection", opts).unwrap();
    w.write_all(&data).unwrap();
    w.finish().unwrap();

    let out = dir.path().join("out");
    let p = prepare(&PrepareOptions::sms(&zip_path, Some(out.clone()))).unwrap();
    assert_eq!(
        (p.rows_read, p.train_rows, p.padded_len),
        (5572, 1045, Some(120))
    );
    let train = std::fs::read(out.join("train.csv")).unwrap();
    assert_eq!(
        common::sha256(&train),
        "c89a1156b8476e6f4c0bfa4bc944f3d934e3db2942c5dc2a1456a65a795afcde"
    );
}
