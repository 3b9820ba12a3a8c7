//! Hostile or mistaken input (issue 15): a zip whose header lies about its size, a quote that
//! never closes, an archive where text belongs, and OS errors printed once in a cause chain.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};

use spam_data::{
    DataError, ExamplesFile, ParseMode, PrepareOptions, TableOptions, prepare, read_examples,
    read_labelled, read_sms, read_split_csv, read_zip_member,
};

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p
}

fn sms_rows(n: usize) -> String {
    (0..n)
        .map(|i| {
            let label = if i % 2 == 0 { "ham" } else { "spam" };
            format!("{label}\tmessage number {i}\n")
        })
        .collect()
}

fn zip_of(name: &str, data: &[u8]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    w.start_file(name, opts).unwrap();
    w.write_all(data).unwrap();
    w.finish().unwrap().into_inner()
}

/// Rewrites the uncompressed size of every entry, in the local header (offset 22) and in the
/// central directory (offset 24), to `size`: what a zip bomb's forged header does.
fn declare_size(zip: &mut [u8], size: u32) {
    let mut patched = 0;
    for i in 0..zip.len().saturating_sub(4) {
        let at = match &zip[i..i + 4] {
            b"PK\x03\x04" => i + 22,
            b"PK\x01\x02" => i + 24,
            _ => continue,
        };
        zip[at..at + 4].copy_from_slice(&size.to_le_bytes());
        patched += 1;
    }
    assert_eq!(patched, 2, "one local header and one central entry");
}

#[test]
fn a_zip_member_larger_than_its_header_declares_is_refused() {
    let data = sms_rows(5000);
    let mut zip = zip_of("SMSSpamCollection", data.as_bytes());
    declare_size(&mut zip, 1000);
    let path = Path::new("bomb.zip");
    let err = read_zip_member(path, &zip, "SMSSpamCollection")
        .map(|data| data.len())
        .unwrap_err();
    assert!(matches!(err, DataError::Zip { .. }), "{err:?}");
    let msg = err.to_string();
    assert!(
        msg.contains("bomb.zip") && msg.contains("declares 1000"),
        "{msg}"
    );

    // The same archive as a training source: an error, nothing written.
    let dir = tempfile::tempdir().unwrap();
    let src = write(dir.path(), "bomb.zip", &zip);
    let out = dir.path().join("out");
    let err = prepare(&PrepareOptions::sms(&src, Some(out.clone()))).unwrap_err();
    assert!(matches!(err, DataError::Zip { .. }), "{err:?}");
    assert!(!out.exists());
}

#[test]
fn a_zip_member_shorter_than_its_header_declares_is_refused() {
    let data = sms_rows(100);
    let mut zip = zip_of("SMSSpamCollection", data.as_bytes());
    declare_size(&mut zip, 50_000_000);
    let err = read_zip_member(Path::new("short.zip"), &zip, "SMSSpamCollection")
        .map(|data| data.len())
        .unwrap_err();
    assert!(err.to_string().contains("declares 50000000"), "{err}");
}

#[test]
fn an_honest_zip_still_reads() {
    let data = sms_rows(100);
    let zip = zip_of("SMSSpamCollection", data.as_bytes());
    let got = read_zip_member(Path::new("ok.zip"), &zip, "SMSSpamCollection").unwrap();
    assert_eq!(got, data.as_bytes());
}

#[test]
fn a_table_with_an_unclosed_quote_names_the_line_it_opens() {
    let dir = tempfile::tempdir().unwrap();
    let mut s = String::from("text,label\n");
    for i in 0..20 {
        s += &format!("row {i},{}\n", i % 2);
    }
    s += "\"this quote never closes,1\n"; // line 22
    for i in 0..20 {
        s += &format!("later {i},{}\n", i % 2);
    }
    for (name, opts) in [
        ("t.csv", TableOptions::csv("text", "label")),
        ("t.tsv", TableOptions::tsv("text", "label")),
    ] {
        let text = if name.ends_with("tsv") {
            s.replace(',', "\t")
        } else {
            s.clone()
        };
        let p = write(dir.path(), name, text.as_bytes());
        let err = read_labelled(&p, &opts).unwrap_err();
        assert!(
            matches!(err, DataError::UnclosedQuote { line: 22, .. }),
            "{name}: {err:?}"
        );
        assert!(err.to_string().contains(&format!("{name}:22")), "{err}");
        let err = spam_data::read_texts(&p, &opts).unwrap_err();
        assert!(matches!(err, DataError::UnclosedQuote { line: 22, .. }));
    }
    // The split CSVs that eval reads.
    let p = write(
        dir.path(),
        "test.csv",
        b"Label,Text\n0,fine\n1,\"opens\nand runs\n0,to the end\n",
    );
    let err = read_split_csv(&p).unwrap_err();
    assert!(
        matches!(err, DataError::UnclosedQuote { line: 3, .. }),
        "{err:?}"
    );
}

#[test]
fn an_sms_quote_that_never_closes_names_its_line_and_the_flag() {
    let s = sms_rows(10) + "spam\t\"opens here\n" + &sms_rows(10);
    let err = spam_data::parse_sms(
        Path::new("q.tsv"),
        s.as_bytes(),
        ParseMode::PandasCompatible,
    )
    .unwrap_err();
    assert!(
        matches!(err, DataError::UnclosedQuote { line: 11, .. }),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("q.tsv:11") && msg.contains("--parse-mode lines"),
        "{msg}"
    );
    // The line is the quote's, not the start of a record that began earlier.
    let s = sms_rows(10) + "\"spam\"\t\"two\nlines\"\t\"never closes\n" + &sms_rows(10);
    let err = spam_data::parse_sms(
        Path::new("q.tsv"),
        s.as_bytes(),
        ParseMode::PandasCompatible,
    )
    .unwrap_err();
    assert!(
        matches!(err, DataError::UnclosedQuote { line: 12, .. }),
        "{err:?}"
    );
}

#[test]
fn an_archive_where_text_belongs_says_so() {
    let dir = tempfile::tempdir().unwrap();
    let zip = zip_of("train.csv", b"text,label\na,0\nb,1\n");
    for name in ["data.zip", "test.csv", "data.tsv"] {
        let p = write(dir.path(), name, &zip);
        let errors = [
            read_labelled(&p, &TableOptions::for_file(&p, "text", "label")).unwrap_err(),
            read_split_csv(&p).unwrap_err(),
        ];
        for err in errors {
            assert!(matches!(err, DataError::NotText { .. }), "{name}: {err:?}");
            let msg = err.to_string();
            assert!(msg.contains(name) && msg.contains("zip archive"), "{msg}");
            assert!(!msg.contains("UTF-8"), "{msg}");
        }
    }
    let p = write(dir.path(), "g.csv", b"\x1f\x8b\x08\x00rest");
    let err = read_split_csv(&p).unwrap_err();
    assert!(err.to_string().contains("gzip"), "{err}");
    let p = write(dir.path(), "n.tsv", b"ham\tok\nspam\tnul \x00 here\n");
    let err = read_sms(&p, ParseMode::Lines).unwrap_err();
    assert!(err.to_string().contains("NUL byte on line 2"), "{err}");
}

#[test]
fn eval_reads_the_uci_zip_as_the_sms_collection() {
    // `spam-cli eval --data sms.zip` reads examples like this: the zip's SMSSpamCollection.
    let dir = tempfile::tempdir().unwrap();
    let rows = sms_rows(30);
    let p = write(
        dir.path(),
        "sms.zip",
        &zip_of("SMSSpamCollection", rows.as_bytes()),
    );
    let ds = read_examples(&p, &ExamplesFile::default()).unwrap();
    assert_eq!(ds.len(), 30);
    // A zip without it says what it holds.
    let p = write(dir.path(), "other.zip", &zip_of("readme", b"hello"));
    let err = read_examples(&p, &ExamplesFile::default()).unwrap_err();
    assert!(matches!(err, DataError::ZipMember { .. }), "{err:?}");
}

/// How spam-cli prints an error: anyhow's `{:#}`, every cause of the chain once.
fn as_cli_prints(err: DataError) -> String {
    format!("{:#}", anyhow::Error::from(err))
}

#[test]
fn os_errors_appear_once_in_the_printed_chain() {
    let dir = tempfile::tempdir().unwrap();
    // Reading a directory: refused before any OS call (it is not a regular file).
    let err = read_labelled(dir.path(), &TableOptions::csv("text", "label")).unwrap_err();
    assert!(matches!(err, DataError::NotAFile { .. }), "{err:?}");
    let msg = as_cli_prints(err);
    assert_eq!(msg.matches("not a regular file").count(), 1, "{msg}");

    // Writing below a file.
    let file = write(dir.path(), "plain", b"x");
    let err = spam_data::write_atomic(file.join("out.csv"), b"data").unwrap_err();
    let msg = as_cli_prints(err);
    assert_eq!(msg.matches("(os error").count(), 1, "{msg}");

    // A writer that needs a path and fails.
    let err = spam_data::write_atomic_via_path(dir.path().join("plot.png"), |_| {
        Err::<(), _>(std::io::Error::other("the encoder gave up"))
    })
    .unwrap_err();
    let msg = as_cli_prints(err);
    assert_eq!(msg.matches("the encoder gave up").count(), 1, "{msg}");
    assert!(msg.contains("plot.png: cannot write"), "{msg}");
}

/// A path that is not a regular file (a FIFO, a device, a folder) is refused before it is
/// opened, wherever a data file is read: it never blocks and is never read without end.
#[cfg(unix)]
#[test]
fn data_paths_that_are_not_regular_files_are_refused_before_opening() {
    let dir = tempfile::tempdir().expect("tempdir");
    let fifo = dir.path().join("train.csv");
    spam_test_support::special_files::mkfifo(&fifo);
    let paths = [
        fifo.clone(),
        std::path::PathBuf::from("/dev/zero"),
        dir.path().to_path_buf(),
    ];
    let got = spam_test_support::special_files::within(
        std::time::Duration::from_secs(10),
        "reading a data file",
        move || {
            let mut out = Vec::new();
            for p in &paths {
                let sms = spam_data::read_sms(p, spam_data::ParseMode::Lines).map(|_| ());
                let csv = spam_data::read_split_csv(p).map(|_| ());
                out.push((p.clone(), sms, csv));
            }
            out
        },
    );
    for (p, sms, csv) in got {
        for r in [sms, csv] {
            let err = r.expect_err("not a regular file");
            assert!(
                matches!(err, spam_data::DataError::NotAFile { .. }),
                "{}: {err:?}",
                p.display()
            );
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
    }
}
