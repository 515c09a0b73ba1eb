//! Tree-wide conventions checked on every test run: each Rust file under `crates/` and
//! `fuzz/` opens with a `//!` line saying what it owns, and the crates form the ladder of
//! ARCHITECTURE.md's code map — no crate depends on one above it, identity's crates and
//! the mail crates never depend on each other (nor shared crates on either), and every
//! crate has a place on the ladder.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

/// The ladder, lowest level first. A crate may depend on crates of its own level or
/// below. Levels may name crates that do not exist (yet); every crate under `crates/`
/// must appear here, so a new crate is placed deliberately.
const LADDER: &[(&str, &[&str])] = &[
    ("shared vocabulary", &["mailward-types"]),
    (
        "pure logic and sans-IO protocols",
        &[
            "mailward-oauth",
            "mailward-signin",
            "mailward-mfa",
            "mailward-tokens",
            "mailward-policy",
            "mailward-sasl",
            "mailward-authpolicy",
        ],
    ),
    (
        "SQL plumbing (migrations, checkpoints, statements shared by the stores)",
        &["mailward-sql"],
    ),
    ("stores", &["mailward-store", "mailward-mailstore"]),
    (
        "network plumbing and the mail authentication pipeline",
        &["mailward-net", "mailward-mailauth"],
    ),
    (
        "mail line framing and connection plumbing",
        &["mailward-mailnet"],
    ),
    (
        "the identity role and the mail protocol fronts",
        &[
            "mailward-identity",
            "mailward-imap",
            "mailward-pop3",
            "mailward-smtp",
        ],
    ),
    ("the mail role", &["mailward-mail"]),
    ("the binary", &["mailward"]),
    (
        "beside the top: test harness and load generator (nothing ships with them)",
        &["mailward-testkit", "mailward-loadgen"],
    ),
];

/// Which role a crate belongs to. Mail crates never use identity's crates (and the other
/// way round): they reach identity over HTTPS as a separate mail host would. Shared crates
/// serve both sides, so they use only shared crates; the top may use anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Shared,
    Identity,
    Mail,
    Top,
}

const SIDES: &[(Side, &[&str])] = &[
    (
        Side::Shared,
        &[
            "mailward-types",
            "mailward-tokens",
            "mailward-sql",
            "mailward-net",
        ],
    ),
    (
        Side::Identity,
        &[
            "mailward-oauth",
            "mailward-signin",
            "mailward-mfa",
            "mailward-policy",
            "mailward-store",
            "mailward-identity",
        ],
    ),
    (
        Side::Mail,
        &[
            "mailward-sasl",
            "mailward-authpolicy",
            "mailward-mailstore",
            "mailward-mailauth",
            "mailward-mailnet",
            "mailward-imap",
            "mailward-pop3",
            "mailward-smtp",
            "mailward-mail",
        ],
    ),
    (
        Side::Top,
        &["mailward", "mailward-testkit", "mailward-loadgen"],
    ),
];

/// Files that cannot open with `//!`, each with the reason (`include!`d fragments, where
/// an inner doc comment is not allowed). None today.
const NO_MODULE_DOC: &[(&str, &str)] = &[];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("workspace root")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name != "target" && !name.starts_with('.') {
                rust_files(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_module_doc() {
    let root = root();
    let mut files = Vec::new();
    rust_files(&root.join("crates"), &mut files);
    rust_files(&root.join("fuzz"), &mut files);
    assert!(files.len() > 100, "found only {} Rust files", files.len());
    let mut missing = Vec::new();
    for file in files {
        let rel = file
            .strip_prefix(&root)
            .expect("under the root")
            .to_string_lossy()
            .replace('\\', "/");
        if NO_MODULE_DOC.iter().any(|(path, _)| *path == rel) {
            continue;
        }
        let text = fs::read_to_string(&file).expect("read a Rust file");
        if !text.lines().next().is_some_and(|l| l.starts_with("//!")) {
            missing.push(rel);
        }
    }
    assert!(
        missing.is_empty(),
        "these files do not open with a `//!` line saying what they own:\n  {}",
        missing.join("\n  ")
    );
}

/// A manifest's package name and its `mailward-*` dependencies (normal and build; target
/// specific ones included). Dev-dependencies are exempt: tests may use the harness and
/// any role, as the end-to-end suite does.
#[derive(Debug)]
struct Manifest {
    name: String,
    deps: Vec<String>,
}

/// The few lines of `Cargo.toml` this test needs, without a TOML library: table headers,
/// `name = "..."` in `[package]`, and keys (or `package = "..."` renames) in dependency
/// tables, including `[dependencies.mailward-x]` headers.
fn parse_manifest(text: &str) -> Manifest {
    let mut name = None;
    let mut deps = Vec::new();
    let mut table = String::new();
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        if let Some(header) = line.strip_prefix('[') {
            table = header.trim_end_matches(']').trim().to_owned();
            // `[dependencies.mailward-x]` (possibly under `target.<cfg>.`).
            if let Some((section, dep)) = table.rsplit_once('.')
                && is_runtime_deps(section)
            {
                push_dep(&mut deps, dep.trim_matches('"'));
            }
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let key = key.trim();
        let value = value.trim();
        if table == "package" && key == "name" {
            name = Some(value.trim_matches('"').to_owned());
        } else if is_runtime_deps(&table) {
            // A rename: `x = { package = "mailward-y", ... }`.
            let real = value
                .split_once("package")
                .and_then(|(_, rest)| rest.split('"').nth(1))
                .unwrap_or(key.split('.').next().unwrap_or(key));
            push_dep(&mut deps, real.trim_matches('"'));
        }
    }
    Manifest {
        name: name.expect("a [package] name"),
        deps,
    }
}

fn is_runtime_deps(table: &str) -> bool {
    let last = table.rsplit('.').next().unwrap_or(table);
    last == "dependencies" || last == "build-dependencies"
}

fn push_dep(deps: &mut Vec<String>, name: &str) {
    if (name == "mailward" || name.starts_with("mailward-")) && !deps.iter().any(|d| d == name) {
        deps.push(name.to_owned());
    }
}

fn level(name: &str) -> Option<usize> {
    LADDER.iter().position(|(_, crates)| crates.contains(&name))
}

fn side(name: &str) -> Option<Side> {
    SIDES
        .iter()
        .find(|(_, crates)| crates.contains(&name))
        .map(|(side, _)| *side)
}

/// Whether a crate on side `user` may depend on one on side `used`.
fn may_use(user: Side, used: Side) -> bool {
    match user {
        Side::Top => true,
        Side::Shared => used == Side::Shared,
        Side::Identity | Side::Mail => used == Side::Shared || used == user,
    }
}

fn manifests() -> BTreeMap<String, Manifest> {
    let mut out = BTreeMap::new();
    let dir = root().join("crates");
    for entry in fs::read_dir(&dir).expect("crates/") {
        let path = entry.expect("directory entry").path().join("Cargo.toml");
        let Ok(text) = fs::read_to_string(&path) else {
            continue;
        };
        let m = parse_manifest(&text);
        let dir_name = path
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str())
            .expect("crate directory")
            .to_owned();
        out.insert(dir_name, m);
    }
    out
}

#[test]
fn crates_form_the_ladder() {
    let manifests = manifests();
    assert!(
        manifests.len() > 10,
        "found only {} crates",
        manifests.len()
    );
    let mut problems = Vec::new();
    for (dir, m) in &manifests {
        let Some(own) = level(&m.name) else {
            problems.push(format!(
                "crates/{dir} ({}) has no place on the ladder: add it to LADDER and SIDES \
                 in crates/mailward/tests/tidy.rs and to ARCHITECTURE.md's code map",
                m.name
            ));
            continue;
        };
        for dep in &m.deps {
            let Some(theirs) = level(dep) else {
                problems.push(format!(
                    "{} depends on {dep}, which has no place on the ladder",
                    m.name
                ));
                continue;
            };
            if theirs > own {
                problems.push(format!(
                    "{} ({}) depends on {dep} ({}), which is above it",
                    m.name, LADDER[own].0, LADDER[theirs].0
                ));
            }
            if let (Some(a), Some(b)) = (side(&m.name), side(dep))
                && !may_use(a, b)
            {
                problems.push(format!(
                    "{} ({a:?} side) depends on {dep} ({b:?} side): the roles meet only over \
                     public protocols, and shared crates use only shared ones",
                    m.name
                ));
            }
        }
    }
    assert!(
        problems.is_empty(),
        "ladder broken:\n  {}",
        problems.join("\n  ")
    );
}

#[test]
fn ladder_table_is_consistent() {
    let mut seen = Vec::new();
    for (_, crates) in LADDER {
        for c in *crates {
            assert!(!seen.contains(c), "{c} is on two levels");
            seen.push(c);
        }
    }
    for (_, crates) in SIDES {
        for c in *crates {
            assert!(level(c).is_some(), "{c} has a side but no level");
        }
    }
    for c in seen {
        assert!(side(c).is_some(), "{c} has a level but no side");
    }
}

#[test]
fn manifest_parser_reads_every_form() {
    let m = parse_manifest(
        r#"
[package]
name = "mailward-x"
version.workspace = true

[dependencies]
mailward-types.workspace = true
mailward-net = { path = "../net" } # a comment
tokio.workspace = true
renamed = { package = "mailward-store", path = "../store" }

[dev-dependencies]
mailward-testkit.workspace = true

[target.'cfg(unix)'.dependencies]
mailward-mfa = "0.1"

[build-dependencies.mailward-oauth]
path = "../oauth"
"#,
    );
    assert_eq!(m.name, "mailward-x");
    assert_eq!(
        m.deps,
        [
            "mailward-types",
            "mailward-net",
            "mailward-store",
            "mailward-mfa",
            "mailward-oauth"
        ]
    );
}
