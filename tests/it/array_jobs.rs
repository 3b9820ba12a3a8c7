//! Batch classification as an array job: `classify --output DIR` run as N processes with the
//! variables a Kubernetes Indexed Job or a Slurm array sets. The parts cover every row once,
//! in input order, and equal one unsharded run; a retried task is a no-op; a killed one leaves
//! no part and its retry finishes the job.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use arrow_array::cast::AsArray;
use arrow_array::types::{Float64Type, Int64Type};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use spam_e2e::{number_after, root, run_cli, spam_cli, without_scheduler_vars};

use crate::cli::tiny_run;

/// One row of a part.
#[derive(Debug, Clone, PartialEq)]
struct Row {
    file: String,
    row: i64,
    id: Option<String>,
    label: Option<String>,
    probs: Vec<Option<f64>>,
}

fn fixture(name: &str) -> String {
    let path = root().join("crates/data/tests/fixtures/parquet").join(name);
    path.to_str().expect("utf-8").to_string()
}

/// Inputs of several kinds: Parquet of one and of seven row groups, a glob of two shards, a
/// file with null texts, and a CSV; 230 rows in all.
fn inputs(dir: &Path) -> Vec<String> {
    let csv = dir.join("messages.csv");
    let mut text = String::from("id,text\n");
    for i in 0..60 {
        text += &format!(
            "m{i},\"message {i}: call now, to win a \"\"prize\"\" {}\"\n",
            i % 7
        );
    }
    std::fs::write(&csv, text).expect("csv");
    vec![
        fixture("int_labels.parquet"),
        fixture("row_groups.parquet"),
        fixture("hub/data/train-*.parquet"),
        fixture("nulls.parquet"),
        csv.to_str().expect("utf-8").to_string(),
    ]
}

/// `spam-cli classify --model RUN --file INPUTS... --output OUT EXTRA...` with `env` set.
fn classify(
    run: &Path,
    inputs: &[String],
    out: &Path,
    extra: &[&str],
    env: &[(&str, String)],
) -> (i32, String, String) {
    let mut cmd = Command::new(spam_cli());
    cmd.args([
        "classify",
        "--model",
        run.to_str().expect("utf-8"),
        "--file",
    ]);
    cmd.args(inputs);
    cmd.args(["--output", out.to_str().expect("utf-8")]);
    cmd.args(extra);
    without_scheduler_vars(&mut cmd);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().expect("spawn spam-cli");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The rows of a Parquet part, with its `prob_<class>` columns in order.
fn read_part(path: &Path) -> (Vec<String>, Vec<Row>) {
    let file = std::fs::File::open(path).expect("part");
    let reader = ParquetRecordBatchReaderBuilder::try_new(file)
        .expect("parquet")
        .build()
        .expect("reader");
    let mut rows = Vec::new();
    let mut names = Vec::new();
    for batch in reader {
        let batch = batch.expect("batch");
        let schema = batch.schema();
        names = schema.fields().iter().map(|f| f.name().clone()).collect();
        let string = |name: &str| {
            batch
                .column_by_name(name)
                .map(|c| c.as_string::<i32>().clone())
        };
        let files = string("file").expect("file column");
        let ids = string("id");
        let labels = string("label").expect("label column");
        let row = batch
            .column_by_name("row")
            .expect("row column")
            .as_primitive::<Int64Type>()
            .clone();
        let probs: Vec<_> = names
            .iter()
            .filter(|n| n.starts_with("prob_"))
            .map(|n| {
                batch
                    .column_by_name(n)
                    .expect("prob")
                    .as_primitive::<Float64Type>()
                    .clone()
            })
            .collect();
        for i in 0..batch.num_rows() {
            use arrow_array::Array;
            rows.push(Row {
                file: files.value(i).to_string(),
                row: row.value(i),
                id: ids
                    .as_ref()
                    .and_then(|c| c.is_valid(i).then(|| c.value(i).to_string())),
                label: labels.is_valid(i).then(|| labels.value(i).to_string()),
                probs: probs
                    .iter()
                    .map(|p| p.is_valid(i).then(|| p.value(i)))
                    .collect(),
            });
        }
    }
    (names, rows)
}

/// The parts of `dir` in part order, concatenated.
fn read_parts(dir: &Path, n: usize) -> Vec<Row> {
    let mut all = Vec::new();
    for i in 0..n {
        let part = dir.join(format!("part-{i:05}-of-{n:05}.parquet"));
        all.extend(read_part(&part).1);
    }
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("dir")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    let want: Vec<String> = (0..n)
        .map(|i| format!("part-{i:05}-of-{n:05}.parquet"))
        .collect();
    assert_eq!(names, want, "the folder holds the parts and nothing else");
    all
}

fn assert_same(a: &[Row], b: &[Row], what: &str) {
    assert_eq!(a.len(), b.len(), "{what}: row count");
    for (x, y) in a.iter().zip(b) {
        assert_eq!(
            (&x.file, x.row, &x.id, &x.label),
            (&y.file, y.row, &y.id, &y.label),
            "{what}"
        );
        for (p, q) in x.probs.iter().zip(&y.probs) {
            match (p, q) {
                (Some(p), Some(q)) => assert!((p - q).abs() <= 1e-5, "{what}: {x:?} vs {y:?}"),
                (None, None) => {}
                _ => panic!("{what}: {x:?} vs {y:?}"),
            }
        }
    }
}

#[test]
fn shards_from_either_scheduler_cover_every_row_once_and_equal_one_run() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, run) = tiny_run(dir.path());
    let inputs = inputs(dir.path());
    // One task, outside any array job.
    let one = dir.path().join("one");
    let (code, stdout, stderr) = classify(&run, &inputs, &one, &[], &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("task 0/1 (one task, no array job)"),
        "{stderr}"
    );
    let (names, _) = read_part(&one.join("part-00000-of-00001.parquet"));
    assert_eq!(
        names,
        ["file", "row", "label", "score", "prob_ham", "prob_spam"]
    );
    let whole = read_parts(&one, 1);
    // 12 + 100 + 48 + 10 + 60 rows, each once, in input order.
    assert_eq!(whole.len(), 230);
    let per_file: BTreeMap<&str, usize> = whole.iter().fold(BTreeMap::new(), |mut m, r| {
        *m.entry(r.file.rsplit('/').next().unwrap_or(""))
            .or_default() += 1;
        m
    });
    assert_eq!(per_file["row_groups.parquet"], 100);
    assert_eq!(per_file["train-00000-of-00002.parquet"], 24);
    assert_eq!(per_file["messages.csv"], 60);
    let nulls: Vec<i64> = whole
        .iter()
        .filter(|r| r.label.is_none())
        .map(|r| r.row)
        .collect();
    assert_eq!(nulls, [1, 6], "null texts keep their rows, with no label");
    for pair in whole.windows(2) {
        let same_file = pair[0].file == pair[1].file;
        assert!(!same_file || pair[0].row + 1 == pair[1].row, "{pair:?}");
    }
    // 3 tasks of a Kubernetes Indexed Job, 7 of a Slurm array numbered from 1.
    for n in [3usize, 7] {
        let out = dir.path().join(format!("n{n}"));
        for i in 0..n {
            let env: Vec<(&str, String)> = if n == 3 {
                vec![("JOB_COMPLETION_INDEX", i.to_string())]
            } else {
                vec![
                    ("SLURM_ARRAY_TASK_ID", (i + 1).to_string()),
                    ("SLURM_ARRAY_TASK_MIN", "1".into()),
                    ("SLURM_ARRAY_TASK_COUNT", n.to_string()),
                ]
            };
            let extra: &[&str] = if n == 3 { &["--shards", "3"] } else { &[] };
            let (code, stdout, stderr) = classify(&run, &inputs, &out, extra, &env);
            assert_eq!(code, 0, "{stdout}\n{stderr}");
            let source = if n == 3 {
                "JOB_COMPLETION_INDEX"
            } else {
                "SLURM_ARRAY_TASK_ID"
            };
            assert!(
                stderr.contains(&format!("task {i}/{n} ({source})")),
                "{stderr}"
            );
        }
        assert_same(&read_parts(&out, n), &whole, &format!("{n} shards"));
        let sizes: Vec<usize> = (0..n)
            .map(|i| {
                read_part(&out.join(format!("part-{i:05}-of-{n:05}.parquet")))
                    .1
                    .len()
            })
            .collect();
        assert!(
            sizes.iter().max().unwrap_or(&0) - sizes.iter().min().unwrap_or(&0) <= 1,
            "{sizes:?}"
        );
    }
}

#[test]
fn ids_and_other_formats_travel_with_their_rows() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, run) = tiny_run(dir.path());
    let inputs: Vec<String> = inputs(dir.path())
        .into_iter()
        .filter(|f| f.ends_with("row_groups.parquet") || f.ends_with(".csv"))
        .collect();
    let out = dir.path().join("ids");
    for i in 0..2 {
        let shard = format!("{i}/2");
        let (code, stdout, stderr) = classify(
            &run,
            &inputs,
            &out,
            &["--shard", &shard, "--id-column", "id"],
            &[],
        );
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        assert!(
            stderr.contains(&format!("task {i}/2 (--shard)")),
            "{stderr}"
        );
    }
    let rows = read_parts(&out, 2);
    assert_eq!(rows.len(), 160);
    assert_eq!(rows[41].id.as_deref(), Some("1041"));
    assert_eq!(rows[105].id.as_deref(), Some("m5"));
    // CSV and JSON lines parts: the same rows and labels.
    for format in ["csv", "jsonl"] {
        let out = dir.path().join(format);
        let (code, stdout, stderr) = classify(
            &run,
            &inputs,
            &out,
            &["--format", format, "--id-column", "id"],
            &[],
        );
        assert_eq!(code, 0, "{stdout}\n{stderr}");
        let text = std::fs::read_to_string(out.join(format!("part-00000-of-00001.{format}")))
            .expect("part");
        let lines: Vec<&str> = text.lines().collect();
        if format == "csv" {
            assert_eq!(lines[0], "file,row,id,label,score,prob_ham,prob_spam");
            assert_eq!(lines.len(), 161);
            let fields: Vec<&str> = lines[106].split(',').collect();
            assert_eq!(
                (fields[1], fields[2], fields[3]),
                ("5", "m5", rows[105].label.as_deref().unwrap_or(""))
            );
        } else {
            assert_eq!(lines.len(), 160);
            let row: serde_json::Value = serde_json::from_str(lines[105]).expect("json");
            assert_eq!(row["id"], "m5");
            assert_eq!(row["label"].as_str(), rows[105].label.as_deref());
        }
    }
    // Parquet output needs a folder; stdout takes csv or jsonl.
    let (code, _, stderr) = run_cli(&[
        "classify",
        "--model",
        run.to_str().expect("utf-8"),
        "--file",
        &inputs[0],
        "--format",
        "parquet",
    ]);
    assert_ne!(code, 0, "{stderr}");
    assert!(stderr.contains("--output DIR"), "{stderr}");
}

#[test]
fn a_retried_task_is_a_no_op_and_another_job_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, run) = tiny_run(dir.path());
    let inputs = inputs(dir.path());
    let out = dir.path().join("out");
    let env = || vec![("JOB_COMPLETION_INDEX", "1".to_string())];
    let (code, _, stderr) = classify(&run, &inputs, &out, &["--shards", "3"], &env());
    assert_eq!(code, 0, "{stderr}");
    let part = out.join("part-00001-of-00003.parquet");
    let before = std::fs::read(&part).expect("part");
    let modified = std::fs::metadata(&part)
        .and_then(|m| m.modified())
        .expect("mtime");
    let (code, stdout, stderr) = classify(&run, &inputs, &out, &["--shards", "3"], &env());
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stdout.contains("is already there") && stdout.contains("nothing to do"),
        "{stdout}"
    );
    assert_eq!(
        std::fs::metadata(&part)
            .and_then(|m| m.modified())
            .expect("mtime"),
        modified
    );
    // Other inputs (or another model) would mix two jobs in one folder.
    let (code, _, stderr) = classify(&run, &inputs[1..], &out, &["--shards", "3"], &env());
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("written by another job") && stderr.contains("--overwrite"),
        "{stderr}"
    );
    // Another number of tasks in the same folder is refused too.
    let (code, _, stderr) = classify(&run, &inputs, &out, &["--shard", "0/2"], &[]);
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("another number of tasks"), "{stderr}");
    // A Kubernetes index without the Job's size is refused before any work.
    let (code, _, stderr) = classify(&run, &inputs, &dir.path().join("k"), &[], &env());
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("JOB_COMPLETION_INDEX=1") && stderr.contains("--shards N"),
        "{stderr}"
    );
    // Another threshold is another job too; --overwrite redoes the part, which then records it.
    let threshold = ["--shards", "3", "--threshold", "0.9"];
    let (code, _, stderr) = classify(&run, &inputs, &out, &threshold, &env());
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("written by another job"), "{stderr}");
    let (code, stdout, stderr) = classify(
        &run,
        &inputs,
        &out,
        &[&threshold[..], &["--overwrite"]].concat(),
        &env(),
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Wrote"), "{stdout}");
    assert_ne!(std::fs::read(&part).expect("part"), before);
}

#[test]
fn a_killed_task_leaves_no_part_and_its_retry_finishes() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, run) = tiny_run(dir.path());
    // Enough rows that the task is still writing when it is killed.
    let csv = dir.path().join("many.csv");
    let mut text = String::from("text\n");
    for i in 0..200_000 {
        text += &format!(
            "message {i} of many; some longer than others {}\n",
            "word ".repeat(i % 40)
        );
    }
    std::fs::write(&csv, text).expect("csv");
    let inputs = vec![csv.to_str().expect("utf-8").to_string()];
    let out = dir.path().join("out");
    let mut child = Command::new(spam_cli())
        .args([
            "classify",
            "--model",
            run.to_str().expect("utf-8"),
            "--file",
            &inputs[0],
        ])
        .args(["--output", out.to_str().expect("utf-8"), "--shard", "0/1"])
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(dir.path().join("stderr")).expect("stderr"))
        .spawn()
        .expect("spawn");
    let started = Instant::now();
    let temp = || -> Option<PathBuf> {
        std::fs::read_dir(&out)
            .ok()?
            .flatten()
            .map(|e| e.path())
            .find(|p| p.to_string_lossy().ends_with(".tmp"))
    };
    while temp().is_none() {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the task never started writing"
        );
        assert!(
            child.try_wait().expect("wait").is_none(),
            "the task ended before it was killed"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("kill");
    child.wait().expect("wait");
    let part = out.join("part-00000-of-00001.parquet");
    assert!(!part.exists(), "a killed task left a part");
    let (code, stdout, stderr) = classify(&run, &inputs, &out, &["--shard", "0/1"], &[]);
    assert_eq!(code, 0, "{stdout}\n{stderr}");
    assert_eq!(read_part(&part).1.len(), 200_000);
    assert!(temp().is_none(), "the killed try's temporary file is left");
}

/// `docs/scale-out`'s manifests run here as their schedulers would run them: the Indexed
/// Job's command line once per index with `JOB_COMPLETION_INDEX`, the Slurm script once per
/// task with the `SLURM_ARRAY_TASK_*` variables; their parts equal one unsharded run.
#[test]
fn the_documented_manifests_cover_every_row_once() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (_, run) = tiny_run(dir.path());
    let data = fixture("row_groups.parquet");
    let bin_dir = spam_cli().parent().expect("bin dir").to_path_buf();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let one = dir.path().join("one");
    let (code, _, stderr) = classify(&run, std::slice::from_ref(&data), &one, &[], &[]);
    assert_eq!(code, 0, "{stderr}");
    let whole = read_parts(&one, 1);
    let docs = root().join("docs/scale-out");
    let run_task = |script: &str, out: &Path, vars: Vec<(&str, String)>| {
        let mut cmd = Command::new("bash");
        cmd.args(["-c", script]).current_dir(dir.path());
        without_scheduler_vars(&mut cmd);
        cmd.env("PATH", &path)
            .env("MODEL", &run)
            .env("DATA", &data)
            .env("OUT", out);
        cmd.envs(vars);
        let output = cmd.output().expect("bash");
        let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
        assert!(output.status.success(), "{script}: {stderr}");
        stderr
    };
    // Kubernetes: the container's command line, once per completion index.
    let manifest = std::fs::read_to_string(docs.join("classify-job.yaml")).expect("manifest");
    let n = number_after(&manifest, "completions:");
    let line = manifest
        .lines()
        .find(|l| l.contains("spam-cli classify"))
        .expect("command")
        .trim();
    assert!(line.contains(&format!("--shards {n}")), "{line}");
    let out = dir.path().join("k8s");
    for i in 0..n {
        let stderr = run_task(line, &out, vec![("JOB_COMPLETION_INDEX", i.to_string())]);
        assert!(
            stderr.contains(&format!("task {i}/{n} (JOB_COMPLETION_INDEX)")),
            "{stderr}"
        );
    }
    assert_same(&read_parts(&out, n), &whole, "the Indexed Job");
    // Slurm: the whole batch script, once per array task.
    let script = std::fs::read_to_string(docs.join("classify.sbatch")).expect("sbatch");
    let n = number_after(&script, "--array=0-") + 1;
    let out = dir.path().join("slurm");
    for i in 0..n {
        let vars = vec![
            ("SLURM_ARRAY_TASK_ID", i.to_string()),
            ("SLURM_ARRAY_TASK_MIN", "0".into()),
            ("SLURM_ARRAY_TASK_COUNT", n.to_string()),
        ];
        let stderr = run_task(&script, &out, vars);
        assert!(
            stderr.contains(&format!("task {i}/{n} (SLURM_ARRAY_TASK_ID)")),
            "{stderr}"
        );
    }
    assert_same(&read_parts(&out, n), &whole, "the Slurm array");
}
