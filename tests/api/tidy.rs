//! The architecture's invariants (ARCHITECTURE.md), checked on the source text.

use std::path::{Path, PathBuf};

/// The modules of `src/`, top to bottom: a module imports only from the layers below its own
/// (ARCHITECTURE.md, "Layers"). `main` is the binary.
const LAYERS: &[&[&str]] = &[
    &["main"],
    &["startup"],
    &["http", "notify"],
    &["graphql"],
    &["commands", "queries", "subscriptions"],
    &["projections"],
    &["events"],
    &["telemetry"],
    &["db"],
    &["entities", "signals", "auth"],
    &["config", "domain"],
];

/// The tables of the read database.
const READ_TABLES: &[&str] = &[
    "users_view",
    "users_view_stats",
    "projection_checkpoints",
    "projection_leases",
];

/// How long a source file may grow before it wants splitting.
const MOST_LINES: usize = 350;

/// One source file: its path from the crate root (with `/`) and its code without comments.
struct Source {
    path: String,
    text: String,
    code: String,
}

impl Source {
    fn is_under(&self, prefixes: &[&str]) -> bool {
        prefixes.iter().any(|p| self.path.starts_with(p))
    }

    /// The top-level module of `src/` this file belongs to (`main` for the binary).
    fn module(&self) -> Option<&str> {
        let rest = self.path.strip_prefix("src/")?;
        let first = rest.split('/').next()?;
        Some(first.strip_suffix(".rs").unwrap_or(first)).filter(|m| *m != "lib")
    }
}

fn sources(dir: &str) -> Vec<Source> {
    fn walk(path: &Path, found: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(path).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push(path);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut paths = Vec::new();
    walk(&root.join(dir), &mut paths);
    paths.sort();
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            Source {
                path: path
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/"),
                code: code(&text),
                text,
            }
        })
        .collect()
}

/// Code lines only: `//` comments may name anything.
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The contents of the string literals in `code` (escapes kept as written).
fn string_literals(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut chars = code.chars().peekable();
    let mut previous = ' ';
    while let Some(c) = chars.next() {
        // A `'"'` char literal is no string.
        if c == '"' && previous != '\'' {
            let mut literal = String::new();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => {
                        literal.extend(chars.next().map(|next| ['\\', next]).unwrap_or_default())
                    }
                    '"' => break,
                    c => literal.push(c),
                }
            }
            found.push(literal);
            previous = '"';
        } else {
            previous = c;
        }
    }
    found
}

/// The modules of this crate that `code` names (`crate::x`, `crate::{x, y}`, `cqrs_users::x`).
fn imported_modules(code: &str) -> Vec<String> {
    let mut found = Vec::new();
    for prefix in ["crate::", "cqrs_users::"] {
        for (at, _) in code.match_indices(prefix) {
            if code[..at].ends_with('$') {
                continue;
            }
            let rest = &code[at + prefix.len()..];
            let names = match rest.strip_prefix('{') {
                Some(group) => group[..group.find('}').unwrap_or(group.len())]
                    .split(',')
                    .map(str::trim)
                    .collect(),
                None => vec![rest],
            };
            for name in names {
                let ident: String = name
                    .chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect();
                if !ident.is_empty() {
                    found.push(ident);
                }
            }
        }
    }
    found
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Files outside `allowed` whose code mentions one of `needles`.
fn offenders(dir: &str, allowed: &[&str], needles: &[&str]) -> Vec<String> {
    sources(dir)
        .into_iter()
        .filter(|source| !source.is_under(allowed))
        .flat_map(|source| {
            needles
                .iter()
                .filter(|n| source.code.contains(*n))
                .map(|n| format!("{} mentions {n}", source.path))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn assert_none(found: Vec<String>) {
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn imports_flow_down_the_layers_only() {
    let mut found = Vec::new();
    for source in sources("src") {
        let Some(module) = source.module() else {
            continue;
        };
        let own = layer_of(module).unwrap_or_else(|| panic!("{module} is in no layer of LAYERS"));
        for imported in imported_modules(&source.code) {
            match layer_of(&imported) {
                _ if imported == module => {}
                Some(layer) if layer > own => {}
                Some(_) => found.push(format!("{} ({module}) imports {imported}", source.path)),
                // `crate::` paths to items of lib.rs, of which there are none but modules.
                None => found.push(format!("{} imports crate::{imported}", source.path)),
            }
        }
    }
    assert_none(found);
}

#[test]
fn the_domain_knows_no_framework_and_no_other_module() {
    assert_none(offenders(
        "src/domain",
        &[],
        &["sea_orm", "async_graphql", "axum", "sqlx", "tokio"],
    ));
    let found = sources("src/domain")
        .into_iter()
        .flat_map(|s| {
            let others = imported_modules(&s.code)
                .into_iter()
                .filter(|m| m != "domain");
            others.map(move |m| format!("{} imports {m}", s.path))
        })
        .collect();
    assert_none(found);
}

#[test]
fn the_graphql_adapter_knows_no_database() {
    assert_none(offenders("src/graphql", &[], &["entities", "sea_orm"]));
    assert_none(offenders("src/http", &[], &["entities"]));
}

#[test]
fn only_the_command_side_writes_the_write_model() {
    // `entities::users` is used only by commands, which own the `users` table.
    assert_none(offenders(
        "src",
        &["src/commands/"],
        &[
            "entities::users;",
            "users::Entity",
            "users::Model",
            "users::Column",
        ],
    ));
    assert_none(offenders(
        "src",
        &["src/commands/", "src/events/"],
        &["user_events::ActiveModel", "user_events::Entity::insert"],
    ));
    assert_none(offenders("src", &["src/commands/"], &["events::append"]));
}

#[test]
fn only_projections_write_the_read_model() {
    let mut needles = vec![];
    for table in READ_TABLES {
        for write in [
            "ActiveModel",
            "Entity::insert",
            "Entity::update",
            "Entity::delete",
        ] {
            needles.push(format!("{table}::{write}"));
        }
    }
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    assert_none(offenders("src", &["src/projections/"], &needles));
}

#[test]
fn raw_sql_naming_read_tables_is_only_in_projections() {
    const SQL: &[&str] = &[
        "SELECT ", "FROM ", "JOIN ", "INSERT ", "UPDATE ", "DELETE ", "TABLE ",
    ];
    let found = sources("src")
        .into_iter()
        .filter(|s| !s.is_under(&["src/projections/"]))
        .flat_map(|s| {
            let sql = string_literals(&s.code).into_iter().filter(|literal| {
                SQL.iter().any(|k| literal.contains(k))
                    && READ_TABLES.iter().any(|t| literal.contains(t))
            });
            sql.map(move |literal| format!("{}: {literal}", s.path))
        })
        .collect();
    assert_none(found);
}

#[test]
fn queries_only_read_the_read_model() {
    assert_none(offenders(
        "src/queries",
        &[],
        &[
            "ActiveModel",
            "::insert",
            "update_many",
            "delete_many",
            "delete_by_id",
            "execute",
            "entities::users;",
            "users::Entity",
            "user_events",
            "projection_leases",
            "begin_write",
        ],
    ));
}

#[test]
fn no_notify_outside_the_relay() {
    let found = sources("src")
        .into_iter()
        .filter(|s| s.path != "src/notify.rs")
        .filter(|s| {
            string_literals(&s.code)
                .iter()
                .any(|l| l.to_lowercase().contains("notify"))
        })
        .map(|s| s.path)
        .collect();
    assert_none(found);
}

#[test]
fn only_config_reads_the_environment() {
    assert_none(offenders(
        "src",
        &["src/config/"],
        &["env::var", "std::env", "dotenv"],
    ));
}

#[test]
fn migrations_know_nothing_of_the_service() {
    assert_none(offenders(
        "migration/src",
        &[],
        &["cqrs_users", "entities", "Entity"],
    ));
}

#[test]
fn every_file_says_what_it_owns_and_stays_short() {
    let mut found = Vec::new();
    for dir in ["src", "tests", "benches", "migration/src"] {
        for source in sources(dir) {
            if !source.text.starts_with("//!") {
                found.push(format!("{} does not open with a `//!` line", source.path));
            }
            let lines = source.text.lines().count();
            if lines > MOST_LINES {
                found.push(format!(
                    "{} has {lines} lines (most: {MOST_LINES})",
                    source.path
                ));
            }
        }
    }
    assert_none(found);
}
