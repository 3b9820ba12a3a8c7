//! The experiments table: rows map onto run settings; the table prints beside the published one.

use spam_model::PadTo;
use spam_model::{ModelSize, TokenPosition, Trainable};
use spam_runs::RunConfig;
use spam_runs::{
    ExperimentResult as RowResult, ExperimentSetup, ExperimentsDocOptions,
    default_experiment_rows as default_rows, experiment_config as config_for,
    experiment_rows as rows, experiments_document, experiments_table as markdown_table,
    finished_experiments, run_experiments,
};
use spam_runs::{RunEvent, RunEvents, Sweep, chapter_sweep, sweep_report};
use spam_train::records::{FinalAccuracy, Timing};
use spam_train::{Report, TrainData};

#[test]
fn the_table_has_the_chapters_19_rows_and_the_defaults_are_the_124m_ones() {
    let all = rows();
    assert_eq!(all.len(), 19);
    assert_eq!(
        all.iter().map(|r| r.number).collect::<Vec<_>>(),
        (1..=19).collect::<Vec<_>>()
    );
    assert_eq!(
        default_rows(),
        vec![1, 2, 3, 4, 5, 10, 11, 13, 14, 15, 16, 17, 18, 19]
    );
}

#[test]
fn rows_change_only_what_the_table_says() {
    let base = RunConfig::default();
    let missing = &ExperimentSetup::new("/nonexistent/weights");
    let by_number = |n: usize| rows().into_iter().find(|r| r.number == n).expect("row");

    let (c, pretrained) = config_for(&base, &by_number(1), missing);
    assert!(!pretrained, "no weights on disk: random ones are used");
    assert_eq!(c.model.weights.to_string(), "random");
    assert_eq!(c.model.trainable, Trainable::LastBlock);
    assert_eq!(c.data.padding.to_string(), "longest");
    assert_eq!(c.train, base.train);

    let (c, _) = config_for(&base, &by_number(15), missing);
    assert_eq!((c.train.batch_size, c.train.grad_accum_steps), (1, 8));
    assert_eq!(c.data.padding.to_string(), "none");

    let (c, _) = config_for(&base, &by_number(16), missing);
    assert_eq!(c.model.token_position, TokenPosition::Flexible);
    let (c, _) = config_for(&base, &by_number(17), missing);
    assert!(!c.model.causal_mask);
    let (c, _) = config_for(&base, &by_number(12), missing);
    assert_eq!(c.model.size, ModelSize::S1558M);
    assert_eq!(
        c.model.trainable,
        Trainable::Lora {
            rank: 16,
            alpha: 8.0
        }
    );

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("124M")).expect("mkdir");
    let (c, pretrained) = config_for(&base, &by_number(1), &ExperimentSetup::new(dir.path()));
    assert!(pretrained);
    assert!(c.model.weights.to_string().ends_with("124M"));
}

#[test]
fn the_markdown_table_marks_rows_that_ran_on_random_weights() {
    let r = |number, pretrained_weights| RowResult {
        number,
        description: String::new(),
        pretrained_weights,
        train_accuracy: 0.9,
        validation_accuracy: 0.8,
        test_accuracy: 0.85,
        minutes: 1.5,
        path: "cached".into(),
        epochs: 5,
        same_run_as: None,
    };
    let table = markdown_table(&[r(1, false), r(10, true)]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("| row |"));
    assert!(
        lines[2].starts_with("| 1 |") && lines[2].contains("96.63 / 99.33 / 95.00"),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].contains("90.00 / 80.00 / 85.00") && lines[2].ends_with("| random* |"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("| 10 |") && lines[3].ends_with("| random |"),
        "{}",
        lines[3]
    );
    assert!(table.contains("cargo xtask fetch --weights"));
}

fn result(number: usize) -> RowResult {
    RowResult {
        number,
        description: String::new(),
        pretrained_weights: false,
        train_accuracy: 1.0,
        validation_accuracy: 0.9597,
        test_accuracy: 0.96,
        minutes: 4.25,
        path: "cached (blocks 0..11 ...)".into(),
        epochs: 5,
        same_run_as: None,
    }
}

#[test]
fn the_document_lists_every_row_and_says_why_one_did_not_run() {
    let missing = std::path::Path::new("/nonexistent/weights");
    let opts = ExperimentsDocOptions {
        setup: "This machine: 2 CPU cores.".into(),
    };
    let page = experiments_document(&[result(1), result(10)], missing, &opts);
    assert!(page.starts_with("# "));
    assert!(page.contains("This machine: 2 CPU cores."));
    let rows: Vec<&str> = page
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| row"))
        .collect();
    assert_eq!(rows.len(), 19, "{page}");
    assert!(
        rows[0].starts_with("| 1 |")
            && rows[0].contains(
                "| 100.00 / 95.97 / 96.00 | 4.25 min | 5 | random (pretrained not available) |"
            ),
        "{}",
        rows[0]
    );
    assert!(
        rows[9].starts_with("| 10 |") && rows[9].contains("random (as published)"),
        "{}",
        rows[9]
    );
    assert!(
        rows[5].contains("not run: needs the pretrained 355M weights"),
        "{}",
        rows[5]
    );
    assert!(rows[1].contains("| not run |"), "{}", rows[1]);
    // Nothing is invented for a row that did not run.
    assert!(
        !rows[1].contains('%') && !rows[1].contains(" min | 5 |"),
        "{}",
        rows[1]
    );
}

/// A row whose run directory holds a finished run with the same settings is reused, not run
/// again; the page is made from the finished runs on disk.
#[test]
fn a_partly_run_table_continues_where_it_stopped() {
    let base = RunConfig::default(); // no data source: running a row would fail at once
    let missing = &ExperimentSetup::new("/nonexistent/weights");
    let out = tempfile::tempdir().expect("tempdir");
    let row1 = rows().into_iter().find(|r| r.number == 1).expect("row 1");
    let (config, _) = config_for(&base, &row1, missing);
    let data = TrainData {
        train: Default::default(),
        validation: Default::default(),
        test: Default::default(),
        pad: PadTo::Fixed(8),
        pad_id: 0,
        label_names: vec!["ham".into(), "spam".into()],
    };
    let mut report = Report::new(&config.train, "cached", &data);
    report.final_accuracy = Some(FinalAccuracy {
        train_accuracy: 1.0,
        validation_accuracy: 0.95,
        test_accuracy: 0.96,
    });
    report.timing = Some(Timing {
        total_seconds: 240.0,
        cache_seconds: 0.0,
        training_seconds: 0.0,
        final_eval_seconds: 0.0,
        seconds_per_step: 0.0,
    });
    let dir = out.path().join("row-1");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(&config).expect("json"),
    )
    .expect("write");
    std::fs::write(
        dir.join("metrics.json"),
        serde_json::to_string(&report).expect("json"),
    )
    .expect("write");

    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let sink = seen.clone();
    let events = RunEvents::new(move |e: &RunEvent| sink.lock().expect("lock").push(e.clone()));
    let results = run_experiments(&base, &[1], missing, out.path(), &events, |_| {})
        .expect("row 1 is reused, not run");
    assert_eq!(results.len(), 1);
    assert_eq!((results[0].test_accuracy, results[0].minutes), (0.96, 4.0));
    assert!(
        seen.lock()
            .expect("lock")
            .iter()
            .any(|e| matches!(e, RunEvent::RowReused { number: 1, .. }))
    );
    assert_eq!(finished_experiments(&base, missing, out.path()).len(), 1);

    // Other settings: the finished run is not reused (and row 1 then fails for want of data).
    let mut other = base.clone();
    other.train.epochs = 1;
    assert!(run_experiments(&other, &[1], missing, out.path(), &events, |_| {}).is_err());
    assert!(finished_experiments(&other, missing, out.path()).is_empty());

    // One epoch for row 1 alone: the same run as `other`'s row 1, so `other`'s finished
    // run would be reused; here only the 5-epoch run exists, so it is not.
    let mut one_epoch = ExperimentSetup::new("/nonexistent/weights");
    one_epoch.epochs.insert(1, 1);
    let (c, _) = config_for(&base, &row1, &one_epoch);
    assert_eq!(c.train.epochs, 1);
    assert!(finished_experiments(&base, &one_epoch, out.path()).is_empty());
}

/// Row 5 (all layers, pretrained) without pretrained weights has row 10's settings: a
/// finished row 10 serves both, and the page says whose run it is.
#[test]
fn a_row_with_another_rows_settings_reuses_its_run() {
    let base = RunConfig::default();
    let missing = &ExperimentSetup::new("/nonexistent/weights");
    let out = tempfile::tempdir().expect("tempdir");
    let row = |n: usize| rows().into_iter().find(|r| r.number == n).expect("row");
    let (five, _) = config_for(&base, &row(5), missing);
    let (ten, _) = config_for(&base, &row(10), missing);
    assert_eq!(five, ten, "random weights: rows 5 and 10 are one run");
    write_finished(&out.path().join("row-10"), &ten, 0.93);

    let results = run_experiments(
        &base,
        &[5],
        missing,
        out.path(),
        &RunEvents::default(),
        |_| {},
    )
    .expect("row 5 reuses row 10's run");
    assert_eq!(results[0].same_run_as, Some(10));
    assert_eq!(results[0].test_accuracy, 0.93);
    assert!(!out.path().join("row-5").exists());

    let done = finished_experiments(&base, missing, out.path());
    let numbers: Vec<_> = done.iter().map(|r| (r.number, r.same_run_as)).collect();
    assert_eq!(numbers, vec![(5, Some(10)), (10, None)]);
    let page = experiments_document(&done, &missing.weights_root, &Default::default());
    let line5 = page
        .lines()
        .find(|l| l.starts_with("| 5 |"))
        .expect("row 5");
    assert!(line5.contains("same run as row 10"), "{line5}");
    assert!(line5.contains("93.00"), "{line5}");
}

fn write_finished(dir: &std::path::Path, config: &RunConfig, test_accuracy: f64) {
    let data = TrainData {
        train: Default::default(),
        validation: Default::default(),
        test: Default::default(),
        pad: PadTo::Fixed(8),
        pad_id: 0,
        label_names: vec!["ham".into(), "spam".into()],
    };
    let mut report = Report::new(&config.train, "cached", &data);
    report.final_accuracy = Some(FinalAccuracy {
        train_accuracy: 1.0,
        validation_accuracy: 0.9,
        test_accuracy,
    });
    std::fs::create_dir_all(dir).expect("mkdir");
    std::fs::write(
        dir.join("config.json"),
        serde_json::to_string(config).expect("json"),
    )
    .expect("write");
    std::fs::write(
        dir.join("metrics.json"),
        serde_json::to_string(&report).expect("json"),
    )
    .expect("write");
}

/// The data file named another way (here through `sub/..`; a relative path on the command
/// line is the usual case) is still the same run: the row is reused, not run again.
#[test]
fn a_finished_row_is_reused_whatever_the_spelling_of_its_data_file() {
    let out = tempfile::tempdir().expect("tempdir");
    let data = out.path().join("SMSSpamCollection");
    std::fs::write(&data, "ham\thi\n").expect("write");
    std::fs::create_dir(out.path().join("sub")).expect("mkdir");
    let missing = &ExperimentSetup::new("/nonexistent/weights");
    let row1 = rows().into_iter().find(|r| r.number == 1).expect("row 1");

    let mut written = RunConfig::default();
    written.data.source = data.clone();
    let (config, _) = config_for(&written, &row1, missing);
    write_finished(&out.path().join("row-1"), &config, 0.94);

    let mut base = RunConfig::default();
    base.data.source = out.path().join("sub").join("..").join("SMSSpamCollection");
    let done = finished_experiments(&base, missing, out.path());
    assert_eq!(done.len(), 1, "the same file under another name");
    assert_eq!(done[0].test_accuracy, 0.94);

    // Another file is another run.
    let other = out.path().join("other.txt");
    std::fs::write(&other, "ham\thi\n").expect("write");
    base.data.source = other;
    assert!(finished_experiments(&base, missing, out.path()).is_empty());
}

/// The table is a sweep of 19 points named `row-N`; each trial's run configuration is the
/// row's, for rows with and without pretrained weights on disk and with a row's own epochs.
#[test]
fn the_table_is_a_sweep_whose_trials_are_the_rows_unchanged() {
    let weights = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(weights.path().join("124M")).expect("mkdir");
    let mut with_epochs = ExperimentSetup::new(weights.path());
    with_epochs.epochs.extend([(5, 1), (1, 2)]);
    let mut base = RunConfig::default();
    base.data.source = "SMSSpamCollection".into();
    for setup in [
        ExperimentSetup::new("/nonexistent/weights"),
        ExperimentSetup::new(weights.path()),
        with_epochs,
    ] {
        let sweep = chapter_sweep(&base, &setup).expect("the table as a sweep");
        assert_eq!(sweep.trial_count(), 19);
        for row in rows() {
            let trial = sweep.trial(row.number - 1).expect("trial");
            assert_eq!(
                trial.config,
                config_for(&base, &row, &setup).0,
                "row {}",
                row.number
            );
            assert_eq!(
                sweep.trial_name(row.number - 1),
                format!("row-{}", row.number)
            );
        }
        // Its sweep file reads back as the same trials.
        let back = Sweep::parse(&sweep.to_toml().expect("toml")).expect("reads back");
        assert_eq!(back, sweep);
    }
    // A point holds what its row changes from row 1, the base.
    let sweep = chapter_sweep(&base, &ExperimentSetup::new(weights.path())).expect("sweep");
    let settings = |n: usize| {
        let t = sweep.trial(n - 1).expect("trial");
        t.settings
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
    };
    assert!(settings(1).is_empty());
    assert_eq!(settings(2), ["model.token_position=\"first\""]);
    assert_eq!(
        settings(15),
        [
            "data.padding=\"none\"",
            "train.batch_size=1",
            "train.grad_accum_steps=8"
        ]
    );
    assert_eq!(
        settings(10),
        ["model.trainable=\"all\"", "model.weights=\"random\""]
    );
}

/// What `experiments` leaves is a sweep folder: `sweep.toml` is the table, and `sweep report`
/// ranks the finished rows by folder name.
#[test]
fn an_experiments_folder_is_a_sweep_folder() {
    let base = RunConfig::default();
    let missing = &ExperimentSetup::new("/nonexistent/weights");
    let out = tempfile::tempdir().expect("tempdir");
    let sweep = chapter_sweep(&base, missing).expect("sweep");
    write_finished(
        &out.path().join("row-1"),
        &sweep.trial(0).expect("row 1").config,
        0.95,
    );
    write_finished(
        &out.path().join("row-16"),
        &sweep.trial(15).expect("row 16").config,
        0.97,
    );
    run_experiments(
        &base,
        &[1, 16],
        missing,
        out.path(),
        &RunEvents::default(),
        |_| {},
    )
    .expect("both reused");
    // Reuse alone writes no sweep file; running a row does. Save it as a run would.
    spam_runs::save_sweep(&sweep, out.path()).expect("saved");
    let saved = Sweep::read(&out.path().join("sweep.toml")).expect("sweep.toml");
    assert_eq!(saved.trial_count(), 19);
    let report = sweep_report(out.path()).expect("report");
    let folders: Vec<&str> = report.ranked.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(
        folders,
        ["row-1", "row-16"],
        "equal validation accuracy: by index"
    );
    assert_eq!(report.missing.len(), 17);
    assert_eq!(report.ranked[1].test_accuracy, 0.97);
}
