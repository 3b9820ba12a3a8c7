//! Import circles between the files of a crate (tidy's circles rule).
//!
//! The module tree is read from the crate root: `mod x;` is `x.rs` or `x/mod.rs` beside the
//! root or a `mod.rs`, and `name/x.rs` or `name/x/mod.rs` below `name.rs`; an inline
//! `mod x { … }` lives in its file. Then every path the code names inside the crate
//! (`crate::…`, `self::…`, `super::…`, or a child module's name followed by `::`; in `use`
//! trees, groups included, and in code) is resolved to the file that defines what it names,
//! following `use` and `pub use` imports on the way. Those references are the edges of a
//! graph of files; its strongly connected components are the circles.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use super::scan::{Token, code_only, tokens, without_test_items};
use super::violation::Violation;

/// A module's path from the crate root (`[]` is the root, `["engine", "cache"]`).
type ModPath = Vec<String>;

/// How many imports a path is followed through before tidy gives up (a loop of imports).
const MAX_IMPORT_HOPS: usize = 8;

/// A path of a `use` tree or of code, as written.
#[derive(Debug)]
struct Leaf {
    segments: Vec<String>,
    line: usize,
    /// `as name` after it.
    alias: Option<String>,
    glob: bool,
}

/// A path named in a file, with where it is.
#[derive(Debug)]
struct Named {
    file: String,
    /// The module whose code names it (an inline module counts as its own).
    module: ModPath,
    in_use: bool,
    leaf: Leaf,
}

/// A crate as the circles rule sees it.
#[derive(Debug, Default)]
struct Tree {
    /// Each module and the file it is written in (an inline module: the file around it).
    modules: BTreeMap<ModPath, String>,
    /// Files that hold nothing but `mod` declarations and `use` items.
    tables: BTreeSet<String>,
    named: Vec<Named>,
}

fn dir_of(path: &str) -> &str {
    path.rsplit_once('/').map_or("", |(dir, _)| dir)
}

fn join(dir: &str, name: &str) -> String {
    if dir.is_empty() {
        name.to_string()
    } else {
        format!("{dir}/{name}")
    }
}

/// The module tree from `root` and every path each file names, `#[cfg(test)]` items aside.
fn read_tree(root: &str, files: &BTreeMap<String, String>) -> Tree {
    let mut tree = Tree::default();
    tree.modules.insert(Vec::new(), root.to_string());
    let mut read = BTreeSet::new();
    // (file, its module, the folder its `mod x;` declarations look in)
    let mut queue = VecDeque::from([(root.to_string(), Vec::new(), dir_of(root).to_string())]);
    while let Some((file, module, child_dir)) = queue.pop_front() {
        let Some(src) = files.get(&file) else {
            continue;
        };
        if !read.insert(file.clone()) {
            continue;
        }
        let code = without_test_items(&code_only(src));
        let t = tokens(&code);
        if only_declarations(&t) {
            tree.tables.insert(file.clone());
        }
        let mut inline: Vec<(String, i64)> = Vec::new(); // name, depth inside its braces
        let mut depth = 0i64;
        let mut i = 0;
        while i < t.len() {
            let here: ModPath = module
                .iter()
                .chain(inline.iter().map(|(name, _)| name))
                .cloned()
                .collect();
            match t[i].text {
                "{" => depth += 1,
                "}" => {
                    depth -= 1;
                    while inline.last().is_some_and(|(_, d)| *d > depth) {
                        inline.pop();
                    }
                }
                "mod" if t.get(i + 1).is_some_and(Token::is_word) => {
                    let name = t[i + 1].text;
                    let mut child = here.clone();
                    child.push(name.to_string());
                    match t.get(i + 2).map(|t| t.text) {
                        Some(";") => {
                            let dir = inline
                                .iter()
                                .fold(child_dir.clone(), |d, (n, _)| join(&d, n));
                            let found = [
                                join(&dir, &format!("{name}.rs")),
                                join(&dir, &format!("{name}/mod.rs")),
                            ]
                            .into_iter()
                            .find(|f| files.contains_key(f));
                            if let Some(found) = found {
                                let below = if found.ends_with("/mod.rs") {
                                    dir_of(&found).to_string()
                                } else {
                                    join(&dir, name)
                                };
                                tree.modules.insert(child.clone(), found.clone());
                                queue.push_back((found, child, below));
                            }
                            i += 3;
                            continue;
                        }
                        Some("{") => {
                            tree.modules.insert(child, file.clone());
                            inline.push((name.to_string(), depth + 1));
                            i += 2; // the `{` is read next and opens the module
                            continue;
                        }
                        _ => {}
                    }
                }
                _ => {}
            }
            if starts_path(&t, i) {
                let in_use = i > 0 && t[i - 1].text == "use";
                let mut leaves = Vec::new();
                let next = parse_tree(&t, i, &[], &mut leaves);
                tree.named.extend(leaves.into_iter().map(|leaf| Named {
                    file: file.clone(),
                    module: here.clone(),
                    in_use,
                    leaf,
                }));
                i = next.max(i + 1);
                continue;
            }
            i += 1;
        }
    }
    tree
}

/// Whether a path starts at token `i`: a word followed by `::` that does not continue a
/// path (`a::b`), a field or method (`x.b`), a macro variable (`$crate`) or `pub(in …)`.
fn starts_path(t: &[Token<'_>], i: usize) -> bool {
    let prev = |k: usize| i.checked_sub(k).map(|k| t[k].text);
    t[i].is_word()
        && t.get(i + 1).is_some_and(|n| n.text == "::")
        && !matches!(prev(1), Some("::" | "." | "$"))
        && !(prev(1) == Some("in") && prev(2) == Some("("))
}

/// The leaves of the path or `use` tree at `i` (`a::{b, c::{d as e, *}}` has three), each
/// after `prefix`; returns the index after it.
fn parse_tree(t: &[Token<'_>], mut i: usize, prefix: &[String], out: &mut Vec<Leaf>) -> usize {
    let mut segments = prefix.to_vec();
    let mut line = t.get(i).map_or(0, |t| t.line);
    while let Some(tok) = t.get(i) {
        if tok.is_word() {
            segments.push(tok.text.to_string());
            line = tok.line;
            i += 1;
        } else if tok.text == "{" {
            i += 1;
            while let Some(tok) = t.get(i) {
                match tok.text {
                    "}" => return i + 1,
                    "," => i += 1,
                    _ => i = parse_tree(t, i, &segments, out).max(i + 1),
                }
            }
            return i;
        } else if tok.text == "*" {
            out.push(Leaf {
                segments,
                line: tok.line,
                alias: None,
                glob: true,
            });
            return i + 1;
        } else {
            break;
        }
        if t.get(i).is_some_and(|t| t.text == "::") {
            i += 1;
        } else {
            break;
        }
    }
    let mut alias = None;
    if t.get(i).is_some_and(|t| t.text == "as") && t.get(i + 1).is_some_and(Token::is_word) {
        alias = Some(t[i + 1].text.to_string());
        i += 2;
    }
    if segments.len() > prefix.len() {
        out.push(Leaf {
            segments,
            line,
            alias,
            glob: false,
        });
    }
    i
}

/// Whether the file's code is only `mod x;` declarations and `use` items (with attributes
/// and visibility): a table of contents, like most crate roots and some `mod.rs` files.
fn only_declarations(t: &[Token<'_>]) -> bool {
    let mut i = 0;
    while i < t.len() {
        match t[i].text {
            "#" => {
                // `#[…]` or `#![…]`
                let mut depth = 0;
                i += 1;
                while let Some(tok) = t.get(i) {
                    i += 1;
                    match tok.text {
                        "[" => depth += 1,
                        "]" => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
            }
            "pub" => {
                i += 1;
                if t.get(i).is_some_and(|t| t.text == "(") {
                    while t.get(i).is_some_and(|t| t.text != ")") {
                        i += 1;
                    }
                    i += 1;
                }
            }
            keyword @ ("mod" | "use") => {
                while let Some(tok) = t.get(i) {
                    i += 1;
                    match tok.text {
                        ";" => break,
                        "{" if keyword == "mod" => return false,
                        _ => {}
                    }
                }
            }
            _ => return false,
        }
    }
    true
}

impl Tree {
    /// The module path that `segments`, written in `module`, names; `None` for a path that
    /// leaves the crate (another crate, `std`) or is not one.
    fn absolute(&self, module: &[String], segments: &[String]) -> Option<ModPath> {
        let mut path = module.to_vec();
        let mut k = 0;
        if segments.first().is_some_and(|s| s == "crate") {
            path.clear();
            k = 1;
        }
        while let Some(s) = segments.get(k).filter(|s| *s == "self" || *s == "super") {
            if s == "super" {
                path.pop()?;
            }
            k += 1;
        }
        if k == 0 {
            // A bare first segment: only a child module of this one is inside the crate.
            path.push(segments.first()?.clone());
            if !self.modules.contains_key(&path) {
                return None;
            }
            k = 1;
        }
        path.extend_from_slice(&segments[k..]);
        if path.last().is_some_and(|s| s == "self") {
            path.pop(); // `use a::{self}`
        }
        Some(path)
    }

    /// The file that defines what `path` names: the deepest module on it that is a file,
    /// or, when the name after that module is one its `use` items bring in, where that
    /// import leads.
    fn file_of<'a>(
        &'a self,
        path: &[String],
        imports: &BTreeMap<ModPath, BTreeMap<String, ModPath>>,
        hops: usize,
    ) -> Option<&'a str> {
        let mut k = 0;
        while k < path.len() && self.modules.contains_key(&path[..=k]) {
            k += 1;
        }
        let module = &path[..k];
        let imported = path
            .get(k)
            .and_then(|name| imports.get(module)?.get(name))
            .filter(|_| hops < MAX_IMPORT_HOPS);
        if let Some(target) = imported {
            let mut next = target.clone();
            next.extend_from_slice(&path[k + 1..]);
            if next != path {
                return self.file_of(&next, imports, hops + 1);
            }
        }
        self.modules.get(module).map(String::as_str)
    }
}

/// The references between the files of the crate at `crate_root` (a path in `files`, which
/// maps paths to contents): `(from, to, first line of from that names to)`, in order.
///
/// The crate root is no node: it declares every module, so nothing out of it counts, and
/// nothing into it either. A path through a module to a name it only imports is followed to
/// the file that defines it, and a file holding only declarations and `use` items (a
/// table-of-contents `mod.rs`) gets no edges in. A file naming itself is no edge.
pub fn import_edges(
    crate_root: &str,
    files: &BTreeMap<String, String>,
) -> Vec<(String, String, usize)> {
    let tree = read_tree(crate_root, files);
    let mut imports: BTreeMap<ModPath, BTreeMap<String, ModPath>> = BTreeMap::new();
    for n in tree.named.iter().filter(|n| n.in_use && !n.leaf.glob) {
        let Some(path) = tree.absolute(&n.module, &n.leaf.segments) else {
            continue;
        };
        let name = match &n.leaf.alias {
            Some(alias) => alias.clone(),
            None => match path.last() {
                Some(last) => last.clone(),
                None => continue,
            },
        };
        if name != "_" {
            imports
                .entry(n.module.clone())
                .or_default()
                .insert(name, path);
        }
    }
    let mut edges: BTreeMap<(String, String), usize> = BTreeMap::new();
    for n in &tree.named {
        if n.file == crate_root {
            continue;
        }
        let Some(to) = tree
            .absolute(&n.module, &n.leaf.segments)
            .and_then(|path| tree.file_of(&path, &imports, 0))
        else {
            continue;
        };
        if to != n.file && to != crate_root && !tree.tables.contains(to) {
            let line = edges
                .entry((n.file.clone(), to.to_string()))
                .or_insert(n.leaf.line);
            *line = (*line).min(n.leaf.line);
        }
    }
    let mut out: Vec<(String, String, usize)> = edges
        .into_iter()
        .map(|((from, to), line)| (from, to, line))
        .collect();
    out.sort_by(|a, b| (&a.0, a.2, &a.1).cmp(&(&b.0, b.2, &b.1)));
    out
}

/// Files of the crate at `crate_root` that name each other in a circle: one violation per
/// strongly connected component of [`import_edges`], at its first file (in path order).
pub fn check_circles(crate_root: &str, files: &BTreeMap<String, String>) -> Vec<Violation> {
    let edges = import_edges(crate_root, files);
    let mut next: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut lines: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for (from, to, at) in &edges {
        next.entry(from).or_default().push(to);
        lines.insert((from, to), *at);
    }
    let line = |from: &str, to: &str| lines.get(&(from, to)).copied().unwrap_or(0);
    let reach = |start: &str| -> BTreeSet<String> {
        let mut seen = BTreeSet::new();
        let mut queue = VecDeque::from([start.to_string()]);
        while let Some(v) = queue.pop_front() {
            for &w in next.get(v.as_str()).into_iter().flatten() {
                if seen.insert(w.to_string()) {
                    queue.push_back(w.to_string());
                }
            }
        }
        seen
    };
    let reachable: BTreeMap<&str, BTreeSet<String>> = next.keys().map(|&v| (v, reach(v))).collect();
    let short = |f: &str| -> String {
        let dir = dir_of(crate_root);
        f.strip_prefix(&format!("{dir}/"))
            .filter(|_| !dir.is_empty())
            .unwrap_or(f)
            .to_string()
    };
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut out = Vec::new();
    for (&first, from_first) in &reachable {
        if done.contains(first) {
            continue;
        }
        // `first` is the smallest path of its component: the map is in path order.
        let component: BTreeSet<&str> = reachable
            .iter()
            .filter(|(v, r)| r.contains(first) && from_first.contains(**v))
            .map(|(v, _)| *v)
            .collect();
        done.extend(component.iter().copied());
        if component.len() < 2 {
            continue;
        }
        let circle = shortest_circle(first, &next, &component);
        let hops: Vec<String> = circle
            .windows(2)
            .map(|w| format!("{}:{}", short(w[0]), line(w[0], w[1])))
            .chain(std::iter::once(short(first)))
            .collect();
        let others: Vec<String> = component
            .iter()
            .filter(|f| !circle.contains(f))
            .map(|f| short(f))
            .collect();
        let tangle = if others.is_empty() {
            String::new()
        } else {
            format!(" (the same tangle also takes in {})", others.join(", "))
        };
        out.push(Violation::new(
            first,
            line(circle[0], circle.get(1).copied().unwrap_or(first)),
            format!(
                "import circle {}{tangle}: move the shared item into one of them or into a new \
                 module both use",
                hops.join(" -> ")
            ),
        ));
    }
    out
}

/// The shortest way from `first` back to itself inside `component`, as its files in order
/// (`first` at both ends).
fn shortest_circle<'a>(
    first: &'a str,
    next: &BTreeMap<&'a str, Vec<&'a str>>,
    component: &BTreeSet<&'a str>,
) -> Vec<&'a str> {
    let mut came_from: BTreeMap<&str, &str> = BTreeMap::new();
    let mut queue = VecDeque::from([first]);
    while let Some(v) = queue.pop_front() {
        for &w in next.get(v).into_iter().flatten() {
            if w == first {
                let mut circle = vec![first, v];
                let mut at = v;
                while let Some(&before) = came_from.get(at) {
                    circle.push(before);
                    at = before;
                }
                if at != first {
                    circle.push(first);
                }
                circle.reverse();
                return circle;
            }
            if component.contains(w) && w != first && !came_from.contains_key(w) {
                came_from.insert(w, v);
                queue.push_back(w);
            }
        }
    }
    vec![first, first]
}
