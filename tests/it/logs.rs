//! End-to-end: `log.jsonl`, Ctrl-C and `--resume`, `--help` values and defaults,
//! `--print-config`, shell completions, and plots drawn without any system font.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

/// Runs spam-cli in `dir` with `env` set; (exit code, stdout, stderr).
fn cli_env(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> (i32, String, String) {
    let mut cmd = Command::new(spam_e2e::spam_cli());
    cmd.args(args).current_dir(dir);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("spam-cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn cli(dir: &Path, args: &[&str]) -> (i32, String, String) {
    cli_env(dir, args, &[])
}

fn json(path: &Path) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).expect("read")).expect("json")
}

/// A second Ctrl-C stops at once: exit 130 and one line, never a panic or a backtrace from
/// libtorch torn down under a running step. The model is big enough (16M parameters, all
/// trained) that a step and its checkpoint take far longer than the 30 ms between the two
/// signals, so the second one always lands before the graceful stop ends.
#[test]
fn logs_a_second_ctrl_c_exits_130_without_a_panic() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, csv) = spam_e2e::tiny_setup(dir.path(), 400);
    let toml = std::fs::read_to_string(&config).expect("config");
    let toml = toml
        .replace("n_embd = 16", "n_embd = 256")
        .replace("n_layer = 1", "n_layer = 4")
        .replace(
            "weights = \"random\"",
            "weights = \"random\"\ntrainable = \"all\"",
        );
    assert!(toml.contains("n_embd = 256") && toml.contains("trainable = \"all\""));
    std::fs::write(&config, toml).expect("config");
    let (config, csv) = (config.to_str().expect("utf8"), csv.to_str().expect("utf8"));
    let mut child = Command::new(spam_e2e::spam_cli())
        .args(["train", "--config", config, "--data", csv, "--out", "run"])
        .current_dir(dir.path())
        .env("RUST_BACKTRACE", "1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spam-cli");
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    for line in lines.by_ref() {
        if line.expect("line").starts_with("Ep 1 (Step 000003)") {
            break;
        }
    }
    for _ in 0..2 {
        let sent = Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill");
        assert!(sent.success());
        // Two signals sent at once can merge into one: let the first be handled.
        std::thread::sleep(std::time::Duration::from_millis(30));
    }
    let _rest: Vec<String> = lines.map_while(Result::ok).collect();
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        !stderr.contains("panicked") && !stderr.contains("backtrace"),
        "{stderr}"
    );
    // The first signal was taken, and the second ended the run before its graceful stop
    // could say how to resume: the immediate exit is the path this test is for.
    assert!(stderr.contains("Stopping after this step"), "{stderr}");
    assert!(
        !stderr.contains("--resume"),
        "the second signal came too late: {stderr}"
    );
}

#[test]
fn logs_ctrl_c_checkpoints_exits_130_and_resume_ends_like_an_uninterrupted_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Long enough (40 epochs of 7 steps) that the signal lands mid-run.
    let (config, csv) = spam_e2e::tiny_setup(dir.path(), 40);
    let (config, csv) = (config.to_str().expect("utf8"), csv.to_str().expect("utf8"));
    let (code, _, err) = cli(
        dir.path(),
        &["train", "--config", config, "--data", csv, "--out", "whole"],
    );
    assert_eq!(code, 0, "{err}");

    let mut child = Command::new(spam_e2e::spam_cli())
        .args(["train", "--config", config, "--data", csv, "--out", "run"])
        .current_dir(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spam-cli");
    // Signal once training is under way: after the second evaluation line.
    let stdout = child.stdout.take().expect("stdout");
    let mut lines = BufReader::new(stdout).lines();
    let mut seen = Vec::new();
    for line in lines.by_ref() {
        let line = line.expect("line");
        seen.push(line.clone());
        if line.starts_with("Ep 1 (Step 000003)") {
            break;
        }
    }
    let killed = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(killed.success());
    seen.extend(lines.map_while(Result::ok));
    let out = child.wait_with_output().expect("wait");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{seen:?}\n{stderr}");
    assert!(stderr.contains("spam-cli train --resume run"), "{stderr}");
    assert!(
        !dir.path().join("run").exists(),
        "an interrupted run is not moved into place"
    );
    // Where the live log is was said when the run started.
    let log_line = seen
        .iter()
        .find(|l| l.starts_with("Log: "))
        .unwrap_or_else(|| panic!("no Log: line in {seen:?}"));
    assert!(
        log_line.contains(".run.partial-") && log_line.contains("log.jsonl"),
        "{log_line}"
    );
    // The log of the interrupted run is in the folder kept beside it.
    let kept = std::fs::read_dir(dir.path())
        .expect("read_dir")
        .flatten()
        .find(|e| e.file_name().to_string_lossy().starts_with(".run.partial-"))
        .expect("kept staging folder")
        .path();
    let log = std::fs::read_to_string(kept.join("log.jsonl")).expect("log of the stopped run");
    assert!(log.lines().count() >= 3, "{log}");

    let (code, _, err) = cli(dir.path(), &["train", "--resume", "run"]);
    assert_eq!(code, 0, "{err}");
    let (a, b) = (
        json(&dir.path().join("whole/metrics.json")),
        json(&dir.path().join("run/metrics.json")),
    );
    for key in [
        "evals",
        "epochs",
        "step_losses",
        "final_accuracy",
        "per_split",
        "steps",
    ] {
        assert_eq!(a[key], b[key], "{key} differs after the resume");
    }
    // The resumed log carries on the interrupted one: as many evaluation lines as a whole run.
    let count = |p: &Path, kind: &str| {
        std::fs::read_to_string(p)
            .expect("log")
            .lines()
            .filter(|l| l.contains(&format!("\"kind\":\"{kind}\"")))
            .count()
    };
    let (whole, run) = (
        dir.path().join("whole/log.jsonl"),
        dir.path().join("run/log.jsonl"),
    );
    assert_eq!(count(&run, "eval"), count(&whole, "eval"));
    assert_eq!(count(&run, "epoch"), 40);
    assert_eq!(count(&run, "resume"), 1);
}

#[test]
fn logs_help_lists_accepted_values_and_defaults() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, help, err) = cli(dir.path(), &["train", "--help"]);
    assert_eq!(code, 0, "{err}");
    for want in [
        "[default: 5]",
        "[default: 8]",
        "[default: 0.00005]",
        "[default: 0.1]",
        "[default: 0.0]",
        "[default: last_block]",
        "[possible values: last, first, flexible, pooled]",
        "[possible values: auto, plain, cached]",
        "[possible values: chapter, gpt2]",
        "[possible values: sms, table, parquet]",
        "[possible values: pandas, lines]",
        "[default: longest]",
    ] {
        assert!(help.contains(want), "train --help lacks {want}:\n{help}");
    }
    // Defaults stay out of the parser: a --config value is not overridden.
    let (code, _, err) = cli(dir.path(), &["train", "--engine", "fast", "--data", "x"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("possible values: auto, plain, cached"),
        "{err}"
    );
    // Aliases the types accepted before still parse.
    let (config, csv) = spam_e2e::tiny_setup(dir.path(), 1);
    let args = [
        "train",
        "--config",
        config.to_str().expect("utf8"),
        "--data",
        csv.to_str().expect("utf8"),
    ];
    let (code, out, err) = cli(
        dir.path(),
        &[
            &args[..],
            &[
                "--token-position",
                "mean",
                "--format",
                "csv",
                "--print-config",
            ],
        ]
        .concat(),
    );
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("token_position = \"pooled\""), "{out}");
    let (code, help, _) = cli(dir.path(), &["prepare", "--help"]);
    assert_eq!(code, 0);
    assert!(help.contains("[default: 123]"), "{help}");
}

#[test]
fn logs_print_config_round_trips_through_config() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, csv) = spam_e2e::tiny_setup(dir.path(), 1);
    let (config, csv) = (config.to_str().expect("utf8"), csv.to_str().expect("utf8"));
    let (code, printed, err) = cli(
        dir.path(),
        &[
            "train",
            "--config",
            config,
            "--data",
            csv,
            "--epochs",
            "3",
            "--lr",
            "0.002",
            "--print-config",
        ],
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        printed.contains("epochs = 3") && printed.contains("lr = 0.002"),
        "{printed}"
    );
    assert!(!dir.path().join("runs").exists(), "--print-config trained");
    std::fs::write(dir.path().join("printed.toml"), &printed).expect("write");
    let (code, again, err) = cli(
        dir.path(),
        &["train", "--config", "printed.toml", "--print-config"],
    );
    assert_eq!(code, 0, "{err}");
    assert_eq!(again, printed);
}

#[test]
fn logs_completions_for_bash() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (code, script, err) = cli(dir.path(), &["completions", "bash"]);
    assert_eq!(code, 0, "{err}");
    assert!(script.len() > 1000, "{script}");
    for want in [
        "complete -F",
        "spam-cli",
        "--print-config",
        "--token-position",
        "pooled",
    ] {
        assert!(script.contains(want), "the bash script lacks {want}");
    }
    let (code, _, _) = cli(dir.path(), &["completions", "tcsh"]);
    assert_eq!(code, 2);
}

#[test]
fn logs_plots_are_drawn_without_any_system_font() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, csv) = spam_e2e::tiny_setup(dir.path(), 2);
    // fontconfig pointed at a configuration with no font folders: nothing to find.
    let fonts = dir.path().join("fonts.conf");
    std::fs::write(
        &fonts,
        "<?xml version=\"1.0\"?>\n<fontconfig></fontconfig>\n",
    )
    .expect("conf");
    let env = [
        ("FONTCONFIG_FILE", fonts.as_path()),
        ("FONTCONFIG_PATH", dir.path()),
    ];
    let args = [
        "train",
        "--config",
        config.to_str().expect("utf8"),
        "--data",
        csv.to_str().expect("utf8"),
        "--out",
        "run",
    ];
    let (code, _, err) = cli_env(dir.path(), &args, &env);
    assert_eq!(code, 0, "{err}");
    assert!(!err.contains("warning"), "{err}");
    let run = dir.path().join("run");
    let sizes = |run: &Path| {
        ["loss.png", "accuracy.png"].map(|f| std::fs::metadata(run.join(f)).map_or(0, |m| m.len()))
    };
    for size in sizes(&run) {
        // A blank 1000x600 PNG is a few kilobytes; curves, axes and labels make it larger.
        assert!(size > 15_000, "{size} bytes");
    }
    let before = sizes(&run);
    std::fs::remove_file(run.join("loss.png")).expect("rm");
    let (code, out, err) = cli_env(dir.path(), &["plot", "run"], &env);
    assert_eq!(code, 0, "{err}");
    assert!(
        out.contains("loss.png") && out.contains("accuracy.png"),
        "{out}"
    );
    assert_eq!(sizes(&run), before);
    let (code, _, err) = cli(dir.path(), &["plot", "nowhere"]);
    assert_eq!(code, 1);
    assert!(err.contains("nowhere has no log.jsonl"), "{err}");
}
