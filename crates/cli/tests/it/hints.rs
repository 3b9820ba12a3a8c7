//! Every flag a library's message tells the user to pass exists (issue 15): messages of
//! spam-data, spam-model, spam-train and spam-serve may name spam-cli flags, and flags of
//! `cargo xtask` on a line that says `xtask`.

#![allow(clippy::unwrap_used)] // tests: a panic is the failure report

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

const LIBRARIES: [&str; 4] = ["data", "model", "train", "serve"];
const SUBCOMMANDS: [&str; 7] = [
    "prepare",
    "train",
    "eval",
    "classify",
    "generate",
    "experiments",
    "serve",
];

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `--name` tokens of `text` (a `-` or a letter before them is not a flag).
fn flags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let bytes = text.as_bytes();
    let mut i = 0;
    while let Some(at) = text[i..].find("--") {
        let start = i + at;
        let end = text[start + 2..]
            .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-'))
            .map_or(text.len(), |n| start + 2 + n);
        let before_ok =
            start == 0 || !(bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'-');
        if before_ok && end > start + 2 && bytes[start + 2].is_ascii_lowercase() {
            out.push(text[start..end].trim_end_matches('-').to_string());
        }
        i = end.max(start + 2);
    }
    out
}

/// Every long flag spam-cli accepts, from the help of each subcommand.
fn cli_flags() -> BTreeSet<String> {
    let mut all = BTreeSet::new();
    for sub in SUBCOMMANDS {
        let out = Command::new(env!("CARGO_BIN_EXE_spam-cli"))
            .args([sub, "--help"])
            .output()
            .unwrap();
        assert!(out.status.success(), "{sub} --help failed");
        all.extend(flags(&String::from_utf8_lossy(&out.stdout)));
    }
    all
}

/// Whether xtask declares an argument field for `flag` (`--from` is the field `from`).
fn xtask_has(flag: &str, xtask_sources: &str) -> bool {
    let field = format!("{}:", flag.trim_start_matches('-').replace('-', "_"));
    xtask_sources.lines().any(|l| {
        l.trim_start()
            .trim_start_matches("pub ")
            .starts_with(&field)
    })
}

#[test]
fn library_messages_name_only_flags_that_exist() {
    let cli = cli_flags();
    assert!(
        cli.contains("--parse-mode") && cli.contains("--data"),
        "{cli:?}"
    );
    let mut xtask_files = Vec::new();
    rust_files(&workspace().join("xtask/src"), &mut xtask_files);
    let xtask_sources: String = xtask_files
        .iter()
        .map(|p| std::fs::read_to_string(p).unwrap())
        .collect();

    let mut checked = 0;
    let mut unknown = Vec::new();
    for lib in LIBRARIES {
        let mut files = Vec::new();
        rust_files(
            &workspace().join("crates").join(lib).join("src"),
            &mut files,
        );
        for file in files {
            let text = std::fs::read_to_string(&file).unwrap();
            for (n, line) in text.lines().enumerate() {
                if line.trim_start().starts_with("//") {
                    continue; // docs may name other tools' flags
                }
                for flag in flags(line) {
                    checked += 1;
                    let ok = if line.contains("xtask") {
                        xtask_has(&flag, &xtask_sources)
                    } else {
                        cli.contains(&flag)
                    };
                    if !ok {
                        unknown.push(format!("{}:{}: {flag}", file.display(), n + 1));
                    }
                }
            }
        }
    }
    assert!(
        checked >= 10,
        "only {checked} flags found: is the scan broken?"
    );
    assert!(
        unknown.is_empty(),
        "messages name flags that do not exist:\n{}",
        unknown.join("\n")
    );
}

#[test]
fn the_flag_scanner_finds_flags() {
    assert_eq!(
        flags("use --device cpu or `--parse-mode lines`; a-- b ---x"),
        ["--device", "--parse-mode"]
    );
}
