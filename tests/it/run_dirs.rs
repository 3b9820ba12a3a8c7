//! End-to-end: run directories as a user meets them (`--out`, `--overwrite`, `--resume`,
//! the default `runs/<time>` with `runs/latest`).

use std::path::Path;

use spam_e2e::run_cli;

fn cli_in(dir: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(spam_e2e::spam_cli())
        .args(args)
        .current_dir(dir)
        .output()
        .expect("spam-cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `--out` must be new or empty; `--overwrite` replaces only a run, never the user's files.
#[test]
fn train_refuses_a_non_empty_out_and_never_replaces_the_users_files() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, csv) = spam_e2e::tiny_setup(dir.path(), 1);
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).expect("mkdir");
    std::fs::write(mine.join("metrics.json"), "my numbers").expect("write");
    let base = [
        "train",
        "--config",
        config.to_str().expect("utf-8"),
        "--data",
        csv.to_str().expect("utf-8"),
        "--out",
        mine.to_str().expect("utf-8"),
    ];
    for extra in [&[][..], &["--overwrite"][..]] {
        let args: Vec<&str> = base.iter().chain(extra).copied().collect();
        let (code, _, stderr) = run_cli(&args);
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("is not a run directory") && stderr.contains("mine"),
            "{stderr}"
        );
        assert_eq!(
            std::fs::read_to_string(mine.join("metrics.json")).expect("read"),
            "my numbers"
        );
        let entries = std::fs::read_dir(dir.path()).expect("read_dir").count();
        assert_eq!(entries, 3, "something was left beside --out");
    }
}

/// `--resume` reuses the run's settings: flags it would ignore are refused, by name.
#[test]
fn train_resume_refuses_the_flags_it_would_ignore() {
    let dir = tempfile::tempdir().expect("tempdir");
    let run = dir.path().join("run");
    let (code, _, stderr) = run_cli(&[
        "train",
        "--resume",
        run.to_str().expect("utf-8"),
        "--epochs",
        "3",
        "--lr",
        "0.1",
        "--out",
        "elsewhere",
    ]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("--lr") && stderr.contains("--out") && !stderr.contains("--epochs,"),
        "{stderr}"
    );
    assert!(!dir.path().join("elsewhere").exists());
}

/// Without `--out` a run gets `runs/YYYYmmdd-HHMMSS` and `runs/latest` links to it; the link
/// works wherever a run directory is taken, `--resume` included (which extends the run in
/// its real folder and keeps the link).
#[cfg(unix)]
#[test]
fn train_without_out_makes_a_timestamped_run_that_runs_latest_points_at() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (config, csv) = spam_e2e::tiny_setup(dir.path(), 1);
    let train = [
        "train",
        "--config",
        config.to_str().expect("utf-8"),
        "--data",
        csv.to_str().expect("utf-8"),
        "--quiet",
    ];
    let (code, _, stderr) = cli_in(dir.path(), &train);
    assert_eq!(code, 0, "{stderr}");
    let runs = dir.path().join("runs");
    let latest = std::fs::read_link(runs.join("latest")).expect("runs/latest is a link");
    let name = latest.to_string_lossy().into_owned();
    assert!(
        name.len() == 15
            && name.as_bytes()[8] == b'-'
            && name.replace('-', "").parse::<u64>().is_ok(),
        "{name}"
    );
    assert!(runs.join(&name).join("metrics.json").is_file());

    let (code, stdout, stderr) = cli_in(
        dir.path(),
        &[
            "eval",
            "--model",
            "runs/latest",
            "--data",
            "runs/latest/data/test.csv",
            "--json",
        ],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("\"accuracy\""), "{stdout}");

    let (code, stdout, stderr) = cli_in(
        dir.path(),
        &["train", "--resume", "runs/latest", "--epochs", "2"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Resume changes epochs: 1 -> 2"), "{stdout}");
    assert_eq!(
        std::fs::read_link(runs.join("latest")).expect("still a link"),
        latest
    );
    let metrics: serde_json::Value = serde_json::from_slice(
        &std::fs::read(runs.join(&name).join("metrics.json")).expect("metrics"),
    )
    .expect("json");
    assert_eq!(metrics["epochs"].as_array().map(Vec::len), Some(2));

    // A second run gets its own folder; the link moves to it.
    let (code, _, stderr) = cli_in(dir.path(), &train);
    assert_eq!(code, 0, "{stderr}");
    let newest = std::fs::read_link(runs.join("latest")).expect("link");
    assert_ne!(newest, latest);
    let left: Vec<String> = std::fs::read_dir(&runs)
        .expect("runs")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}
