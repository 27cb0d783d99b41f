//! Trusted documents: Apollo's persisted query manifest, read and checked once at startup.
//!
//! `{"format": "apollo-persisted-query-manifest", "version": 1, "operations": [{"id": "…",
//! "name": "…", "type": "query|mutation|subscription", "body": "…"}]}`. An operation runs by its
//! `id` (whatever the client computed it as; Apollo's tools use the body's SHA-256), or sent as
//! text byte for byte equal to a listed body.

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context as _, bail, ensure};
use async_graphql::parser::types::OperationType;
use serde::Deserialize;

const FORMAT: &str = "apollo-persisted-query-manifest";

#[derive(Deserialize)]
struct File {
    format: String,
    version: u64,
    operations: Vec<Operation>,
}

#[derive(Deserialize)]
struct Operation {
    id: String,
    name: Option<String>,
    #[serde(rename = "type")]
    kind: String,
    body: String,
}

/// The operations a manifest lists.
pub(super) struct Manifest {
    by_id: HashMap<String, Arc<str>>,
    /// The SHA-256 of every listed body, for texts sent without an id.
    bodies: HashSet<String>,
}

impl Manifest {
    /// Reads and checks the manifest at `path`: its format, and that each body parses, holds
    /// operations of its `type` only, and is the only body under its id.
    pub(super) fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("read --trusted-documents {}", path.display()))?;
        let file: File = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a persisted query manifest", path.display()))?;
        ensure!(
            file.format == FORMAT && file.version == 1,
            "{}: format {:?} version {}, expected {FORMAT:?} version 1",
            path.display(),
            file.format,
            file.version
        );
        let mut manifest = Manifest {
            by_id: HashMap::new(),
            bodies: HashSet::new(),
        };
        for operation in file.operations {
            let named = operation
                .name
                .as_deref()
                .unwrap_or(&operation.id)
                .to_owned();
            check_kind(&operation)
                .with_context(|| format!("{}: operation {named}", path.display()))?;
            let body: Arc<str> = operation.body.into();
            match manifest.by_id.get(&operation.id) {
                Some(listed) if *listed != body => {
                    bail!("{}: id {} lists two bodies", path.display(), operation.id)
                }
                Some(_) => {}
                None => {
                    manifest.bodies.insert(super::sha256_hex(&body));
                    manifest.by_id.insert(operation.id, body);
                }
            }
        }
        Ok(manifest)
    }

    pub(super) fn len(&self) -> usize {
        self.by_id.len()
    }

    /// The body listed under `id`.
    pub(super) fn body(&self, id: &str) -> Option<&Arc<str>> {
        self.by_id.get(id)
    }

    /// Whether `text` is a listed body, byte for byte (by its SHA-256).
    pub(super) fn lists(&self, text: &str) -> bool {
        self.bodies.contains(&super::sha256_hex(text))
    }
}

/// The body parses and its operations are all of the listed `type`.
fn check_kind(operation: &Operation) -> anyhow::Result<()> {
    let expected = match operation.kind.as_str() {
        "query" => OperationType::Query,
        "mutation" => OperationType::Mutation,
        "subscription" => OperationType::Subscription,
        other => bail!("type {other:?} is not query, mutation or subscription"),
    };
    let document = async_graphql::parser::parse_query(&operation.body)
        .map_err(|err| anyhow::anyhow!("the body does not parse: {err}"))?;
    let mut operations = document.operations.iter().peekable();
    ensure!(operations.peek().is_some(), "the body has no operation");
    for (name, listed) in operations {
        let name = name.map_or("anonymous", |name| name.as_str());
        ensure!(
            listed.node.ty == expected,
            "the body's operation {name} is a {}, not a {expected}",
            listed.node.ty
        );
    }
    Ok(())
}
