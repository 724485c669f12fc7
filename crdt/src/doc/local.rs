//! Local edits and the open transaction. An edit applies to the text or map at once and
//! takes the next seqs of this replica; the ops since the last commit form the open
//! transaction, which [`Doc::commit`] turns into one [`Change`] and one undo step, and
//! [`Doc::commit_at`] into one change and an undo step that a burst of typing shares.
//! Every local op has the whole frontier as its parents.

use super::Doc;
use super::oplog::DelRun;
use crate::change::{Change, Value};
use crate::error::Error;
use crate::id::Lv;
use crate::map::Entry;
use crate::text::NONE;

/// An insert of at most this many chars at once is typing (several keys pressed within
/// one frame, a short input-method commit); a longer one is a paste.
const TYPING_CHARS: u32 = 4;

/// The open local transaction.
#[derive(Clone, Copy, Debug)]
pub(super) struct Txn {
    /// Its first op.
    lv: Lv,
    /// Whether every edit in it is typing: inserts of at most [`TYPING_CHARS`] chars
    /// and deletes of one char, no map write.
    typing: bool,
}

impl Doc {
    /// Allocates `n` local ops and returns the first `Lv`.
    pub(super) fn local_lvs(&mut self, n: u32) -> Result<Lv, Error> {
        let lv = self.log.next_lv();
        if lv as u64 + n as u64 >= NONE as u64 {
            return Err(Error::TooLarge(NONE as u64));
        }
        if self.txn.is_none() {
            self.txn = Some(Txn { lv, typing: true });
        }
        let agent = match self.local_agent {
            Some(a) => a,
            None => {
                let a = self.log.agent(self.replica);
                self.local_agent = Some(a);
                a
            }
        };
        let seq = self.log.version.get(self.replica) + 1;
        // The parents are the whole frontier; a local op supersedes all of it. The copy
        // goes through a reused buffer so typing does not allocate.
        let mut parents = std::mem::take(&mut self.scratch);
        parents.clear();
        parents.extend_from_slice(&self.log.frontier);
        let lv = self.log.push_lvs(agent, seq, n, self.log.max_lamport + 1, &parents);
        self.scratch = parents;
        Ok(lv)
    }

    /// Inserts `text` at char position `pos`.
    pub fn insert(&mut self, pos: usize, text: &str) -> Result<(), Error> {
        let len = self.len_chars();
        if pos > len {
            return Err(Error::OutOfRange { pos, len: 0, text_len: len });
        }
        let n = text.chars().count() as u32;
        if n == 0 {
            return Ok(());
        }
        let lv = self.local_lvs(n)?;
        let content = self.text.push_content(text);
        let (ol, or) = self.text.insert_local(pos as u32, lv, n, content);
        self.log.push_ins(lv, n, ol, or);
        if n > TYPING_CHARS {
            self.not_typing();
        }
        Ok(())
    }

    /// Deletes `len` chars at char position `pos`.
    pub fn delete(&mut self, pos: usize, len: usize) -> Result<(), Error> {
        let text_len = self.len_chars();
        if pos.checked_add(len).is_none_or(|e| e > text_len) {
            return Err(Error::OutOfRange { pos, len, text_len });
        }
        // Deleting shifts what follows to `pos`, so take one visible run at a time.
        let mut left = len as u32;
        while left > 0 {
            let (target, n) = self.text.visible_run_at(pos as u32, left);
            self.delete_items(target, n)?;
            left -= n;
        }
        if len > 1 {
            self.not_typing();
        }
        Ok(())
    }

    /// Marks the open transaction as more than typing: it will be an undo step of its
    /// own.
    fn not_typing(&mut self) {
        if let Some(txn) = &mut self.txn {
            txn.typing = false;
        }
    }

    /// Deletes visible items `target .. target + n` (all visible) as local ops.
    pub(super) fn delete_items(&mut self, target: Lv, n: u32) -> Result<(), Error> {
        let lv = self.local_lvs(n)?;
        self.text.delete(target, n);
        self.log.push_del(DelRun { lv, len: n, target, reversed: false });
        Ok(())
    }

    /// Sets a map key.
    pub fn map_set(&mut self, key: &str, value: Value) -> Result<(), Error> {
        self.map_write(key, Some(value))
    }

    /// Deletes a map key.
    pub fn map_delete(&mut self, key: &str) -> Result<(), Error> {
        self.map_write(key, None)
    }

    /// Writes a map key (`None` deletes it), remembering the value it replaces for undo.
    pub(super) fn map_write(&mut self, key: &str, value: Option<Value>) -> Result<(), Error> {
        let prev = self.map.get(key).cloned();
        let lv = self.local_lvs(1)?;
        self.not_typing();
        self.map_prev.insert(lv, prev);
        let entry = Entry { lv, lamport: self.log.max_lamport, replica: self.replica, value: value.clone() };
        self.map.apply(key, entry, |_| true);
        self.log.push_map(lv, key, value);
        Ok(())
    }

    /// Whether a local transaction has uncommitted ops.
    pub fn has_uncommitted(&self) -> bool {
        self.txn.is_some()
    }

    /// Closes the local transaction and returns its change, or `None` if it is empty.
    /// The transaction becomes an undo step of its own, which later typing does not join
    /// either (for a paste, a replace-all, a restore); the redo stack is cleared.
    pub fn commit(&mut self) -> Option<Change> {
        let (lv, end) = self.close_txn()?;
        self.record_step(lv, end, None);
        Some(self.change_of(lv, end))
    }

    /// Like [`Doc::commit`], but a transaction of typing made at `now_ms` (the caller's
    /// clock in milliseconds, which must not go back; the document reads no clock) joins
    /// the latest undo step when that step is typing too, committed less than
    /// [`Config::undo_group_ms`](super::Config::undo_group_ms) before and with no other
    /// step since: a burst of typing and backspacing is undone at once, also when
    /// remote changes arrived in between. Typing is inserts of at most 4 chars at a time
    /// and deletes of one char; a transaction with a longer insert (a paste), a longer
    /// delete (a selection deleted or cut) or a map write is a step of its own. An undo,
    /// a redo, [`Doc::commit`] and [`Doc::restore_undo_state`] end the burst.
    pub fn commit_at(&mut self, now_ms: u64) -> Option<Change> {
        let typing = self.txn?.typing;
        let (lv, end) = self.close_txn()?;
        self.record_step(lv, end, typing.then_some(now_ms));
        Some(self.change_of(lv, end))
    }

    /// Like [`Doc::commit`], but the transaction is no undo step: bookkeeping the user
    /// did not type (such as the author's name in the map) that undo never reverts.
    pub fn commit_untracked(&mut self) -> Option<Change> {
        let (lv, end) = self.close_txn()?;
        Some(self.change_of(lv, end))
    }

    /// Like [`Doc::commit`], without building the change (the caller can fetch it later
    /// with [`Doc::changes_since`]). Returns whether anything was committed.
    pub fn commit_quiet(&mut self) -> bool {
        let Some((lv, end)) = self.close_txn() else { return false };
        self.record_step(lv, end, None);
        true
    }

    /// Ends the open transaction, if any, and returns its ops `lv .. end`, dated with
    /// the [wall clock](Doc::set_wall_clock).
    pub(super) fn close_txn(&mut self) -> Option<(Lv, Lv)> {
        let txn = self.txn.take()?;
        let seq = self.log.id_of(txn.lv).seq;
        let agent = self.local_agent.expect("a transaction has local ops");
        self.log.agents[agent as usize].date_from(seq, self.wall_clock);
        Some((txn.lv, self.log.next_lv()))
    }

    /// Sets the wall time (seconds since the Unix epoch, as this device's clock says)
    /// that the next commits carry as their [`Change::time`](crate::Change::time). The
    /// document reads no clock; until this is called its changes carry 0 (unknown).
    pub fn set_wall_clock(&mut self, secs: u64) {
        self.wall_clock = secs;
    }
}
