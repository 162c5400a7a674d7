//! Tidy: rules about the repository's own sources that the compiler cannot check.
//!
//! Each rule walks the hand-written Rust sources (or the crates' manifests) and fails with every
//! violation it finds, each named by file and line, so one run shows all that is left to do:
//!
//! - **a. No `json!` outside `arus-ocpp` and test code.** JSON is built from typed values (serde
//!   structs, the generated OCPP types); a `json!` literal is a shape nothing checks.
//! - **b. No hand-built OCPP field names outside `arus-ocpp` and test code.** Only `arus-ocpp`
//!   knows OCPP JSON (ARCHITECTURE.md, invariants). A string literal that is the name of a
//!   property of a vendored OCA schema *and* is used as a JSON key by hand (`.get("evseId")`,
//!   `v["evseId"]`, `("evseId", v)` in a pair list, `"evseId": v` in a macro or in JSON text,
//!   `.insert("evseId", …)`, `.pointer("/evseId")`) is the wire format leaking out. Names that
//!   merely exist — serde attributes (`rename = "…"`, `alias = "…"`), doc comments, values,
//!   match arms, messages — are not keys built by hand and are not reported.
//! - **c. No hand-written source file longer than [`LINE_BUDGET`] lines.** Generated code
//!   (`crates/ocpp/src/*/messages.rs`, any file that says `@generated` in its first lines) is
//!   exempt.
//! - **d. No crate depends on one the architecture forbids** ([`FORBIDDEN`]), directly or through
//!   other workspace crates, in its `[dependencies]` (dev-dependencies are free).
//!
//! Test code is every file under a `tests/` directory, every `tests.rs` (a module declared
//! `#[cfg(test)] mod tests;`), and everything from a `#[cfg(test)]` line that is followed by an
//! inline `mod tests {` to the end of the file (the convention here: the unit tests close the
//! file). A `#[cfg(test)] mod tests;` declaration exempts only its own file, not the rest of
//! the file that declares it.
//!
//! The checking functions take paths and texts, not the disk, so the `planted` tests at the end
//! feed each rule a small violation and prove it is caught: a rule cannot silently pass.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

/// The longest a hand-written source file may be. Past this a file holds more than one job and
/// is hard to review or to change in parallel with others; split it by concept.
const LINE_BUDGET: usize = 1_000;

/// The architecture's layering, written once: `(crate, crates it must not depend on, why)`.
/// Checked over `[dependencies]` (and target-specific ones), following workspace crates
/// transitively; dev-dependencies are free (tests may drive a real gateway or store).
const FORBIDDEN: &[(&str, &[&str], &str)] = &[
    (
        "arus-tariffs",
        &[
            "arus-domain",
            "arus-ocpp",
            "arus-ws",
            "arus-store",
            "arus-gateway",
            "arus-api",
            "arus-telemetry",
        ],
        "pricing is a pure function over plain data: no service, protocol or storage",
    ),
    (
        "arus-ocpi",
        &[
            "arus-domain",
            "arus-ocpp",
            "arus-ws",
            "arus-store",
            "arus-gateway",
            "arus-api",
        ],
        "OCPI's objects are the roaming protocol's wire shape, as arus-ocpp's are OCPP's: they \
         know no service, other protocol or storage",
    ),
    (
        "arus-domain",
        &[
            "arus-ocpp",
            "arus-ws",
            "arus-store",
            "arus-gateway",
            "arus-api",
        ],
        "the domain knows no protocol, framing or storage engine: every other part builds on it, \
         never the reverse",
    ),
    (
        "arus-api",
        &["arus-gateway", "arus-ocpp", "arus-ws", "arus-store"],
        "the operator edge reaches stations and storage only through the domain's ports",
    ),
    (
        "arus-schedules",
        &[
            "arus-domain",
            "arus-ocpp",
            "arus-ws",
            "arus-store",
            "arus-gateway",
            "arus-api",
            "arus-telemetry",
        ],
        "schedules are pure functions over plain data: no service, protocol or storage",
    ),
    (
        "arus-allocation",
        &[
            "arus-domain",
            "arus-ocpp",
            "arus-ws",
            "arus-store",
            "arus-gateway",
            "arus-api",
            "arus-telemetry",
        ],
        "allocation is a pure function over plain data: no service, protocol or storage",
    ),
];

/// Where OCPP JSON may be written by hand: the one crate that knows the wire format.
const OCPP_CRATE: &str = "crates/ocpp/";

/// Method calls whose first argument, when a string literal, is a JSON object key.
const KEY_METHODS: &[&str] = &[
    "get",
    "get_mut",
    "insert",
    "remove",
    "contains_key",
    "entry",
];

/// Method calls whose first argument is a JSON pointer (`/a/b`), each segment a key.
const POINTER_METHODS: &[&str] = &["pointer", "pointer_mut"];

/// One broken rule at one place.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Violation {
    path: String,
    line: usize,
    message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: {}", self.path, self.line, self.message)
    }
}

fn violation(path: &str, line: usize, message: impl Into<String>) -> Violation {
    Violation {
        path: path.to_string(),
        line,
        message: message.into(),
    }
}

/// Fails with every violation of `rule` (which says what is wrong and what to do instead),
/// sorted by place.
fn report(rule: &str, mut found: Vec<Violation>) {
    found.sort();
    found.dedup();
    if !found.is_empty() {
        let list: Vec<String> = found.iter().map(|v| format!("  {v}")).collect();
        panic!(
            "tidy rule {rule}\n{} violation(s):\n{}\n",
            found.len(),
            list.join("\n")
        );
    }
}

// ---------------------------------------------------------------------------------------------
// The repository on disk.

fn repo_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(Path::to_path_buf).unwrap_or(here)
}

/// Every file under `dir` (recursively) whose name ends with `suffix`, skipping build output
/// and hidden directories.
fn files_under(dir: &Path, suffix: &str, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()));
    for entry in entries {
        let path = entry
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if name != "target" && !name.starts_with('.') {
                files_under(&path, suffix, out);
            }
        } else if name.ends_with(suffix) {
            out.push(path);
        }
    }
}

/// The Rust sources under `crates/` and `xtask/`, as (path relative to the root with `/`, text).
fn rust_sources(root: &Path) -> Vec<(String, String)> {
    let mut paths = Vec::new();
    for dir in ["crates", "xtask"] {
        files_under(&root.join(dir), ".rs", &mut paths);
    }
    paths.sort();
    paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (relative(root, &p), text)
        })
        .collect()
}

fn relative(root: &Path, p: &Path) -> String {
    let rel = p.strip_prefix(root).unwrap_or(p);
    rel.components()
        .map(|c| c.as_os_str().to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join("/")
}

/// Every key of every `properties` object, at any depth, of every vendored OCA schema (all
/// versions).
fn ocpp_property_names(root: &Path) -> BTreeSet<String> {
    fn walk(v: &serde_json::Value, names: &mut BTreeSet<String>) {
        match v {
            serde_json::Value::Object(map) => {
                for (k, x) in map {
                    if k == "properties"
                        && let Some(props) = x.as_object()
                    {
                        names.extend(props.keys().cloned());
                    }
                    walk(x, names);
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|x| walk(x, names)),
            _ => {}
        }
    }
    let mut paths = Vec::new();
    files_under(&root.join("crates/ocpp/schemas"), ".json", &mut paths);
    let mut names = BTreeSet::new();
    for p in paths {
        let text =
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
        let doc: serde_json::Value = serde_json::from_str(text.trim_start_matches('\u{feff}'))
            .unwrap_or_else(|e| panic!("parsing {}: {e}", p.display()));
        walk(&doc, &mut names);
    }
    names
}

// ---------------------------------------------------------------------------------------------
// Reading Rust: just enough of a lexer to tell code from comments and string literals.

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    /// A string literal's text between its quotes, escapes left as written.
    Str(String),
    Punct(char),
    /// Numbers, character literals, lifetimes.
    Other,
}

#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    line: usize,
}

/// The tokens of `text` without comments (doc comments included).
fn lex(text: &str) -> Vec<Token> {
    let c: Vec<char> = text.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line) = (0, 1);
    let at = |i: usize| c.get(i).copied().unwrap_or('\0');
    while i < c.len() {
        let ch = c[i];
        let start_line = line;
        if ch == '\n' {
            line += 1;
            i += 1;
        } else if ch.is_whitespace() {
            i += 1;
        } else if ch == '/' && at(i + 1) == '/' {
            while i < c.len() && c[i] != '\n' {
                i += 1;
            }
        } else if ch == '/' && at(i + 1) == '*' {
            let mut depth = 0;
            while i < c.len() {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    line += usize::from(c[i] == '\n');
                    i += 1;
                }
            }
        } else if let Some((prefix, hashes)) = raw_string_start(&c, i) {
            // r"…", r#"…"#, br#"…"#, cr"…": no escapes, ends at a quote and as many hashes.
            let body = i + prefix + hashes + 1;
            let mut j = body;
            while j < c.len() && !(c[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#')) {
                j += 1;
            }
            line += push_str(&mut out, &c[body..j.min(c.len())], start_line);
            i = j + 1 + hashes;
        } else if ch == '"' || (matches!(ch, 'b' | 'c') && at(i + 1) == '"') {
            let mut j = if ch == '"' { i + 1 } else { i + 2 };
            let body = j;
            while j < c.len() && c[j] != '"' {
                if c[j] == '\\' {
                    j += 1;
                }
                j += 1;
            }
            line += push_str(&mut out, &c[body..j.min(c.len())], start_line);
            i = j + 1;
        } else if ch == '\'' {
            // A character literal ('a', '\n', '\u{1F600}') or a lifetime ('a).
            if at(i + 1) == '\\' {
                let mut j = i + 3;
                while j < c.len() && c[j] != '\'' {
                    j += 1;
                }
                i = j + 1;
            } else if at(i + 2) == '\'' {
                i += 3;
            } else {
                i += 1;
                while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                    i += 1;
                }
            }
            out.push(Token {
                tok: Tok::Other,
                line: start_line,
            });
        } else if ch.is_alphabetic() || ch == '_' {
            if ch == 'r' && at(i + 1) == '#' {
                i += 2; // a raw identifier: r#type
            }
            let s = i;
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Ident(c[s..i].iter().collect()),
                line: start_line,
            });
        } else if ch.is_ascii_digit() {
            while i < c.len() && (c[i].is_alphanumeric() || c[i] == '_') {
                i += 1;
            }
            out.push(Token {
                tok: Tok::Other,
                line: start_line,
            });
        } else {
            out.push(Token {
                tok: Tok::Punct(ch),
                line: start_line,
            });
            i += 1;
        }
    }
    out
}

/// At `i`, the length of a raw string's prefix (`r`, `br`, `cr`) and its number of `#`s.
fn raw_string_start(c: &[char], i: usize) -> Option<(usize, usize)> {
    let prefix = match (c.get(i), c.get(i + 1)) {
        (Some('r'), _) => 1,
        (Some('b' | 'c'), Some('r')) => 2,
        _ => return None,
    };
    if i > 0
        && c.get(i - 1)
            .is_some_and(|p| p.is_alphanumeric() || *p == '_')
    {
        return None;
    }
    let hashes = c[i + prefix..].iter().take_while(|&&h| h == '#').count();
    (c.get(i + prefix + hashes) == Some(&'"')).then_some((prefix, hashes))
}

/// Whether a file under this path is test code as a whole.
fn is_test_file(path: &str) -> bool {
    path.split('/').any(|part| part == "tests") || path.ends_with("/tests.rs")
}

/// The first line (1-based) of the file's closing `#[cfg(test)] mod tests`, if it has one.
fn unit_tests_start(text: &str) -> Option<usize> {
    let lines: Vec<&str> = text.lines().collect();
    lines.iter().enumerate().find_map(|(n, l)| {
        let next = lines[n + 1..]
            .iter()
            .map(|l| l.trim())
            .find(|l| !l.is_empty());
        (l.trim() == "#[cfg(test)]" && next.is_some_and(|l| l.starts_with("mod tests {")))
            .then_some(n + 1)
    })
}

/// The tokens of the file's code that is not test code; none for crates/ocpp and test files.
fn production_tokens(path: &str, text: &str) -> Vec<Token> {
    if path.starts_with(OCPP_CRATE) || is_test_file(path) {
        return Vec::new();
    }
    let end = unit_tests_start(text).unwrap_or(usize::MAX);
    lex(text).into_iter().filter(|t| t.line < end).collect()
}

// ---------------------------------------------------------------------------------------------
// The rules.

/// Rule a: `json!` outside crates/ocpp and test code.
fn check_json_macro(path: &str, text: &str) -> Vec<Violation> {
    let toks = production_tokens(path, text);
    toks.windows(2)
        .filter(|w| w[0].tok == Tok::Ident("json".into()) && w[1].tok == Tok::Punct('!'))
        .map(|w| violation(path, w[0].line, "rule a: `json!`"))
        .collect()
}

/// Rule b: OCPP property names used as JSON keys by hand, outside crates/ocpp and test code.
/// `xtask` is not checked: it reads JSON Schema documents, whose keywords (`type`,
/// `description`, `properties`' own keys) coincide with OCPP field names.
fn check_ocpp_keys(path: &str, text: &str, names: &BTreeSet<String>) -> Vec<Violation> {
    if !path.starts_with("crates/") {
        return Vec::new();
    }
    let toks = production_tokens(path, text);
    let tok = |i: isize| tok_at(&toks, i);
    let punct = |i: isize, p: char| tok(i) == Some(&Tok::Punct(p));
    let ident_in =
        |i: isize, set: &[&str]| matches!(tok(i), Some(Tok::Ident(s)) if set.contains(&s.as_str()));
    let mut found = Vec::new();
    for (n, t) in toks.iter().enumerate() {
        let Tok::Str(s) = &t.tok else { continue };
        let i = n as isize;
        let mut flag = |how: &str, name: &str| {
            found.push(violation(
                path,
                t.line,
                format!("rule b: \"{name}\" as a JSON key ({how})"),
            ));
        };
        let method_arg = punct(i - 1, '(') && punct(i - 3, '.');
        if names.contains(s.as_str()) {
            if method_arg && ident_in(i - 2, KEY_METHODS) {
                flag("a map key in a method call", s);
            } else if punct(i - 1, '[')
                && punct(i + 1, ']')
                && matches!(
                    tok(i - 2),
                    Some(Tok::Ident(_) | Tok::Punct(')' | ']' | '?'))
                )
            {
                flag("an index", s);
            } else if punct(i - 1, '(')
                && punct(i + 1, ',')
                && matches!(tok(i - 2), Some(Tok::Punct('[' | ',')))
                && !is_pattern(&toks, n - 1)
            {
                flag("the key of a (key, value) pair", s);
            } else if punct(i + 1, ':') && !punct(i + 2, ':') {
                flag("a `\"key\": value` entry", s);
            }
        }
        if method_arg && ident_in(i - 2, POINTER_METHODS) {
            for seg in s.split('/').filter(|seg| names.contains(*seg)) {
                flag("a JSON pointer segment", seg);
            }
        }
        for key in keys_in_json_text(s).filter(|k| names.contains(*k)) {
            flag("a key in JSON text", key);
        }
    }
    found
}

/// Whether the parenthesised tuple opening at `open` is a match pattern (followed by `=>` or
/// by `|` of an or-pattern), not a value.
fn is_pattern(toks: &[Token], open: usize) -> bool {
    let mut depth = 0usize;
    for (n, t) in toks.iter().enumerate().skip(open) {
        match t.tok {
            Tok::Punct('(') => depth += 1,
            Tok::Punct(')') => {
                depth -= 1;
                if depth == 0 {
                    let after = |k: usize| toks.get(n + k).map(|t| &t.tok);
                    return after(1) == Some(&Tok::Punct('|'))
                        || (after(1) == Some(&Tok::Punct('='))
                            && after(2) == Some(&Tok::Punct('>')));
                }
            }
            _ => {}
        }
    }
    false
}

/// The token at `i`, if `i` is in range.
fn tok_at(toks: &[Token], i: isize) -> Option<&Tok> {
    usize::try_from(i)
        .ok()
        .and_then(|i| toks.get(i))
        .map(|t| &t.tok)
}

/// The keys (`"name":`) in a string literal holding JSON text, quotes escaped or not.
fn keys_in_json_text(s: &str) -> impl Iterator<Item = &str> {
    s.match_indices('"').filter_map(move |(q, _)| {
        let rest = &s[q + 1..];
        let len = rest.find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))?;
        let after = rest[len..]
            .strip_prefix("\\\"")
            .or(rest[len..].strip_prefix('"'))?;
        (len > 0 && after.trim_start().starts_with(':')).then_some(&rest[..len])
    })
}

/// Whether the file says, in its first lines, that it is generated.
fn is_generated(path: &str, text: &str) -> bool {
    let messages = path.starts_with("crates/ocpp/src/")
        && path.ends_with("/messages.rs")
        && path.matches('/').count() == 4;
    messages || text.lines().take(3).any(|l| l.contains("@generated"))
}

/// Rule c: hand-written files longer than the budget.
fn check_length(path: &str, text: &str) -> Vec<Violation> {
    let lines = text.lines().count();
    if lines <= LINE_BUDGET || is_generated(path, text) {
        return Vec::new();
    }
    vec![violation(
        path,
        LINE_BUDGET + 1,
        format!("rule c: {lines} lines"),
    )]
}

/// A crate's manifest: its name and its normal dependencies with their lines.
struct Manifest {
    path: String,
    name: String,
    deps: Vec<(String, usize)>,
}

fn parse_manifest(path: &str, text: &str) -> Manifest {
    let table: toml::Table = text
        .parse()
        .unwrap_or_else(|e| panic!("parsing {path}: {e}"));
    let name = table
        .get("package")
        .and_then(|p| p.get("name"))
        .and_then(|n| n.as_str())
        .unwrap_or_else(|| panic!("{path} has no package.name"))
        .to_string();
    let mut sections: Vec<&toml::Table> = table
        .get("dependencies")
        .and_then(|d| d.as_table())
        .into_iter()
        .collect();
    if let Some(targets) = table.get("target").and_then(|t| t.as_table()) {
        sections.extend(
            targets
                .values()
                .filter_map(|t| t.get("dependencies").and_then(|d| d.as_table())),
        );
    }
    let deps = sections
        .into_iter()
        .flat_map(|s| s.iter())
        .map(|(key, spec)| {
            // `alias = { package = "real-name", … }` depends on real-name.
            let real = spec.get("package").and_then(|p| p.as_str()).unwrap_or(key);
            let line = text
                .lines()
                .position(|l| {
                    let l = l.trim_start();
                    l.starts_with(key.as_str())
                        && l[key.len()..].trim_start().starts_with(['=', '.'])
                })
                .map_or(1, |n| n + 1);
            (real.to_string(), line)
        })
        .collect();
    Manifest {
        path: path.to_string(),
        name,
        deps,
    }
}

/// Rule d: forbidden dependencies, followed through workspace crates. Each forbidden edge is
/// reported at the manifest line that starts the path to it.
fn check_layers(manifests: &[(String, String)]) -> Vec<Violation> {
    let parsed: Vec<Manifest> = manifests
        .iter()
        .map(|(p, t)| parse_manifest(p, t))
        .collect();
    let by_name: BTreeMap<&str, &Manifest> = parsed.iter().map(|m| (m.name.as_str(), m)).collect();
    let mut found = Vec::new();
    for (krate, forbidden, why) in FORBIDDEN {
        let Some(m) = by_name.get(krate) else {
            continue;
        };
        // Each crate reached is visited once, so each forbidden one is reported once, by the
        // first path found.
        let mut seen = BTreeSet::new();
        for (dep, line) in &m.deps {
            // Depth-first through workspace crates, keeping the path for the message.
            let mut stack = vec![vec![dep.as_str()]];
            while let Some(chain) = stack.pop() {
                let last = chain[chain.len() - 1];
                if !seen.insert(last) {
                    continue;
                }
                if forbidden.contains(&last) {
                    found.push(violation(
                        &m.path,
                        *line,
                        format!(
                            "rule d: {krate} depends on {last} ({}): {why}",
                            std::iter::once(*krate)
                                .chain(chain.iter().copied())
                                .collect::<Vec<_>>()
                                .join(" → ")
                        ),
                    ));
                    // What lies past a forbidden crate is reported once that edge is gone.
                    continue;
                }
                if let Some(next) = by_name.get(last) {
                    for (d, _) in &next.deps {
                        let mut longer = chain.clone();
                        longer.push(d.as_str());
                        stack.push(longer);
                    }
                }
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------------------------
// The rules over the repository.

#[test]
fn a_no_json_macro_outside_ocpp_and_tests() {
    let found = rust_sources(&repo_root())
        .iter()
        .flat_map(|(p, t)| check_json_macro(p, t))
        .collect();
    report(
        "a: `json!` outside crates/ocpp and test code; build JSON from a typed value (a serde \
         struct, a generated OCPP type)",
        found,
    );
}

#[test]
fn b_no_hand_built_ocpp_field_names() {
    let root = repo_root();
    let names = ocpp_property_names(&root);
    assert!(
        names.len() > 300 && names.contains("evseId") && names.contains("idTag"),
        "the schemas' property names were not found ({} names)",
        names.len()
    );
    let found = rust_sources(&root)
        .iter()
        .flat_map(|(p, t)| check_ocpp_keys(p, t, &names))
        .collect();
    report(
        "b: an OCPP field name (a property of a vendored OCA schema) used as a JSON key by hand \
         outside crates/ocpp and test code; only arus-ocpp knows OCPP JSON: use the generated \
         types (or, for the API's own JSON, a serde struct)",
        found,
    );
}

#[test]
fn c_no_file_over_the_line_budget() {
    let found = rust_sources(&repo_root())
        .iter()
        .flat_map(|(p, t)| check_length(p, t))
        .collect();
    report(
        &format!(
            "c: a hand-written source file over the budget of {LINE_BUDGET} lines; split it by \
             concept"
        ),
        found,
    );
}

#[test]
fn d_no_forbidden_dependency() {
    let root = repo_root();
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).expect("crates/ is readable") {
        let manifest = entry
            .expect("crates/ is readable")
            .path()
            .join("Cargo.toml");
        if manifest.is_file() {
            paths.push(manifest);
        }
    }
    paths.sort();
    assert!(paths.len() > 5, "the crates' manifests were not found");
    let manifests: Vec<(String, String)> = paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p)
                .unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
            (relative(&root, p), text)
        })
        .collect();
    report(
        "d: a crate depends on one the architecture forbids (see FORBIDDEN and ARCHITECTURE.md)",
        check_layers(&manifests),
    );
}

// ---------------------------------------------------------------------------------------------
// Each rule catches a planted violation.

mod planted {
    use super::*;

    const GATEWAY: &str = "crates/gateway/src/planted.rs";

    fn names() -> BTreeSet<String> {
        ["evseId", "idToken", "status", "type"]
            .map(String::from)
            .into()
    }

    fn lines(v: &[Violation]) -> Vec<usize> {
        v.iter().map(|v| v.line).collect()
    }

    #[test]
    fn a_json_macro_is_caught_in_code_only() {
        let text = "/// `json!({})` in a doc comment\n\
                    fn f() -> Value { serde_json::json!({ \"a\": 1 }) }\n\
                    fn g() -> Value { json! ({}) }\n\
                    const S: &str = \"json!(in a string)\";\n\
                    #[cfg(test)]\n\
                    mod tests {\n    fn t() { json!(1); }\n}\n";
        assert_eq!(lines(&check_json_macro(GATEWAY, text)), [2, 3]);
        assert!(check_json_macro("crates/ocpp/src/rpc.rs", text).is_empty());
        assert!(check_json_macro("crates/arus/tests/e2e/api.rs", text).is_empty());
        // A module of tests in a file of its own exempts that file, not its parent.
        let parent = "#[cfg(test)]\nmod tests;\nfn f() -> Value { json!(1) }\n";
        assert_eq!(lines(&check_json_macro(GATEWAY, parent)), [3]);
        assert!(check_json_macro("crates/gateway/src/commands/tests.rs", parent).is_empty());
    }

    #[test]
    fn b_hand_built_keys_are_caught_and_names_that_merely_exist_are_not() {
        let text = r##"#[derive(Serialize)]
#[serde(rename = "evseId", alias = "status")]
/// v.get("evseId") in a doc comment
struct S { status: String }
fn f(v: &Value, m: &mut Map<String, Value>) {
    let a = v.get("evseId");
    let b = &v["idToken"]["type"];
    let c = obj([("status", x), ("other", y)]);
    m.insert("type".into(), Value::Null);
    let d = some_macro!({ "evseId": 1 });
    let e = v.pointer("/idToken/type");
    let f = r#"{"status":"Accepted"}"#;
    let g = "{\"evseId\": 1}";
    let ok = ["status", "type"];
    let ok = format!("status", x);
    let ok = call("status", x);
    let ok = match s { "status" => 1, _ => 2 };
    let ok = v.get("notAnOcppName");
    let ok = match part { Some(("status", v)) => 1, _ => 2 };
    let ok = match pair { ("x", 1) => 0, ("status", v) | ("type", v) => 1, _ => 2 };
}
"##;
        let found = check_ocpp_keys(GATEWAY, text, &names());
        assert_eq!(
            lines(&found),
            [6, 7, 7, 8, 9, 10, 11, 11, 12, 13],
            "{found:#?}"
        );
        assert!(check_ocpp_keys("crates/ocpp/src/v16.rs", text, &names()).is_empty());
        assert!(check_ocpp_keys("crates/gateway/tests/calls.rs", text, &names()).is_empty());
        assert!(check_ocpp_keys("xtask/src/codegen.rs", text, &names()).is_empty());
        let after_tests = format!("fn f() {{}}\n#[cfg(test)]\nmod tests {{\n{text}}}\n");
        assert!(check_ocpp_keys(GATEWAY, &after_tests, &names()).is_empty());
    }

    #[test]
    fn c_a_long_hand_written_file_is_caught() {
        let long = "fn f() {}\n".repeat(LINE_BUDGET + 1);
        let fits = "fn f() {}\n".repeat(LINE_BUDGET);
        assert_eq!(lines(&check_length(GATEWAY, &long)), [LINE_BUDGET + 1]);
        assert!(check_length(GATEWAY, &fits).is_empty());
        assert!(check_length("crates/ocpp/src/v16/messages.rs", &long).is_empty());
        let generated = format!("// @generated by a tool: do not edit.\n{long}");
        assert!(check_length("crates/x/src/y.rs", &generated).is_empty());
        assert_eq!(check_length("crates/store/tests/store.rs", &long).len(), 1);
    }

    fn manifest(name: &str, deps: &str, dev: &str) -> (String, String) {
        (
            format!("crates/{name}/Cargo.toml"),
            format!(
                "[package]\nname = \"arus-{name}\"\n\n[dependencies]\n{deps}\n\
                 [dev-dependencies]\n{dev}\n"
            ),
        )
    }

    #[test]
    fn d_forbidden_dependencies_are_caught_directly_and_through_others() {
        let clean = [
            manifest("domain", "chrono = \"0.4\"", "arus-store.workspace = true"),
            manifest(
                "api",
                "arus-domain.workspace = true\narus-webhooks.workspace = true",
                "arus-gateway.workspace = true",
            ),
            manifest("webhooks", "arus-domain.workspace = true", ""),
            manifest("gateway", "arus-domain.workspace = true", ""),
        ];
        assert!(check_layers(&clean).is_empty());

        let mut bad = clean.to_vec();
        bad[0] = manifest(
            "domain",
            "chrono = \"0.4\"\nwire = { package = \"arus-ocpp\", path = \"../ocpp\" }",
            "",
        );
        bad[2] = manifest(
            "webhooks",
            "arus-domain.workspace = true\narus-gateway.workspace = true",
            "",
        );
        let said: Vec<String> = check_layers(&bad).iter().map(ToString::to_string).collect();
        assert_eq!(said.len(), 3, "{said:#?}");
        assert!(
            said[0].starts_with(
                "crates/domain/Cargo.toml:6: rule d: arus-domain depends on arus-ocpp"
            ),
            "{said:#?}"
        );
        // The domain's violation reaches the API too, and the API reaches the gateway through
        // the webhooks crate.
        assert!(
            said[1].contains("(arus-api → arus-domain → arus-ocpp)"),
            "{said:#?}"
        );
        assert!(
            said[2].contains("(arus-api → arus-webhooks → arus-gateway)"),
            "{said:#?}"
        );
    }

    #[test]
    fn the_lexer_tells_code_from_comments_and_literals() {
        let toks = lex("/* \"a\": /* nested */ */ let x = 'y'; // \"b\":\nr#\"c\"#.len() 'a");
        let strs: Vec<&Tok> = toks
            .iter()
            .filter(|t| matches!(t.tok, Tok::Str(_)))
            .map(|t| &t.tok)
            .collect();
        assert_eq!(strs, [&Tok::Str("c".into())]);
        assert_eq!(
            toks.iter()
                .find(|t| t.tok == Tok::Str("c".into()))
                .map(|t| t.line),
            Some(2)
        );
    }
}

/// Adds a string literal's body as a token at `line`; returns how many lines it spans.
fn push_str(out: &mut Vec<Token>, body: &[char], line: usize) -> usize {
    let s: String = body.iter().collect();
    let lines = s.matches('\n').count();
    out.push(Token {
        tok: Tok::Str(s),
        line,
    });
    lines
}
