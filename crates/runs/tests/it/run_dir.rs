//! Run directories: built under a staging name and moved into place whole, never replaced
//! without `overwrite`, never mixing two runs; leftovers of killed runs swept; checkpoint
//! writes that fail keep the previous checkpoint; what `resume` may change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use spam_model::PadTo;
use spam_model::Trainable;
use spam_runs::{FineTuneOptions, RunConfig, fine_tune, resume};
use spam_runs::{RunEvent, RunEvents};
use spam_train::{AdamWConfig, RunOptions, TrainConfig, test_hooks, train};

use crate::common::{small_run, tiny_data, tiny_model};

/// Options that record the events of a run.
fn recorded() -> (FineTuneOptions, Arc<Mutex<Vec<RunEvent>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&seen);
    let options = FineTuneOptions {
        events: RunEvents::new(move |e| sink.lock().expect("events").push(e.clone())),
        ..Default::default()
    };
    (options, seen)
}

/// Every file under `dir` with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut files = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let p = e.expect("entry").path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let bytes = std::fs::read(&p).expect("read");
                files.insert(p.strip_prefix(dir).expect("prefix").to_path_buf(), bytes);
            }
        }
    }
    files
}

/// The names in `dir` that start with a dot (staging and replaced-run folders).
fn hidden(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect()
}

fn epochs_in(run: &Path) -> usize {
    let m: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("metrics.json")).expect("metrics"))
            .expect("json");
    m["epochs"].as_array().expect("epochs").len()
}

fn with_out(options: &FineTuneOptions, out: &Path) -> FineTuneOptions {
    FineTuneOptions {
        out_dir: Some(out.to_path_buf()),
        ..options.clone()
    }
}

#[test]
fn a_folder_that_holds_a_run_or_the_users_files_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = small_run(dir.path(), 1);
    let run = dir.path().join("run");
    let (options, _) = recorded();
    fine_tune(&config, &with_out(&options, &run)).expect("first run");
    let before = snapshot(&run);

    let err = fine_tune(&config, &with_out(&options, &run)).expect_err("non-empty --out");
    let msg = err.to_string();
    assert!(
        msg.contains("already holds a run") && msg.contains("--overwrite"),
        "{msg}"
    );
    assert_eq!(snapshot(&run), before, "the refused run changed the folder");

    // The user's own files: refused even with overwrite, and left alone.
    let mine = dir.path().join("mine");
    std::fs::create_dir(&mine).expect("mkdir");
    std::fs::write(mine.join("metrics.json"), "{\"mine\": true}").expect("write");
    let overwrite = FineTuneOptions {
        overwrite: true,
        ..with_out(&options, &mine)
    };
    let msg = fine_tune(&config, &overwrite)
        .expect_err("a folder that is not a run")
        .to_string();
    assert!(msg.contains("not a run directory"), "{msg}");
    assert_eq!(
        std::fs::read_to_string(mine.join("metrics.json")).expect("read"),
        "{\"mine\": true}"
    );
    // A run directory with a file of the user's in it is not replaced either.
    std::fs::write(run.join("notes.txt"), "mine").expect("write");
    let msg = fine_tune(&config, &with_out(&overwrite, &run))
        .expect_err("a run holding the user's file")
        .to_string();
    assert!(msg.contains("`notes.txt`"), "{msg}");
    assert!(run.join("notes.txt").is_file());
    std::fs::remove_file(run.join("notes.txt")).expect("rm");

    // Nor one with the user's file inside its subfolders: --overwrite checks the whole tree.
    for (sub, name) in [
        ("model", "notes.txt"),
        ("data", "extra.csv"),
        ("checkpoint", "mine"),
    ] {
        let path = run.join(sub).join(name);
        std::fs::create_dir_all(run.join(sub)).expect("mkdir");
        std::fs::write(&path, "mine").expect("write");
        let msg = fine_tune(&config, &with_out(&overwrite, &run))
            .expect_err("a run holding the user's file in a subfolder")
            .to_string();
        assert!(msg.contains(&format!("`{sub}/{name}`")), "{msg}");
        assert_eq!(std::fs::read_to_string(&path).expect("kept"), "mine");
        std::fs::remove_file(&path).expect("rm");
    }
    // What a run wrote there is replaced as before.
    fine_tune(&config, &with_out(&overwrite, &run)).expect("overwrite a clean run");
}

#[test]
fn overwrite_replaces_a_run_completely_and_leaves_no_staging_folder() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let config = small_run(dir.path(), 1);
    let run = runs.join("run");
    let (options, _) = recorded();
    fine_tune(&config, &with_out(&options, &run)).expect("first run");
    // Something the first run left that the second does not write: it must not survive.
    std::fs::create_dir(run.join("checkpoint.old")).expect("mkdir");
    std::fs::write(run.join("checkpoint.old").join("state.json"), "{}").expect("write");

    let mut second = config.clone();
    second.train.epochs = 2;
    let overwrite = FineTuneOptions {
        overwrite: true,
        ..with_out(&options, &run)
    };
    fine_tune(&second, &overwrite).expect("second run");
    let saved: RunConfig =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(saved, second);
    assert_eq!(epochs_in(&run), 2);
    assert!(
        !run.join("checkpoint.old").exists(),
        "the old run leaked in"
    );
    assert!(run.join("model").is_dir() && run.join("checkpoint").is_dir());
    assert_eq!(hidden(&runs), Vec::<String>::new());
}

#[test]
fn a_run_that_fails_half_way_leaves_the_previous_run_untouched_and_can_be_resumed() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let config = small_run(dir.path(), 1);
    let run = runs.join("run");
    let (options, seen) = recorded();
    fine_tune(&config, &with_out(&options, &run)).expect("first run");
    let before = snapshot(&run);

    // A second run "killed" after 3 steps, with a checkpoint every step.
    let mut second = config.clone();
    second.train.epochs = 2;
    second.train.checkpoint_every = Some(1);
    let killed = FineTuneOptions {
        overwrite: true,
        ..with_out(&options, &run)
    };
    let err = {
        let _stop = test_hooks::stop_after_steps(3);
        fine_tune(&second, &killed).expect_err("stopped")
    };
    assert!(test_hooks::is_stopped_for_test(&*err), "{err}");
    assert_eq!(
        snapshot(&run),
        before,
        "a failed run changed the previous one"
    );
    let kept = seen.lock().expect("events").iter().find_map(|e| match e {
        RunEvent::RunKept { staging, target } => Some((staging.clone(), target.clone())),
        _ => None,
    });
    let (staging, target) = kept.expect("a RunKept event");
    assert_eq!(target, run);
    assert!(staging.join("checkpoint/state.json").is_file());

    // A new run into the same folder must not silently drop the interrupted one.
    let msg = fine_tune(&second, &with_out(&options, &run))
        .expect_err("interrupted run pending")
        .to_string();
    assert!(
        msg.contains("interrupted run") && msg.contains("--resume"),
        "{msg}"
    );

    // Resume continues the interrupted run and moves it into place.
    resume(&run, &options).expect("resume");
    assert_eq!(epochs_in(&run), 2);
    assert_eq!(hidden(&runs), Vec::<String>::new());

    // A diverging run dies before its first checkpoint: nothing is kept, and the message
    // says no checkpoint was written (it used to name a folder that did not exist).
    let before = snapshot(&run);
    let mut diverging = config.clone();
    diverging.train.optimizer = AdamWConfig {
        lr: 1e30,
        weight_decay: 0.0,
        ..Default::default()
    };
    let msg = fine_tune(
        &diverging,
        &FineTuneOptions {
            overwrite: true,
            ..with_out(&options, &run)
        },
    )
    .expect_err("NaN")
    .to_string();
    assert!(msg.contains("No checkpoint was written"), "{msg}");
    assert_eq!(snapshot(&run), before);
    assert_eq!(hidden(&runs), Vec::<String>::new());
}

#[test]
fn leftovers_of_killed_runs_are_swept_and_resumable_ones_kept() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    // No process has pid 999999999 (Linux's limit is 2^22); pid 1 is always alive.
    let dead = runs.join(".run.partial-999999999-0");
    let dead_old = runs.join(".other.old-999999999-3");
    let resumable = runs.join(".other.partial-999999999-1");
    let alive = runs.join(".run.partial-1-0");
    // Named on another machine (a sweep on shared storage): its pid means nothing here, and
    // it is fresh, so it stays.
    let elsewhere = runs.join(".trial-003.partial-999999999-0-0badcafe");
    for d in [&dead, &dead_old, &resumable, &alive, &elsewhere] {
        std::fs::create_dir_all(d.join("checkpoint.new")).expect("mkdir");
        std::fs::write(d.join("checkpoint.new/optimizer.safetensors"), b"\x00").expect("write");
    }
    std::fs::create_dir_all(runs.join("other")).expect("mkdir");
    std::fs::create_dir_all(resumable.join("checkpoint")).expect("mkdir");
    std::fs::write(resumable.join("checkpoint/state.json"), "{}").expect("write");

    let config = small_run(dir.path(), 1);
    let (options, seen) = recorded();
    fine_tune(&config, &with_out(&options, &runs.join("run"))).expect("run");
    #[cfg(target_os = "linux")]
    {
        assert!(!dead.exists() && !dead_old.exists());
        assert!(alive.exists(), "the folder of a live process was removed");
        assert!(
            elsewhere.exists(),
            "another machine's live folder was removed"
        );
        let removed: Vec<PathBuf> = seen
            .lock()
            .expect("events")
            .iter()
            .filter_map(|e| match e {
                RunEvent::StaleRemoved { path, .. } => Some(path.clone()),
                _ => None,
            })
            .collect();
        assert!(
            removed.contains(&dead) && removed.contains(&dead_old),
            "{removed:?}"
        );
    }
    assert!(resumable.exists(), "a resumable run was removed");
    assert!(runs.join("run/metrics.json").is_file());
}

#[test]
fn resume_applies_more_epochs_refuses_fewer_and_a_failed_resume_changes_nothing() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let config = small_run(dir.path(), 1);
    let run = runs.join("run");
    let (options, seen) = recorded();
    fine_tune(&config, &with_out(&options, &run)).expect("first run");
    let before = snapshot(&run);

    // Killed half-way through the added epochs: the finished run is untouched.
    let extend = FineTuneOptions {
        epochs: Some(3),
        ..options.clone()
    };
    {
        let _stop = test_hooks::stop_after_steps(2);
        resume(&run, &extend).expect_err("stopped");
    }
    assert_eq!(snapshot(&run), before, "a failed resume changed the run");

    let extend = FineTuneOptions {
        epochs: Some(3),
        ..options.clone()
    };
    resume(&run, &extend).expect("resume with more epochs");
    assert_eq!(epochs_in(&run), 3);
    assert!(seen.lock().expect("events").iter().any(|e| matches!(
        e,
        RunEvent::ResumeChanged { setting, from, to } if setting == "epochs" && from == "1" && to == "3"
    )));
    let saved: RunConfig =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(saved.train.epochs, 3);
    assert_eq!(hidden(&runs), Vec::<String>::new());

    let fewer = FineTuneOptions {
        epochs: Some(2),
        ..options.clone()
    };
    let msg = resume(&run, &fewer).expect_err("fewer epochs").to_string();
    assert!(msg.contains("at least 3"), "{msg}");
    let elsewhere = with_out(&options, &runs.join("copy"));
    let msg = resume(&run, &elsewhere).expect_err("--out").to_string();
    assert!(msg.contains("in place"), "{msg}");
    assert_eq!(hidden(&runs), Vec::<String>::new());
}

#[test]
fn a_failed_checkpoint_write_keeps_the_previous_checkpoint() {
    let dir = tempfile::tempdir().expect("tempdir");
    let data = tiny_data(PadTo::Fixed(16));
    let model = tiny_model(spam_model::TokenPosition::Last, Trainable::LastBlock);
    let cfg = TrainConfig {
        checkpoint_every: Some(4),
        epochs: 2,
        eval_freq: 5,
        eval_iter: 2,
        ..Default::default()
    };
    let _fail = test_hooks::fail_checkpoint_write(2);
    let err = train(
        &model,
        &data,
        &cfg,
        &RunOptions {
            checkpoint_dir: Some(dir.path().to_path_buf()),
            ..Default::default()
        },
    )
    .expect_err("the second checkpoint write fails");
    let msg = format!("{err}");
    assert!(msg.contains("previous one"), "{msg}");
    let state: serde_json::Value = serde_json::from_slice(
        &std::fs::read(dir.path().join("checkpoint/state.json")).expect("old checkpoint"),
    )
    .expect("json");
    assert_eq!(state["position"]["global_step"], 4);
    assert!(!dir.path().join("checkpoint.new").exists());
    assert!(!dir.path().join("checkpoint.old").exists());
}

#[test]
fn the_nan_message_names_a_checkpoint_that_exists() {
    let data = tiny_data(PadTo::Fixed(16));
    let cfg = TrainConfig {
        optimizer: AdamWConfig {
            lr: 1e30,
            weight_decay: 0.0,
            ..Default::default()
        },
        eval_freq: 5,
        eval_iter: 2,
        ..Default::default()
    };
    for every in [None, Some(1)] {
        let dir = tempfile::tempdir().expect("tempdir");
        let model = tiny_model(spam_model::TokenPosition::Last, Trainable::LastBlock);
        let msg = train(
            &model,
            &data,
            &TrainConfig {
                checkpoint_every: every,
                ..cfg.clone()
            },
            &RunOptions {
                checkpoint_dir: Some(dir.path().to_path_buf()),
                ..Default::default()
            },
        )
        .expect_err("diverges")
        .to_string();
        match every {
            None => assert!(msg.contains("No checkpoint was written"), "{msg}"),
            Some(_) => {
                let named = msg
                    .split("kept in ")
                    .nth(1)
                    .and_then(|r| r.split(';').next())
                    .unwrap_or_else(|| panic!("no folder named: {msg}"));
                assert!(
                    Path::new(named).join("state.json").is_file(),
                    "{named} is not a checkpoint"
                );
            }
        }
    }
}

#[test]
fn a_run_moved_aside_by_a_killed_replacement_is_put_back() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let config = small_run(dir.path(), 1);
    let run = runs.join("run");
    let (options, seen) = recorded();
    fine_tune(&config, &with_out(&options, &run)).expect("first run");
    let before = snapshot(&run);
    // What a kill between "old run aside" and "new run in" leaves.
    std::fs::rename(&run, runs.join(".run.old-999999999-0")).expect("rename");

    fine_tune(&config, &with_out(&options, &runs.join("next"))).expect("next run");
    #[cfg(target_os = "linux")]
    {
        assert_eq!(snapshot(&run), before);
        assert!(seen.lock().expect("events").iter().any(|e| matches!(
            e,
            RunEvent::StaleRemoved { why, .. } if why.contains("put back")
        )));
    }
    assert_eq!(hidden(&runs).len(), usize::from(!cfg!(target_os = "linux")));
}

/// A leftover of another run into the same folder (other settings: a refused or killed
/// concurrent run) is never what `--resume DIR` continues: DIR's own run continues, the
/// leftover stays, and naming the leftover continues it (replacing DIR, as asked).
#[test]
fn resume_continues_only_its_own_run_unless_a_leftover_is_named() {
    let dir = tempfile::tempdir().expect("tempdir");
    let runs = dir.path().join("runs");
    let config = small_run(dir.path(), 1);
    let run = runs.join("run");
    let (options, seen) = recorded();
    fine_tune(&config, &with_out(&options, &run)).expect("first run");

    // Another run into the same folder, with other settings, killed after 3 steps.
    let mut other = config.clone();
    other.train.optimizer.lr = 5e-4;
    other.train.epochs = 2;
    other.train.checkpoint_every = Some(1);
    let err = {
        let _stop = test_hooks::stop_after_steps(3);
        fine_tune(
            &other,
            &FineTuneOptions {
                overwrite: true,
                ..with_out(&options, &run)
            },
        )
        .expect_err("stopped")
    };
    assert!(test_hooks::is_stopped_for_test(&*err), "{err}");
    let leftover = seen
        .lock()
        .expect("events")
        .iter()
        .find_map(|e| match e {
            RunEvent::RunKept { staging, .. } => Some(staging.clone()),
            _ => None,
        })
        .expect("a RunKept event");

    // `--resume run --epochs 2`: the finished run's own continuation, its own settings.
    let more = FineTuneOptions {
        epochs: Some(2),
        ..options.clone()
    };
    resume(&run, &more).expect("resume the run itself");
    let saved: RunConfig =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(saved.train.optimizer.lr, config.train.optimizer.lr);
    assert_eq!(epochs_in(&run), 2);
    assert!(
        leftover.join("checkpoint").is_dir(),
        "the leftover was taken"
    );

    // Named, the leftover continues and replaces the run.
    resume(&leftover, &options).expect("resume the named leftover");
    let saved: RunConfig =
        serde_json::from_slice(&std::fs::read(run.join("config.json")).expect("config"))
            .expect("json");
    assert_eq!(saved.train.optimizer.lr, 5e-4);
    assert!(!leftover.exists());
    assert_eq!(hidden(&runs), Vec::<String>::new());
}
