//! Labelled-text datasets for GPT-2 classifiers, without libtorch.
//!
//! This crate reproduces the data side of the "fine-tune GPT-2 for spam classification" chapter
//! of *LLMs from scratch*, exactly:
//!
//! 1. **fetch** the SMS Spam Collection (`fetch_sms`, over the generic resumable `download`)
//!    or install it from a local zip/file (`install_sms_from`); both need the `download`
//!    feature (on by default, the only part of the crate that needs an HTTP client);
//! 2. **parse** it ([`read_sms`]): one message per line ([`ParseMode::Lines`], 5574 rows) or as
//!    the chapter's pandas `read_csv` sees it ([`ParseMode::PandasCompatible`], 5572 rows, the
//!    default, see [`ParseMode`] for why); or read any labelled CSV/TSV ([`read_labelled`]);
//! 3. **balance** the classes and **split** 70/10/20 with seed 123 ([`balance`], [`split()`]),
//!    drawing from a port of numpy's legacy `RandomState` ([`RandomState`]) so the rows and their
//!    order are pandas' own;
//! 4. **write** `train.csv`, `validation.csv`, `test.csv` byte-identical to pandas' `to_csv`
//!    ([`write_splits`]);
//! 5. **tokenize** with GPT-2's BPE ([`Tokenizer`], ids equal to Python tiktoken's) and **pad**
//!    with token 50256 ([`Padding`], [`encode_splits`]);
//! 6. cut deterministic **batches** of 8 ([`batch_indices`], [`EncodedSplit::batch`]).
//!
//! [`prepare()`] does steps 2 to 5 in one call. Data are plain Rust (`Vec<u32>` ids, `usize`
//! labels); the training crate turns them into tensors. [`write_atomic`] and its siblings are
//! the workspace's one way to replace a file atomically.
//!
//! ```
//! use spam_data::{balance, split, encode_splits, parse_sms, Padding, ParseMode, Tokenizer, PAD_TOKEN_ID};
//!
//! let mut tsv = String::new();
//! for i in 0..20 {
//!     tsv += &format!("ham\tSee you at {i} pm\n");
//!     if i % 2 == 0 {
//!         tsv += &format!("spam\tWIN £{i}00 now! Txt \"WIN\" to 80082\n");
//!     }
//! }
//! let ds = parse_sms("inline.tsv".as_ref(), tsv.as_bytes(), ParseMode::Lines)?;
//! assert_eq!(ds.class_counts(), [20, 10]);
//!
//! let balanced = balance(&ds, 123)?; // 10 ham sampled like pandas, then the 10 spam
//! let splits = split(&balanced, (0.7, 0.1), 123)?;
//! assert_eq!((splits.train.len(), splits.validation.len(), splits.test.len()), (14, 2, 4));
//!
//! let enc = encode_splits(&Tokenizer::gpt2(), &splits, Padding::Longest, 1024)?;
//! let width = enc.padded_len.unwrap();
//! let batch = enc.train.batch(&[0, 1]);
//! assert_eq!((batch.rows, batch.cols), (2, width));
//! assert!(batch.ids.iter().any(|&t| t == PAD_TOKEN_ID));
//! # Ok::<(), spam_data::DataError>(())
//! ```

#![warn(missing_docs)]

mod atomic;
mod batch;
mod checksum;
mod dataset;
mod delimiter;
#[cfg(feature = "download")]
mod download;
mod error;
#[cfg(feature = "download")]
mod fetch;
mod files;
mod hf_tokenizer;
mod input;
mod inputs;
mod named;
mod numpy_rng;
mod pad;
#[cfg(feature = "parquet")]
mod parquet_read;
#[cfg(not(feature = "parquet"))]
#[path = "parquet_off.rs"]
mod parquet_read;
#[cfg(feature = "parquet")]
mod parquet_write;
mod parts;
mod prepare;
mod quote_scan;
mod rows;
mod shards;
mod sms;
mod sniff;
mod source;
mod split;
mod split_files;
mod table;
mod table_options;
mod table_stream;
mod tokenize;
mod unzip;

// The public API, by pipeline step. Modules stay private so that moving code between them
// never breaks a user; everything a user needs is named here.

// Errors.
pub use error::{DataError, Result};

// Settings with named values: the one table of each set's spellings.
pub use named::Named;

// Getting the SMS Spam Collection (feature `download`, on by default).
#[cfg(feature = "download")]
pub use download::{
    BearerToken, DownloadOptions, DownloadProgress, Downloaded, describe, download,
    partial_download_path, redact_url,
};
#[cfg(feature = "download")]
pub use fetch::{SMS_URLS, SMS_ZIP, SmsFetchOptions, fetch_sms, install_sms_from};

// Integrity and archives.
pub use checksum::{check_sha256, sha256_file, sha256_hex};
pub use unzip::{MAX_ZIP_MEMBER_BYTES, extract_zip_member, is_zip, read_zip_member};

// Reading sources.
pub use dataset::Dataset;
pub use delimiter::{Delimiter, delimiter_for};
pub use prepare::{PrepareOptions, Prepared, prepare, read_source};
pub use sms::{ParseMode, SMS_LABELS, SMS_MEMBER, SMS_SHA256, parse_sms, read_sms};
pub use source::{ParquetOptions, SourceFormat, SourceKind};
// Which files a data path names (a file, a folder of Parquet shards, a glob, the hub's
// split layout), and rows read in batches.
pub use inputs::{SplitLayout, expand_input, is_parquet};
pub use rows::{NullCell, PartRow, RowBatch, RowSource};
// Rows split between the tasks of an array job.
pub use parts::{PartFormat, PartWriter, part_metadata};
pub use shards::{RowRange, Shard, count_rows, shard_ranges, text_rows_in};
pub use table::{Column, TableOptions, parse_labelled, read_labelled, read_texts};

// Balancing and splitting.
pub use numpy_rng::RandomState;
pub use split::{DEFAULT_FRACTIONS, DEFAULT_SEED, Splits, balance, split};
pub use split_files::{SplitFiles, prepare_files, read_split_files};

// Writing files.
pub use atomic::{parent_dir, sync_dir, write_atomic, write_atomic_via_path, write_atomic_with};
// Reading files users name: regular files only.
pub use files::{
    ExamplesFile, SPLIT_FILES, SplitFormat, check_split_folder, examples_rows, read_examples,
    read_split_csv, split_csv, text_rows, write_splits,
};
pub use input::{check_regular_file, read_file};

// Tokens, padding and batches.
pub use batch::{Batch, BatchOptions, DEFAULT_BATCH_SIZE, batch_indices, epoch_seed};
pub use pad::{EncodedSplit, EncodedSplits, GPT2_CONTEXT, PAD_TOKEN_ID, Padding, encode_splits};
pub use tokenize::{GPT2_VOCAB_SIZE, Tokenizer};
// GPT-2's tokenizer as transformers' files.
pub use hf_tokenizer::{
    END_OF_TEXT_TOKEN, TOKENIZER_FILES, gpt2_byte_to_char, gpt2_special_tokens_map,
    gpt2_tokenizer_config, gpt2_vocab_and_merges, write_gpt2_tokenizer_files,
};
