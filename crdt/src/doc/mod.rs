//! [`Doc`]: one replica of a document. It ties the op log to the text and map CRDTs
//! (`text.rs`, `map.rs`) and owns everything else a replica keeps:
//!
//! - `oplog.rs`: the op log ([`OpLog`]): every op held as runs, `Lv` <-> [`OpId`], the
//!   causal graph, version and frontier; reading it back as [`Change`](crate::Change)s
//!   ([`Doc::changes_since`]).
//! - `local.rs`: local edits and the open transaction ([`Doc::insert`],
//!   [`Doc::delete`], [`Doc::map_set`], [`Doc::commit`], [`Doc::commit_at`]).
//! - `apply.rs`: remote changes ([`Doc::apply`]): size limits, checks (every reference
//!   in the change's causal past, insert origins neighbours there), equivocation
//!   detection, trimming of known ops, the causal buffer (bounded in bytes, with
//!   expiry), and integration into the text and map.
//! - `undo.rs`: undo/redo of own steps (a transaction, or a burst of typing grouped by
//!   pauses) as new ops, and [`UndoState`], the history's saved form.
//! - `anchor.rs`: [`Anchor`]s, positions that follow their character.
//! - `history.rs`: the text at an earlier version ([`Doc::text_at`]).
//!
//! **Invariants:** `Lv`s are dense and in causal order (an op's parents have lower
//! `Lv`s); every op in the log was applied to the text or map exactly once; a remote op
//! enters the log only once all its deps are there, and only if every op it names is in
//! its causal past and each insert's origins are neighbours in that past.

mod anchor;
mod apply;
mod history;
mod local;
pub(crate) mod oplog;
pub(crate) mod order;
mod undo;

pub use anchor::{Anchor, Bias};
pub use apply::ApplyOutcome;
pub use history::EditSession;
pub use undo::UndoState;

use crate::change::Value;
use crate::clock::VectorClock;
use crate::id::{Lv, ReplicaId};
use crate::map::Map;
use crate::text::Text;
use apply::Pending;
use local::Txn;
use oplog::OpLog;
use std::collections::{BTreeMap, VecDeque};
use undo::Steps;

/// Limits of one replica.
#[derive(Clone, Debug)]
pub struct Config {
    /// Changes that may wait in the causal buffer for missing deps.
    pub max_pending_changes: usize,
    /// Ops (seqs) that may wait in the causal buffer.
    pub max_pending_ops: u64,
    /// [Estimated bytes](crate::Change::estimated_bytes) of all changes waiting in the causal
    /// buffer.
    pub max_pending_bytes: u64,
    /// Estimated bytes of the changes of one author waiting in the causal buffer.
    pub max_pending_bytes_per_author: u64,
    /// Ops in one remote change (a delete op counts once, however many chars it covers).
    pub max_change_ops: usize,
    /// Estimated bytes of one remote change.
    pub max_change_bytes: u64,
    /// Undo steps kept; older ones are forgotten.
    pub max_undo_steps: usize,
    /// A pause in typing of at least this many milliseconds starts a new undo step:
    /// typing committed with [`Doc::commit_at`] sooner after the previous typing joins
    /// its step. 0 never groups.
    pub undo_group_ms: u64,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_pending_changes: 10_000,
            max_pending_ops: u64::MAX,
            max_pending_bytes: 64 << 20,
            max_pending_bytes_per_author: 16 << 20,
            max_change_ops: 100_000,
            max_change_bytes: 1 << 20,
            max_undo_steps: 10_000,
            undo_group_ms: 1_000,
        }
    }
}

impl Config {
    /// No limit on the causal buffer or on change sizes (for loading trusted history);
    /// the undo limit is the default one.
    pub fn unbounded() -> Config {
        Config {
            max_pending_changes: usize::MAX,
            max_pending_ops: u64::MAX,
            max_pending_bytes: u64::MAX,
            max_pending_bytes_per_author: u64::MAX,
            max_change_ops: usize::MAX,
            max_change_bytes: u64::MAX,
            ..Config::default()
        }
    }
}

/// One replica of a document: text and map CRDTs over a causal op log.
///
/// Local edits (`insert`, `delete`, `map_set`, ...) apply at once and are grouped into a
/// transaction; [`Doc::commit`] (or [`Doc::commit_at`], which groups bursts of typing into
/// one undo step) closes it and returns the [`Change`](crate::Change) to ship. Remote
/// changes go through [`Doc::apply`], which is idempotent and buffers changes whose
/// deps have not arrived.
#[derive(Debug)]
pub struct Doc {
    replica: ReplicaId,
    config: Config,
    pub(crate) log: OpLog,
    pub(crate) text: Text,
    map: Map,
    /// The causal buffer: changes waiting for their deps.
    pending: Vec<Pending>,
    /// Seqs in `pending`.
    pending_ops: u64,
    /// Estimated bytes in `pending`.
    pending_bytes: u64,
    /// Estimated bytes in `pending`, per author.
    pending_bytes_by: BTreeMap<ReplicaId, u64>,
    /// Causal pasts computed recently: a change's parents and the version they cover.
    past_cache: VecDeque<(Vec<Lv>, VectorClock)>,
    txn: Option<Txn>,
    undo: Steps,
    redo: Steps,
    /// The caller's time of the latest typing transaction, while the latest undo step
    /// may take more typing (see [`Doc::commit_at`]).
    typed_at: Option<u64>,
    /// Items deleted and brought back by undo/redo: `start -> (len, new start)`.
    redone: BTreeMap<Lv, (u32, Lv)>,
    /// The agent index of `replica`, once it has written.
    local_agent: Option<u32>,
    /// A reused buffer for a copy of the frontier, or a remote change's parents.
    scratch: Vec<Lv>,
    /// A reused buffer for the runs of held ops a remote delete targets.
    del_pieces: Vec<(Lv, u32)>,
    /// A reused buffer for the origins of a remote change's inserts, as `Lv`s.
    origin_lvs: Vec<(Lv, Lv)>,
    /// For each local map write (by `Lv`): the value it replaced, for undo.
    map_prev: BTreeMap<Lv, Option<Value>>,
    /// The wall time local commits carry ([`Doc::set_wall_clock`]).
    wall_clock: u64,
}

impl Doc {
    /// An empty document edited by `replica`.
    pub fn new(replica: ReplicaId) -> Doc {
        Doc::with_config(replica, Config::default())
    }

    /// An empty document with explicit limits.
    pub fn with_config(replica: ReplicaId, config: Config) -> Doc {
        Doc {
            replica,
            config,
            log: OpLog::default(),
            text: Text::default(),
            map: Map::default(),
            pending: Vec::new(),
            pending_ops: 0,
            pending_bytes: 0,
            pending_bytes_by: BTreeMap::new(),
            past_cache: VecDeque::new(),
            txn: None,
            undo: Steps::default(),
            redo: Steps::default(),
            typed_at: None,
            redone: BTreeMap::new(),
            local_agent: None,
            scratch: Vec::new(),
            del_pieces: Vec::new(),
            origin_lvs: Vec::new(),
            map_prev: BTreeMap::new(),
            wall_clock: 0,
        }
    }

    /// Changes the limits (e.g. unbounded while loading trusted history).
    pub fn set_config(&mut self, config: Config) {
        self.config = config;
    }

    /// The replica that local edits are made as.
    pub fn replica(&self) -> ReplicaId {
        self.replica
    }

    /// The current text.
    pub fn text(&self) -> String {
        self.text.to_string_lossless()
    }

    /// The text length in chars.
    pub fn len_chars(&self) -> usize {
        self.text.len()
    }

    /// Characters `start .. end` (clamped to the text).
    pub fn slice(&self, start: usize, end: usize) -> String {
        let end = end.min(self.len_chars());
        self.text.slice(start.min(end) as u32, end as u32)
    }

    /// The winning value of a map key.
    pub fn map_get(&self, key: &str) -> Option<&Value> {
        self.map.get(key)
    }

    /// The winning value of a map key and the replica that wrote it.
    pub fn map_get_with_writer(&self, key: &str) -> Option<(&Value, ReplicaId)> {
        self.map.get_with_writer(key)
    }

    /// Every concurrent value of a map key, the winner first (more than one means a
    /// conflict the user may want to resolve).
    pub fn map_values(&self, key: &str) -> Vec<&Value> {
        self.map.values(key)
    }

    /// Keys with a (non-deleted) value.
    pub fn map_keys(&self) -> impl Iterator<Item = &str> + '_ {
        self.map
            .keys
            .iter()
            .filter(|(_, es)| es.first().is_some_and(|e| e.value.is_some()))
            .map(|(k, _)| k.as_str())
    }

    /// The version: every op this replica holds.
    pub fn version(&self) -> &VectorClock {
        &self.log.version
    }

    /// Number of ops held.
    pub fn n_ops(&self) -> usize {
        self.log.next_lv() as usize
    }

    /// Bytes of heap held by the text CRDT (its tree, content and index), counted by
    /// capacity; the op log and the map are not included.
    pub fn text_heap_size(&self) -> usize {
        self.text.heap_size()
    }

    /// Checks internal invariants; panics when one is broken. For tests.
    pub fn check(&self) {
        self.text.check();
        assert_eq!(self.text.len(), self.text().chars().count());
        let mut lv = 0;
        for r in &self.log.runs {
            assert_eq!(r.lv, lv);
            lv += r.len;
        }
        let total: u64 = self.log.version.iter().map(|e| e.1).sum();
        assert_eq!(total, self.log.next_lv() as u64, "version covers every op");
    }
}

#[cfg(test)]
mod tests;
