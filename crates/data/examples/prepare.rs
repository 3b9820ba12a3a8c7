//! Runs the chapter's data pipeline and prints what it did.
//!
//! ```text
//! cargo run -p spam-data --example prepare -- PATH/TO/SMSSpamCollection OUT_DIR [lines|pandas]
//! ```
//!
//! PATH may also be the UCI zip. Writes OUT_DIR/train.csv, validation.csv and test.csv.

use std::path::PathBuf;
use std::process::ExitCode;

use spam_data::{BatchOptions, ParseMode, PrepareOptions, SourceFormat, prepare};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() < 2 {
        eprintln!("usage: prepare SMS_FILE_OR_ZIP OUT_DIR [lines|pandas]");
        return ExitCode::from(2);
    }
    let mut opts = PrepareOptions::sms(&args[0], Some(PathBuf::from(&args[1])));
    if let Some(mode) = args.get(2) {
        match mode.parse::<ParseMode>() {
            Ok(m) => opts.format = SourceFormat::Sms(m),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
    }
    match prepare(&opts) {
        Ok(p) => {
            println!(
                "read {} rows ({:?} per class {:?})",
                p.rows_read, p.class_counts, p.label_names
            );
            println!("balanced: {} rows", p.balanced_rows);
            println!(
                "train {} / validation {} / test {}",
                p.train_rows, p.validation_rows, p.test_rows
            );
            println!("padded length: {:?}", p.padded_len);
            let batches = p
                .encoded
                .train
                .num_batches(BatchOptions::train(123).batch_size, true);
            println!("training batches of 8 per epoch: {batches}");
            for f in p.files.iter().flatten() {
                println!("wrote {}", f.display());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
