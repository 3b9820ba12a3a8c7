//! The experiments table: rows map onto run settings; the table prints beside the published one.

use spam_model::{ModelSize, TokenPosition, Trainable};
use spam_train::RunConfig;
use spam_train::{
    ExperimentResult as RowResult, default_experiment_rows as default_rows,
    experiment_config as config_for, experiment_rows as rows, experiments_table as markdown_table,
};

#[test]
fn the_table_has_the_chapters_19_rows_and_the_defaults_are_the_124m_ones() {
    let all = rows();
    assert_eq!(all.len(), 19);
    assert_eq!(
        all.iter().map(|r| r.number).collect::<Vec<_>>(),
        (1..=19).collect::<Vec<_>>()
    );
    assert_eq!(
        default_rows(),
        vec![1, 2, 3, 4, 5, 10, 11, 13, 14, 15, 16, 17, 18, 19]
    );
}

#[test]
fn rows_change_only_what_the_table_says() {
    let base = RunConfig::default();
    let missing = std::path::Path::new("/nonexistent/weights");
    let by_number = |n: usize| rows().into_iter().find(|r| r.number == n).expect("row");

    let (c, pretrained) = config_for(&base, &by_number(1), missing);
    assert!(!pretrained, "no weights on disk: random ones are used");
    assert_eq!(c.model.weights.to_string(), "random");
    assert_eq!(c.model.trainable, Trainable::LastBlock);
    assert_eq!(c.data.padding.to_string(), "longest");
    assert_eq!(c.train, base.train);

    let (c, _) = config_for(&base, &by_number(15), missing);
    assert_eq!((c.train.batch_size, c.train.grad_accum_steps), (1, 8));
    assert_eq!(c.data.padding.to_string(), "none");

    let (c, _) = config_for(&base, &by_number(16), missing);
    assert_eq!(c.model.token_position, TokenPosition::Flexible);
    let (c, _) = config_for(&base, &by_number(17), missing);
    assert!(!c.model.causal_mask);
    let (c, _) = config_for(&base, &by_number(12), missing);
    assert_eq!(c.model.size, ModelSize::S1558M);
    assert_eq!(
        c.model.trainable,
        Trainable::Lora {
            rank: 16,
            alpha: 8.0
        }
    );

    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(dir.path().join("124M")).expect("mkdir");
    let (c, pretrained) = config_for(&base, &by_number(1), dir.path());
    assert!(pretrained);
    assert!(c.model.weights.to_string().ends_with("124M"));
}

#[test]
fn the_markdown_table_marks_rows_that_ran_on_random_weights() {
    let r = |number, pretrained_weights| RowResult {
        number,
        description: String::new(),
        pretrained_weights,
        train_accuracy: 0.9,
        validation_accuracy: 0.8,
        test_accuracy: 0.85,
        minutes: 1.5,
        path: "cached".into(),
    };
    let table = markdown_table(&[r(1, false), r(10, true)]);
    let lines: Vec<&str> = table.lines().collect();
    assert!(lines[0].starts_with("| row |"));
    assert!(
        lines[2].starts_with("| 1 |") && lines[2].contains("96.63 / 99.33 / 95.00"),
        "{}",
        lines[2]
    );
    assert!(
        lines[2].contains("90.00 / 80.00 / 85.00") && lines[2].ends_with("| random* |"),
        "{}",
        lines[2]
    );
    assert!(
        lines[3].starts_with("| 10 |") && lines[3].ends_with("| random |"),
        "{}",
        lines[3]
    );
    assert!(table.contains("cargo xtask fetch --weights"));
}
