//! Datasets by hub id: dataset ids.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use spam_hub::{HubError, HubId, RepoKind};

use crate::hub::C1;

const FOLDER: &str = "datasets--org--name";

fn dataset(s: &str) -> HubId {
    HubId::parse_dataset(s).unwrap()
}

#[test]
fn dataset_ids_parse_and_round_trip_and_bad_ones_show_the_syntax() {
    let id = dataset("org/name");
    assert_eq!(
        (id.repo.as_str(), id.revision.as_str(), id.kind),
        ("org/name", "main", RepoKind::Dataset)
    );
    assert_eq!(id.cache_folder(), FOLDER);
    for s in [
        "org/name",
        "org/name@v1.0",
        "org/name@refs/convert/parquet",
        &format!("org/name@{C1}"),
    ] {
        let id = dataset(s);
        assert_eq!(id.to_string(), s);
        assert_eq!(HubId::parse_dataset(&id.to_string()).unwrap(), id);
    }
    assert_eq!(
        dataset("org/name@refs/convert/parquet").revision,
        "refs/convert/parquet"
    );
    // The model parser and its kind are unchanged; the kinds differ.
    let model = HubId::parse("org/name").unwrap();
    assert_eq!(model.kind, RepoKind::Model);
    assert_eq!(model.cache_folder(), "models--org--name");
    assert_ne!(model, dataset("org/name"));

    for bad in [
        "a",
        "gpt2",
        "a/b/c",
        "org/name@",
        "org/",
        "/name",
        "",
        "org/na me",
        "org/name@../x",
        "org/name@a b",
        "hf:org/name",
    ] {
        let err = HubId::parse_dataset(bad).unwrap_err();
        assert!(matches!(err, HubError::InvalidId(_)), "{bad:?}: {err:?}");
        let msg = err.to_string();
        assert!(
            msg.contains("not a hub dataset id") && msg.contains("hf:ORG/NAME[@REVISION]"),
            "{bad:?}: {msg}"
        );
    }
}
