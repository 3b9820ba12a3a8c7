//! `classify`: texts from arguments, stdin or files to stdout, or (`--output`) one array-job
//! task's part. The work is spam-model's `Predictor` and spam-runs' `classify_part`.

use std::io::{BufRead, IsTerminal, Write};
use std::path::Path;

use anyhow::{Context, Result, bail};

use crate::{args, progress};

pub fn classify(a: args::ClassifyArgs) -> Result<()> {
    let mut predictor = spam_model::Predictor::load(&a.model, a.device.resolve()?)?;
    a.threshold.apply(&mut predictor)?;
    a.precision.apply(&mut predictor);
    if let Some(dir) = &a.output {
        return classify_parts(&a, dir, &predictor);
    }
    let mut out = ResultWriter::new(a.format, predictor.label_names())?;
    if !a.file.is_empty() {
        // Window by window: memory follows the window, not the file.
        let mut null_texts = 0usize;
        for file in &a.file {
            let file = spam_runs::local_data(file)?;
            let rows = spam_data::text_rows(&file, &a.table_options(&file))?;
            for batch in rows.merged(spam_runs::CLASSIFY_WINDOW_ROWS) {
                let batch = batch?;
                null_texts += batch.nulls.len();
                let place = |i: usize| batch.place(i);
                classify_batch(&predictor, &batch.texts, place, &mut out)?;
            }
        }
        if null_texts > 0 {
            eprintln!("note: skipped {null_texts} rows whose text is null");
        }
        return Ok(());
    }
    if !a.texts.is_empty() {
        let place = |i: usize| format!("text {}", i + 1);
        return classify_batch(&predictor, &a.texts, place, &mut out);
    }
    if std::io::stdin().is_terminal() {
        bail!("no text to classify: give texts as arguments, lines on stdin, or --file FILE");
    }
    if stdin_is_a_file() {
        // `< messages.txt`: everything is there already, so one batch (repeated texts once,
        // batches sorted by length) instead of the batches a pipe delivers.
        let (texts, lines) = stdin_texts(std::io::stdin().lock().lines(), &mut 0)?;
        let place = |i: usize| format!("line {} of stdin", lines[i]);
        return classify_batch(&predictor, &texts, place, &mut out);
    }
    // Lines are read on a thread of their own, so whatever has arrived is classified as one
    // batch and printed at once, while a slow writer (`tail -f`) still sees every answer.
    let (tx, rx) = std::sync::mpsc::sync_channel::<std::io::Result<String>>(1024);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let failed = line.is_err();
            if tx.send(line).is_err() || failed {
                break;
            }
        }
    });
    let mut line_no = 0usize;
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < spam_model::PREDICT_BATCH {
            match rx.try_recv() {
                Ok(line) => batch.push(line),
                Err(_) => break,
            }
        }
        let (texts, lines) = stdin_texts(batch, &mut line_no)?;
        let place = |i: usize| format!("line {} of stdin", lines[i]);
        classify_batch(&predictor, &texts, place, &mut out)?;
    }
    Ok(())
}

/// One task of an array job: its part of `--file` into `dir`, with progress on stderr.
fn classify_parts(
    a: &args::ClassifyArgs,
    dir: &Path,
    predictor: &spam_model::Predictor,
) -> Result<()> {
    let (job, source) = a.job(dir)?;
    let part = job.format.part_name(job.shard);
    eprintln!(
        "task {} ({source}): {}",
        job.shard,
        dir.join(&part).display()
    );
    let mut last = std::time::Instant::now();
    let mut report = |p: spam_runs::ClassifyProgress| {
        if last.elapsed().as_secs_f64() >= 2.0 || p.rows == p.total {
            last = std::time::Instant::now();
            eprintln!("{}", progress::classify_line(&p));
        }
    };
    match spam_runs::classify_part(&job, predictor, &mut report)? {
        spam_runs::ClassifyOutcome::AlreadyDone { path } => println!(
            "{} is already there, written by this model from these inputs: nothing to do \
             (--overwrite redoes it)",
            path.display()
        ),
        spam_runs::ClassifyOutcome::Written {
            path,
            rows,
            null_texts,
            truncated,
            seconds,
        } => {
            println!(
                "Wrote {} ({rows} rows in {seconds:.1} s, {:.0} rows/s)",
                path.display(),
                rows as f64 / seconds.max(1e-9)
            );
            if null_texts > 0 {
                eprintln!("note: {null_texts} rows have a null text: kept, with no label");
            }
            if truncated > 0 {
                eprintln!(
                    "note: {truncated} texts are longer than the model reads ({} tokens): \
                     classified from their beginning",
                    predictor.max_length()
                );
            }
        }
    }
    Ok(())
}

/// The non-blank lines of stdin among `lines` (blank ones carry nothing to classify: skipped,
/// without an output line), with their line numbers; `line_no` counts the lines read so far.
fn stdin_texts(
    lines: impl IntoIterator<Item = std::io::Result<String>>,
    line_no: &mut usize,
) -> Result<(Vec<String>, Vec<usize>)> {
    let mut texts = Vec::new();
    let mut numbers = Vec::new();
    for line in lines {
        *line_no += 1;
        let line = line.with_context(|| format!("could not read line {line_no} of stdin"))?;
        if !line.trim().is_empty() {
            texts.push(line);
            numbers.push(*line_no);
        }
    }
    Ok((texts, numbers))
}

/// Whether stdin is a regular file (a `<` redirect) rather than a pipe or a terminal.
fn stdin_is_a_file() -> bool {
    std::fs::metadata("/dev/stdin").is_ok_and(|m| m.is_file())
}

/// Classifies `texts`, warns on stderr about each text longer than the model reads, writes
/// the results and flushes them.
fn classify_batch(
    predictor: &spam_model::Predictor,
    texts: &[String],
    place: impl Fn(usize) -> String,
    out: &mut ResultWriter,
) -> Result<()> {
    let predictions = predictor.classify(texts);
    let max = predictor.max_length();
    for (i, (text, p)) in texts.iter().zip(&predictions).enumerate() {
        if p.tokens > max {
            eprintln!(
                "warning: {} has {} tokens; only the first {max} were classified (the model's \
                 input length)",
                place(i),
                p.tokens
            );
        }
        out.write(text, p)?;
    }
    out.flush()
}

/// Where `classify` writes its results: CSV with a header row, or one JSON object per line.
enum ResultWriter {
    Csv(Box<csv::Writer<std::io::Stdout>>),
    Jsonl(Vec<String>),
}

impl ResultWriter {
    fn new(format: Option<args::OutputFormat>, names: &[String]) -> Result<Self> {
        Ok(match format.unwrap_or(args::OutputFormat::Csv) {
            args::OutputFormat::Parquet => {
                bail!(
                    "--format parquet writes parts: give --output DIR (stdout takes csv or jsonl)"
                )
            }
            args::OutputFormat::Jsonl => Self::Jsonl(names.to_vec()),
            args::OutputFormat::Csv => {
                let mut w = csv::Writer::from_writer(std::io::stdout());
                let mut header = vec!["text".to_string(), "label".to_string()];
                header.extend(names.iter().map(|n| format!("p_{n}")));
                w.write_record(&header)?;
                Self::Csv(Box::new(w))
            }
        })
    }

    fn write(&mut self, text: &str, p: &spam_model::Prediction) -> Result<()> {
        match self {
            Self::Jsonl(names) => {
                let probs: serde_json::Map<String, serde_json::Value> = names
                    .iter()
                    .cloned()
                    .zip(p.probabilities.iter().map(|&x| x.into()))
                    .collect();
                let line =
                    serde_json::json!({"text": text, "label": p.label, "probabilities": probs});
                writeln!(std::io::stdout().lock(), "{line}")?;
            }
            Self::Csv(w) => {
                let mut rec = vec![text.to_string(), p.label.clone()];
                rec.extend(p.probabilities.iter().map(|x| format!("{x:.6}")));
                w.write_record(&rec)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self) -> Result<()> {
        match self {
            Self::Csv(w) => w.flush()?,
            Self::Jsonl(_) => std::io::stdout().flush()?,
        }
        Ok(())
    }
}
