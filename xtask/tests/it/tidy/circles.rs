//! The import-circles rule on crates held in memory: which paths are edges, and how a
//! circle is reported.

use std::collections::BTreeMap;

use xtask::tidy::{check_circles, import_edges};

/// A crate in memory: each file under `crates/x/src/`.
fn crate_files(files: &[(&str, &str)]) -> BTreeMap<String, String> {
    files
        .iter()
        .map(|(path, src)| (format!("crates/x/src/{path}"), src.to_string()))
        .collect()
}

const LIB: &str = "crates/x/src/lib.rs";

/// `import_edges` with the `crates/x/src/` prefix taken off.
fn edges(files: &BTreeMap<String, String>) -> Vec<(String, String, usize)> {
    let short = |p: String| p.trim_start_matches("crates/x/src/").to_string();
    import_edges(LIB, files)
        .into_iter()
        .map(|(from, to, line)| (short(from), short(to), line))
        .collect()
}

fn edge(from: &str, to: &str, line: usize) -> (String, String, usize) {
    (from.to_string(), to.to_string(), line)
}

#[test]
fn a_circle_of_two_files_is_reported_once_at_the_first() {
    let files = crate_files(&[
        ("lib.rs", "mod a;\nmod b;\npub use a::A;\n"),
        ("a.rs", "use crate::b::helper;\n\npub struct A;\n"),
        (
            "b.rs",
            "pub fn helper() {}\n\npub fn make() -> crate::a::A {\n    crate::a::A\n}\n",
        ),
    ]);
    let found = check_circles(LIB, &files);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(
        found[0].to_string(),
        "crates/x/src/a.rs:1: import circle a.rs:1 -> b.rs:3 -> a.rs: move the shared item \
         into one of them or into a new module both use"
    );

    // The same crate without b's use of a passes.
    let clean = crate_files(&[
        ("lib.rs", "mod a;\nmod b;\npub use a::A;\n"),
        ("a.rs", "use crate::b::helper;\n\npub struct A;\n"),
        ("b.rs", "pub fn helper() {}\n"),
    ]);
    assert!(check_circles(LIB, &clean).is_empty());
    assert_eq!(edges(&clean), [edge("a.rs", "b.rs", 1)]);
}

#[test]
fn a_larger_tangle_names_its_shortest_circle_and_the_other_files() {
    let files = crate_files(&[
        ("lib.rs", "mod c;\nmod d;\nmod e;\n"),
        ("c.rs", "use crate::d::D;\npub struct C;\n"),
        ("d.rs", "use crate::e::E;\npub struct D;\n"),
        (
            "e.rs",
            "pub struct E;\nfn f(_: crate::c::C, _: crate::d::D) {}\n",
        ),
    ]);
    let found = check_circles(LIB, &files);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "crates/x/src/c.rs");
    assert!(
        found[0]
            .message
            .starts_with("import circle c.rs:1 -> d.rs:1 -> e.rs:2 -> c.rs:"),
        "{}",
        found[0].message
    );

    // d <-> e alone: the tangle is {d, e}; c only points into it.
    let files = crate_files(&[
        ("lib.rs", "mod c;\nmod d;\nmod e;\n"),
        ("c.rs", "use crate::d::D;\n"),
        ("d.rs", "use crate::e::E;\npub struct D;\n"),
        ("e.rs", "pub struct E;\nfn f(_: crate::d::D) {}\n"),
    ]);
    let found = check_circles(LIB, &files);
    assert_eq!(found.len(), 1);
    assert!(
        found[0]
            .message
            .starts_with("import circle d.rs:1 -> e.rs:2 -> d.rs:")
    );
}

#[test]
fn paths_in_comments_strings_and_test_items_are_no_edges() {
    let files = crate_files(&[
        ("lib.rs", "mod a;\nmod b;\n"),
        ("a.rs", "use crate::b::B;\npub struct A;\n"),
        (
            "b.rs",
            r##"//! Made from a [`crate::a::A`].
/// See `crate::a::A`.
pub struct B;
// use crate::a::A;
/* crate::a::A */
const S: &str = "crate::a::A";
const R: &str = r#"super::a::A"#;

#[cfg(test)]
mod tests {
    use crate::a::A;
    use super::super::a;
}

#[cfg(test)]
fn only_in_tests() -> crate::a::A { crate::a::A }
"##,
        ),
    ]);
    assert_eq!(edges(&files), [edge("a.rs", "b.rs", 1)]);
    assert!(check_circles(LIB, &files).is_empty());
}

#[test]
fn use_groups_relative_paths_and_nested_modules_are_edges() {
    let files = crate_files(&[
        ("lib.rs", "mod hub;\nmod net;\nmod util;\n"),
        (
            "hub.rs",
            "mod cache;\nmod fetch;\n\nuse self::cache::Cache;\n\npub struct Id;\n\
             fn go() { fetch::run(); }\n",
        ),
        (
            "hub/cache.rs",
            "use crate::{\n    net::{self, Client as C},\n    util::{trim},\n};\npub struct Cache;\n",
        ),
        (
            "hub/fetch.rs",
            "pub fn run() { let _ = super::super::util::trim; }\n",
        ),
        (
            "net/mod.rs",
            "mod client;\npub use client::Client;\npub fn get() {}\n",
        ),
        ("net/client.rs", "pub struct Client;\n"),
        (
            "util.rs",
            "pub fn trim() {}\nfn id() -> crate::hub::Id { crate::hub::Id }\n",
        ),
    ]);
    assert_eq!(
        edges(&files),
        [
            edge("hub.rs", "hub/cache.rs", 4),
            edge("hub.rs", "hub/fetch.rs", 7),
            edge("hub/cache.rs", "net/client.rs", 2),
            edge("hub/cache.rs", "net/mod.rs", 2),
            edge("hub/cache.rs", "util.rs", 3),
            edge("hub/fetch.rs", "util.rs", 1),
            edge("net/mod.rs", "net/client.rs", 2),
            edge("util.rs", "hub.rs", 2),
        ]
    );
    // util -> hub -> fetch -> util
    let found = check_circles(LIB, &files);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert_eq!(found[0].path, "crates/x/src/hub.rs");
    assert!(
        found[0]
            .message
            .starts_with("import circle hub.rs:4 -> hub/cache.rs:3 -> util.rs:2 -> hub.rs"),
        "{}",
        found[0].message
    );
    assert!(found[0].message.contains("also takes in hub/fetch.rs"));
}

#[test]
fn re_exports_are_followed_and_the_root_and_tables_of_contents_make_no_circle() {
    let files = crate_files(&[
        (
            "lib.rs",
            "mod a;\nmod b;\nmod net;\n\npub use b::B;\n\npub struct Root;\n\n\
             pub fn run() { a::go(); }\n",
        ),
        ("a.rs", "use crate::{B, Root};\npub fn go() {}\n"),
        (
            "b.rs",
            "pub struct B;\nfn f() -> crate::Root { crate::Root }\n",
        ),
        (
            "net/mod.rs",
            "//! Only declarations.\n#![allow(dead_code)]\nmod client;\nmod server;\n\
             pub use client::Client;\npub(crate) use server::serve;\n",
        ),
        ("net/client.rs", "use super::serve;\npub struct Client;\n"),
        (
            "net/server.rs",
            "use super::*;\nuse super::Client;\npub fn serve() {}\n",
        ),
    ]);
    assert_eq!(
        edges(&files),
        [
            edge("a.rs", "b.rs", 1),
            edge("net/client.rs", "net/server.rs", 1),
            edge("net/mod.rs", "net/client.rs", 5),
            edge("net/mod.rs", "net/server.rs", 6),
            edge("net/server.rs", "net/client.rs", 2),
        ]
    );
    let found = check_circles(LIB, &files);
    assert_eq!(found.len(), 1, "{found:#?}");
    assert!(
        found[0]
            .message
            .starts_with("import circle net/client.rs:1 -> net/server.rs:2 -> net/client.rs"),
        "{}",
        found[0].message
    );
}
