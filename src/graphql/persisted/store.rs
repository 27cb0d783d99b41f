//! The documents clients registered by hash (automatic persisted queries): an LRU bounded in
//! entries and in bytes of text.

use std::sync::{Arc, Mutex, PoisonError};

use hashlink::LruCache;

/// Registered documents by their SHA-256 (lowercase hex), least recently used first out.
pub(super) struct Store {
    inner: Mutex<Inner>,
    max_entries: usize,
    max_bytes: usize,
}

struct Inner {
    entries: LruCache<String, Arc<str>>,
    /// The bytes of every key and text held.
    bytes: usize,
}

impl Store {
    pub(super) fn new(max_entries: usize, max_bytes: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                entries: LruCache::new_unbounded(),
                bytes: 0,
            }),
            max_entries,
            max_bytes,
        }
    }

    /// The text registered under `hash`, now the most recently used.
    pub(super) fn get(&self, hash: &str) -> Option<Arc<str>> {
        self.lock().entries.get(hash).cloned()
    }

    /// Keeps `text` under `hash`, forgetting the least recently used documents until both bounds
    /// hold; a text that alone is over the byte bound is not kept.
    pub(super) fn insert(&self, hash: String, text: Arc<str>) {
        let size = hash.len() + text.len();
        if size > self.max_bytes {
            tracing::debug!(
                bytes = size,
                "a persisted query is over --apq-max-bytes; not kept"
            );
            return;
        }
        let mut inner = self.lock();
        let text_len = text.len();
        match inner.entries.insert(hash, text) {
            // The same key again (the hash is of the text): only its place changed.
            Some(old) => inner.bytes = inner.bytes - old.len() + text_len,
            None => inner.bytes += size,
        }
        while inner.entries.len() > self.max_entries || inner.bytes > self.max_bytes {
            let Some((key, text)) = inner.entries.remove_lru() else {
                break;
            };
            inner.bytes -= key.len() + text.len();
        }
    }

    /// A poisoned lock held only a map that each operation leaves whole: use it.
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
