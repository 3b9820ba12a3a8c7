//! `cargo xtask tidy`: style rules that the compiler and clippy do not check, run by CI.
//!
//! In the style of rust-analyzer's `xtask tidy`: each rule is a pure function from file
//! contents (and `cargo metadata`) to violations, so the tests can feed it small inputs;
//! [`run`] only reads the tree, prints every violation and fails if there was one. The rules:
//!
//! - **No printing in library crates.** The packages under `crates/` with a library target
//!   (today spam-data, spam-model, spam-train, spam-serve) report through `tracing` or
//!   return text: only binaries decide what reaches stdout. Their `src/` may not use
//!   `println!`, `eprintln!`, `print!`, `eprint!` or `dbg!` outside comments, strings and
//!   `#[cfg(test)]` items.
//! - **No `#[path = "../..…"]` includes** in any `.rs` file (in code; comments and strings
//!   aside): a test that borrows another crate's files depends on a shared test-support
//!   crate instead.
//! - **The code map of ARCHITECTURE.md matches `cargo metadata`.** Its "may depend on"
//!   cell is `—` (nothing) or a comma-separated list of backticked package names (workspace
//!   packages or `tch`), optionally followed by `;` and prose, which is not checked:
//!   `` `spam-data`, `tch`; never the CLI ``. Each package's normal dependencies (not dev,
//!   not build; direct only) on workspace packages and on `tch` must be in its list, so a
//!   crate that is not given `tch` stays free of libtorch. Every workspace package needs a
//!   row; a row for a package that is not in the workspace, or an allowed package that is
//!   not used, is a warning.
//! - **No import circles between the files of a crate.** For each library and binary target
//!   of every workspace package, the module tree is read from its root (`mod x;` is `x.rs`
//!   or `x/mod.rs`, below `name.rs` in `name/`; inline `mod x { … }` stays in its file).
//!   File A names file B when its code (comments, strings and `#[cfg(test)]` items aside)
//!   has a path into a module of B: `crate::b…`, `self::b…`, `super::b…`, a child module's
//!   `b::…`, or a leaf of a `use` group (`use crate::{b, c::{d, e}}`); the edge goes to the
//!   file of the deepest module on the path, and when the name after that module is one of
//!   its `use`/`pub use` imports, on to the file the import leads to. So that re-export
//!   lists do not make false circles: the crate root is no node (nothing out of it or into
//!   it counts: it declares every module), a `pub use` elsewhere is an edge of its file like
//!   any use, and a file that holds only `mod` declarations and `use` items gets no edges
//!   in. A `mod child;` declaration is no edge. Each strongly connected component of two or
//!   more files is reported once, at its first file, with its shortest circle
//!   (`download.rs:14 -> hub.rs:185 -> download.rs`, each file at its first line naming the
//!   next).
//! - **No function over [`MAX_FN_LINES`] lines** in the `src/` of a workspace package
//!   (tests/, benches/ and examples/ aside): every `fn` with a body — free, in an `impl`,
//!   a trait's default method, nested (on its own, and within its parent) — outside
//!   `#[cfg(test)]` items, counted from its `fn` line to its closing brace.
//!   `cargo xtask tidy --longest N` lists the N longest instead of checking ([`longest_fns`]).
//! - **One integration-test binary per package**: at most one target of kind `test` in
//!   `cargo metadata`; more are made modules of one (`tests/it/main.rs`, `autotests = false`).
//! - **Long files** (over [`MAX_LINES`] lines) are listed as a warning, never a failure.
//!
//! The lexer is no parser: a `#[cfg(test)] mod name;` in its own file is not followed (its
//! file counts as normal code for the function lengths), nor are `#[path]` modules, macro
//! bodies or glob imports (`use a::*` is an edge to `a`'s file).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde_json::Value;

use scan::{attribute_value, backticked, cells, code_only, in_test_items, macro_calls, rust_files};

mod fns;
mod metadata;
mod modules;
mod scan;
mod violation;

pub use fns::{FnLength, MAX_FN_LINES, check_fn_lengths, fn_lengths, longest_fns};
pub use metadata::{Package, check_test_binaries, packages_from_metadata};
pub use modules::{check_circles, import_edges};
pub use violation::Violation;

/// Files longer than this are listed as candidates for splitting.
pub const MAX_LINES: usize = 600;

/// The macros that write to stdout or stderr.
pub const PRINT_MACROS: &[&str] = &["println", "eprintln", "print", "eprint", "dbg"];

/// What the code-map check found: errors fail tidy, warnings are only shown.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Findings {
    pub errors: Vec<Violation>,
    pub warnings: Vec<Violation>,
}

/// Printing macros in a library source file, outside comments, strings and
/// `#[cfg(test)]` items.
pub fn check_printing(path: &str, src: &str) -> Vec<Violation> {
    let code = code_only(src);
    let test_lines = in_test_items(&code);
    let mut out = Vec::new();
    for (i, line) in code
        .lines()
        .enumerate()
        .filter(|(i, _)| !test_lines.get(*i).copied().unwrap_or(false))
    {
        for name in macro_calls(line) {
            if PRINT_MACROS.contains(&name) {
                out.push(Violation::new(
                    path,
                    i + 1,
                    format!(
                        "`{name}!` in a library crate: log through `tracing` or return the \
                         text, and let the binary print it"
                    ),
                ));
            }
        }
    }
    out
}

/// `#[path = "../..…"]` attributes: a module borrowed from outside its crate.
pub fn check_path_includes(path: &str, src: &str) -> Vec<Violation> {
    // Attributes are found in the code (not in comments or strings, such as a test's
    // fixture); their values, blanked there, are read from the source at the same column.
    let code = code_only(src);
    let mut out = Vec::new();
    for (i, (code_line, line)) in code.lines().zip(src.lines()).enumerate() {
        let mut from = 0;
        while let Some(at) = code_line[from..].find("#[path") {
            from += at + "#[path".len();
            let column = code_line[..from].chars().count();
            let rest: String = line.chars().skip(column).collect();
            let Some(value) = attribute_value(&rest) else {
                continue;
            };
            let mut v = value;
            while let Some(stripped) = v.strip_prefix("./") {
                v = stripped;
            }
            if v.starts_with("../..") {
                out.push(Violation::new(
                    path,
                    i + 1,
                    format!(
                        "`#[path = \"{value}\"]` includes another crate's file: move the shared \
                         code into a test-support crate and depend on it"
                    ),
                ));
            }
        }
    }
    out
}

/// A "may depend on" cell of the code map: the packages it allows.
///
/// `—` allows nothing; otherwise a comma-separated list of backticked names. Either may be
/// followed by `;` and prose, which is not read.
pub fn parse_allowed(cell: &str) -> Result<BTreeSet<String>, String> {
    let list = cell.split_once(';').map_or(cell, |(list, _)| list).trim();
    if list == "—" {
        return Ok(BTreeSet::new());
    }
    if list.is_empty() {
        return Err("empty list: write `—` for no dependencies".into());
    }
    let mut names = BTreeSet::new();
    for item in list.split(',').map(str::trim) {
        let name = item
            .strip_prefix('`')
            .and_then(|s| s.strip_suffix('`'))
            .filter(|s| {
                !s.is_empty()
                    && s.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .ok_or_else(|| {
                format!(
                    "`{item}` is not a backticked package name: write `—` or a comma-separated \
                     list like `spam-data`, `tch`, then `;` before any prose"
                )
            })?;
        if !names.insert(name.to_string()) {
            return Err(format!("`{name}` is listed twice"));
        }
    }
    Ok(names)
}

/// One package row of the code map.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CodeMapRow {
    /// 1-based line in the markdown file.
    pub line: usize,
    /// The `path` cell without backticks or a trailing `/`.
    pub path: String,
    pub package: String,
    pub allowed: BTreeSet<String>,
}

/// The package rows of the "## Code map" table (rows whose package is `—` are not
/// packages and are left out), or the violations that stop them being read.
pub fn parse_code_map(path: &str, markdown: &str) -> Result<Vec<CodeMapRow>, Vec<Violation>> {
    let lines: Vec<&str> = markdown.lines().collect();
    let Some(heading) = lines.iter().position(|l| l.trim() == "## Code map") else {
        return Err(vec![Violation::new(
            path,
            0,
            "no `## Code map` section: add it back with its table",
        )]);
    };
    let Some(header_at) = (heading + 1..lines.len())
        .take_while(|&i| !lines[i].starts_with("## "))
        .find(|&i| lines[i].trim_start().starts_with('|'))
    else {
        return Err(vec![Violation::new(
            path,
            heading + 1,
            "the code map has no table",
        )]);
    };
    let header = cells(lines[header_at]);
    let column = |name: &str| header.iter().position(|c| c == name);
    let (Some(path_col), Some(package_col), Some(_), Some(deps_col)) = (
        column("path"),
        column("package"),
        column("owns"),
        column("may depend on"),
    ) else {
        return Err(vec![Violation::new(
            path,
            header_at + 1,
            "the code map's columns must be `| path | package | owns | may depend on |`",
        )]);
    };
    let mut rows = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in lines
        .iter()
        .enumerate()
        .skip(header_at + 1)
        .take_while(|(_, l)| l.trim_start().starts_with('|'))
    {
        let row = cells(line);
        if row
            .iter()
            .all(|c| !c.is_empty() && c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
        {
            continue; // the separator row
        }
        if row.len() != header.len() {
            errors.push(Violation::new(
                path,
                i + 1,
                format!("{} cells where the header has {}", row.len(), header.len()),
            ));
            continue;
        }
        let package = row[package_col].as_str();
        if package == "—" {
            continue;
        }
        let Some(package) = backticked(package) else {
            errors.push(Violation::new(
                path,
                i + 1,
                format!("package cell `{package}`: write one backticked name, or `—`"),
            ));
            continue;
        };
        match parse_allowed(&row[deps_col]) {
            Ok(allowed) => rows.push(CodeMapRow {
                line: i + 1,
                path: backticked(&row[path_col])
                    .unwrap_or(&row[path_col])
                    .trim_end_matches('/')
                    .to_string(),
                package: package.to_string(),
                allowed,
            }),
            Err(e) => errors.push(Violation::new(
                path,
                i + 1,
                format!("\"may depend on\" of `{package}`: {e}"),
            )),
        }
    }
    if errors.is_empty() {
        Ok(rows)
    } else {
        Err(errors)
    }
}

/// The code map against the workspace: rows, paths and allowed dependencies.
pub fn check_code_map(path: &str, markdown: &str, packages: &[Package]) -> Findings {
    let mut f = Findings::default();
    let rows = match parse_code_map(path, markdown) {
        Ok(rows) => rows,
        Err(errors) => {
            f.errors = errors;
            return f;
        }
    };
    let heading_line = markdown
        .lines()
        .position(|l| l.trim() == "## Code map")
        .map_or(0, |i| i + 1);
    let workspace: BTreeMap<&str, &Package> =
        packages.iter().map(|p| (p.name.as_str(), p)).collect();
    let listed: BTreeSet<&str> = rows.iter().map(|r| r.package.as_str()).collect();
    let mut seen = BTreeSet::new();
    for row in &rows {
        let at = |message: String| Violation::new(path, row.line, message);
        if !seen.insert(row.package.as_str()) {
            f.errors.push(at(format!(
                "`{}` has a second row: merge them",
                row.package
            )));
            continue;
        }
        for name in &row.allowed {
            if name != "tch"
                && !workspace.contains_key(name.as_str())
                && !listed.contains(name.as_str())
            {
                f.errors.push(at(format!(
                    "`{}` may depend on `{name}`, which is neither a workspace package, a \
                     package of this table, nor `tch`: fix the name",
                    row.package
                )));
            }
        }
        let Some(package) = workspace.get(row.package.as_str()) else {
            f.warnings.push(at(format!(
                "`{}` has a row but is not a workspace package: fine while it is being added, \
                 otherwise remove the row",
                row.package
            )));
            continue;
        };
        if row.path != package.dir {
            f.errors.push(at(format!(
                "`{}` lives in `{}`, the row says `{}`: fix the path cell",
                row.package, package.dir, row.path
            )));
        }
        let checked: BTreeSet<&str> = package
            .normal_deps
            .iter()
            .map(String::as_str)
            .filter(|d| *d == "tch" || workspace.contains_key(d))
            .collect();
        for dep in &checked {
            if !row.allowed.contains(*dep) {
                f.errors.push(at(format!(
                    "`{}` depends on `{dep}`, which its \"may depend on\" cell does not allow: \
                     remove the dependency, or add `{dep}` to the cell if the design changed",
                    row.package
                )));
            }
        }
        for name in &row.allowed {
            let checkable = name == "tch" || workspace.contains_key(name.as_str());
            if checkable && !checked.contains(name.as_str()) {
                f.warnings.push(at(format!(
                    "`{}` may depend on `{name}` but does not: drop it from the cell unless a \
                     change under way needs it",
                    row.package
                )));
            }
        }
    }
    for p in packages {
        if !listed.contains(p.name.as_str()) {
            f.errors.push(Violation::new(
                path,
                heading_line,
                format!(
                    "workspace package `{}` (`{}`) has no row in the code map: add one",
                    p.name, p.dir
                ),
            ));
        }
    }
    f
}

/// A file over [`MAX_LINES`] lines, as a warning.
pub fn check_length(path: &str, src: &str) -> Option<Violation> {
    let n = src.lines().count();
    (n > MAX_LINES).then(|| {
        Violation::new(
            path,
            0,
            format!("{n} lines (over {MAX_LINES}): consider splitting it"),
        )
    })
}

/// The workspace's packages, from `cargo metadata` run at `root`.
fn workspace_packages(root: &Path) -> Result<Vec<Package>> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(&cargo)
        .current_dir(root)
        .args(["metadata", "--format-version", "1", "--no-deps"])
        .output()
        .with_context(|| format!("could not run {cargo} metadata"))?;
    if !out.status.success() {
        bail!(
            "cargo metadata failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let metadata: Value =
        serde_json::from_slice(&out.stdout).context("cargo metadata printed invalid JSON")?;
    packages_from_metadata(&metadata)
}

/// Every `.rs` file of the workspace at `root`, path to contents.
fn read_sources(root: &Path) -> Result<BTreeMap<String, String>> {
    rust_files(root)?
        .into_iter()
        .map(|rel| {
            let src = std::fs::read_to_string(root.join(&rel))
                .with_context(|| format!("could not read {rel}"))?;
            Ok((rel, src))
        })
        .collect()
}

/// The files under the packages' `src/` folders: those the function-length rule reads.
fn src_files(packages: &[Package], sources: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let prefixes: Vec<String> = packages
        .iter()
        .map(|p| {
            if p.dir.is_empty() {
                "src/".to_string()
            } else {
                format!("{}/src/", p.dir)
            }
        })
        .collect();
    sources
        .iter()
        .filter(|(path, _)| prefixes.iter().any(|pre| path.starts_with(pre.as_str())))
        .map(|(path, src)| (path.clone(), src.clone()))
        .collect()
}

/// Prints the `n` longest functions in the packages' `src/` (see [`longest_fns`]).
pub fn print_longest(root: &Path, n: usize) -> Result<()> {
    let packages = workspace_packages(root)?;
    let sources = read_sources(root)?;
    let longest = longest_fns(&src_files(&packages, &sources), n);
    println!(
        "the {} longest functions in src/ (max {MAX_FN_LINES} lines):",
        longest.len()
    );
    for f in longest {
        println!("  {:>5}  {}:{}  fn {}", f.lines, f.path, f.line, f.name);
    }
    Ok(())
}

/// Runs every rule on the workspace at `root`, prints what it finds, and fails if any
/// rule other than the warnings failed.
pub fn run(root: &Path) -> Result<()> {
    let packages = workspace_packages(root)?;
    let sources = read_sources(root)?;

    let mut printing = Vec::new();
    for p in packages.iter().filter(|p| p.is_library_crate()) {
        let Some(src_dir) = p
            .lib
            .as_deref()
            .and_then(|l| l.rsplit_once('/'))
            .map(|(d, _)| d)
        else {
            continue;
        };
        let bin_dir = format!("{src_dir}/bin/");
        for (f, src) in sources.iter().filter(|(f, _)| {
            f.starts_with(&format!("{src_dir}/")) && !f.starts_with(&bin_dir) && !p.bins.contains(f)
        }) {
            printing.extend(check_printing(f, src));
        }
    }

    let mut includes = Vec::new();
    let mut long = Vec::new();
    for (f, src) in &sources {
        includes.extend(check_path_includes(f, src));
        long.extend(check_length(f, src));
    }

    let mut circles = Vec::new();
    for root_file in packages.iter().flat_map(|p| p.lib.iter().chain(&p.bins)) {
        circles.extend(check_circles(root_file, &sources));
    }
    let long_fns: Vec<Violation> = src_files(&packages, &sources)
        .iter()
        .flat_map(|(f, src)| check_fn_lengths(f, src))
        .collect();
    let test_binaries = check_test_binaries(&packages);

    let architecture = std::fs::read_to_string(root.join("ARCHITECTURE.md"))
        .context("could not read ARCHITECTURE.md")?;
    let map = check_code_map("ARCHITECTURE.md", &architecture, &packages);

    let failures = [
        ("printing in library crates", &printing),
        ("`#[path]` includes from outside the crate", &includes),
        ("ARCHITECTURE.md code map vs cargo metadata", &map.errors),
        ("import circles between the files of a crate", &circles),
        ("functions over the line limit", &long_fns),
        ("integration-test binaries per package", &test_binaries),
    ];
    let mut failed = 0;
    for (title, found) in failures {
        if found.is_empty() {
            println!("tidy: {title}: ok");
            continue;
        }
        failed += found.len();
        println!("tidy: {title}: {} problem(s)", found.len());
        for v in found {
            println!("  {v}");
        }
    }
    for (title, found) in [
        ("code map warnings", &map.warnings),
        ("files over the line limit (informational)", &long),
    ] {
        if !found.is_empty() {
            println!("tidy: {title}:");
            for v in found {
                println!("  warning: {v}");
            }
        }
    }
    if failed > 0 {
        bail!("tidy found {failed} problem(s); each line above says where and what to do");
    }
    Ok(())
}
