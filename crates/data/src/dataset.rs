//! The in-memory dataset: texts, integer labels and the names of the labels.

/// Labelled texts. `labels[i]` indexes `label_names`; `texts` and `labels` have the same length.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Dataset {
    /// One text per row.
    pub texts: Vec<String>,
    /// One class index per row, `< label_names.len()`.
    pub labels: Vec<usize>,
    /// Class names in class-index order (for the SMS collection: `["ham", "spam"]`).
    pub label_names: Vec<String>,
}

impl Dataset {
    /// Number of rows.
    pub fn len(&self) -> usize {
        self.texts.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.texts.is_empty()
    }

    /// Rows per class, indexed like `label_names`.
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.label_names.len()];
        for &l in &self.labels {
            if l >= counts.len() {
                counts.resize(l + 1, 0);
            }
            counts[l] += 1;
        }
        counts
    }

    /// A new dataset with the given rows, in the given order (indices may repeat).
    ///
    /// # Panics
    /// If an index is out of range.
    pub fn select(&self, rows: &[usize]) -> Dataset {
        Dataset {
            texts: rows.iter().map(|&i| self.texts[i].clone()).collect(),
            labels: rows.iter().map(|&i| self.labels[i]).collect(),
            label_names: self.label_names.clone(),
        }
    }
}
