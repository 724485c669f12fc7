//! The map CRDT: per key, a last-writer-wins register that also keeps every concurrent
//! value (a multi-value register), so the UI can show a conflict. Which writes a new
//! write supersedes is decided by the caller from the op log's causal graph.

use crate::change::Value;
use crate::id::{Lv, ReplicaId};
use std::collections::BTreeMap;

/// One write that no later write has superseded.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Entry {
    /// The `Lv` of the write.
    pub lv: Lv,
    /// Its Lamport timestamp; with `replica` it orders writes for LWW.
    pub lamport: u64,
    /// The writer.
    pub replica: ReplicaId,
    /// The written value; `None` is a delete.
    pub value: Option<Value>,
}

impl Entry {
    fn key(&self) -> (u64, ReplicaId) {
        (self.lamport, self.replica)
    }
}

/// The map state: per key, the writes not causally superseded, the LWW winner first.
#[derive(Clone, Debug, Default)]
pub(crate) struct Map {
    pub keys: BTreeMap<String, Vec<Entry>>,
}

impl Map {
    /// Applies a write. `superseded(lv)` tells whether an existing write is in the new
    /// write's causal past.
    pub(crate) fn apply(&mut self, key: &str, entry: Entry, mut superseded: impl FnMut(Lv) -> bool) {
        let entries = self.keys.entry(key.to_owned()).or_default();
        entries.retain(|e| !superseded(e.lv));
        let at = entries.iter().position(|e| e.key() < entry.key()).unwrap_or(entries.len());
        entries.insert(at, entry);
    }

    /// The winning value, `None` when the key is absent or deleted.
    pub(crate) fn get(&self, key: &str) -> Option<&Value> {
        self.keys.get(key)?.first()?.value.as_ref()
    }

    /// The winning value and the replica that wrote it.
    pub(crate) fn get_with_writer(&self, key: &str) -> Option<(&Value, ReplicaId)> {
        let e = self.keys.get(key)?.first()?;
        Some((e.value.as_ref()?, e.replica))
    }

    /// All concurrent values that are not deletes, the winner first.
    pub(crate) fn values(&self, key: &str) -> Vec<&Value> {
        self.keys.get(key).map_or_else(Vec::new, |es| es.iter().filter_map(|e| e.value.as_ref()).collect())
    }
}
