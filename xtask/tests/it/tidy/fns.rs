//! The function-length rule: what counts as a function, and where it ends.

use std::collections::BTreeMap;

use xtask::tidy::{MAX_FN_LINES, check_fn_lengths, fn_lengths, longest_fns};

/// A function of `lines` lines (from `fn` to `}`), starting at line 1.
fn function(name: &str, lines: usize) -> String {
    format!("fn {name}() {{\n{}}}\n", "    step();\n".repeat(lines - 2))
}

#[test]
fn a_function_over_the_limit_is_reported_and_one_at_it_is_not() {
    assert_eq!(MAX_FN_LINES, 120);
    let found = check_fn_lengths("crates/x/src/a.rs", &function("long", 121));
    assert_eq!(found.len(), 1);
    assert_eq!(
        found[0].to_string(),
        "crates/x/src/a.rs:1: fn long is 121 lines (max 120): split it into steps"
    );
    assert!(check_fn_lengths("crates/x/src/a.rs", &function("fits", 120)).is_empty());
}

#[test]
fn functions_in_test_items_are_not_counted() {
    let long = function("huge", 200);
    let src = format!(
        "#[cfg(test)]\nmod tests {{\n{long}}}\n\n#[cfg(test)]\n{long}\npub fn after() {{}}\n"
    );
    let found = fn_lengths("a.rs", &src);
    let got: Vec<(&str, usize, usize)> = found
        .iter()
        .map(|f| (f.name.as_str(), f.line, f.lines))
        .collect();
    assert_eq!(got, [("after", 407, 1)]);
}

#[test]
fn every_kind_of_function_is_measured_and_nothing_else() {
    let src = r#"pub fn free(x: [u8; 4]) -> u8 { x[0] }
const S: &str = "fn in_a_string() { {";
// fn in_a_comment() {
type Callback = fn(u8) -> u8;
trait T {
    fn declared(&self);
    fn default_method(&self) -> u8 {
        let close = '}';
        1
    }
}
impl S {
    pub(crate) fn method<F: Fn() -> u8>(&self, f: F) -> u8
    where
        F: Copy,
    {
        fn nested() -> u8 {
            2
        }
        f() + nested()
    }
}
extern "C" {
    fn abs(x: i32) -> i32;
}
"#;
    let got: Vec<(String, usize, usize)> = fn_lengths("a.rs", src)
        .into_iter()
        .map(|f| (f.name, f.line, f.lines))
        .collect();
    let want: Vec<(String, usize, usize)> = [
        ("free", 1, 1),
        ("default_method", 7, 4),
        ("method", 13, 9),
        ("nested", 17, 3),
    ]
    .iter()
    .map(|(n, l, len)| (n.to_string(), *l, *len))
    .collect();
    assert_eq!(got, want);
}

#[test]
fn the_longest_functions_come_longest_first() {
    let files: BTreeMap<String, String> = [
        ("b.rs", function("short", 3) + &function("mid", 10)),
        ("a.rs", function("long", 30) + &function("also_ten", 10)),
    ]
    .into_iter()
    .map(|(p, s)| (p.to_string(), s))
    .collect();
    let top: Vec<(String, String, usize, usize)> = longest_fns(&files, 3)
        .into_iter()
        .map(|f| (f.name, f.path, f.line, f.lines))
        .collect();
    assert_eq!(
        top,
        [
            ("long".into(), "a.rs".into(), 1, 30),
            ("also_ten".into(), "a.rs".into(), 31, 10),
            ("mid".into(), "b.rs".into(), 4, 10),
        ]
    );
}
