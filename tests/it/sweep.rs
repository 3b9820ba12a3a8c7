//! `spam-cli sweep`: a 6-trial grid of a tiny random model run as separate processes, some at
//! the same time into one folder, some with their index from a scheduler's variables; then
//! `sweep report`. And a whole sweep in one process.

use std::path::Path;
use std::process::{Command, Output};

use spam_e2e::{number_after, run_cli, spam_cli, tiny_setup, without_scheduler_vars};

/// A sweep file: the tiny model's config (one epoch, best by validation loss) plus `grid`.
fn write_sweep(dir: &Path, name: &str, grid: &str) -> std::path::PathBuf {
    let (config, _) = tiny_setup(dir, 1);
    let base = std::fs::read_to_string(config).expect("tiny config");
    let base = base.replace(
        "eval_iter = 1",
        "eval_iter = 1\nmetric_for_best = \"val_loss\"",
    );
    let path = dir.join(name);
    std::fs::write(&path, format!("{base}\n[sweep.grid]\n{grid}")).expect("sweep file");
    path
}

const GRID: &str = "\"train.optimizer.lr\" = [1e-4, 1e-3, 1e-2]\n\"train.seed\" = [1, 2]\n";

/// `spam-cli sweep --config SWEEP --data CSV --out OUT EXTRA...`, with `env` as the only
/// scheduler variables.
fn sweep_cmd(dir: &Path, sweep: &Path, extra: &[&str], env: &[(&str, &str)]) -> Command {
    let mut cmd = Command::new(spam_cli());
    cmd.arg("sweep")
        .arg("--config")
        .arg(sweep)
        .arg("--data")
        .arg(dir.join("examples.csv"))
        .arg("--out")
        .arg(dir.join("out"))
        .args(extra);
    without_scheduler_vars(&mut cmd);
    cmd.envs(env.iter().copied());
    cmd
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn succeeded(out: Output, what: &str) -> String {
    let (stdout, stderr) = text(&out);
    assert!(
        out.status.success(),
        "{what} failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    stdout
}

#[test]
fn trials_run_as_separate_processes_then_the_report_ranks_them() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let sweep = write_sweep(dir, "sweep.toml", GRID);
    let out = dir.join("out");

    // Trials 0, 1 and 2 at the same time into the one folder.
    let children: Vec<_> = (0..3)
        .map(|i| {
            sweep_cmd(dir, &sweep, &["--quiet", "--trial", &i.to_string()], &[])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("spawn spam-cli")
        })
        .collect();
    for (i, child) in children.into_iter().enumerate() {
        let stdout = succeeded(child.wait_with_output().expect("wait"), "trial");
        assert!(
            stdout.contains(&format!("Trial {i} of 6 (from --trial)")),
            "{stdout}"
        );
    }
    // Trial 3 from a Slurm array (ids 1 to 6), trial 4 from a Kubernetes Indexed Job.
    let slurm = [
        ("SLURM_ARRAY_TASK_ID", "4"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "6"),
    ];
    let stdout = succeeded(
        sweep_cmd(dir, &sweep, &["-q"], &slurm)
            .output()
            .expect("run"),
        "slurm trial",
    );
    assert!(
        stdout.contains(
            "Trial 3 of 6 (from SLURM_ARRAY_TASK_ID): train.optimizer.lr=0.001, train.seed=2"
        ),
        "{stdout}"
    );
    let k8s = [("JOB_COMPLETION_INDEX", "4")];
    let stdout = succeeded(
        sweep_cmd(dir, &sweep, &["-q"], &k8s).output().expect("run"),
        "k8s trial",
    );
    assert!(
        stdout.contains("Trial 4 of 6 (from JOB_COMPLETION_INDEX)"),
        "{stdout}"
    );

    // An array of the wrong size is refused before it runs anything.
    let wrong = [
        ("SLURM_ARRAY_TASK_ID", "2"),
        ("SLURM_ARRAY_TASK_COUNT", "5"),
    ];
    let failed = sweep_cmd(dir, &sweep, &["-q"], &wrong)
        .output()
        .expect("run");
    let (_, stderr) = text(&failed);
    assert!(!failed.status.success());
    assert!(
        stderr.contains("SLURM_ARRAY_TASK_COUNT is 5 but there are 6 trials"),
        "{stderr}"
    );
    let trials = std::fs::read_dir(&out)
        .expect("out")
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with("trial-"))
        .count();
    assert_eq!(trials, 5, "nothing new was run");

    // Trial 5 is missing: the report says so, and ranks the five others.
    let (code, stdout, stderr) = run_cli(&["sweep", "report", &out.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("5 of 6 trials finished, ranked by val_loss (lower is better)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("Missing: trial-005 (trial 5): not started"),
        "{stdout}"
    );
    let md = std::fs::read_to_string(out.join("sweep.md")).expect("sweep.md");
    assert!(md.contains("- trial-005 (trial 5): not started"), "{md}");

    let stdout = succeeded(
        sweep_cmd(dir, &sweep, &["-q", "--trial", "5"], &[])
            .output()
            .expect("run"),
        "trial 5",
    );
    assert!(stdout.contains("Trial 5 of 6"), "{stdout}");
    // Run again, a finished trial is a no-op that says so.
    let before = std::fs::metadata(out.join("trial-002").join("metrics.json"))
        .and_then(|m| m.modified())
        .expect("mtime");
    let stdout = succeeded(
        sweep_cmd(dir, &sweep, &["--trial", "2"], &[])
            .output()
            .expect("run"),
        "trial 2 again",
    );
    assert!(stdout.contains("Trial 2: already finished in"), "{stdout}");
    assert!(stdout.contains("(an earlier run)"), "{stdout}");
    let after = std::fs::metadata(out.join("trial-002").join("metrics.json"))
        .and_then(|m| m.modified())
        .expect("mtime");
    assert_eq!(before, after, "nothing was trained again");

    let (code, stdout, stderr) = run_cli(&["sweep", "report", &out.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("6 of 6 trials finished"), "{stdout}");
    assert!(!stdout.contains("Missing"), "{stdout}");
    check_report(&out);

    // Another sweep into the same folder is refused, naming both files.
    let other = write_sweep(dir, "other.toml", &GRID.replace("1e-2", "3e-2"));
    let failed = sweep_cmd(dir, &other, &["-q", "--trial", "0"], &[])
        .output()
        .expect("run");
    let (_, stderr) = text(&failed);
    assert!(!failed.status.success());
    assert!(stderr.contains("other.toml"), "{stderr}");
    assert!(
        stderr.contains(&out.join("sweep.toml").display().to_string()),
        "{stderr}"
    );
}

/// `sweep.csv` has the six trials best first (by validation loss), each with its settings,
/// and `best` links to the first.
fn check_report(out: &Path) {
    let csv = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv");
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "rank,trial,folder,train.optimizer.lr,train.seed,best_val_loss,val_accuracy,\
         test_accuracy,wall_seconds"
    );
    assert_eq!(lines.len(), 7, "{csv}");
    let rows: Vec<Vec<&str>> = lines[1..].iter().map(|l| l.split(',').collect()).collect();
    let mut trials: Vec<usize> = rows.iter().map(|r| r[1].parse().expect("trial")).collect();
    let losses: Vec<f64> = rows.iter().map(|r| r[5].parse().expect("loss")).collect();
    assert!(
        losses.windows(2).all(|w| w[0] <= w[1]),
        "ranked: {losses:?}"
    );
    for (rank, r) in rows.iter().enumerate() {
        assert_eq!(r[0], (rank + 1).to_string());
        let trial: usize = r[1].parse().expect("trial");
        let lr = ["0.0001", "0.001", "0.01"][trial / 2];
        let seed = ["1", "2"][trial % 2];
        assert_eq!(r[2], format!("trial-{trial:03}"));
        assert_eq!((r[3], r[4]), (lr, seed), "trial {trial}'s settings");
        let wall: f64 = r[8].parse().expect("wall time");
        assert!(wall > 0.0, "{r:?}");
        // The loss is the one the trial's own metrics.json recorded.
        let metrics = std::fs::read_to_string(out.join(format!("trial-{trial:03}/metrics.json")))
            .expect("metrics.json");
        let metrics: serde_json::Value = serde_json::from_str(&metrics).expect("json");
        assert_eq!(metrics["best"]["metric"], "val_loss");
        assert_eq!(metrics["best"]["value"].as_f64(), Some(losses[rank]));
    }
    trials.sort_unstable();
    assert_eq!(trials, [0, 1, 2, 3, 4, 5]);
    let best = std::fs::read_link(out.join("best")).expect("best is a link");
    assert_eq!(
        best,
        Path::new(&format!(
            "trial-{:03}",
            rows[0][1].parse::<usize>().expect("n")
        ))
    );
    assert!(
        out.join("best").join("model").is_dir(),
        "best is a whole run folder"
    );
}

#[test]
fn a_whole_sweep_runs_in_one_process_and_ends_with_the_report() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let sweep = write_sweep(dir, "sweep.toml", "\"train.optimizer.lr\" = [1e-4, 1e-2]\n");
    let stdout = succeeded(
        sweep_cmd(dir, &sweep, &["-q"], &[]).output().expect("run"),
        "sweep",
    );
    assert!(stdout.contains("Sweep of 2 trials into"), "{stdout}");
    assert!(stdout.contains("2 of 2 trials finished"), "{stdout}");
    let out = dir.join("out");
    let csv = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv");
    assert_eq!(csv.lines().count(), 3, "{csv}");
    assert!(std::fs::read_link(out.join("best")).is_ok());
    assert!(out.join("trial-000/metrics.json").is_file());
    assert!(out.join("trial-001/metrics.json").is_file());
}

/// `docs/scale-out`'s sweep manifests run here as their schedulers run them: the Indexed
/// Job's command line once per completion index, then the Slurm script once per array task
/// into the same folder (every trial already finished: each task reuses its trial); then the
/// report ranks the 6 trials.
#[test]
fn the_documented_sweep_manifests_run_every_trial_once() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let sweep = write_sweep(dir, "sweep.toml", GRID);
    let docs = spam_e2e::root().join("docs/scale-out");
    let bin_dir = spam_cli().parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run_task = |script: &str, vars: &[(&str, String)]| -> String {
        let mut cmd = Command::new("bash");
        cmd.args(["-c", script]).current_dir(dir);
        without_scheduler_vars(&mut cmd);
        cmd.env("PATH", &path)
            .env("SWEEP", &sweep)
            .env("DATA", dir.join("examples.csv"))
            .env("OUT", dir.join("out"));
        cmd.envs(vars.iter().map(|(k, v)| (k, v)));
        succeeded(cmd.output().expect("bash"), script)
    };
    let manifest = std::fs::read_to_string(docs.join("sweep-job.yaml")).expect("manifest");
    let n = number_after(&manifest, "completions:");
    assert_eq!(n, 6, "the manifest's completions = the example's trials");
    let line = manifest
        .lines()
        .find(|l| l.contains("spam-cli sweep"))
        .expect("command")
        .trim();
    for i in 0..n {
        run_task(line, &[("JOB_COMPLETION_INDEX", i.to_string())]);
    }
    let script = std::fs::read_to_string(docs.join("sweep.sbatch")).expect("sbatch");
    let tasks = number_after(&script, "--array=0-") + 1;
    assert_eq!(tasks, n);
    for i in 0..tasks {
        let vars = [
            ("SLURM_ARRAY_TASK_ID", i.to_string()),
            ("SLURM_ARRAY_TASK_MIN", "0".to_string()),
            ("SLURM_ARRAY_TASK_COUNT", tasks.to_string()),
        ];
        let stdout = run_task(&script, &vars);
        assert!(stdout.contains("(an earlier run)"), "trial {i}: {stdout}");
    }
    let out = dir.join("out");
    succeeded(
        Command::new(spam_cli())
            .args(["sweep", "report"])
            .arg(&out)
            .output()
            .expect("report"),
        "sweep report",
    );
    check_report(&out);
}

/// `experiments` runs the chapter's rows as trials of a sweep of 19 named points, so its
/// folder is a sweep folder: an array task of `sweep --config OUT/sweep.toml` fills in another
/// row, `experiments` then reuses it, and `sweep report` ranks the rows. (GPT-2 124M from
/// random weights on 60 messages, one epoch: seconds a row.)
#[test]
fn the_experiments_table_is_a_sweep_an_array_task_can_fill() {
    let tmp = tempfile::tempdir().expect("tempdir");
    let dir = tmp.path();
    let data = dir.join("sms.tsv");
    let mut text = String::new();
    for i in 0..30 {
        text.push_str(&format!("ham\tsee you at the station at {i} tonight\n"));
        text.push_str(&format!(
            "spam\tWIN a {i}00 pound prize now, text CLAIM to 8{i}\n"
        ));
    }
    std::fs::write(&data, text).expect("data");
    let out = dir.join("table");
    let experiments = |rows: &str| {
        let out = Command::new(spam_cli())
            .args(["experiments", "--quiet", "--epochs", "1", "--rows", rows])
            .arg("--data")
            .arg(&data)
            .arg("--weights-root")
            .arg(dir.join("no-weights"))
            .arg("--out")
            .arg(&out)
            .output()
            .expect("spam-cli experiments");
        succeeded(out, "experiments")
    };
    experiments("1");
    let sweep_file = out.join("sweep.toml");
    let saved = std::fs::read_to_string(&sweep_file).expect("experiments writes sweep.toml");
    assert_eq!(saved.matches("[[sweep.points]]").count(), 19, "{saved}");
    assert!(saved.contains("name = \"row-16\""), "{saved}");

    // Row 16 (flexible token position) is trial 15: an Indexed Job's task 15 runs it.
    let mut task = Command::new(spam_cli());
    task.arg("sweep")
        .arg("--config")
        .arg(&sweep_file)
        .arg("--out")
        .arg(&out);
    without_scheduler_vars(&mut task);
    let stdout = succeeded(
        task.env("JOB_COMPLETION_INDEX", "15")
            .output()
            .expect("sweep"),
        "sweep task 15",
    );
    assert!(stdout.contains("Trial 15:"), "{stdout}");
    let config: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(out.join("row-16/config.json")).expect("row-16 ran"),
    )
    .expect("json");
    assert_eq!(config["model"]["token_position"], "flexible");
    assert_eq!(config["train"]["epochs"], 1);

    // The table now reuses both rows: nothing is trained again.
    let row16 = std::fs::read(out.join("row-16/metrics.json")).expect("metrics");
    let row1 = std::fs::read(out.join("row-1/metrics.json")).expect("metrics");
    let stdout = experiments("1,16");
    assert!(stdout.contains("| 16 | flexible"), "{stdout}");
    assert!(stdout.contains("| 1 | 124M"), "{stdout}");
    assert_eq!(
        std::fs::read(out.join("row-1/metrics.json")).expect("metrics"),
        row1,
        "row 1 reused"
    );
    let (code, stdout, stderr) = run_cli(&["sweep", "report", &out.display().to_string()]);
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("2 of 19 trials finished"), "{stdout}");
    let csv = std::fs::read_to_string(out.join("sweep.csv")).expect("sweep.csv");
    let folders: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).expect("folder"))
        .collect();
    let mut sorted = folders.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, ["row-1", "row-16"], "{csv}");
    assert_eq!(
        std::fs::read(out.join("row-16/metrics.json")).expect("metrics"),
        row16,
        "row 16 reused, and the report reads, never rewrites, a row"
    );
}
