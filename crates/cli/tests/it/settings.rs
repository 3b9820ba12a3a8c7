//! Settings are parsed once, at the edge: a bad flag or TOML value fails before any work,
//! naming the flag or key, and `--help` lists what each flag accepts.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::process::Command;

/// Runs the built `spam-cli` with `args`: (exit code, stdout, stderr).
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
fn train_help_lists_the_accepted_values() {
    let (code, help, _) = run(&["train", "--help"]);
    assert_eq!(code, 0);
    for value in [
        "lora:RANK:ALPHA",
        "last_two_blocks",
        "fixed:N",
        "dynamic",
        "flexible",
        "pandas",
        "`sms`",
        "`table`",
        "cuda:N",
    ] {
        assert!(
            help.contains(value),
            "`train --help` does not mention {value}:\n{help}"
        );
    }
    assert!(!help.contains("--lora-rank"), "{help}");
}

#[test]
fn a_bad_flag_value_fails_at_parse_time_naming_the_flag() {
    for (flag, value, expected) in [
        ("--padding", "sideways", "padding"),
        ("--trainable", "lora:x:1", "trainable"),
        ("--device", "tpu", "device"),
        ("--format", "xml", "format"),
        ("--delimiter", "ab", "delimiter"),
    ] {
        let (code, _, stderr) = run(&["train", "--weights", "random", flag, value]);
        assert_eq!(code, 2, "{flag} {value}: {stderr}");
        assert!(
            stderr.contains(flag) && stderr.contains(value),
            "{flag}: {stderr}"
        );
        assert!(stderr.contains(expected), "{flag}: {stderr}");
    }
}

#[test]
fn a_bad_value_in_a_toml_config_fails_at_load_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for (toml, key) in [
        ("[data]\npadding = \"sideways\"\n", "padding"),
        ("[data]\nparse_mode = \"csv\"\n", "parse_mode"),
        ("[model]\ndevice = \"tpu\"\n", "device"),
        ("[model]\ntrainable = \"most\"\n", "trainable"),
    ] {
        let path = dir.path().join("bad.toml");
        std::fs::write(&path, toml).unwrap();
        let (code, _, stderr) = run(&[
            "train",
            "--config",
            path.to_str().unwrap(),
            "--data",
            "/nonexistent/data.tsv",
        ]);
        assert_eq!(code, 1, "{toml}: {stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(
            stderr.contains("not a valid run config"),
            "{toml}: {stderr}"
        );
        assert!(
            stderr.contains(key),
            "{toml}: the error does not name `{key}`: {stderr}"
        );
        assert!(
            !stderr.contains("/nonexistent"),
            "{toml}: the data were looked at before the config was checked: {stderr}"
        );
    }
}

#[test]
fn row_epochs_take_row_equals_epochs() {
    for (value, expected) in [
        ("10", "is not ROW=EPOCHS"),
        ("x=1", "is not ROW=EPOCHS"),
        ("10=0", "at least one epoch"),
    ] {
        let (code, _, stderr) = run(&["experiments", "--row-epochs", value]);
        assert_eq!(code, 2, "{value}: {stderr}");
        assert!(
            stderr.contains("--row-epochs") && stderr.contains(expected),
            "{value}: {stderr}"
        );
    }
}

/// The table's rows set their padding, so `experiments --padding` is refused, not ignored.
#[test]
fn experiments_refuses_padding_the_rows_set_themselves() {
    let (code, stdout, stderr) = run(&["experiments", "--padding", "dynamic", "--rows", "1"]);
    assert_ne!(code, 0, "{stdout}");
    assert!(
        stderr.contains("--padding dynamic") && stderr.contains("each row of the table"),
        "{stderr}"
    );
}
