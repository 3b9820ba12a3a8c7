//! `spam-cli`: fine-tune GPT-2 into a text classifier, from the command line.
//!
//! Thin by design: this file parses arguments, calls the library crates and prints. Every
//! decision lives in `spam-data`, `spam-model`, `spam-train` or `spam-serve`.

mod args;
mod best_args;
mod classify_cmd;
mod command;
mod experiments_args;
mod export_args;
mod precision_args;
mod progress;
mod serve_args;
mod signals;
mod sweep_args;
mod tool_args;
mod values;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::{CommandFactory, FromArgMatches};

use command::{Cli, Command};

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    init_tracing(cli.verbose);
    spam_model::reuse_freed_memory();
    match run(cli, &matches) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if signals::interrupted(&err) => {
            eprintln!("{err:#}");
            // The shell's code for a command ended by SIGINT.
            ExitCode::from(130)
        }
        Err(err) => {
            // One line, the whole cause chain: "error: could not read X: No such file".
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing(verbose: bool) {
    let default = if verbose { "info" } else { "warn" };
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

fn run(cli: Cli, matches: &clap::ArgMatches) -> Result<()> {
    match cli.command {
        Command::Prepare(a) => prepare(a),
        Command::Train(a) => train(*a, matches.subcommand_matches("train")),
        Command::Eval(a) => eval(a),
        Command::Classify(a) => classify_cmd::classify(a),
        Command::Generate(a) => generate(a),
        Command::Experiments(a) => experiments(a),
        Command::Sweep(a) => sweep_args::run(a),
        Command::Serve(a) => serve(a),
        Command::Plot(a) => {
            for file in spam_runs::redraw_plots(&a.run_dir)? {
                println!("Wrote {}", file.display());
            }
            Ok(())
        }
        Command::Completions(a) => {
            let mut cmd = Cli::command();
            // Into a buffer first: the generator panics on a failed write (a closed pipe).
            let mut script = Vec::new();
            clap_complete::generate(a.shell, &mut cmd, "spam-cli", &mut script);
            let mut out = std::io::stdout().lock();
            out.write_all(&script).and_then(|()| out.flush())?;
            Ok(())
        }
        Command::Export(a) => export(&a),
    }
}

fn prepare(a: args::PrepareArgs) -> Result<()> {
    let config = a.data.apply(spam_runs::RunConfig::default())?;
    let mut opts = config.prepare_options(Some(a.out.clone()))?;
    opts.batch_size = a.batch_size;
    opts.out_format = a.output_format;
    // Before anything is read or written: --out, which may hold none of the inputs.
    let inputs = spam_data::expand_input(&opts.source)?;
    let inputs: Vec<&std::path::Path> = inputs.iter().map(PathBuf::as_path).collect();
    spam_data::check_split_folder(&a.out, &inputs, a.overwrite, a.output_format)?;
    let p = spam_data::prepare(&opts)?;
    let counts: Vec<String> = p
        .label_names
        .iter()
        .zip(&p.class_counts)
        .map(|(n, c)| format!("{n} {c}"))
        .collect();
    println!("Read {} rows ({})", p.rows_read, counts.join(", "));
    if opts.balance {
        println!("Balanced: {} rows", p.balanced_rows);
    }
    println!("Train: {} rows", p.train_rows);
    println!("Validation: {} rows", p.validation_rows);
    println!("Test: {} rows", p.test_rows);
    match p.padded_len {
        Some(n) => println!("Padded length: {n} tokens"),
        None => println!("Padded length: none (variable-length rows)"),
    }
    if let Some(files) = &p.files {
        for f in files {
            println!("Wrote {}", f.display());
        }
    }
    Ok(())
}

fn train(a: args::TrainArgs, matches: Option<&clap::ArgMatches>) -> Result<()> {
    let events = progress::events(a.quiet);
    if let Some(run_dir) = &a.resume {
        let ignored = matches.map_or_else(Vec::new, |m| {
            command::train_flags_given(m, &["resume", "epochs", "quiet", "verbose"])
        });
        if !ignored.is_empty() {
            bail!(
                "--resume continues {} with the settings it was started with, so {} would be \
                 ignored: drop {}. Only --epochs can be given, to extend the run",
                run_dir.display(),
                ignored.join(", "),
                if ignored.len() == 1 { "it" } else { "them" }
            );
        }
        let options = spam_runs::FineTuneOptions {
            epochs: a.epochs,
            events,
            stop: Some(signals::stop_on_signal()?),
            ..Default::default()
        };
        spam_runs::resume(run_dir, &options).map_err(|e| signals::stop_error(e, run_dir))?;
        return Ok(());
    }
    let config = a.to_config()?;
    if a.print_config {
        // The TOML that --config reads back.
        print!("{}", toml::to_string(&config)?);
        return Ok(());
    }
    let (out, latest_link) = match &a.out {
        Some(out) => (out.clone(), None),
        None => {
            let runs = PathBuf::from("runs");
            (
                spam_runs::timestamped_run_dir(&runs),
                Some(runs.join("latest")),
            )
        }
    };
    let options = spam_runs::FineTuneOptions {
        out_dir: Some(out.clone()),
        overwrite: a.overwrite,
        latest_link,
        events,
        stop: Some(signals::stop_on_signal()?),
        ..Default::default()
    };
    spam_runs::fine_tune(&config, &options).map_err(|e| signals::stop_error(e, &out))?;
    Ok(())
}

fn eval(a: args::EvalArgs) -> Result<()> {
    let mut predictor = spam_model::Predictor::load(&a.model, a.device.resolve()?)?;
    a.threshold.apply(&mut predictor)?;
    a.precision.apply(&mut predictor);
    let evaluation = predictor.evaluate_rows(a.data.rows()?)?;
    if evaluation.by_number {
        eprintln!(
            "note: the file's labels are class numbers, read in the model's order ({})",
            progress::numbered(predictor.label_names())
        );
    }
    let m = evaluation.metrics;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
        return Ok(());
    }
    println!("Examples: {}", m.examples);
    println!("Accuracy: {:.2}%", m.accuracy * 100.0);
    println!("Precision: {:.4}", m.precision);
    println!("Recall: {:.4}", m.recall);
    println!("F1: {:.4}", m.f1);
    if let (Some(roc), Some(pr)) = (m.roc_auc, m.pr_auc) {
        println!("ROC AUC: {roc:.4}");
        println!("PR AUC (average precision): {pr:.4}");
    }
    if let Some(t) = predictor.threshold() {
        println!("Threshold: {t}");
    }
    println!("Confusion matrix (rows: true, columns: predicted):");
    let names = predictor.label_names();
    let width = names.iter().map(String::len).max().unwrap_or(4).max(6);
    print!("{:width$}", "");
    for n in names {
        print!(" {n:>width$}");
    }
    println!();
    for (i, row) in m.confusion.iter().enumerate() {
        print!("{:width$}", names.get(i).map_or("?", String::as_str));
        for c in row {
            print!(" {c:>width$}");
        }
        println!();
    }
    Ok(())
}

fn generate(a: args::GenerateArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let weights = a.weights.resolve(spam_model::RandomInit::Gpt2, 0)?;
    let mut lm = spam_model::LanguageModel::load(&weights, device)?;
    lm.gpt.set_precision(a.precision.precision);
    let tokenizer = spam_data::Tokenizer::gpt2();
    let prompt: Vec<i64> = match (&a.prompt_ids, &a.prompt) {
        (Some(ids), _) => ids.clone(),
        (None, Some(text)) => tokenizer.encode(text).into_iter().map(i64::from).collect(),
        (None, None) => bail!("give --prompt TEXT or --prompt-ids ID,ID,..."),
    };
    let opts = spam_model::GenerateOptions {
        max_new_tokens: a.max_new_tokens,
        temperature: a.temperature,
        top_k: a.top_k,
        seed: a.seed,
        ..Default::default()
    };
    if a.json {
        let generation = spam_model::try_generate(&lm.gpt, &prompt, &opts)?;
        println!("{}", serde_json::to_string(&generation)?);
        return Ok(());
    }
    // Text is printed as the tokens come, the prompt first.
    let mut printer = TextPrinter::new(tokenizer);
    spam_model::try_generate_with(&lm.gpt, &prompt, &opts, |id, _| {
        printer.push(&prompt, id);
    })?;
    printer.finish(&prompt)
}

/// Prints generated text token by token, holding back tokens that end inside a UTF-8
/// character until the rest of it arrives.
struct TextPrinter {
    tokenizer: spam_data::Tokenizer,
    pending: Vec<u32>,
    started: bool,
    failed: Option<std::io::Error>,
}

impl TextPrinter {
    fn new(tokenizer: spam_data::Tokenizer) -> Self {
        Self {
            tokenizer,
            pending: Vec::new(),
            started: false,
            failed: None,
        }
    }

    fn push(&mut self, prompt: &[i64], id: i64) {
        if !self.started {
            self.started = true;
            self.pending.extend(prompt.iter().map(|&i| i as u32));
        }
        self.pending.push(id as u32);
        if let Ok(text) = self.tokenizer.decode(&self.pending) {
            self.pending.clear();
            let mut out = std::io::stdout().lock();
            if let Err(e) = write!(out, "{text}").and_then(|()| out.flush())
                && self.failed.is_none()
            {
                self.failed = Some(e);
            }
        }
    }

    fn finish(mut self, prompt: &[i64]) -> Result<()> {
        if !self.started {
            self.pending.extend(prompt.iter().map(|&i| i as u32));
        }
        if let Some(e) = self.failed {
            return Err(e).context("could not write the generated text");
        }
        let text = self.tokenizer.decode(&self.pending)?;
        writeln!(std::io::stdout().lock(), "{text}")?;
        Ok(())
    }
}

fn experiments(a: experiments_args::ExperimentsArgs) -> Result<()> {
    let base = a.base_config()?;
    let setup = a.setup();
    let rows = if a.rows.is_empty() {
        spam_runs::default_experiment_rows()
    } else {
        a.rows.clone()
    };
    let results = spam_runs::run_experiments(
        &base,
        &rows,
        &setup,
        &a.out,
        &progress::events(a.quiet),
        |r| {
            eprintln!(
                "row {}: train {:.2}% / validation {:.2}% / test {:.2}% in {:.2} min",
                r.number,
                r.train_accuracy * 100.0,
                r.validation_accuracy * 100.0,
                r.test_accuracy * 100.0,
                r.minutes
            )
        },
    )?;
    let table = spam_runs::experiments_table(&results);
    spam_data::write_atomic(a.out.join("table.md"), table.as_bytes())?;
    if let Some(doc) = &a.doc {
        let opts = spam_runs::ExperimentsDocOptions {
            setup: a.doc_setup.clone().unwrap_or_default(),
        };
        let done = spam_runs::finished_experiments(&base, &setup, &a.out);
        let page = spam_runs::experiments_document(&done, &a.weights_root, &opts);
        spam_data::write_atomic(doc, page.as_bytes())?;
        eprintln!("wrote {}", doc.display());
    }
    print!("{table}");
    Ok(())
}

fn export(a: &export_args::ExportArgs) -> Result<()> {
    let done = spam_runs::export_run(&a.options())?;
    println!(
        "Exported {} (labels {}) to {}: {}",
        a.model.display(),
        done.label_names.join(", "),
        done.out.display(),
        done.files.join(", ")
    );
    if done.lora_merged {
        println!("LoRA adapters merged into the weights");
    }
    if let Some(t) = done.threshold {
        println!(
            "Decision threshold {t} written into config.json as `{}` and the model card \
             (transformers' pipeline does not apply it)",
            spam_runs::THRESHOLD_KEY
        );
    }
    println!(
        "Head bias folded into the final norm; largest logit change {:.2e}",
        done.bias_residual
    );
    Ok(())
}

fn serve(a: serve_args::ServeArgs) -> Result<()> {
    let mut predictor = spam_model::Predictor::load(&a.model, a.device.resolve()?)?;
    a.threshold.apply(&mut predictor)?;
    a.precision.apply(&mut predictor);
    let secs = std::time::Duration::from_secs_f64;
    let opts = spam_serve::ServeOptions {
        addr: a.addr,
        max_batch: a.max_batch,
        max_texts: a.max_texts,
        max_text_chars: a.max_text_chars,
        max_body_bytes: a.max_body,
        max_in_flight: a.max_in_flight,
        request_timeout: secs(a.timeout),
        max_connections: a.max_connections,
        header_timeout: secs(a.header_timeout),
        idle_timeout: secs(a.idle_timeout),
        shutdown_timeout: secs(a.shutdown_timeout),
        allowed_hosts: a.allowed_hosts,
        info: spam_model::RunInfo::read(&a.model),
        ..Default::default()
    };
    let grace = a.shutdown_timeout;
    spam_serve::serve_blocking(predictor, opts, move |event| match event {
        spam_serve::ServeEvent::Listening(addr) => println!("Serving on http://{addr}"),
        spam_serve::ServeEvent::NotLoopback(addr) => eprintln!(
            "warning: {addr} is reachable from other machines; the API has no authentication"
        ),
        spam_serve::ServeEvent::ShuttingDown => println!(
            "Shutting down: finishing requests in progress (at most {grace} s; \
             press Ctrl-C again to stop now)"
        ),
        spam_serve::ServeEvent::ForcedStop => println!("Stopped without waiting"),
        spam_serve::ServeEvent::ConnectionsCapped {
            requested,
            allowed,
            open_files,
        } => eprintln!(
            "warning: the open-file limit ({open_files}) allows {allowed} connections, \
             not {requested}: raise it (ulimit -n) or lower --max-connections"
        ),
        _ => {}
    })?;
    Ok(())
}
