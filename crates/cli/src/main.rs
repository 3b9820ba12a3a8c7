//! `spam-cli`: fine-tune GPT-2 into a text classifier, from the command line.
//!
//! Thin by design: this file parses arguments, calls the library crates and prints. Every
//! decision lives in `spam-data`, `spam-model`, `spam-train` or `spam-serve`.

mod args;
mod progress;

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result, bail};
use clap::Parser;

use args::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_tracing(cli.verbose);
    spam_model::reuse_freed_memory();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
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

fn run(cli: Cli) -> Result<()> {
    match cli.command {
        Command::Prepare(a) => prepare(a),
        Command::Train(a) => train(*a),
        Command::Eval(a) => eval(a),
        Command::Classify(a) => classify(a),
        Command::Generate(a) => generate(a),
        Command::Experiments(a) => experiments(a),
        Command::Serve(a) => serve(a),
    }
}

fn prepare(a: args::PrepareArgs) -> Result<()> {
    let config = a.data.apply(spam_train::RunConfig::default())?;
    let mut opts = config.prepare_options(Some(a.out.clone()))?;
    opts.batch_size = a.batch_size;
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

fn train(a: args::TrainArgs) -> Result<()> {
    let options = spam_train::FineTuneOptions {
        out_dir: Some(
            a.out
                .clone()
                .unwrap_or_else(|| PathBuf::from("runs/latest")),
        ),
        events: progress::events(a.quiet),
        stop_after_steps: None,
    };
    if let Some(run_dir) = &a.resume {
        spam_train::resume(run_dir, &options)?;
        return Ok(());
    }
    let config = a.to_config()?;
    spam_train::fine_tune(&config, &options)?;
    Ok(())
}

fn eval(a: args::EvalArgs) -> Result<()> {
    let predictor = spam_train::Predictor::load(&a.model, a.device.resolve()?)?;
    let data = a.data.read()?;
    let m = predictor.evaluate(&data)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&m)?);
        return Ok(());
    }
    println!("Examples: {}", m.examples);
    println!("Accuracy: {:.2}%", m.accuracy * 100.0);
    println!("Precision: {:.4}", m.precision);
    println!("Recall: {:.4}", m.recall);
    println!("F1: {:.4}", m.f1);
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

fn classify(a: args::ClassifyArgs) -> Result<()> {
    let predictor = spam_train::Predictor::load(&a.model, a.device.resolve()?)?;
    let texts: Vec<String> = if let Some(file) = &a.file {
        let options = a.table_options(file);
        spam_data::read_texts(file, &options)?
    } else if !a.texts.is_empty() {
        a.texts.clone()
    } else if !std::io::stdin().is_terminal() {
        std::io::stdin()
            .lock()
            .lines()
            .collect::<std::io::Result<_>>()
            .context("could not read stdin")?
    } else {
        bail!("no text to classify: give texts as arguments, lines on stdin, or --file FILE");
    };
    let predictions = predictor.classify(&texts);
    let names = predictor.label_names();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    match a.format {
        args::OutputFormat::Jsonl => {
            for (text, p) in texts.iter().zip(&predictions) {
                let probs: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .cloned()
                    .zip(p.probabilities.iter().map(|&x| x.into()))
                    .collect();
                let line =
                    serde_json::json!({"text": text, "label": p.label, "probabilities": probs});
                writeln!(out, "{line}")?;
            }
        }
        args::OutputFormat::Csv => {
            let mut w = csv::Writer::from_writer(out);
            let mut header = vec!["text".to_string(), "label".to_string()];
            header.extend(names.iter().map(|n| format!("p_{n}")));
            w.write_record(&header)?;
            for (text, p) in texts.iter().zip(&predictions) {
                let mut rec = vec![text.clone(), p.label.clone()];
                rec.extend(p.probabilities.iter().map(|x| format!("{x:.6}")));
                w.write_record(&rec)?;
            }
            w.flush()?;
        }
    }
    Ok(())
}

fn generate(a: args::GenerateArgs) -> Result<()> {
    let device = a.device.resolve()?;
    let lm = spam_model::LanguageModel::from_path(&a.weights, device)?;
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
    let generation = spam_model::try_generate(&lm.gpt, &prompt, &opts)?;
    if a.json {
        println!("{}", serde_json::to_string(&generation)?);
    } else {
        let ids: Vec<u32> = generation.all_ids().into_iter().map(|i| i as u32).collect();
        println!("{}", tokenizer.decode(&ids)?);
    }
    Ok(())
}

fn experiments(a: args::ExperimentsArgs) -> Result<()> {
    let base = a.base_config()?;
    let rows = if a.rows.is_empty() {
        spam_train::default_experiment_rows()
    } else {
        a.rows.clone()
    };
    let results = spam_train::run_experiments(
        &base,
        &rows,
        &a.weights_root,
        Some(&a.out),
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
    let table = spam_train::experiments_table(&results);
    spam_data::write_atomic(a.out.join("table.md"), table.as_bytes())?;
    print!("{table}");
    Ok(())
}

fn serve(a: args::ServeArgs) -> Result<()> {
    let predictor = spam_train::Predictor::load(&a.model, a.device.resolve()?)?;
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
