//! The architecture's invariants, checked on the source text: who may touch which model.

use std::path::{Path, PathBuf};

fn sources(dir: &str) -> Vec<(PathBuf, String)> {
    fn walk(path: &Path, found: &mut Vec<(PathBuf, String)>) {
        for entry in std::fs::read_dir(path).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                walk(&path, found);
            } else if path.extension().is_some_and(|e| e == "rs") {
                found.push((path.clone(), std::fs::read_to_string(&path).unwrap()));
            }
        }
    }
    let mut found = Vec::new();
    walk(&Path::new(env!("CARGO_MANIFEST_DIR")).join(dir), &mut found);
    found
}

/// Code lines only: `//` comments may name anything.
fn code(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

fn offenders(dir: &str, allowed: &[&str], needles: &[&str]) -> Vec<String> {
    sources(dir)
        .into_iter()
        .filter(|(path, _)| !allowed.iter().any(|a| path.to_string_lossy().contains(a)))
        .flat_map(|(path, text)| {
            let text = code(&text);
            needles
                .iter()
                .filter(|n| text.contains(*n))
                .map(|n| format!("{} mentions {n}", path.display()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[test]
fn the_graphql_adapter_knows_no_database() {
    let found = offenders("src/graphql", &[], &["entities", "sea_orm"]);
    assert!(found.is_empty(), "{found:#?}");
    let found = offenders("src/http", &[], &["entities"]);
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_the_command_side_writes_the_write_model() {
    let found = offenders(
        "src",
        &["src/commands/", "src/events/"],
        &[
            "users::ActiveModel",
            "user_events::ActiveModel",
            "users::Entity::insert",
            "users::Entity::delete",
            "users::Entity::update",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn only_projections_write_the_read_model() {
    let found = offenders(
        "src",
        &["src/projections/"],
        &[
            "users_view::ActiveModel",
            "users_view_stats::ActiveModel",
            "projection_checkpoints::ActiveModel",
            "users_view::Entity::insert",
            "users_view::Entity::update",
            "users_view::Entity::delete",
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}

#[test]
fn queries_only_read_the_read_model() {
    let found = offenders(
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
        ],
    );
    assert!(found.is_empty(), "{found:#?}");
}
