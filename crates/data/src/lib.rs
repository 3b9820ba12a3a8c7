//! Labelled-text datasets for GPT-2 classifiers, without libtorch.
//!
//! This crate reproduces the data side of the "fine-tune GPT-2 for spam classification" chapter
//! of *LLMs from scratch*, exactly:
//!
//! 1. **fetch** the SMS Spam Collection ([`fetch::fetch_sms`], over the generic resumable
//!    [`download::download`]) or install it from a local zip/file ([`fetch::install_from`]);
//! 2. **parse** it ([`sms::read`]): one message per line ([`ParseMode::Lines`], 5574 rows) or as
//!    the chapter's pandas `read_csv` sees it ([`ParseMode::PandasCompatible`], 5572 rows, the
//!    default, see [`sms`] for why); or read any labelled CSV/TSV ([`table::read_labelled`]);
//! 3. **balance** the classes and **split** 70/10/20 with seed 123 ([`balance`], [`split()`]),
//!    drawing from a port of numpy's legacy `RandomState` ([`numpy_rng`]) so the rows and their
//!    order are pandas' own;
//! 4. **write** `train.csv`, `validation.csv`, `test.csv` byte-identical to pandas' `to_csv`
//!    ([`write_splits`]);
//! 5. **tokenize** with GPT-2's BPE ([`Tokenizer`], ids equal to Python tiktoken's) and **pad**
//!    with token 50256 ([`Padding`], [`encode_splits`]);
//! 6. cut deterministic **batches** of 8 ([`batch_indices`], [`EncodedSplit::batch`]).
//!
//! [`prepare()`] does steps 2 to 5 in one call. Data are plain Rust (`Vec<u32>` ids, `usize`
//! labels); the training crate turns them into tensors.
//!
//! ```
//! use spam_data::{balance, split, encode_splits, sms, Padding, ParseMode, Tokenizer, PAD_TOKEN_ID};
//!
//! let mut tsv = String::new();
//! for i in 0..20 {
//!     tsv += &format!("ham\tSee you at {i} pm\n");
//!     if i % 2 == 0 {
//!         tsv += &format!("spam\tWIN £{i}00 now! Txt \"WIN\" to 80082\n");
//!     }
//! }
//! let ds = sms::parse("inline.tsv".as_ref(), tsv.as_bytes(), ParseMode::Lines)?;
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

pub mod batch;
pub mod dataset;
pub mod download;
pub mod error;
pub mod fetch;
pub mod files;
pub mod numpy_rng;
pub mod pad;
pub mod prepare;
pub mod sms;
pub mod split;
pub mod table;
pub mod tokenize;
pub mod unzip;

pub use batch::{Batch, BatchOptions, DEFAULT_BATCH_SIZE, batch_indices, epoch_seed};
pub use dataset::Dataset;
pub use error::{DataError, Result};
pub use files::{SPLIT_FILES, read_split_csv, split_csv, write_splits};
pub use pad::{EncodedSplit, EncodedSplits, GPT2_CONTEXT, PAD_TOKEN_ID, Padding, encode_splits};
pub use prepare::{PrepareOptions, Prepared, SourceFormat, prepare};
pub use sms::ParseMode;
pub use split::{DEFAULT_FRACTIONS, DEFAULT_SEED, Splits, balance, split};
pub use table::{Column, TableOptions, read_labelled, read_texts};
pub use tokenize::Tokenizer;
