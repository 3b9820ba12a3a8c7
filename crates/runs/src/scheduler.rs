//! Which task of an array job this process is, as a batch scheduler says it in the
//! environment: a Kubernetes Indexed Job (`JOB_COMPLETION_INDEX`) or a Slurm job array
//! (`SLURM_ARRAY_TASK_ID`, with `SLURM_ARRAY_TASK_MIN`, `SLURM_ARRAY_TASK_STEP` and
//! `SLURM_ARRAY_TASK_COUNT`). The index is 0-based whatever the scheduler numbers from.
//!
//! The environment is read through a function ([`task_from_env`] takes the lookup), so tests
//! give a map and the binary gives `std::env::var`. A value that is not a whole number, an
//! index outside the array, or two schedulers that disagree are errors naming the variable
//! and its value: a task must never run someone else's share of the work.

use anyhow::{Result, bail};
use spam_data::Shard;

/// Kubernetes Indexed Job: the pod's index, 0 to `completions - 1`.
pub const K8S_INDEX: &str = "JOB_COMPLETION_INDEX";
/// Slurm job array: this task's id (as given to `--array`).
pub const SLURM_TASK_ID: &str = "SLURM_ARRAY_TASK_ID";
/// Slurm job array: the lowest task id.
pub const SLURM_TASK_MIN: &str = "SLURM_ARRAY_TASK_MIN";
/// Slurm job array: the step between task ids (`--array=0-10:2`).
pub const SLURM_TASK_STEP: &str = "SLURM_ARRAY_TASK_STEP";
/// Slurm job array: how many tasks the array has.
pub const SLURM_TASK_COUNT: &str = "SLURM_ARRAY_TASK_COUNT";

/// This process's place in an array job: task `index` (0-based) of `count` tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskIndex {
    /// 0-based index of this task.
    pub index: usize,
    /// How many tasks the array has, when the source says (Slurm does; a Kubernetes Indexed
    /// Job does not tell its pods, so the caller knows it).
    pub count: Option<usize>,
    /// Where the index came from: the variable (`SLURM_ARRAY_TASK_ID`), or the flag.
    pub source: &'static str,
}

impl TaskIndex {
    /// Checks the index against the `total` pieces of work (`what`: "trials", "shards"):
    /// the index must be below it, and an array whose task count is known must have exactly
    /// that many tasks (more would fail, fewer would leave work undone).
    pub fn check_total(&self, total: usize, what: &str) -> Result<()> {
        if let Some(count) = self.count
            && count != total
        {
            bail!(
                "{SLURM_TASK_COUNT} is {count} but there are {total} {what}: submit the array \
                 with one task per item (e.g. --array=0-{})",
                total.saturating_sub(1)
            );
        }
        if self.index >= total {
            bail!(
                "{} gives index {} but there are only {total} {what} (0 to {})",
                self.source,
                self.index,
                total.saturating_sub(1)
            );
        }
        Ok(())
    }
}

/// The task index the scheduler's environment gives, read through `var` (a lookup such as
/// `|name| std::env::var(name).ok()`); `None` when neither scheduler set one.
///
/// Slurm's index is `(SLURM_ARRAY_TASK_ID - SLURM_ARRAY_TASK_MIN) / SLURM_ARRAY_TASK_STEP`
/// (min 0 and step 1 when unset), checked against `SLURM_ARRAY_TASK_COUNT` when set. When
/// both schedulers' variables are set they must agree.
pub fn task_from_env(var: impl Fn(&str) -> Option<String>) -> Result<Option<TaskIndex>> {
    let k8s = number(&var, K8S_INDEX)?.map(|index| TaskIndex {
        index,
        count: None,
        source: K8S_INDEX,
    });
    let slurm = slurm_task(&var)?;
    match (k8s, slurm) {
        (Some(k), Some(s)) if k.index != s.index => bail!(
            "{K8S_INDEX}={} and {SLURM_TASK_ID} (index {}) disagree: unset the one that does \
             not belong to this job",
            k.index,
            s.index
        ),
        (_, Some(s)) => Ok(Some(s)),
        (k, None) => Ok(k),
    }
}

/// The index of an explicit flag (`flag`, e.g. `--trial`), else of the environment. Both
/// given and different is an error: a task would run work its array gave another.
pub fn task_index(
    flag: Option<usize>,
    flag_name: &'static str,
    env: Option<TaskIndex>,
) -> Result<Option<TaskIndex>> {
    match (flag, env) {
        (Some(index), Some(e)) if index != e.index => bail!(
            "{flag_name} {index} disagrees with {} (index {}): drop {flag_name}, or run outside \
             the array job",
            e.source,
            e.index
        ),
        (Some(index), env) => Ok(Some(TaskIndex {
            index,
            count: env.and_then(|e| e.count),
            source: flag_name,
        })),
        (None, env) => Ok(env),
    }
}

/// Slurm's task, from its array variables.
fn slurm_task(var: &impl Fn(&str) -> Option<String>) -> Result<Option<TaskIndex>> {
    let Some(id) = number(var, SLURM_TASK_ID)? else {
        return Ok(None);
    };
    let min = number(var, SLURM_TASK_MIN)?.unwrap_or(0);
    let step = number(var, SLURM_TASK_STEP)?.unwrap_or(1);
    let count = number(var, SLURM_TASK_COUNT)?;
    if id < min {
        bail!("{SLURM_TASK_ID}={id} is below {SLURM_TASK_MIN}={min}: the array's ids do not fit");
    }
    if step == 0 || (id - min) % step != 0 {
        bail!(
            "{SLURM_TASK_ID}={id} is not on the array's grid ({SLURM_TASK_MIN}={min}, \
             {SLURM_TASK_STEP}={step}): submit a plain range such as --array=0-N"
        );
    }
    let index = (id - min) / step;
    if let Some(count) = count
        && index >= count
    {
        bail!(
            "{SLURM_TASK_ID}={id} is task {index} from {SLURM_TASK_MIN}={min}, but \
             {SLURM_TASK_COUNT}={count}: an array given as a list (--array=1,5,7) has no index \
             to read; submit a plain range such as --array=0-{}",
            count.saturating_sub(1)
        );
    }
    Ok(Some(TaskIndex {
        index,
        count,
        source: SLURM_TASK_ID,
    }))
}

/// The whole number in variable `name`, `None` when it is unset.
fn number(var: &impl Fn(&str) -> Option<String>, name: &str) -> Result<Option<usize>> {
    let Some(value) = var(name) else {
        return Ok(None);
    };
    match value.trim().parse::<usize>() {
        Ok(n) => Ok(Some(n)),
        Err(_) => bail!(
            "{name}={value:?} is not a task number (a whole number from 0): unset it or fix the \
             job's definition"
        ),
    }
}

/// Which shard a batch-classification task reads, and what said so: `--shard I/N` when given
/// (checked against the scheduler's index, if any), else the scheduler's index with the count
/// from `shards` (`--shards N`: a Kubernetes Indexed Job does not tell its pods its size) or
/// from `SLURM_ARRAY_TASK_COUNT`. Outside an array job, with neither, the whole input is one
/// shard (`0/1`).
pub fn shard_for_task(
    flag: Option<Shard>,
    shards: Option<usize>,
    env: Option<TaskIndex>,
) -> Result<(Shard, &'static str)> {
    if let Some(shard) = flag {
        if let Some(n) = shards
            && n != shard.count
        {
            bail!("--shard {shard} and --shards {n} disagree on the number of shards: give one");
        }
        let task = task_index(Some(shard.index), "--shard", env)?;
        if let Some(task) = task {
            task.check_total(shard.count, "shards")?;
        }
        return Ok((shard, "--shard"));
    }
    let Some(task) = env else {
        if let Some(n) = shards.filter(|&n| n > 1) {
            bail!(
                "--shards {n} without a task index: pass --shard I/{n}, or run inside an array \
                 job ({K8S_INDEX} or {SLURM_TASK_ID} set)"
            );
        }
        return Ok((Shard::ALL, "one task, no array job"));
    };
    let count = match (shards, task.count) {
        (Some(a), Some(b)) if a != b => bail!(
            "--shards {a} but {SLURM_TASK_COUNT}={b}: drop --shards, or submit the array with \
             {a} tasks"
        ),
        (Some(n), _) | (None, Some(n)) => n,
        (None, None) => bail!(
            "{}={} gives this task's index but not how many tasks there are: pass --shards N \
             (the Job's completions)",
            task.source,
            task.index
        ),
    };
    task.check_total(count, "shards")?;
    let shard = Shard::new(task.index, count)?;
    Ok((shard, task.source))
}
