//! Bad input: each case gives a clear error naming the file (and line), and writes nothing.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::path::Path;

use spam_data::{DataError, ParseMode, PrepareOptions, prepare, read_sms};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

/// Runs `prepare` on `bytes` in both parse modes, expects an error, checks that the message names
/// the file (and `needle`) and that the output directory stays empty.
fn expect_error(bytes: &[u8], needle: &str) -> Vec<DataError> {
    let dir = tempfile::tempdir().unwrap();
    let src = write(dir.path(), "bad.tsv", bytes);
    let out = dir.path().join("out");
    let mut errors = Vec::new();
    for mode in [ParseMode::Lines, ParseMode::PandasCompatible] {
        let mut opts = PrepareOptions::sms(&src, Some(out.clone()));
        opts.format = spam_data::SourceFormat::Sms(mode);
        let err = prepare(&opts).expect_err("bad input must fail");
        let msg = err.to_string();
        assert!(
            msg.contains("bad.tsv"),
            "{mode:?}: message does not name the file: {msg}"
        );
        assert!(
            msg.contains(needle),
            "{mode:?}: {msg:?} does not contain {needle:?}"
        );
        assert!(
            !out.exists() || std::fs::read_dir(&out).unwrap().next().is_none(),
            "something was written"
        );
        errors.push(err);
    }
    errors
}

fn ok_rows(n_ham: usize, n_spam: usize) -> String {
    let mut s = String::new();
    for i in 0..n_ham.max(n_spam) {
        if i < n_ham {
            s += &format!("ham\tmessage number {i}\n");
        }
        if i < n_spam {
            s += &format!("spam\tWIN prize {i} now\n");
        }
    }
    s
}

#[test]
fn missing_file() {
    let dir = tempfile::tempdir().unwrap();
    let opts = PrepareOptions::sms(dir.path().join("nope.tsv"), None);
    let err = prepare(&opts).unwrap_err();
    assert!(matches!(err, DataError::MissingFile { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("nope.tsv") && msg.contains("cargo xtask fetch --data"),
        "{msg}"
    );
}

#[test]
fn empty_file() {
    for e in expect_error(b"", "empty") {
        assert!(matches!(e, DataError::Empty { .. }));
    }
    expect_error(b"\n\n\r\n", "empty");
}

#[test]
fn line_without_tab() {
    let mut s = ok_rows(20, 20);
    s += "ham this line has spaces, no tab\n";
    let line = s.lines().count();
    for e in expect_error(s.as_bytes(), &format!("bad.tsv:{line}: no TAB")) {
        assert!(matches!(e, DataError::MissingTab { line: l, .. } if l == line));
    }
}

#[test]
fn unknown_label() {
    let mut s = ok_rows(20, 20);
    s.insert_str(0, "eggs\tnot a label\n");
    for e in expect_error(s.as_bytes(), "bad.tsv:1: unknown label \"eggs\"") {
        assert!(matches!(e, DataError::UnknownLabel { line: 1, .. }));
    }
}

#[test]
fn invalid_utf8() {
    let mut s = ok_rows(20, 20).into_bytes();
    s.extend_from_slice(b"ham\tcaf\xe9 in latin-1\n");
    for e in expect_error(&s, "bad.tsv:41: invalid UTF-8") {
        assert!(matches!(e, DataError::InvalidUtf8 { line: 41, .. }));
    }
}

#[test]
fn single_class() {
    for e in expect_error(ok_rows(30, 0).as_bytes(), "two classes") {
        assert!(matches!(e, DataError::SingleClass { .. }));
    }
}

#[test]
fn fewer_rows_than_one_batch() {
    // 5 + 5 rows balanced, 70 % = 7 training rows < 8.
    for e in expect_error(ok_rows(5, 5).as_bytes(), "fewer than one batch of 8") {
        assert!(matches!(
            e,
            DataError::TooFewRows {
                rows: 7,
                batch_size: 8,
                ..
            }
        ));
    }
}

#[test]
fn crlf_and_bom_are_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let plain = ok_rows(20, 12);
    let crlf = format!("\u{feff}{}", plain.replace('\n', "\r\n"));
    let a = write(dir.path(), "a.tsv", plain.as_bytes());
    let b = write(dir.path(), "b.tsv", crlf.as_bytes());
    for mode in [ParseMode::Lines, ParseMode::PandasCompatible] {
        let x = read_sms(&a, mode).unwrap();
        let y = read_sms(&b, mode).unwrap();
        assert_eq!(x, y, "{mode:?}");
        assert_eq!(x.len(), 32);
    }
    let out = dir.path().join("out");
    let p = prepare(&PrepareOptions::sms(&b, Some(out.clone()))).unwrap();
    assert_eq!(p.balanced_rows, 24);
    let train = std::fs::read_to_string(out.join("train.csv")).unwrap();
    assert!(train.starts_with("Label,Text\n") && !train.contains('\r'));
}

#[test]
fn unclosed_quote_in_pandas_mode() {
    let mut s = ok_rows(20, 20);
    s += "spam\t\"opened and never closed\nham\tmore\n";
    let dir = tempfile::tempdir().unwrap();
    let p = write(dir.path(), "q.tsv", s.as_bytes());
    let err = read_sms(&p, ParseMode::PandasCompatible).unwrap_err();
    assert!(err.to_string().contains("q.tsv:41"), "{err}");
    // Line mode keeps the quote as text.
    assert_eq!(read_sms(&p, ParseMode::Lines).unwrap().len(), 42);
}

#[test]
fn bad_options_are_rejected_before_writing() {
    let dir = tempfile::tempdir().unwrap();
    let src = write(dir.path(), "ok.tsv", ok_rows(40, 40).as_bytes());
    let out = dir.path().join("out");
    let mut opts = PrepareOptions::sms(&src, Some(out.clone()));
    opts.padding = spam_data::Padding::Fixed(2048);
    assert!(
        prepare(&opts)
            .unwrap_err()
            .to_string()
            .contains("model context")
    );
    opts.padding = spam_data::Padding::Longest;
    opts.fractions = (0.9, 0.2);
    assert!(prepare(&opts).is_err());
    assert!(!out.exists());
}
