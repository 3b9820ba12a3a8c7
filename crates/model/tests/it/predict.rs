//! Batched classification: repeated texts computed once, length-sorted batches, and the
//! results still in input order and equal to classifying each text alone.

use spam_model::Predictor;
use spam_model::{Classifier, ClassifierConfig, Config, TokenPosition, Weights};

fn predictor(position: TokenPosition) -> (tempfile::TempDir, Predictor) {
    let dir = tempfile::tempdir().expect("temp dir");
    crate::common::save_tiny_run(dir.path(), position, 24);
    let p = Predictor::load(dir.path(), tch::Device::Cpu).expect("load");
    (dir, p)
}

#[test]
fn batched_classification_equals_one_text_at_a_time_in_input_order() {
    let long = "word ".repeat(80); // longer than max_length: truncated
    let mut texts: Vec<String> = (0..70)
        .map(|i| format!("message {i} {}", "ok ".repeat(i % 13)))
        .collect();
    texts.extend([
        "Free prize! Call now".to_string(),
        String::new(),
        long.clone(),
    ]);
    texts.extend(texts.clone()); // every text twice
    // Differs from `long` only after the truncation point: the same model input.
    texts.push(format!("{long} tail"));
    for position in [TokenPosition::Last, TokenPosition::Flexible] {
        let (_dir, p) = predictor(position);
        let batched = p.classify(&texts);
        assert_eq!(batched.len(), texts.len());
        for (text, got) in texts.iter().zip(&batched) {
            let alone = &p.classify(&[text.as_str()])[0];
            assert_eq!(got.index, alone.index, "{position:?} {text:?}");
            for (a, b) in got.probabilities.iter().zip(&alone.probabilities) {
                assert!((a - b).abs() < 1e-6, "{position:?} {text:?}: {a} vs {b}");
            }
        }
        let n = texts.len();
        assert_eq!(batched[0], batched[73], "{position:?}: a repeated text");
        assert_eq!(
            batched[72].probabilities,
            batched[n - 1].probabilities,
            "{position:?}: equal after truncation"
        );
        // Each says how long its text was, so a caller can warn that it was cut.
        assert_eq!(batched[72].tokens, 81, "{position:?}");
        assert_eq!(batched[n - 1].tokens, 82, "{position:?}");
        assert_eq!(p.max_length(), 24);
        // The inputs differ, so the model does too: the comparison above is not vacuous.
        assert!(
            batched[..73]
                .iter()
                .any(|x| (x.probabilities[0] - batched[0].probabilities[0]).abs() > 1e-4),
            "{position:?}: every text got the same probabilities"
        );
    }
}

/// A classifier whose vocabulary is smaller than the tokenizer's cannot read text: refused at
/// load, naming the folder and the sizes. Before: it loaded, and the first text with an id
/// beyond its vocabulary panicked in libtorch.
#[test]
fn a_model_with_a_smaller_vocabulary_than_the_tokenizer_is_refused_at_load() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut cc = ClassifierConfig::new(Config::tiny(), 2); // vocabulary 512
    cc.label_names = vec!["ham".into(), "spam".into()];
    let model = Classifier::new(cc, &Weights::Random { seed: 3 }, tch::Device::Cpu, 5)
        .expect("tiny classifier");
    model.save(&dir.path().join("model")).expect("save");
    let err = Predictor::load(dir.path(), tch::Device::Cpu).expect_err("loaded");
    let msg = err.to_string();
    assert!(
        msg.contains("512") && msg.contains("50257") && msg.contains("model"),
        "{msg}"
    );
}

/// A file's labels map onto the model's classes by name, in whatever order the file has
/// them; class numbers map by the model's order and say so; anything else is refused,
/// naming the label.
#[test]
fn labels_map_by_name_or_by_number_and_nothing_else() {
    let (_dir, p) = predictor(TokenPosition::Last);
    assert_eq!(p.label_names(), ["ham", "spam"]);
    let names = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let m = p.label_map(&names(&["spam", "ham"])).expect("by name");
    assert_eq!((m.map, m.by_number), (vec![1, 0], false));
    let m = p.label_map(&names(&["0", "1"])).expect("by number");
    assert_eq!((m.map, m.by_number), (vec![0, 1], true));
    for (bad, named) in [
        (&["0", "7"][..], "7"),
        (&["ham", "eggs"][..], "eggs"),
        (&["ham", "1"][..], "1"),
    ] {
        let err = p
            .label_map(&names(bad))
            .expect_err("unmappable")
            .to_string();
        assert!(err.contains(&format!("`{named}`")), "{bad:?}: {err}");
    }
    // The same rows with the classes listed the other way round give the same metrics.
    let texts: Vec<String> = ["win a prize", "see you", "call now", "ok"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let a = spam_data::Dataset {
        texts: texts.clone(),
        labels: vec![1, 0, 1, 0],
        label_names: names(&["ham", "spam"]),
    };
    let b = spam_data::Dataset {
        texts,
        labels: vec![0, 1, 0, 1],
        label_names: names(&["spam", "ham"]),
    };
    assert_eq!(p.evaluate(&a).expect("a"), p.evaluate(&b).expect("b"));
}

/// Evaluating rows read in batches: the same metrics as the whole dataset at once, and a
/// label the model does not know named with the place it first appears (a CSV's line).
#[test]
fn evaluating_rows_streams_and_names_the_line_of_an_unknown_label() {
    let (dir, p) = predictor(TokenPosition::Last);
    let csv = dir.path().join("eval.csv");
    std::fs::write(
        &csv,
        "text,label\nwin a prize,spam\n\"see\nyou\",ham\ncall now,spam\nok,ham\n",
    )
    .expect("write");
    let options = spam_data::ExamplesFile::default();
    let rows = spam_data::examples_rows(&csv, &options).expect("rows");
    let streamed = p.evaluate_rows(rows).expect("evaluate");
    let whole = spam_data::read_examples(&csv, &options).expect("read");
    assert_eq!(streamed.metrics, p.evaluate(&whole).expect("whole"));
    assert_eq!(streamed.metrics.examples, 4);
    assert!(!streamed.by_number);

    std::fs::write(
        &csv,
        "text,label\nwin,spam\nhi,ham\n\"a\nb\",eggs\nyo,eggs\n",
    )
    .expect("write");
    let rows = spam_data::examples_rows(&csv, &options).expect("rows");
    let err = p.evaluate_rows(rows).expect_err("eggs").to_string();
    assert!(
        err.contains("eval.csv:4: the data has a label `eggs`") && err.contains("ham, spam"),
        "{err}"
    );
}
