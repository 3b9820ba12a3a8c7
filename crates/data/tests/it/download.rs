//! The downloader and the SMS fetcher against a tiny local HTTP/1.1 server.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{Cursor, Write};
use std::path::Path;
use std::time::Duration;

use spam_data::DataError;
use spam_data::{DownloadOptions, download, partial_download_path as partial_path, sha256_hex};
use spam_data::{SmsFetchOptions, fetch_sms, install_sms_from as install_from};
use spam_test_support::http_server::{Route, Server};

fn payload(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 % 251) as u8).collect()
}

fn fast() -> DownloadOptions {
    DownloadOptions {
        connect_timeout: Duration::from_secs(2),
        read_timeout: Duration::from_secs(2),
        retries: 2,
        backoff: Duration::from_millis(10),
        ..DownloadOptions::default()
    }
}

fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(data).unwrap();
    }
    w.finish().unwrap().into_inner()
}

#[test]
fn good_download_with_progress_and_checks() {
    let body = payload(300_000);
    let server = Server::start(vec![("/good.bin", Route::File(body.clone()))]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("sub/good.bin");
    let mut last = (0, None);
    let opts = DownloadOptions {
        expected_size: Some(300_000),
        sha256: Some(sha256_hex(&body).to_uppercase()),
        ..fast()
    };
    let got = download(&[&server.url("/good.bin")], &dest, &opts, &mut |p| {
        last = (p.downloaded, p.total)
    })
    .unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(got.bytes, 300_000);
    assert_eq!(got.sha256, sha256_hex(&body));
    assert!(!got.resumed);
    assert_eq!(last, (300_000, Some(300_000)));
    assert!(!partial_path(&dest).exists());
}

#[test]
fn dropped_connection_is_resumed_with_range() {
    let body = payload(200_000);
    let server = Server::start(vec![("/drop.bin", Route::DropFirst(body.clone(), 70_000))]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("drop.bin");
    let got = download(&[&server.url("/drop.bin")], &dest, &fast(), &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert!(got.resumed);
    let hits = server.hits("/drop.bin");
    assert_eq!(hits.len(), 2, "{hits:?}");
    assert_eq!(hits[0], None);
    assert_eq!(hits[1].as_deref(), Some("bytes=70000-"));
}

#[test]
fn leftover_partial_from_an_earlier_run_is_resumed() {
    let body = payload(50_000);
    let server = Server::start(vec![("/f", Route::File(body.clone()))]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("f.bin");
    std::fs::write(partial_path(&dest), &body[..12_345]).unwrap();
    let got = download(&[&server.url("/f")], &dest, &fast(), &mut |_| {}).unwrap();
    assert!(got.resumed);
    assert_eq!(std::fs::read(&dest).unwrap(), body);
    assert_eq!(server.hits("/f"), [Some("bytes=12345-".to_string())]);
}

#[test]
fn not_found_falls_back_to_the_mirror() {
    let body = payload(1000);
    let server = Server::start(vec![
        ("/mirror.bin", Route::File(body.clone())),
        ("/forbidden", Route::Status(403)),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("x.bin");
    let urls = [
        server.url("/gone.bin"),
        server.url("/forbidden"),
        server.url("/mirror.bin"),
    ];
    let got = download(&[&urls[0], &urls[1], &urls[2]], &dest, &fast(), &mut |_| {}).unwrap();
    assert_eq!(got.url, urls[2]);
    assert_eq!(server.hits("/gone.bin").len(), 1, "a 404 is not retried");
    assert_eq!(server.hits("/forbidden").len(), 1, "a 403 is not retried");
    assert_eq!(std::fs::read(&dest).unwrap(), body);
}

#[test]
fn server_errors_are_retried() {
    let body = payload(1000);
    let server = Server::start(vec![("/busy", Route::FailFirst(503, 2, body.clone()))]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("busy.bin");
    download(&[&server.url("/busy")], &dest, &fast(), &mut |_| {}).unwrap();
    assert_eq!(server.hits("/busy").len(), 3);
    assert_eq!(std::fs::read(&dest).unwrap(), body);
}

#[test]
fn size_mismatch_fails_and_leaves_nothing() {
    let body = payload(1000);
    let server = Server::start(vec![("/s", Route::File(body))]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("s.bin");
    let opts = DownloadOptions {
        expected_size: Some(999),
        ..fast()
    };
    let url = server.url("/s");
    let err = download(&[&url], &dest, &opts, &mut |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, DataError::Download { .. }));
    assert!(
        msg.contains(&url) && msg.contains("size mismatch") && msg.contains("--from PATH"),
        "{msg}"
    );
    assert!(!dest.exists() && !partial_path(&dest).exists());
}

#[test]
fn checksum_mismatch_fails() {
    let server = Server::start(vec![("/c", Route::File(payload(10)))]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("c.bin");
    let opts = DownloadOptions {
        sha256: Some("00".repeat(32)),
        ..fast()
    };
    let msg = download(&[&server.url("/c")], &dest, &opts, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(msg.contains("sha256 mismatch"), "{msg}");
    assert!(!dest.exists());
}

#[test]
fn stalled_server_times_out() {
    let server = Server::start(vec![("/hang", Route::Hang)]);
    let dir = tempfile::tempdir().unwrap();
    let opts = DownloadOptions {
        read_timeout: Duration::from_millis(300),
        retries: 0,
        ..fast()
    };
    let t = std::time::Instant::now();
    let msg = download(
        &[&server.url("/hang")],
        &dir.path().join("h"),
        &opts,
        &mut |_| {},
    )
    .unwrap_err()
    .to_string();
    assert!(t.elapsed() < Duration::from_secs(4), "{:?}", t.elapsed());
    assert!(
        msg.contains("timed out") || msg.contains("timeout"),
        "{msg}"
    );
}

// ---- the SMS fetcher ----

const FAKE_SMS: &[u8] = b"ham\tGo until jurong point\nspam\tFree entry in 2 a wkly comp\n";

fn sms_opts(server: &Server, paths: &[&str]) -> SmsFetchOptions {
    SmsFetchOptions {
        urls: paths.iter().map(|p| server.url(p)).collect(),
        sha256: Some(sha256_hex(FAKE_SMS)),
        download: fast(),
        ..SmsFetchOptions::default()
    }
}

fn files_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn fetch_sms_good_zip_via_mirror() {
    let zip = zip_of(&[("SMSSpamCollection", FAKE_SMS), ("readme", b"about")]);
    let server = Server::start(vec![("/mirror.zip", Route::File(zip))]);
    let dir = tempfile::tempdir().unwrap();
    let opts = sms_opts(&server, &["/uci.zip", "/mirror.zip"]);
    let path = fetch_sms(dir.path(), &opts, &mut |_| {}).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), FAKE_SMS);
    assert_eq!(
        files_in(dir.path()),
        ["SMSSpamCollection", "sms_spam_collection.zip"]
    );
    // Second call: the file is there and verified, no request.
    let before = server.log.lock().unwrap().len();
    fetch_sms(dir.path(), &opts, &mut |_| {}).unwrap();
    assert_eq!(server.log.lock().unwrap().len(), before);
}

#[test]
fn fetch_sms_dropped_midway_then_resumed() {
    let zip = zip_of(&[("SMSSpamCollection", &FAKE_SMS.repeat(500))]);
    let n = zip.len() / 2;
    let server = Server::start(vec![("/z.zip", Route::DropFirst(zip, n))]);
    let dir = tempfile::tempdir().unwrap();
    let opts = SmsFetchOptions {
        sha256: Some(sha256_hex(&FAKE_SMS.repeat(500))),
        ..sms_opts(&server, &["/z.zip"])
    };
    fetch_sms(dir.path(), &opts, &mut |_| {}).unwrap();
    assert_eq!(server.hits("/z.zip").len(), 2);
}

#[test]
fn fetch_sms_rejects_corrupt_zip() {
    let mut zip = zip_of(&[("SMSSpamCollection", FAKE_SMS)]);
    let mid = zip.len() / 3;
    zip[mid..mid + 20].fill(0xAA);
    let server = Server::start(vec![("/bad.zip", Route::File(zip))]);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_sms(dir.path(), &sms_opts(&server, &["/bad.zip"]), &mut |_| {}).unwrap_err();
    assert!(
        matches!(err, DataError::Zip { .. } | DataError::Checksum { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("sms_spam_collection.zip"), "{err}");
    assert!(
        files_in(dir.path()).is_empty(),
        "{:?}",
        files_in(dir.path())
    );
}

#[test]
fn fetch_sms_rejects_garbage() {
    let server = Server::start(vec![(
        "/junk.zip",
        Route::File(b"PK\x03\x04 this is not really a zip".to_vec()),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_sms(dir.path(), &sms_opts(&server, &["/junk.zip"]), &mut |_| {}).unwrap_err();
    assert!(matches!(err, DataError::Zip { .. }), "{err:?}");
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn fetch_sms_zip_without_member() {
    let server = Server::start(vec![(
        "/other.zip",
        Route::File(zip_of(&[("readme", b"no data here")])),
    )]);
    let dir = tempfile::tempdir().unwrap();
    let err = fetch_sms(dir.path(), &sms_opts(&server, &["/other.zip"]), &mut |_| {}).unwrap_err();
    assert!(matches!(err, DataError::ZipMember { .. }), "{err:?}");
    assert!(err.to_string().contains("\"readme\""), "{err}");
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn fetch_sms_rejects_zip_slip() {
    let zip = zip_of(&[("../../SMSSpamCollection", FAKE_SMS)]);
    let server = Server::start(vec![("/slip.zip", Route::File(zip))]);
    let dir = tempfile::tempdir().unwrap();
    let inner = dir.path().join("data");
    let err = fetch_sms(&inner, &sms_opts(&server, &["/slip.zip"]), &mut |_| {}).unwrap_err();
    assert!(matches!(err, DataError::ZipSlip { .. }), "{err:?}");
    assert!(files_in(&inner).is_empty());
    assert_eq!(files_in(dir.path()), ["data"]);
}

#[test]
fn fetch_sms_all_urls_fail_says_what_to_do() {
    let server = Server::start(vec![]);
    let dir = tempfile::tempdir().unwrap();
    let opts = sms_opts(&server, &["/a.zip", "/b.zip"]);
    let msg = fetch_sms(dir.path(), &opts, &mut |_| {})
        .unwrap_err()
        .to_string();
    assert!(
        msg.contains("/a.zip: HTTP 404") && msg.contains("/b.zip: HTTP 404"),
        "{msg}"
    );
    assert!(msg.contains("--from PATH"), "{msg}");
}

#[test]
fn install_from_local_zip_or_file() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(vec![]);
    let opts = sms_opts(&server, &[]);
    let zip = dir.path().join("local.zip");
    std::fs::write(&zip, zip_of(&[("SMSSpamCollection", FAKE_SMS)])).unwrap();
    let out = dir.path().join("a");
    assert_eq!(
        std::fs::read(install_from(&zip, &out, &opts).unwrap()).unwrap(),
        FAKE_SMS
    );

    let file = dir.path().join("SMSSpamCollection");
    std::fs::write(&file, FAKE_SMS).unwrap();
    let out = dir.path().join("b");
    assert_eq!(
        std::fs::read(install_from(&file, &out, &opts).unwrap()).unwrap(),
        FAKE_SMS
    );

    std::fs::write(&file, b"ham\tsomething else\n").unwrap();
    let out = dir.path().join("c");
    let err = install_from(&file, &out, &opts).unwrap_err();
    assert!(matches!(err, DataError::Checksum { .. }), "{err:?}");
    assert!(!out.join("SMSSpamCollection").exists());
}

#[test]
fn urls_in_messages_lose_their_credentials_and_queries() {
    use spam_data::redact_url;
    assert_eq!(
        redact_url("http://user:hunter2@127.0.0.1:8080/a/b"),
        "http://***@127.0.0.1:8080/a/b"
    );
    assert_eq!(
        redact_url("https://host/path?token=abc#frag"),
        "https://host/path?***"
    );
    assert_eq!(
        redact_url("https://huggingface.co"),
        "https://huggingface.co"
    );
    // An `@` in the path is not userinfo.
    assert_eq!(redact_url("https://host/a@b"), "https://host/a@b");
}

#[test]
fn a_failed_download_names_the_url_without_its_password() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = DownloadOptions {
        retries: 0,
        connect_timeout: std::time::Duration::from_millis(500),
        ..DownloadOptions::default()
    };
    // Port 9 on loopback: nothing listens, the connection is refused at once.
    let err = download(
        &["http://user:hunter2@127.0.0.1:9/file?sig=secret"],
        &dir.path().join("f"),
        &opts,
        &mut |_| {},
    )
    .expect_err("nothing listens there");
    let msg = format!("{err:#}");
    assert!(!msg.contains("hunter2") && !msg.contains("secret"), "{msg}");
    assert!(msg.contains("http://***@127.0.0.1:9/file?***"), "{msg}");
}

/// A body with no length of its own that keeps coming past the size the caller announced
/// (the hub's X-Linked-Size) is stopped there, not read forever.
#[test]
fn a_body_streaming_past_the_announced_size_is_stopped() {
    let server = Server::start(vec![("/endless", Route::Endless(vec![7u8; 4096]))]);
    let dir = tempfile::tempdir().unwrap();
    let dest = dir.path().join("blob");
    let opts = DownloadOptions {
        retries: 0,
        expected_size: Some(10_000),
        ..DownloadOptions::default()
    };
    let started = std::time::Instant::now();
    let err = download(&[&server.url("/endless")], &dest, &opts, &mut |_| {}).unwrap_err();
    let msg = err.to_string();
    assert!(msg.contains("more than the 10000 bytes announced"), "{msg}");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(!dest.exists() && !partial_path(&dest).exists());
}
