//! Padding modes and batches on the real collection.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use crate::common;

use spam_data::{
    BatchOptions, PAD_TOKEN_ID, Padding, ParseMode, Tokenizer, balance, batch_indices,
    encode_splits, epoch_seed, read_sms, split,
};

fn splits() -> spam_data::Splits {
    let ds = read_sms(common::real_sms(), ParseMode::PandasCompatible).unwrap();
    split(&balance(&ds, 123).unwrap(), (0.7, 0.1), 123).unwrap()
}

#[test]
fn all_padding_modes() {
    let s = splits();
    let tok = Tokenizer::gpt2();

    let longest = encode_splits(&tok, &s, Padding::Longest, 1024).unwrap();
    assert_eq!(longest.padded_len, Some(120));
    for split in [&longest.train, &longest.validation, &longest.test] {
        assert!(split.ids.iter().all(|r| r.len() == 120));
        for (row, &len) in split.ids.iter().zip(&split.lengths) {
            assert!(row[len..].iter().all(|&t| t == PAD_TOKEN_ID));
        }
    }
    // Longest capped by a smaller context: everything truncated to it.
    let capped = encode_splits(&tok, &s, Padding::Longest, 64).unwrap();
    assert_eq!(capped.padded_len, Some(64));
    assert_eq!(capped.train.longest(), 64);

    let fixed = encode_splits(&tok, &s, Padding::Fixed(1024), 1024).unwrap();
    assert_eq!(fixed.padded_len, Some(1024));
    assert!(fixed.test.ids.iter().all(|r| r.len() == 1024));
    assert_eq!(fixed.train.real_tokens(), longest.train.real_tokens());
    let short = encode_splits(&tok, &s, Padding::Fixed(16), 1024).unwrap();
    assert!(short.train.ids.iter().all(|r| r.len() == 16));
    assert_eq!(short.train.longest(), 16);
    assert!(encode_splits(&tok, &s, Padding::Fixed(1025), 1024).is_err());

    let none = encode_splits(&tok, &s, Padding::None, 1024).unwrap();
    assert_eq!(none.padded_len, None);
    assert_eq!(none.train.ids.iter().map(Vec::len).sum::<usize>(), 31_779);
    assert_eq!(none.test.longest(), 92);

    let dynamic = encode_splits(&tok, &s, Padding::Dynamic, 1024).unwrap();
    let batch = dynamic.train.batch(&[0, 1, 2, 3, 4, 5, 6, 7]);
    let own_longest = batch.lengths.iter().copied().max().unwrap();
    assert_eq!(batch.cols, own_longest);
    assert!(batch.cols < 120);
    assert_eq!(batch.ids.len(), 8 * batch.cols);
    assert_eq!(&batch.row(0)[..batch.lengths[0]], &dynamic.train.ids[0][..]);
}

#[test]
fn chapter_batches() {
    let s = splits();
    let enc = encode_splits(&Tokenizer::gpt2(), &s, Padding::Longest, 1024).unwrap();
    // The chapter: 130 training batches (drop_last), 19 validation, 38 test.
    let train = enc.train.batches(&BatchOptions::train(123)).unwrap();
    assert_eq!(train.len(), 130);
    assert!(
        train
            .iter()
            .all(|b| b.rows == 8 && b.cols == 120 && b.ids.len() == 960)
    );
    assert_eq!(
        enc.validation.batches(&BatchOptions::eval()).unwrap().len(),
        19
    );
    assert_eq!(enc.test.batches(&BatchOptions::eval()).unwrap().len(), 38);
    assert_eq!(enc.train.num_batches(8, true), 130);

    let again = enc.train.batches(&BatchOptions::train(123)).unwrap();
    assert_eq!(train, again, "same seed, same order");
    let other = BatchOptions {
        seed: epoch_seed(123, 1),
        ..BatchOptions::train(123)
    };
    assert_ne!(train, enc.train.batches(&other).unwrap());
    let idx = batch_indices(1045, 8, true, 123, true).unwrap();
    assert_eq!(idx.len(), 130);
    assert_eq!(
        train[0].labels,
        idx[0]
            .iter()
            .map(|&i| enc.train.labels[i])
            .collect::<Vec<_>>()
    );
}
