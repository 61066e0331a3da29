//! Typed helpers over the contract's key-value storage.
//!
//! The host stores raw bytes and cannot iterate, so collections are kept as explicit lists
//! (a length plus numbered items) and keys are composed with length prefixes so that two
//! different key paths can never produce the same bytes.

use crate::msgpack::Value;
use crate::{env, Error};

pub fn get(key: &[u8]) -> Option<Vec<u8>> {
    env::storage_get(key)
}
pub fn set(key: &[u8], value: &[u8]) {
    env::storage_set(key, value)
}
pub fn remove(key: &[u8]) {
    env::storage_remove(key)
}
pub fn has(key: &[u8]) -> bool {
    env::storage_len(key).is_some()
}

/// A stored msgpack value; a corrupt entry is an error, not a panic.
pub fn get_value(key: &[u8]) -> Result<Option<Value>, Error> {
    match env::storage_get(key) {
        None => Ok(None),
        Some(raw) => Value::decode(&raw).map(Some).map_err(|e| Error::new(format!("corrupt stored value: {}", e))),
    }
}
pub fn set_value(key: &[u8], value: &Value) {
    env::storage_set(key, &value.encode())
}

/// A stored counter (8 bytes big-endian); absent means 0.
pub fn get_u64(key: &[u8]) -> u64 {
    let mut b = [0u8; 8];
    match env::storage_read_into(key, &mut b) {
        Some(8) => u64::from_be_bytes(b),
        _ => 0,
    }
}
pub fn set_u64(key: &[u8], value: u64) {
    env::storage_set(key, &value.to_be_bytes())
}

/// Builds an unambiguous storage key: a short tag, then length-prefixed parts.
#[derive(Clone, Debug)]
pub struct Key(Vec<u8>);

impl Key {
    pub fn new(tag: &str) -> Key {
        let mut k = Key(Vec::with_capacity(64));
        k = k.part(tag.as_bytes());
        k
    }
    pub fn part(mut self, bytes: &[u8]) -> Key {
        self.0.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
        self.0.extend_from_slice(bytes);
        self
    }
    pub fn num(mut self, n: u64) -> Key {
        self.0.extend_from_slice(&n.to_be_bytes());
        self
    }
    pub fn bytes(&self) -> &[u8] {
        &self.0
    }
}

/// An append-only list stored under a key: `len` plus one entry per index.
pub struct List {
    base: Key,
}

impl List {
    pub fn new(base: Key) -> List {
        List { base }
    }
    fn len_key(&self) -> Key {
        self.base.clone().part(b"#")
    }
    fn item_key(&self, index: u64) -> Key {
        self.base.clone().num(index)
    }
    pub fn len(&self) -> u64 {
        get_u64(self.len_key().bytes())
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Append `item`; returns its index.
    pub fn push(&self, item: &[u8]) -> u64 {
        let n = self.len();
        set(self.item_key(n).bytes(), item);
        set_u64(self.len_key().bytes(), n + 1);
        n
    }
    pub fn get(&self, index: u64) -> Option<Vec<u8>> {
        get(self.item_key(index).bytes())
    }
    /// Items `offset .. offset+limit` (clipped to the list).
    pub fn page(&self, offset: u64, limit: u64) -> Vec<Vec<u8>> {
        let end = self.len().min(offset.saturating_add(limit));
        (offset..end).filter_map(|i| self.get(i)).collect()
    }
}
