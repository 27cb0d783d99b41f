//! `Documents`: parsed GraphQL documents kept by their text, so a document sent again is neither
//! scanned for its tokens nor parsed again. Parsing was the largest share of a point read's server
//! CPU (18% of the samples in a perf profile), and clients send the same few documents.

use std::sync::Arc;

use async_graphql::ServerResult;
use async_graphql::parser::types::ExecutableDocument;

use crate::graphql::codes;
use crate::graphql::limits::refusal;
use crate::graphql::tokens;

/// Parsed documents by their text, shared by every request of the schema. Bounded by the weight
/// of their text (a parsed document takes a few times its text): a client sending endless new
/// documents only evicts, and a cached document is one that passed the token limit already.
#[derive(Clone)]
pub(super) struct Documents(
    Arc<quick_cache::sync::Cache<Arc<str>, Arc<ExecutableDocument>, TextWeight>>,
);

/// The text weight of all cached documents together.
const CACHED_TEXT_BYTES: u64 = 1 << 20;

#[derive(Clone)]
struct TextWeight;

impl quick_cache::Weighter<Arc<str>, Arc<ExecutableDocument>> for TextWeight {
    fn weight(&self, text: &Arc<str>, _: &Arc<ExecutableDocument>) -> u64 {
        text.len() as u64 + 1
    }
}

impl Documents {
    pub(super) fn new() -> Self {
        let estimated_documents = 1024;
        Self(Arc::new(quick_cache::sync::Cache::with_weighter(
            estimated_documents,
            CACHED_TEXT_BYTES,
            TextWeight,
        )))
    }

    /// The parsed document, if it is within the token limit: from the cache, or parsed now.
    /// `Ok(None)`: it does not parse (async-graphql reports that, with its position).
    pub(super) fn parsed(
        &self,
        text: &str,
        max_tokens: usize,
    ) -> ServerResult<Option<Arc<ExecutableDocument>>> {
        if let Some(document) = self.0.get(text) {
            return Ok(Some(document));
        }
        if tokens::more_than(text, max_tokens) {
            let message = format!(
                "the document has more than the {max_tokens} tokens allowed (--max-tokens)"
            );
            return Err(refusal(codes::TOO_MANY_TOKENS, message, None));
        }
        let Ok(document) = async_graphql::parser::parse_query(text) else {
            return Ok(None);
        };
        let document = Arc::new(document);
        self.0.insert(Arc::from(text), document.clone());
        Ok(Some(document))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: &str = "query GetUser($id: ID!) { user(id: $id) { id name } }";

    #[test]
    fn a_document_sent_again_is_not_parsed_again() {
        let documents = Documents::new();
        let first = documents.parsed(READ, 100).unwrap().expect("parses");
        let again = documents.parsed(READ, 100).unwrap().expect("parses");
        assert!(Arc::ptr_eq(&first, &again), "parsed twice");
        let other = documents.parsed("{ users { totalCount } }", 100).unwrap();
        assert!(!Arc::ptr_eq(&first, &other.expect("parses")));
    }

    #[test]
    fn a_document_over_the_token_limit_is_refused_every_time_and_never_kept() {
        let documents = Documents::new();
        for _ in 0..2 {
            let refused = documents.parsed(READ, 5).unwrap_err();
            let code = refused.extensions.as_ref().and_then(|e| e.get("code"));
            assert_eq!(
                code,
                Some(&async_graphql::Value::from(codes::TOO_MANY_TOKENS))
            );
        }
        assert_eq!(documents.0.len(), 0);
    }

    #[test]
    fn a_document_that_does_not_parse_is_left_to_the_executor_and_not_kept() {
        let documents = Documents::new();
        assert!(documents.parsed("{ user(id: ", 100).unwrap().is_none());
        assert_eq!(documents.0.len(), 0);
    }

    #[test]
    fn the_cache_is_bounded_by_the_text_it_holds() {
        let documents = Documents::new();
        for i in 0..20_000 {
            let text = format!("{{ a{i}: users {{ totalCount }} pad{} }}", "x".repeat(100));
            documents.parsed(&text, 100).unwrap().expect("parses");
        }
        assert!(
            documents.0.weight() <= CACHED_TEXT_BYTES,
            "{}",
            documents.0.weight()
        );
        assert!(documents.0.len() < 20_000);
    }
}
