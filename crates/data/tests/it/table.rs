//! Generic labelled tables: IMDb-style CSV (the chapter's bonus), N classes, TSV by index.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use spam_data::{Column, TableOptions, read_labelled};
use spam_data::{DataError, Padding, PrepareOptions, prepare};

fn write(dir: &Path, name: &str, text: &str) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

#[test]
fn imdb_style_csv() {
    let dir = tempfile::tempdir().unwrap();
    let csv = "text,label\n\
        \"A great film.<br /><br />Loved it, \"\"really\"\".\",1\n\
        \"Dull,\nslow and\nlong\",0\n\
        Plain review without commas,1\n";
    let p = write(dir.path(), "train.csv", csv);
    let ds = read_labelled(&p, &TableOptions::csv("text", "label")).unwrap();
    assert_eq!(ds.label_names, ["0", "1"]);
    assert_eq!(ds.labels, [1, 0, 1]);
    assert_eq!(
        ds.texts[0],
        "A great film.<br /><br />Loved it, \"really\"."
    );
    assert_eq!(ds.texts[1], "Dull,\nslow and\nlong");
}

#[test]
fn imdb_50k_reviews_two_classes() {
    // The bonus has 50k reviews (35k/5k/10k); a synthetic file of that size and shape.
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("text,label\n");
    for i in 0..50_000 {
        let label = (i * 7919 % 13) % 2;
        csv += &format!(
            "\"Review {i}: {}, \"\"quoted\"\"<br />ok.\",{label}\n",
            if label == 1 { "great" } else { "awful" }
        );
    }
    let p = write(dir.path(), "imdb.csv", &csv);
    let out = dir.path().join("out");
    let mut opts = PrepareOptions::table(&p, TableOptions::csv("text", "label"), Some(out.clone()));
    opts.fractions = (0.7, 0.1);
    let prep = prepare(&opts).unwrap();
    assert_eq!(prep.rows_read, 50_000);
    assert_eq!(prep.label_names, ["0", "1"]);
    assert_eq!(
        (prep.train_rows, prep.validation_rows, prep.test_rows),
        (35_000, 5_000, 10_000)
    );
    assert!(prep.padded_len.unwrap() > 5);
    let back = spam_data::read_split_csv(out.join("validation.csv")).unwrap();
    assert_eq!(back.len(), 5_000);
}

#[test]
fn three_classes_by_name_balanced_with_explicit_order() {
    let dir = tempfile::tempdir().unwrap();
    let mut csv = String::from("id,category,body\n");
    let names = ["sport", "tech", "politics"];
    for i in 0..90 {
        let c = names[if i % 9 == 0 { 2 } else { i % 2 }];
        csv += &format!("{i},{c},text {i} about {c}\n");
    }
    let p = write(dir.path(), "news.csv", &csv);
    let opts =
        TableOptions::csv("body", "category").with_label_names(["politics", "sport", "tech"]);
    let ds = read_labelled(&p, &opts).unwrap();
    assert_eq!(ds.label_names, ["politics", "sport", "tech"]);
    assert_eq!(ds.class_counts(), [10, 40, 40]);
    let b = spam_data::balance(&ds, 123).unwrap();
    assert_eq!(b.class_counts(), [10, 10, 10]);
    // Without names: sorted, whatever row comes first (it used to be the order of first
    // appearance, here politics, tech, sport).
    let ds = read_labelled(&p, &TableOptions::csv("body", "category")).unwrap();
    assert_eq!(ds.label_names, ["politics", "sport", "tech"]);

    let mut prep = PrepareOptions::table(&p, opts, None);
    prep.balance = true;
    prep.padding = Padding::Fixed(16);
    let r = prepare(&prep).unwrap();
    assert_eq!(r.balanced_rows, 30);
    assert_eq!(r.padded_len, Some(16));
    assert!(r.encoded.train.ids.iter().all(|row| row.len() == 16));
}

/// The class order (and so the positive class, class 1 of two) does not depend on the order
/// of the rows: a file that starts with a spam row has the same classes as one that starts
/// with a ham row.
#[test]
fn the_class_order_does_not_depend_on_the_first_row() {
    let dir = tempfile::tempdir().unwrap();
    let spam_first = write(
        dir.path(),
        "a.csv",
        "text,label\nwin cash,spam\nhi there,ham\nsee you,ham\n",
    );
    let ham_first = write(
        dir.path(),
        "b.csv",
        "text,label\nhi there,ham\nwin cash,spam\nsee you,ham\n",
    );
    for p in [&spam_first, &ham_first] {
        let ds = read_labelled(p, &TableOptions::csv("text", "label")).unwrap();
        assert_eq!(ds.label_names, ["ham", "spam"], "{}", p.display());
    }
    let ds = read_labelled(&spam_first, &TableOptions::csv("text", "label")).unwrap();
    assert_eq!(ds.labels, [1, 0, 0]);
}

#[test]
fn tsv_by_index_without_header() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "x.tsv", "neg\tbad\npos\tgood\npos\tfine\n");
    let opts = TableOptions::tsv(Column::Index(1), Column::Index(0)).with_header(false);
    let ds = read_labelled(&p, &opts).unwrap();
    assert_eq!(ds.texts, ["bad", "good", "fine"]);
    assert_eq!(ds.label_names, ["neg", "pos"]);
}

#[test]
fn table_errors_name_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "t.csv", "text,label\na,0\nb,1\nc,2\n");
    let opts = TableOptions::csv("text", "label").with_label_names(["0", "1"]);
    let e = read_labelled(&p, &opts).unwrap_err();
    assert!(
        matches!(e, DataError::UnknownLabel { line: 4, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("t.csv:4"), "{e}");
    // The same with CRLF line ends (the CSV reader alone says line 3 here).
    let crlf = write(
        dir.path(),
        "crlf.csv",
        "text,label\r\na,0\r\nb,1\r\nc,2\r\n",
    );
    let e = read_labelled(&crlf, &opts).unwrap_err();
    assert!(e.to_string().contains("crlf.csv:4"), "{e}");

    let e = read_labelled(&p, &TableOptions::csv("review", "label")).unwrap_err();
    assert!(matches!(e, DataError::MissingColumn { .. }), "{e:?}");
    assert!(e.to_string().contains("\"review\""), "{e}");

    let p = write(dir.path(), "u.csv", "text,label\na,0\nb,1,extra\n");
    let e = read_labelled(&p, &TableOptions::csv("text", "label")).unwrap_err();
    assert!(e.to_string().contains("u.csv:3"), "{e}");

    let p = write(dir.path(), "h.csv", "text,label\n");
    assert!(matches!(
        read_labelled(&p, &TableOptions::csv("text", "label")),
        Err(DataError::Empty { .. })
    ));

    let p = dir.path().join("v.csv");
    std::fs::write(&p, b"text,label\nok,0\nbad \xff byte,1\n").unwrap();
    let e = read_labelled(&p, &TableOptions::csv("text", "label")).unwrap_err();
    assert!(matches!(e, DataError::InvalidUtf8 { line: 3, .. }), "{e:?}");

    let p = write(dir.path(), "w.csv", "\u{feff}text,label\r\nx,1\r\ny,1\r\n");
    let e = read_labelled(&p, &TableOptions::csv("text", "label")).unwrap_err();
    assert!(matches!(e, DataError::SingleClass { .. }), "{e:?}");
}

#[test]
fn read_texts_takes_one_column_without_labels() {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("texts.csv");
    std::fs::write(
        &path,
        "id,text\n1,\"Hello, world\"\n2,only one class here\n",
    )
    .expect("write");
    let texts =
        spam_data::read_texts(&path, &spam_data::TableOptions::csv("text", "text")).expect("read");
    assert_eq!(
        texts,
        vec![
            "Hello, world".to_string(),
            "only one class here".to_string()
        ]
    );
    let err = spam_data::read_texts(&path, &spam_data::TableOptions::csv("body", "body"))
        .expect_err("no such column");
    assert!(err.to_string().contains("body"), "{err}");
}

/// Split files in the default (SMS) format that are really CSVs with a `text,label` header
/// are read as such; other CSVs are refused naming the `--format` to pass, not with "no TAB".
#[test]
fn split_csvs_with_a_text_label_header_are_read_in_the_default_format() {
    use spam_data::{ParseMode, SourceFormat, SplitFiles, read_split_files};
    let dir = tempfile::tempdir().unwrap();
    let rows = "Text,Label\nwin cash now,spam\nhi there,ham\nsee you,ham\nfree prize,spam\n";
    let train = write(dir.path(), "train.csv", rows);
    let validation = write(dir.path(), "validation.csv", rows);
    let files = SplitFiles {
        train,
        validation,
        test: None,
    };
    let sms = SourceFormat::Sms(ParseMode::default());
    let splits = read_split_files(&files, &sms).unwrap();
    assert_eq!(splits.train.label_names, ["ham", "spam"]);
    assert_eq!(splits.train.texts[0], "win cash now");

    let other = write(dir.path(), "other.csv", "msg,cls\nwin,spam\nhi,ham\n");
    let files = SplitFiles {
        train: other.clone(),
        validation: other,
        test: None,
    };
    let err = read_split_files(&files, &sms).unwrap_err().to_string();
    assert!(
        err.contains("--format table") && err.contains("msg, cls"),
        "{err}"
    );
}
