//! Text helpers for tidy's rules: a small Rust lexer (enough to tell code from comments and
//! string literals, to find `#[cfg(test)]` items and to split code into tokens, without
//! parsing Rust), markdown table cells, and the walk over the workspace's files.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

/// `src` with comments and the contents of string and char literals blanked to spaces,
/// line breaks kept, so that line numbers, braces and macro names can be read off the code.
pub(super) fn code_only(src: &str) -> String {
    let chars: Vec<char> = src.chars().collect();
    let mut out = String::with_capacity(src.len());
    let blank = |c: char| if c == '\n' { '\n' } else { ' ' };
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let next = chars.get(i + 1).copied();
        let ident = |k: usize| chars[k].is_alphanumeric() || chars[k] == '_';
        // An identifier character before `r` means `br"…"` (a raw byte string) or a name.
        let prev_ident =
            i > 0 && ident(i - 1) && !(chars[i - 1] == 'b' && (i < 2 || !ident(i - 2)));
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
        } else if c == '/' && next == Some('*') {
            let mut depth = 0;
            while i < chars.len() {
                if chars[i] == '/' && chars.get(i + 1) == Some(&'*') {
                    depth += 1;
                    out.push_str("  ");
                    i += 2;
                } else if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    depth -= 1;
                    out.push_str("  ");
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    out.push(blank(chars[i]));
                    i += 1;
                }
            }
        } else if c == 'r' && !prev_ident && matches!(next, Some('"' | '#')) && {
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            chars.get(i + 1 + hashes) == Some(&'"')
        } {
            // Raw string: r"…", r#"…"#; ends at a quote followed by as many hashes.
            let hashes = chars[i + 1..].iter().take_while(|&&h| h == '#').count();
            out.push(' ');
            i += 1 + hashes + 1;
            out.extend(std::iter::repeat_n(' ', hashes + 1));
            while i < chars.len() {
                if chars[i] == '"'
                    && chars[i + 1..]
                        .iter()
                        .take(hashes)
                        .filter(|&&h| h == '#')
                        .count()
                        == hashes
                {
                    out.extend(std::iter::repeat_n(' ', hashes + 1));
                    i += 1 + hashes;
                    break;
                }
                out.push(blank(chars[i]));
                i += 1;
            }
        } else if c == '"' {
            out.push(' ');
            i += 1;
            while i < chars.len() {
                match chars[i] {
                    '\\' => {
                        out.push(' ');
                        if let Some(&e) = chars.get(i + 1) {
                            out.push(blank(e));
                        }
                        i += 2;
                    }
                    '"' => {
                        out.push(' ');
                        i += 1;
                        break;
                    }
                    other => {
                        out.push(blank(other));
                        i += 1;
                    }
                }
            }
        } else if c == '\'' && next == Some('\\') {
            // Escaped char literal: '\n', '\'', '\u{7b}'.
            out.push_str("  ");
            i += 2;
            while i < chars.len() && chars[i] != '\'' && chars[i] != '\n' {
                out.push(' ');
                i += 1;
            }
            if i < chars.len() && chars[i] == '\'' {
                out.push(' ');
                i += 1;
            }
        } else if c == '\'' && chars.get(i + 2) == Some(&'\'') {
            // Plain char literal such as '{'; a lifetime ('a) has no closing quote.
            out.push_str("   ");
            i += 3;
        } else {
            out.push(c);
            i += 1;
        }
    }
    out
}

/// For each line of comment-free `code`, whether it belongs to a `#[cfg(test)]` item:
/// from the attribute to the end of the item (its braces closed, or its `;`).
pub(super) fn in_test_items(code: &str) -> Vec<bool> {
    let mut marks = Vec::new();
    let mut skipping = false;
    let mut depth = 0i64;
    let mut opened = false;
    for line in code.lines() {
        let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
        if !skipping && compact.contains("#[cfg(test)]") {
            skipping = true;
            depth = 0;
            opened = false;
        }
        marks.push(skipping);
        if !skipping {
            continue;
        }
        for c in line.chars() {
            match c {
                '{' => {
                    depth += 1;
                    opened = true;
                }
                '}' => depth -= 1,
                ';' if !opened && depth == 0 => {
                    skipping = false;
                    break;
                }
                _ => {}
            }
            if opened && depth == 0 {
                skipping = false;
                break;
            }
        }
    }
    marks
}

/// Comment-free `code` with the lines of its `#[cfg(test)]` items blanked to spaces (line
/// breaks kept), so that what is left is the code a normal build compiles.
pub(super) fn without_test_items(code: &str) -> String {
    let marks = in_test_items(code);
    let mut out = String::with_capacity(code.len());
    for (i, line) in code.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        if marks.get(i).copied().unwrap_or(false) {
            out.extend(line.chars().map(|_| ' '));
        } else {
            out.push_str(line);
        }
    }
    out
}

/// A token of comment-free code: a word (identifier, keyword or number), `::`, or one
/// other character; with its 1-based line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Token<'a> {
    pub text: &'a str,
    pub line: usize,
}

impl Token<'_> {
    /// An identifier or keyword (not a number or punctuation).
    pub fn is_word(&self) -> bool {
        self.text
            .chars()
            .next()
            .is_some_and(|c| c.is_alphabetic() || c == '_')
    }
}

/// The tokens of comment-free `code` (as [`code_only`] returns it).
pub(super) fn tokens(code: &str) -> Vec<Token<'_>> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b >= 0x80;
    let mut out = Vec::new();
    for (i, line) in code.lines().enumerate() {
        let bytes = line.as_bytes();
        let mut j = 0;
        while j < bytes.len() {
            let start = j;
            if bytes[j].is_ascii_whitespace() {
                j += 1;
                continue;
            } else if word(bytes[j]) {
                // Bytes of a non-ASCII character are all >= 0x80: a run never splits one.
                while j < bytes.len() && word(bytes[j]) {
                    j += 1;
                }
            } else if bytes[j] == b':' && bytes.get(j + 1) == Some(&b':') {
                j += 2;
            } else {
                j += 1;
            }
            out.push(Token {
                text: &line[start..j],
                line: i + 1,
            });
        }
    }
    out
}

/// The names of the macro invocations (`name!` not followed by `=`) on a line of code.
pub(super) fn macro_calls(line: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let bytes = line.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i].is_ascii_alphabetic() || bytes[i] == b'_' {
            let start = i;
            while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                i += 1;
            }
            let mut j = i;
            while j < bytes.len() && bytes[j] == b' ' {
                j += 1;
            }
            if bytes.get(j) == Some(&b'!') && bytes.get(j + 1) != Some(&b'=') {
                out.push(&line[start..i]);
            }
        } else {
            i += 1;
        }
    }
    out
}

/// The workspace's `.rs` files relative to `root`, sorted, leaving out hidden folders,
/// build output and libtorch. Symbolic links are not followed.
pub(super) fn rust_files(root: &Path) -> Result<Vec<String>> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
        for entry in
            std::fs::read_dir(dir).with_context(|| format!("could not list {}", dir.display()))?
        {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            let kind = entry.file_type()?;
            let path: PathBuf = entry.path();
            if kind.is_dir() {
                if !name.starts_with('.') && !matches!(name.as_str(), "target" | "libtorch") {
                    walk(root, &path, out)?;
                }
            } else if kind.is_file() && name.ends_with(".rs") {
                let rel = path.strip_prefix(root).unwrap_or(&path);
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
        Ok(())
    }
    let mut out = Vec::new();
    walk(root, root, &mut out)?;
    out.sort();
    Ok(out)
}

/// The cells of a markdown table row, trimmed (`\|` does not split).
pub(super) fn cells(line: &str) -> Vec<String> {
    let line = line.trim();
    let line = line.strip_prefix('|').unwrap_or(line);
    let line = line.strip_suffix('|').unwrap_or(line);
    let mut out = vec![String::new()];
    let mut prev = ' ';
    for c in line.chars() {
        if c == '|' && prev != '\\' {
            out.push(String::new());
        } else if let Some(last) = out.last_mut() {
            last.push(c);
        }
        prev = c;
    }
    out.iter().map(|c| c.trim().to_string()).collect()
}

/// `name` for a cell that is exactly `` `name` ``.
pub(super) fn backticked(cell: &str) -> Option<&str> {
    cell.strip_prefix('`')
        .and_then(|s| s.strip_suffix('`'))
        .filter(|s| !s.is_empty() && !s.contains('`'))
}

/// The string of ` = "value"]` at the start of `rest`.
pub(super) fn attribute_value(rest: &str) -> Option<&str> {
    let rest = rest.trim_start().strip_prefix('=')?.trim_start();
    let rest = rest.strip_prefix('"')?;
    rest.split_once('"').map(|(value, _)| value)
}
