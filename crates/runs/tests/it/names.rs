//! A run config's settings with named values read every name and alias of their type's table
//! (`Named::NAMES`), from TOML and from `config.json`, and a closed set's value is written
//! back as its name.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use spam_data::Named;
use spam_runs::RunConfig;

/// Each spelling of `T`'s table as `[section] key = "spelling"` gives its value (`get` reads
/// it back); written out, a closed set's value is its name.
fn reads<T: Named>(section: &str, key: &str, get: impl Fn(&RunConfig) -> T) {
    for (value, name, aliases) in T::NAMES {
        for spelling in std::iter::once(name).chain(aliases.iter()) {
            let text = format!("[{section}]\n{key} = {spelling:?}\n");
            let config: RunConfig = toml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
            assert_eq!(&get(&config), value, "{text}");
            let json: RunConfig =
                serde_json::from_str(&serde_json::to_string(&config).unwrap()).unwrap();
            assert_eq!(&get(&json), value, "{text} through config.json");
            if T::FORMS.is_empty() {
                let written = toml::to_string(&config).unwrap();
                let line = format!("{key} = {name:?}");
                assert!(written.contains(&line), "{text}: no {line} in\n{written}");
            }
        }
    }
}

/// `[section] key = "bad"` fails, naming the key and what the table accepts.
fn rejects(section: &str, key: &str, bad: &str, expected: &str) {
    let text = format!("[{section}]\n{key} = {bad:?}\n");
    let err = toml::from_str::<RunConfig>(&text).unwrap_err().to_string();
    assert!(err.contains(key) && err.contains(expected), "{text}: {err}");
}

#[test]
fn config_keys_read_each_name_and_alias() {
    reads("data", "format", |c| c.data.format);
    reads("data", "parse_mode", |c| c.data.parse_mode);
    reads("data", "delimiter", |c| c.data.delimiter);
    reads("data", "padding", |c| c.data.padding);
    reads("model", "weights", |c| c.model.weights.clone());
    reads("model", "size", |c| c.model.size);
    reads("model", "token_position", |c| c.model.token_position);
    reads("model", "trainable", |c| c.model.trainable);
    reads("model", "init", |c| c.model.init);
    reads("model", "device", |c| c.model.device);
    reads("train", "data_order", |c| c.train.data_order);
    reads("train", "engine", |c| c.train.engine);
    reads("train", "precision", |c| c.train.precision);
    reads("train", "cache_precision", |c| c.train.cache_precision);
    reads("train", "metric_for_best", |c| {
        c.train.metric_for_best.unwrap()
    });
    reads("train", "class_weights", |c| {
        c.train.class_weights.clone().unwrap()
    });
}

#[test]
fn a_bad_name_fails_listing_the_table() {
    rejects(
        "model",
        "size",
        "999M",
        "expected `124M`, `355M`, `774M` or `1558M`",
    );
    rejects("model", "token_position", "middle", "`pooled`");
    rejects(
        "train",
        "engine",
        "fast",
        "expected `auto`, `plain` or `cached`",
    );
    rejects("train", "cache_precision", "fp16", "`fp32` or `bf16`");
}
