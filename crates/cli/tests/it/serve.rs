//! `spam-cli serve`: its limits are flags with the library's defaults, and a shutdown
//! signal stops it within its deadline even with a client stuck mid-request (issue 15,
//! item 1).

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use spam_model::{Classifier, ClassifierConfig, Config, Weights};

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_spam-cli"))
        .args(args)
        .output()
        .expect("run spam-cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn serve_help_shows_every_limit_with_its_default() {
    let (code, help, _) = run(&["serve", "--help"]);
    assert_eq!(code, 0);
    for (flag, default) in [
        ("--max-batch <N>", "[default: 64]"),
        ("--max-texts <N>", "[default: 256]"),
        ("--max-text-chars <N>", "[default: 10000]"),
        ("--max-body <BYTES>", "[default: 1048576]"),
        ("--max-in-flight <N>", "[default: 1024]"),
        ("--timeout <SECS>", "[default: 30]"),
        ("--max-connections <N>", "[default: 1024]"),
        ("--header-timeout <SECS>", "[default: 10]"),
        ("--idle-timeout <SECS>", "[default: 60]"),
        ("--shutdown-timeout <SECS>", "[default: 10]"),
    ] {
        let at = help
            .find(flag)
            .unwrap_or_else(|| panic!("`serve --help` lacks {flag}:\n{help}"));
        let next = help[at + 1..]
            .find("\n  -")
            .map_or(help.len(), |n| at + 1 + n);
        assert!(
            help[at..next].contains(default),
            "{flag} does not show {default}:\n{}",
            &help[at..next]
        );
    }
    assert!(help.contains("--allowed-host <NAME>"), "{help}");
}

#[test]
fn a_bad_limit_fails_at_parse_time_naming_the_flag() {
    for (flag, value) in [
        ("--header-timeout", "0"),
        ("--timeout", "-1"),
        ("--idle-timeout", "soon"),
        ("--shutdown-timeout", "NaN"),
        ("--max-connections", "0"),
        ("--max-body", "1.5"),
    ] {
        let arg = format!("{flag}={value}");
        let (code, _, stderr) = run(&["serve", "--model", "nowhere", &arg]);
        assert_eq!(code, 2, "{flag} {value}: {stderr}");
        assert!(stderr.contains(flag), "{flag} {value}: {stderr}");
    }
}

/// Saves a tiny random 2-class classifier (GPT-2's vocabulary) as a model folder.
fn save_tiny_model(dir: &Path) {
    let mut cc = ClassifierConfig::new(
        Config {
            vocab_size: 50257,
            n_ctx: 64,
            n_embd: 16,
            n_layer: 1,
            n_head: 2,
            dropout: 0.0,
            qkv_bias: true,
        },
        2,
    );
    cc.label_names = vec!["ham".into(), "spam".into()];
    cc.max_length = Some(32);
    let model = Classifier::new(cc, &Weights::Random { seed: 1 }, tch::Device::Cpu, 1).unwrap();
    model.save(&dir.join("model")).unwrap();
}

/// `spam-cli serve` on a free loopback port, once it says it is serving: (child, address).
fn start_server(dir: &Path, extra: &[&str]) -> (Child, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let addr = format!("127.0.0.1:{port}");
    let mut child = Command::new(env!("CARGO_BIN_EXE_spam-cli"))
        .args(["serve", "--device", "cpu", "--addr", &addr, "--model"])
        .arg(dir)
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start spam-cli serve");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().unwrap().unwrap();
    assert!(first.starts_with("Serving on"), "{first}");
    // Keep reading (and dropping) what it prints, so that it never blocks on a full pipe.
    std::thread::spawn(move || lines.for_each(drop));
    (child, addr)
}

fn signal(child: &Child, name: &str) {
    let status = Command::new("kill")
        .args([format!("-{name}"), child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name}");
}

/// Waits for the child to exit, at most `within`; how long it took.
fn exits_within(child: &mut Child, within: Duration) -> Duration {
    let started = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "spam-cli serve exited with {status}");
            return started.elapsed();
        }
        if started.elapsed() > within {
            let _ = child.kill();
            let _ = child.wait();
            panic!("spam-cli serve still running {within:?} after the signal");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The reproduction: a request whose headers never end, then SIGTERM.
fn half_sent_request(addr: &str) -> TcpStream {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\nX: a").unwrap();
    std::thread::sleep(Duration::from_millis(200));
    stream
}

#[test]
fn sigterm_stops_within_the_deadline_despite_a_half_sent_request() {
    let dir = tempfile::tempdir().unwrap();
    save_tiny_model(dir.path());
    let (mut child, addr) = start_server(dir.path(), &["--shutdown-timeout", "1"]);
    let _stuck = half_sent_request(&addr);
    signal(&child, "TERM");
    let took = exits_within(&mut child, Duration::from_secs(10));
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
}

#[test]
fn a_second_signal_stops_at_once() {
    let dir = tempfile::tempdir().unwrap();
    save_tiny_model(dir.path());
    let (mut child, addr) = start_server(dir.path(), &["--shutdown-timeout", "60"]);
    let _stuck = half_sent_request(&addr);
    signal(&child, "TERM");
    std::thread::sleep(Duration::from_millis(300));
    signal(&child, "INT");
    let took = exits_within(&mut child, Duration::from_secs(10));
    assert!(took < Duration::from_secs(5), "stopped after {took:?}");
}
