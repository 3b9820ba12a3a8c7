//! `classify` reading standard input: a stream (a line answered as it arrives) or a file
//! redirected into it (one batch).

use crate::cli::tiny_run;

/// `classify` reading stdin answers each line as it arrives (so `tail -f | classify` works),
/// skips blank lines and warns once about a text longer than the model reads. Before: nothing
/// was printed until stdin closed, blank lines were classified and long texts silently cut.
#[test]
fn classify_streams_stdin_skips_blank_lines_and_warns_on_truncation() {
    use std::io::{BufRead, Write};
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, run) = tiny_run(tmp.path());
    let mut child = Command::new(spam_e2e::spam_cli())
        .args(["classify", "--model", run.to_str().expect("utf-8")])
        .args(["--format", "jsonl", "--device", "cpu"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spam-cli");
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout).lines() {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let limit = std::time::Duration::from_secs(60);
    writeln!(stdin, "Ok, see you at lunch").expect("write");
    stdin.flush().expect("flush");
    // The answer comes while stdin is still open.
    let first = rx.recv_timeout(limit);
    if first.is_err() {
        let _ = child.kill();
    }
    let first = first.expect("no answer before stdin closed").expect("line");
    let v: serde_json::Value = serde_json::from_str(&first).expect("jsonl");
    assert_eq!(v["text"], "Ok, see you at lunch");
    let long = "word ".repeat(200);
    writeln!(stdin, "\n   \n{long}\nlast one").expect("write");
    drop(stdin);
    let rest: Vec<String> = rx.iter().map(|l| l.expect("line")).collect();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let texts: Vec<String> = rest
        .iter()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).expect("jsonl");
            v["text"].as_str().expect("text").to_string()
        })
        .collect();
    assert_eq!(
        texts,
        [long.trim_end().to_string() + " ", "last one".to_string()]
    );
    assert_eq!(stderr.matches("warning:").count(), 1, "{stderr}");
    assert!(
        stderr.contains("line 4 of stdin has 201 tokens"),
        "{stderr}"
    );
}

/// `classify < FILE` reads the whole file as one batch (repeated texts once, length-sorted
/// batches: the speed of `--file`), with the output and line numbers of the piped form.
#[test]
fn classify_of_stdin_redirected_from_a_file_answers_every_line_in_order() {
    use std::process::{Command, Stdio};
    let tmp = tempfile::tempdir().expect("tempdir");
    let (_, run) = tiny_run(tmp.path());
    let long = "word ".repeat(200);
    let lines = [
        "Ok, see you at lunch",
        "",
        "WIN a prize",
        long.as_str(),
        "Ok, see you at lunch",
    ];
    let file = tmp.path().join("messages.txt");
    std::fs::write(&file, lines.join("\n") + "\n").expect("write");
    let out = Command::new(spam_e2e::spam_cli())
        .args(["classify", "--model", run.to_str().expect("utf-8")])
        .args(["--format", "jsonl", "--device", "cpu"])
        .stdin(Stdio::from(std::fs::File::open(&file).expect("open")))
        .output()
        .expect("spam-cli");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let answers: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("jsonl"))
        .collect();
    let texts: Vec<&str> = answers
        .iter()
        .map(|v| v["text"].as_str().expect("text"))
        .collect();
    assert_eq!(texts, [lines[0], lines[2], lines[3], lines[4]]);
    // Each answer is what classifying the text alone gives.
    let alone = spam_e2e::classify_jsonl(&run, &[lines[2]], &["--device", "cpu"]);
    let alone: serde_json::Value = serde_json::from_str(&alone[0]).expect("jsonl");
    assert_eq!(answers[1]["label"], alone["label"]);
    for (name, p) in alone["probabilities"].as_object().expect("probabilities") {
        let q = answers[1]["probabilities"][name]
            .as_f64()
            .expect("probability");
        assert!(
            (p.as_f64().expect("probability") - q).abs() < 1e-5,
            "{alone} vs {}",
            answers[1]
        );
    }
    // A repeated text is computed once: the same answer, bit for bit.
    assert_eq!(answers[0], answers[3]);
    assert!(
        stderr.contains("line 4 of stdin has 201 tokens"),
        "{stderr}"
    );
}
