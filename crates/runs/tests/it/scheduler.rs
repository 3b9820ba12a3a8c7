//! The task index of an array job, from the schedulers' variables (a fake environment).

use std::collections::BTreeMap;

use spam_data::Shard;
use spam_runs::{TaskIndex, shard_for_task, task_from_env, task_index};

fn env(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let map: BTreeMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |name| map.get(name).cloned()
}

fn error(vars: &[(&str, &str)]) -> String {
    format!(
        "{:#}",
        task_from_env(env(vars)).expect_err(&format!("{vars:?} is refused"))
    )
}

#[test]
fn no_scheduler_no_index() {
    assert_eq!(task_from_env(env(&[])).expect("empty"), None);
    assert_eq!(
        task_from_env(env(&[("SLURM_JOB_ID", "77"), ("HOSTNAME", "n1")])).expect("a plain job"),
        None
    );
}

#[test]
fn a_kubernetes_indexed_job_gives_the_index_without_a_count() {
    let task = task_from_env(env(&[("JOB_COMPLETION_INDEX", "4")])).expect("k8s");
    assert_eq!(
        task,
        Some(TaskIndex {
            index: 4,
            count: None,
            source: "JOB_COMPLETION_INDEX"
        })
    );
}

#[test]
fn a_slurm_array_counts_from_its_first_id_in_its_steps() {
    let task = |vars: &[(&str, &str)]| task_from_env(env(vars)).expect("slurm").expect("a task");
    let plain = task(&[
        ("SLURM_ARRAY_TASK_ID", "3"),
        ("SLURM_ARRAY_TASK_COUNT", "6"),
    ]);
    assert_eq!(
        (plain.index, plain.count, plain.source),
        (3, Some(6), "SLURM_ARRAY_TASK_ID")
    );
    // --array=1-6: ids 1 to 6 are indexes 0 to 5.
    let from_one = task(&[
        ("SLURM_ARRAY_TASK_ID", "6"),
        ("SLURM_ARRAY_TASK_MIN", "1"),
        ("SLURM_ARRAY_TASK_COUNT", "6"),
    ]);
    assert_eq!((from_one.index, from_one.count), (5, Some(6)));
    // --array=10-20:5: ids 10, 15, 20.
    let stepped = task(&[
        ("SLURM_ARRAY_TASK_ID", "15"),
        ("SLURM_ARRAY_TASK_MIN", "10"),
        ("SLURM_ARRAY_TASK_STEP", "5"),
        ("SLURM_ARRAY_TASK_COUNT", "3"),
    ]);
    assert_eq!(stepped.index, 1);
    // No count: the caller checks the index against its work.
    let bare = task(&[("SLURM_ARRAY_TASK_ID", " 2 ")]);
    assert_eq!((bare.index, bare.count), (2, None));
}

#[test]
fn bad_values_are_errors_naming_the_variable_and_value() {
    for (vars, expected) in [
        (
            vec![("JOB_COMPLETION_INDEX", "one")],
            "JOB_COMPLETION_INDEX=\"one\"",
        ),
        (
            vec![("JOB_COMPLETION_INDEX", "-1")],
            "JOB_COMPLETION_INDEX=\"-1\"",
        ),
        (
            vec![("JOB_COMPLETION_INDEX", "")],
            "JOB_COMPLETION_INDEX=\"\"",
        ),
        (
            vec![("SLURM_ARRAY_TASK_ID", "2.5")],
            "SLURM_ARRAY_TASK_ID=\"2.5\"",
        ),
        (
            vec![
                ("SLURM_ARRAY_TASK_ID", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "x"),
            ],
            "SLURM_ARRAY_TASK_COUNT=\"x\"",
        ),
        (
            vec![("SLURM_ARRAY_TASK_ID", "0"), ("SLURM_ARRAY_TASK_MIN", "1")],
            "SLURM_ARRAY_TASK_ID=0 is below SLURM_ARRAY_TASK_MIN=1",
        ),
        (
            // --array=1,5,7: the id is not the index of a range.
            vec![
                ("SLURM_ARRAY_TASK_ID", "5"),
                ("SLURM_ARRAY_TASK_MIN", "1"),
                ("SLURM_ARRAY_TASK_COUNT", "3"),
            ],
            "SLURM_ARRAY_TASK_COUNT=3",
        ),
        (
            vec![
                ("SLURM_ARRAY_TASK_ID", "11"),
                ("SLURM_ARRAY_TASK_MIN", "10"),
                ("SLURM_ARRAY_TASK_STEP", "5"),
            ],
            "not on the array's grid",
        ),
    ] {
        let msg = error(&vars);
        assert!(msg.contains(expected), "{vars:?}: {msg}");
    }
}

#[test]
fn both_schedulers_set_must_agree() {
    let msg = error(&[("JOB_COMPLETION_INDEX", "1"), ("SLURM_ARRAY_TASK_ID", "2")]);
    assert!(
        msg.contains("JOB_COMPLETION_INDEX")
            && msg.contains("SLURM_ARRAY_TASK_ID")
            && msg.contains("disagree"),
        "{msg}"
    );
    let same = task_from_env(env(&[
        ("JOB_COMPLETION_INDEX", "2"),
        ("SLURM_ARRAY_TASK_ID", "2"),
        ("SLURM_ARRAY_TASK_COUNT", "4"),
    ]))
    .expect("agreeing")
    .expect("a task");
    assert_eq!((same.index, same.count), (2, Some(4)));
}

#[test]
fn an_explicit_index_wins_but_may_not_contradict_the_environment() {
    let slurm = Some(TaskIndex {
        index: 2,
        count: Some(6),
        source: "SLURM_ARRAY_TASK_ID",
    });
    assert_eq!(task_index(None, "--trial", None).expect("nothing"), None);
    assert_eq!(task_index(None, "--trial", slurm).expect("env"), slurm);
    let flag = task_index(Some(5), "--trial", None)
        .expect("flag")
        .expect("task");
    assert_eq!((flag.index, flag.count, flag.source), (5, None, "--trial"));
    let both = task_index(Some(2), "--trial", slurm)
        .expect("same")
        .expect("task");
    assert_eq!(
        (both.index, both.count, both.source),
        (2, Some(6), "--trial")
    );
    let msg = format!(
        "{:#}",
        task_index(Some(3), "--trial", slurm).expect_err("conflict")
    );
    assert!(
        msg.contains("--trial 3") && msg.contains("SLURM_ARRAY_TASK_ID") && msg.contains("index 2"),
        "{msg}"
    );
}

#[test]
fn the_index_is_checked_against_the_work() {
    let task = |index, count| TaskIndex {
        index,
        count,
        source: "JOB_COMPLETION_INDEX",
    };
    task(5, None)
        .check_total(6, "trials")
        .expect("the last trial");
    let msg = format!(
        "{:#}",
        task(6, None)
            .check_total(6, "trials")
            .expect_err("past the end")
    );
    assert!(
        msg.contains("JOB_COMPLETION_INDEX gives index 6") && msg.contains("6 trials"),
        "{msg}"
    );
    // An array of another size would fail some tasks or leave trials undone: every task says so.
    let msg = format!(
        "{:#}",
        task(0, Some(4))
            .check_total(6, "trials")
            .expect_err("4 tasks")
    );
    assert!(
        msg.contains("SLURM_ARRAY_TASK_COUNT is 4") && msg.contains("--array=0-5"),
        "{msg}"
    );
}

#[test]
fn a_classify_shard_comes_from_the_flag_or_the_scheduler_with_a_count() {
    let shard = |i, n| Shard::new(i, n).expect("shard");
    let k8s = |index| TaskIndex {
        index,
        count: None,
        source: "JOB_COMPLETION_INDEX",
    };
    let slurm = TaskIndex {
        index: 1,
        count: Some(3),
        source: "SLURM_ARRAY_TASK_ID",
    };
    // Outside an array job: the whole input.
    assert_eq!(
        shard_for_task(None, None, None).expect("one"),
        (Shard::ALL, "one task, no array job")
    );
    assert_eq!(
        shard_for_task(None, Some(1), None).expect("one").0,
        Shard::ALL
    );
    assert_eq!(
        shard_for_task(Some(shard(2, 7)), None, None).expect("flag"),
        (shard(2, 7), "--shard")
    );
    // Kubernetes: the index from the pod, the count from --shards.
    assert_eq!(
        shard_for_task(None, Some(4), Some(k8s(3))).expect("k8s"),
        (shard(3, 4), "JOB_COMPLETION_INDEX")
    );
    // Slurm says both.
    assert_eq!(
        shard_for_task(None, None, Some(slurm)).expect("slurm"),
        (shard(1, 3), "SLURM_ARRAY_TASK_ID")
    );
    let msg = |r: anyhow::Result<(Shard, &str)>| format!("{:#}", r.expect_err("refused"));
    for (got, want) in [
        (
            msg(shard_for_task(None, None, Some(k8s(0)))),
            "pass --shards N",
        ),
        (
            msg(shard_for_task(None, Some(3), Some(k8s(3)))),
            "gives index 3 but there are only 3 shards",
        ),
        (
            msg(shard_for_task(None, Some(4), Some(slurm))),
            "--shards 4 but SLURM_ARRAY_TASK_COUNT=3",
        ),
        (
            msg(shard_for_task(None, Some(4), None)),
            "--shards 4 without a task index",
        ),
        (
            msg(shard_for_task(Some(shard(0, 3)), Some(4), None)),
            "--shard 0/3 and --shards 4 disagree",
        ),
        (
            msg(shard_for_task(Some(shard(0, 3)), None, Some(slurm))),
            "--shard 0 disagrees with SLURM_ARRAY_TASK_ID",
        ),
        (
            msg(shard_for_task(Some(shard(1, 4)), None, Some(slurm))),
            "SLURM_ARRAY_TASK_COUNT is 3 but there are 4 shards",
        ),
    ] {
        assert!(got.contains(want), "{got:?} should say {want:?}");
    }
}
