//! Proof of equivocation: an author that signed two different changes for one of its
//! seqs. Both signed versions are kept, so anyone can check the claim later; the
//! author's id is what the window, `status` and the log show.

use super::{CHANGES, Store};
use crate::error::Error;
use crate::ids::DocId;
use crate::record::StoredChange;
use crate::store::SignedChange;
use redb::{ReadableDatabase, TableDefinition};
use std::ops::Range;
use tandem_crdt::{ReplicaId, varint};

/// `(doc, author, first seq in conflict)` -> the version held and the one refused:
/// `varint count | count x (change, envelope)` held, then the refused change and its
/// envelope.
pub(super) const EQUIVOCATIONS: TableDefinition<'_, ([u8; 16], u64, u64), &[u8]> =
    TableDefinition::new("equivocations");

/// One author's two signed versions of the same seqs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Equivocation {
    /// The author.
    pub author: ReplicaId,
    /// The seqs both versions claim.
    pub seqs: Range<u64>,
    /// The stored changes that hold those seqs.
    pub held: Vec<SignedChange>,
    /// The change that claimed them differently (refused).
    pub refused: SignedChange,
}

fn put_signed(out: &mut Vec<u8>, c: &SignedChange) {
    varint::put_bytes(out, &c.change);
    varint::put_bytes(out, &c.envelope);
}

fn take_signed(b: &mut &[u8]) -> Result<SignedChange, varint::VarintError> {
    let change = varint::take_bytes(b)?.to_vec();
    let envelope = varint::take_bytes(b)?.to_vec();
    Ok(SignedChange { change, envelope })
}

impl Store {
    /// Keeps the proof that `author` signed `refused` for `seqs` of `doc` while the
    /// stored changes say otherwise.
    pub fn record_equivocation(
        &mut self,
        id: DocId,
        author: ReplicaId,
        seqs: Range<u64>,
        refused: SignedChange,
    ) -> Result<(), Error> {
        let mut held = Vec::new();
        {
            let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
            let changes = tx.open_table(CHANGES).map_err(|e| self.db_err(e))?;
            // The change holding `seqs.start` may start before it.
            let first = changes
                .range((id.0, author.0, 0)..=(id.0, author.0, seqs.start))
                .map_err(|e| self.db_err(e))?
                .next_back()
                .transpose()
                .map_err(|e| self.db_err(e))?
                .map_or(seqs.start, |(k, _)| k.value().2);
            for item in changes
                .range((id.0, author.0, first)..(id.0, author.0, seqs.end))
                .map_err(|e| self.db_err(e))?
            {
                let (k, v) = item.map_err(|e| self.db_err(e))?;
                let sc = StoredChange::decode(v.value()).map_err(|r| self.corrupt_doc(id, r))?;
                let change = if sc.compacted() {
                    self.regenerate(&tx, id, author.0, k.value().2, sc.end_seq)?
                } else {
                    sc.change
                };
                held.push(SignedChange { change, envelope: sc.signature });
            }
        }
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut value = Vec::new();
            varint::put(&mut value, held.len() as u64);
            for c in &held {
                put_signed(&mut value, c);
            }
            varint::put(&mut value, seqs.end);
            put_signed(&mut value, &refused);
            tx.open_table(EQUIVOCATIONS)
                .map_err(|e| self.db_err(e))?
                .insert((id.0, author.0, seqs.start), value.as_slice())
                .map_err(|e| self.db_err(e))?;
        }
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// Every proof of equivocation kept for `doc`.
    pub fn equivocations(&self, id: DocId) -> Result<Vec<Equivocation>, Error> {
        let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
        let t = match tx.open_table(EQUIVOCATIONS) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(self.db_err(e)),
        };
        let mut res = Vec::new();
        for item in t.range((id.0, 0, 0)..=(id.0, u64::MAX, u64::MAX)).map_err(|e| self.db_err(e))? {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            let (_, author, start) = k.value();
            let decode = |mut b: &[u8]| -> Result<Equivocation, varint::VarintError> {
                let n = varint::take(&mut b)?;
                let mut held = Vec::new();
                for _ in 0..n {
                    held.push(take_signed(&mut b)?);
                }
                let end = varint::take(&mut b)?;
                let refused = take_signed(&mut b)?;
                Ok(Equivocation { author: ReplicaId(author), seqs: start..end, held, refused })
            };
            res.push(decode(v.value()).map_err(|r| self.corrupt_doc(id, r))?);
        }
        Ok(res)
    }

    /// Forgets the proofs kept for `doc` (it is being removed), inside `tx`.
    pub(super) fn remove_equivocations(&self, tx: &redb::WriteTransaction, id: DocId) -> Result<(), Error> {
        let mut t = tx.open_table(EQUIVOCATIONS).map_err(|e| self.db_err(e))?;
        t.retain_in((id.0, 0, 0)..=(id.0, u64::MAX, u64::MAX), |_, _| false).map_err(|e| self.db_err(e))?;
        Ok(())
    }
}
