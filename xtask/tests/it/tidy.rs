//! `cargo xtask tidy`'s rules on small inputs: each finds what it should, with file:line,
//! and leaves alone what it should.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;

use serde_json::json;
use xtask::tidy::{
    Package, Violation, check_code_map, check_length, check_path_includes, check_printing,
    check_test_binaries, packages_from_metadata, parse_allowed, parse_code_map,
};

mod circles;
mod fns;

fn lines(found: &[Violation]) -> Vec<usize> {
    found.iter().map(|v| v.line).collect()
}

fn set(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|s| s.to_string()).collect()
}

#[test]
fn printing_in_library_code_is_reported_with_file_and_line() {
    let src = "\
pub fn f() {
    println!(\"hi\");
    let x = 1;
    eprintln!(\"{x}\");
    std::print!(\"a\"); eprint!(\"b\");
    dbg!(x);
}
";
    let found = check_printing("crates/x/src/lib.rs", src);
    assert_eq!(lines(&found), [2, 4, 5, 5, 6]);
    assert_eq!(
        found[0].to_string(),
        "crates/x/src/lib.rs:2: `println!` in a library crate: log through `tracing` or return \
         the text, and let the binary print it"
    );
    assert!(found[1].message.starts_with("`eprintln!`"));
    assert!(found[2].message.starts_with("`print!`"));
    assert!(found[3].message.starts_with("`eprint!`"));
    assert!(found[4].message.starts_with("`dbg!`"));
}

#[test]
fn printing_in_comments_strings_and_test_items_is_allowed() {
    let src = r##"//! ```
//! println!("{}", x);
//! ```
/// Prints nothing: `eprintln!` is for binaries.
pub fn f() -> String {
    // println!("debug");
    /* dbg!(x);
       print!("y"); */
    let s = "println!(\"in a string\")";
    let r = r#"eprintln!("raw")"#;
    let c = '{';
    let ok = 1 != 2;
    writeln_like(s, r, c, ok)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    fn helper() {
        if true {
            println!("{}", '}');
        }
    }
    #[test]
    fn t() {
        dbg!(1);
    }
}

#[cfg(test)]
fn only_in_tests() { println!("x"); }

pub fn g() {
    print!("after the test module");
}
"##;
    let found = check_printing("crates/x/src/a.rs", src);
    assert_eq!(lines(&found), [34], "{found:#?}");
    assert!(found[0].message.starts_with("`print!`"));
}

#[test]
fn a_cfg_test_declaration_ends_at_its_semicolon() {
    let src = "#[cfg(test)]\nmod tests;\n\nfn f() { println!(\"x\"); }\n";
    assert_eq!(lines(&check_printing("crates/x/src/lib.rs", src)), [4]);
}

#[test]
fn path_includes_that_leave_the_crate_are_reported() {
    let src = r##"#![allow(clippy::unwrap_used)]

#[path = "../../x"]
mod x;
#[path="./../../crates/data/tests/common/http_server.rs"] mod http;
// #[path = "../../commented/out.rs"]
#[path = "common/inside.rs"]
mod inside;
#[path = "../src/same_crate.rs"]
mod same;
const FIXTURE: &str = "#[path = \"../../in/a/string.rs\"]";
/* #[path = "../../in/a/block/comment.rs"] */
"##;
    let found = check_path_includes("xtask/tests/a.rs", src);
    assert_eq!(lines(&found), [3, 5]);
    assert_eq!(
        found[0].to_string(),
        "xtask/tests/a.rs:3: `#[path = \"../../x\"]` includes another crate's file: move the \
         shared code into a test-support crate and depend on it"
    );
}

#[test]
fn allowed_cells_parse_in_every_supported_form() {
    assert_eq!(parse_allowed("—").unwrap(), set(&[]));
    assert_eq!(parse_allowed("—; no libtorch, ever").unwrap(), set(&[]));
    assert_eq!(parse_allowed("`tch`").unwrap(), set(&["tch"]));
    assert_eq!(
        parse_allowed("`spam-data`, `spam-model`,`tch`").unwrap(),
        set(&["spam-data", "spam-model", "tch"])
    );
    assert_eq!(
        parse_allowed("`spam-train`; for its `Predictor`, not `tch`").unwrap(),
        set(&["spam-train"])
    );
    assert_eq!(
        parse_allowed("`spam-data`; for downloads; never tch").unwrap(),
        set(&["spam-data"])
    );
    for bad in [
        "",
        "; prose only",
        "tch",
        "spam-data, spam-model",
        "all of the above",
        "`spam-train` (its `Predictor`)",
        "`spam-data` `tch`",
        "`spam-data`,",
        "``",
        "`a b`",
        "-",
    ] {
        assert!(parse_allowed(bad).is_err(), "{bad:?} should not parse");
    }
    assert!(
        parse_allowed("`tch`, `tch`")
            .unwrap_err()
            .contains("listed twice")
    );
}

const MAP: &str = "\
# Architecture

## Code map

| path | package | owns | may depend on |
|---|---|---|---|
| `crates/data` | `spam-data` | data | —; no libtorch, ever |
| `crates/model` | `spam-model` | GPT-2 | `spam-data`, `tch` |
| `crates/train` | `spam-train` | training | `spam-data`, `spam-model`, `tch` |
| `crates/new` | `spam-new` | not there yet | `spam-data` |
| `bench/` | — | benchmark | — |

## Invariants
";

fn package(name: &str, dir: &str, deps: &[&str]) -> Package {
    Package {
        name: name.into(),
        dir: dir.into(),
        lib: Some(format!("{dir}/src/lib.rs")),
        bins: Vec::new(),
        tests: Vec::new(),
        normal_deps: set(deps),
    }
}

fn workspace() -> Vec<Package> {
    vec![
        package("spam-data", "crates/data", &["csv"]),
        package(
            "spam-model",
            "crates/model",
            &["spam-data", "tch", "anyhow"],
        ),
        package(
            "spam-train",
            "crates/train",
            &["spam-data", "spam-model", "tch"],
        ),
    ]
}

#[test]
fn the_code_map_parses_into_package_rows() {
    let rows = parse_code_map("ARCHITECTURE.md", MAP).unwrap();
    let got: Vec<(usize, &str, &str)> = rows
        .iter()
        .map(|r| (r.line, r.path.as_str(), r.package.as_str()))
        .collect();
    assert_eq!(
        got,
        [
            (7, "crates/data", "spam-data"),
            (8, "crates/model", "spam-model"),
            (9, "crates/train", "spam-train"),
            (10, "crates/new", "spam-new"),
        ]
    );
    assert_eq!(rows[2].allowed, set(&["spam-data", "spam-model", "tch"]));
}

#[test]
fn a_code_map_that_matches_passes_with_a_warning_for_a_missing_package() {
    let f = check_code_map("ARCHITECTURE.md", MAP, &workspace());
    assert!(f.errors.is_empty(), "{:#?}", f.errors);
    assert_eq!(lines(&f.warnings), [10]);
    assert!(f.warnings[0].message.contains("`spam-new`"));
}

#[test]
fn a_dependency_the_table_does_not_allow_is_reported() {
    let mut ws = workspace();
    ws[0].normal_deps.insert("spam-model".into()); // data -> model
    ws[0].normal_deps.insert("tch".into()); // data -> tch, never
    let f = check_code_map("ARCHITECTURE.md", MAP, &ws);
    let shown: Vec<String> = f.errors.iter().map(ToString::to_string).collect();
    assert_eq!(shown.len(), 2, "{shown:#?}");
    assert!(shown[0].starts_with("ARCHITECTURE.md:7: `spam-data` depends on `spam-model`"));
    assert!(shown[1].starts_with("ARCHITECTURE.md:7: `spam-data` depends on `tch`"));
}

#[test]
fn a_package_without_a_row_or_with_a_bad_cell_is_an_error() {
    let mut ws = workspace();
    ws.push(package("xtask", "xtask", &["spam-data"]));
    let f = check_code_map("ARCHITECTURE.md", MAP, &ws);
    assert_eq!(lines(&f.errors), [3]);
    assert!(f.errors[0].message.contains("`xtask`"));

    let bad = MAP.replace("`spam-data`, `tch` |", "all of the above |");
    let f = check_code_map("ARCHITECTURE.md", &bad, &workspace());
    assert_eq!(lines(&f.errors), [8]);
    assert!(f.errors[0].message.contains("`all of the above`"));
}

#[test]
fn stale_entries_wrong_paths_and_unknown_names_are_found() {
    let mut ws = workspace();
    ws[1].normal_deps.remove("spam-data");
    ws[2].dir = "crates/training".into();
    let map = MAP.replace("| `spam-data` |\n", "| `spam-data`, `spam-dta` |\n");
    let f = check_code_map("ARCHITECTURE.md", &map, &ws);
    let errors: Vec<String> = f.errors.iter().map(ToString::to_string).collect();
    assert_eq!(lines(&f.errors), [9, 10], "{errors:#?}");
    assert!(errors[0].contains("lives in `crates/training`"));
    assert!(errors[1].contains("`spam-dta`"));
    assert_eq!(lines(&f.warnings), [8, 10]);
    assert!(
        f.warnings[0]
            .message
            .contains("may depend on `spam-data` but does not")
    );
}

#[test]
fn packages_come_from_cargo_metadata() {
    let metadata = json!({
        "workspace_root": "/w",
        "workspace_members": [
            "path+file:///w/crates/data#spam-data@0.1.0",
            "path+file:///w/crates/cli#spam-cli@0.1.0"
        ],
        "packages": [
            {
                "id": "path+file:///w/crates/data#spam-data@0.1.0",
                "name": "spam-data",
                "manifest_path": "/w/crates/data/Cargo.toml",
                "targets": [
                    {"kind": ["lib"], "src_path": "/w/crates/data/src/lib.rs"},
                    {"kind": ["test"], "src_path": "/w/crates/data/tests/t.rs"}
                ],
                "dependencies": [
                    {"name": "csv", "kind": null, "target": null},
                    {"name": "tch", "kind": "dev", "target": null},
                    {"name": "libc", "kind": null, "target": "cfg(unix)"},
                    {"name": "cc", "kind": "build", "target": null}
                ]
            },
            {
                "id": "path+file:///w/crates/cli#spam-cli@0.1.0",
                "name": "spam-cli",
                "manifest_path": "/w/crates/cli/Cargo.toml",
                "targets": [{"kind": ["bin"], "src_path": "/w/crates/cli/src/main.rs"}],
                "dependencies": [{"name": "spam-data", "kind": null, "target": null}]
            }
        ]
    });
    let ps = packages_from_metadata(&metadata).unwrap();
    assert_eq!(ps.len(), 2);
    assert_eq!(ps[0].name, "spam-data");
    assert_eq!(ps[0].dir, "crates/data");
    assert_eq!(ps[0].lib.as_deref(), Some("crates/data/src/lib.rs"));
    assert_eq!(ps[0].normal_deps, set(&["csv", "libc"]));
    assert!(ps[0].is_library_crate());
    assert_eq!(ps[1].bins, ["crates/cli/src/main.rs"]);
    assert!(!ps[1].is_library_crate());
    assert!(packages_from_metadata(&json!({})).is_err());
}

#[test]
fn long_files_are_listed() {
    let long = "x\n".repeat(601);
    let v = check_length("a.rs", &long).unwrap();
    assert_eq!(
        v.to_string(),
        "a.rs: 601 lines (over 600): consider splitting it"
    );
    assert!(check_length("a.rs", &"x\n".repeat(600)).is_none());
}

fn metadata_with_tests(tests: &[&str]) -> serde_json::Value {
    let targets: Vec<serde_json::Value> = std::iter::once(
        json!({"kind": ["lib"], "name": "spam_e2e", "src_path": "/w/tests/lib.rs"}),
    )
    .chain(
        tests
            .iter()
            .map(|t| json!({"kind": ["test"], "name": t, "src_path": format!("/w/tests/{t}.rs")})),
    )
    .collect();
    json!({
        "workspace_root": "/w",
        "workspace_members": ["path+file:///w/tests#spam-e2e@0.1.0"],
        "packages": [{
            "id": "path+file:///w/tests#spam-e2e@0.1.0",
            "name": "spam-e2e",
            "manifest_path": "/w/tests/Cargo.toml",
            "targets": targets,
            "dependencies": []
        }]
    })
}

#[test]
fn a_package_with_two_test_binaries_is_reported() {
    let ps = packages_from_metadata(&metadata_with_tests(&["cli", "hub"])).unwrap();
    assert_eq!(
        ps[0].tests,
        [
            ("cli".to_string(), "tests/cli.rs".to_string()),
            ("hub".to_string(), "tests/hub.rs".to_string())
        ]
    );
    let found = check_test_binaries(&ps);
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].to_string(),
        "tests/Cargo.toml: `spam-e2e` has 2 integration-test binaries, `cli` (tests/cli.rs), \
         `hub` (tests/hub.rs): make them modules of one binary (tests/it/main.rs, \
         `autotests = false` and one `[[test]]` named `it`)"
    );

    for one_or_none in [&["it"][..], &[]] {
        let ps = packages_from_metadata(&metadata_with_tests(one_or_none)).unwrap();
        assert!(check_test_binaries(&ps).is_empty());
    }
}
