//! Function lengths (tidy's long-functions rule): every `fn` with a body, outside
//! `#[cfg(test)]` items, from its `fn` line to its closing brace.

use std::collections::BTreeMap;

use super::scan::{Token, code_only, tokens, without_test_items};
use super::violation::Violation;

/// Functions longer than this (lines from `fn` to the closing brace) fail tidy.
pub const MAX_FN_LINES: usize = 120;

/// One function and its length.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FnLength {
    pub name: String,
    /// Path relative to the workspace root, with `/` separators.
    pub path: String,
    /// 1-based line of the `fn` keyword.
    pub line: usize,
    /// Lines from the `fn` line to the closing brace, both included.
    pub lines: usize,
}

/// Every function with a body in `src`, in order, outside comments, strings and
/// `#[cfg(test)]` items: free functions, methods, trait default methods, and nested
/// functions (which count on their own and within their parent).
pub fn fn_lengths(path: &str, src: &str) -> Vec<FnLength> {
    let code = without_test_items(&code_only(src));
    let t = tokens(&code);
    let mut out = Vec::new();
    for i in 0..t.len() {
        // `fn name`: an item (`fn(u8) -> u8` is a pointer type, not one).
        if t[i].text != "fn" {
            continue;
        }
        let Some(name) = t.get(i + 1).filter(|n| n.is_word()) else {
            continue;
        };
        if let Some(end) = body_end(&t, i + 2) {
            out.push(FnLength {
                name: name.text.to_string(),
                path: path.to_string(),
                line: t[i].line,
                lines: end - t[i].line + 1,
            });
        }
    }
    out
}

/// The line of the closing brace of the body that the signature starting at `from` opens,
/// or `None` for a declaration without a body (`fn f();` in a trait or `extern` block).
fn body_end(t: &[Token<'_>], from: usize) -> Option<usize> {
    // The body is the first `{` outside the parameters' parentheses and any `[T; N]`; a
    // `;` there ends a declaration.
    let mut nesting = 0i64;
    let mut open = None;
    for (k, tok) in t.iter().enumerate().skip(from) {
        match tok.text {
            "(" | "[" => nesting += 1,
            ")" | "]" => nesting -= 1,
            ";" if nesting == 0 => return None,
            "{" if nesting == 0 => {
                open = Some(k);
                break;
            }
            _ => {}
        }
    }
    let mut depth = 0i64;
    for tok in &t[open?..] {
        match tok.text {
            "{" => depth += 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return Some(tok.line);
                }
            }
            _ => {}
        }
    }
    None
}

/// Functions over [`MAX_FN_LINES`] lines in a (non-test) source file.
pub fn check_fn_lengths(path: &str, src: &str) -> Vec<Violation> {
    fn_lengths(path, src)
        .into_iter()
        .filter(|f| f.lines > MAX_FN_LINES)
        .map(|f| {
            Violation::new(
                path,
                f.line,
                format!(
                    "fn {} is {} lines (max {MAX_FN_LINES}): split it into steps",
                    f.name, f.lines
                ),
            )
        })
        .collect()
}

/// The `n` longest functions of `files` (path to contents), longest first; equal lengths in
/// path and line order.
pub fn longest_fns(files: &BTreeMap<String, String>, n: usize) -> Vec<FnLength> {
    let mut all: Vec<FnLength> = files
        .iter()
        .flat_map(|(path, src)| fn_lengths(path, src))
        .collect();
    all.sort_by(|a, b| {
        b.lines
            .cmp(&a.lines)
            .then_with(|| a.path.cmp(&b.path))
            .then(a.line.cmp(&b.line))
    });
    all.truncate(n);
    all
}
