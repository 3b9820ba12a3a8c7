//! The whole job in one call: prepare the data, build the classifier, train, write the run
//! directory. `spam-cli train` is a thin wrapper over [`fine_tune`]; `--resume RUN_DIR`
//! reads the [`RunConfig`] saved there and continues.

use std::path::{Path, PathBuf};

use spam_model::{Classifier, ClassifierConfig, Weights};

use crate::batch::{Examples, PadTo};
use crate::data::TrainData;
use crate::error::{Context, Result, bail};
use crate::events::{Event, Events};
use crate::report::Report;
use crate::run_config::RunConfig;
use crate::run_dir::write_json;
use crate::trainer::{RunOptions, train};

/// Options of [`fine_tune`] that are not part of the run's definition.
#[derive(Debug, Clone, Default)]
pub struct FineTuneOptions {
    /// The run directory; `None` writes nothing (no checkpoints either).
    pub out_dir: Option<PathBuf>,
    /// Where progress goes (nowhere by default).
    pub events: Events,
    /// Stop (as if killed) after this many steps: for tests of resume.
    pub stop_after_steps: Option<usize>,
}

/// Prepares data, builds the classifier, trains it and writes the run directory.
pub fn fine_tune(config: &RunConfig, options: &FineTuneOptions) -> Result<Report> {
    run(config, options, false)
}

/// Continues the run in `run_dir` from its last checkpoint.
pub fn resume(run_dir: &Path, options: &FineTuneOptions) -> Result<Report> {
    let path = run_dir.join("config.json");
    let bytes = std::fs::read(&path).with_context(|| {
        format!(
            "could not read {}: is {} a run directory?",
            path.display(),
            run_dir.display()
        )
    })?;
    let config: RunConfig = serde_json::from_slice(&bytes)
        .with_context(|| format!("{} is not a run config", path.display()))?;
    let options = FineTuneOptions {
        out_dir: Some(run_dir.to_path_buf()),
        ..options.clone()
    };
    run(&config, &options, true)
}

fn run(config: &RunConfig, options: &FineTuneOptions, resume: bool) -> Result<Report> {
    config.train.validate()?;
    let out = options.out_dir.as_deref();
    let events = &options.events;
    let prepared = spam_data::prepare(&config.prepare_options(out.map(|d| d.join("data")))?)?;
    events.emit(Event::DataReady {
        rows_read: prepared.rows_read,
        balanced_rows: prepared.balanced_rows,
        train: prepared.train_rows,
        validation: prepared.validation_rows,
        test: prepared.test_rows,
        padded_len: prepared.padded_len,
    });
    let data = TrainData {
        train: Examples::from_encoded(&prepared.encoded.train),
        validation: Examples::from_encoded(&prepared.encoded.validation),
        test: Examples::from_encoded(&prepared.encoded.test),
        pad: PadTo::for_max_length(prepared.padded_len),
        pad_id: i64::from(spam_data::PAD_TOKEN_ID),
        label_names: prepared.label_names.clone(),
    };

    let device = config.model.device.resolve()?;
    let weights = config.model.weights.resolve(config.model.init_seed)?;
    let mut cc = ClassifierConfig::spam(config.model.size);
    if let Some(arch) = config.model.architecture {
        if !matches!(weights, Weights::Random { .. }) {
            bail!(
                "an explicit architecture only works with random weights: a checkpoint brings its own"
            );
        }
        cc.model = arch;
        cc.size = arch.size();
    }
    if let Some(found) = weights.config()? {
        cc.model = found;
        cc.size = found.size();
    }
    cc.model.dropout = config.model.dropout;
    cc.num_classes = prepared.label_names.len() as i64;
    cc.label_names = prepared.label_names.clone();
    cc.max_length = prepared.padded_len;
    cc.token_position = config.model.token_position;
    cc.trainable = config.model.trainable;
    cc.causal_mask = config.model.causal_mask;
    // The size the model really has: a checkpoint or an explicit architecture overrides
    // `size`.
    let size = match cc.size {
        Some(size) => size.to_string(),
        None => format!(
            "custom ({} layers, width {}, {} heads)",
            cc.model.n_layer, cc.model.n_embd, cc.model.n_head
        ),
    };
    let source = match weights {
        Weights::Random { .. } => "the model's architecture".to_string(),
        _ => format!("the weights {}", config.model.weights),
    };
    data.check_fits(&cc.model, &source)?;
    let model = Classifier::new(cc, &weights, device, config.train.seed)?;
    events.emit(Event::ModelReady {
        size,
        pretrained: !matches!(weights, Weights::Random { .. }),
        trainable_parameters: model.num_trainable_parameters(),
        trainable: config.model.trainable.name().to_string(),
        token_position: config.model.token_position.as_str().to_string(),
        device: format!("{device:?}"),
    });

    if let Some(dir) = out {
        write_json(&dir.join("config.json"), config)?;
    }
    let run_options = RunOptions {
        checkpoint_dir: out.map(Path::to_path_buf),
        resume,
        events: events.clone(),
        stop_after_steps: options.stop_after_steps,
    };
    let report = train(&model, &data, &config.train, &run_options)?;
    if let Some(dir) = out {
        model.save(&dir.join("model")).with_context(|| {
            format!(
                "could not save the model into {}",
                dir.join("model").display()
            )
        })?;
        write_json(&dir.join("metrics.json"), &report)?;
        #[cfg(feature = "plot")]
        crate::run_dir::write_plots(dir, &report, data.train.len())?;
        events.emit(Event::RunSaved {
            dir: dir.to_path_buf(),
        });
    }
    Ok(report)
}
