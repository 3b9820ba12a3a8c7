//! Balancing and splitting, reproducing the chapter's pandas code exactly.
//!
//! The chapter does
//!
//! ```python
//! ham_subset = df[df["Label"] == "ham"].sample(num_spam, random_state=123)
//! balanced_df = pd.concat([ham_subset, df[df["Label"] == "spam"]])
//! df = balanced_df.sample(frac=1, random_state=123).reset_index(drop=True)
//! train_end = int(len(df) * 0.7); validation_end = train_end + int(len(df) * 0.1)
//! ```
//!
//! `sample` draws from numpy's legacy `RandomState`, ported in [`RandomState`], so the rows
//! come out in the same order as pandas'.

use crate::dataset::Dataset;
use crate::error::{DataError, Result};
use crate::numpy_rng::RandomState;

/// The chapter's seed (`random_state=123`).
pub const DEFAULT_SEED: u32 = 123;
/// The chapter's fractions: 70 % train, 10 % validation, the rest (20 %) test.
pub const DEFAULT_FRACTIONS: (f64, f64) = (0.7, 0.1);

/// Train, validation and test sets.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Splits {
    /// Training rows.
    pub train: Dataset,
    /// Validation rows.
    pub validation: Dataset,
    /// Test rows.
    pub test: Dataset,
}

impl Splits {
    /// `[train, validation, test]` with their names.
    pub fn named(&self) -> [(&'static str, &Dataset); 3] {
        [
            ("train", &self.train),
            ("validation", &self.validation),
            ("test", &self.test),
        ]
    }
}

/// Undersamples every class to the size of the smallest one.
///
/// Each larger class is sampled as pandas' `df[df.Label == c].sample(n_min, random_state=seed)`
/// (a fresh `RandomState(seed)` per class, rows in drawn order); classes already at the minimum
/// keep their rows in file order. Classes are concatenated in class-index order. For the SMS
/// collection (ham = 0 sampled, spam = 1 kept) this is exactly the chapter's
/// `create_balanced_dataset`.
pub fn balance(ds: &Dataset, seed: u32) -> Result<Dataset> {
    let counts = ds.class_counts();
    let present: Vec<usize> = counts.iter().copied().filter(|&c| c > 0).collect();
    if present.len() < 2 {
        return Err(DataError::InvalidOption(
            "balance: the dataset needs at least two classes".into(),
        ));
    }
    let target = present.iter().copied().min().unwrap_or(0);
    let mut rows = Vec::with_capacity(target * present.len());
    for (class, &count) in counts.iter().enumerate() {
        if count == 0 {
            continue;
        }
        let members: Vec<usize> = (0..ds.len()).filter(|&i| ds.labels[i] == class).collect();
        if count > target {
            let pick = RandomState::new(seed).choice_without_replacement(count, target);
            rows.extend(pick.into_iter().map(|k| members[k]));
        } else {
            rows.extend(members);
        }
    }
    Ok(ds.select(&rows))
}

/// Shuffles all rows (pandas' `sample(frac=1, random_state=seed)`) and cuts them into
/// `int(n * train)` training rows, `int(n * validation)` validation rows and the rest for test.
pub fn split(ds: &Dataset, fractions: (f64, f64), seed: u32) -> Result<Splits> {
    let (train_frac, val_frac) = fractions;
    let ok = |f: f64| f.is_finite() && (0.0..=1.0).contains(&f);
    if !ok(train_frac) || !ok(val_frac) || train_frac + val_frac > 1.0 + 1e-12 {
        return Err(DataError::InvalidOption(format!(
            "split fractions ({train_frac}, {val_frac}) must be between 0 and 1 and sum to at most 1"
        )));
    }
    let n = ds.len();
    let order = RandomState::new(seed).permutation(n);
    // Python's int() of a non-negative float truncates, as does `as usize`.
    let train_end = (n as f64 * train_frac) as usize;
    let val_end = (train_end + (n as f64 * val_frac) as usize).min(n);
    Ok(Splits {
        train: ds.select(&order[..train_end]),
        validation: ds.select(&order[train_end..val_end]),
        test: ds.select(&order[val_end..]),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn toy(labels: &[usize]) -> Dataset {
        Dataset {
            texts: (0..labels.len()).map(|i| format!("t{i}")).collect(),
            labels: labels.to_vec(),
            label_names: vec!["a".into(), "b".into(), "c".into()],
        }
    }

    #[test]
    fn balance_three_classes() {
        let ds = toy(&[0, 0, 0, 1, 1, 2, 2, 2, 2, 0]);
        let b = balance(&ds, 123).unwrap();
        assert_eq!(b.class_counts(), [2, 2, 2]);
        // class 1 (already minimal) keeps file order
        assert_eq!(b.texts[2..4], ["t3", "t4"]);
    }

    #[test]
    fn split_counts_like_python_int() {
        let ds = toy(&vec![0; 1494]);
        let s = split(&ds, (0.7, 0.1), 123).unwrap();
        assert_eq!(
            (s.train.len(), s.validation.len(), s.test.len()),
            (1045, 149, 300)
        );
        assert!(split(&ds, (0.8, 0.3), 1).is_err());
        assert!(split(&ds, (f64::NAN, 0.1), 1).is_err());
    }
}
