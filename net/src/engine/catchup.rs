//! Receiving changes: each is verified and applied ([`Engine::accept`]), then the ones
//! the document now holds are stored, forwarded to an attached view and announced
//! ([`Engine::store_received`]). A catch-up response stores all its changes in one
//! group commit: storing them one at a time (as a gossiped change is) cost one fsync
//! per change, and 10,000 missed keystrokes took 12 s to catch up, nearly all of it
//! waiting on disk.

use super::{Engine, Event, title_of};
use libp2p::PeerId;
use tandem_crdt::{Change, encoding};
use tandem_storage::{Append, DocId, SignedChange, check_seal};
use tracing::{debug, warn};

/// Received changes the document holds, in the order to store them.
pub(super) type Ready = Vec<(Change, SignedChange)>;

impl Engine {
    /// Verifies a received change's seal (`change` is `sc.change` decoded) and applies
    /// it. Returns the received changes that are now applied (this one and any that
    /// waited for it, in arrival order, which respects causality) and whether this one
    /// waits for deps. `Err` names why it was refused. A duplicate, or one the causal
    /// buffer has no room for, is `Ok` with nothing ready.
    pub(super) fn accept(
        &mut self,
        id: DocId,
        change: Change,
        sc: SignedChange,
    ) -> Result<(Ready, bool), String> {
        check_seal(&id, &sc.change, change.author, &sc.envelope).map_err(|e| e.to_string())?;
        let d = self.docs.get_mut(&id).ok_or("unknown document")?;
        let out = match d.doc.apply(change.clone()) {
            Ok(out) => out,
            Err(e @ tandem_crdt::Error::BufferFull { .. }) => {
                debug!("{e}");
                return Ok((Vec::new(), false));
            }
            Err(e) => return Err(e.to_string()),
        };
        if out.duplicate {
            return Ok((Vec::new(), false));
        }
        d.unsaved.push((change, sc));
        let version = d.doc.version().clone();
        let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut d.unsaved)
            .into_iter()
            .partition(|(c, _)| c.end_seq() - 1 <= version.get(c.author));
        d.unsaved = waiting;
        Ok((ready, out.buffered))
    }

    /// Stores accepted changes (one group commit), then forwards them to the attached
    /// view and announces them.
    pub(super) async fn store_received(&mut self, id: DocId, ready: Ready) -> Result<(), String> {
        if ready.is_empty() {
            return Ok(());
        }
        let d = self.docs.get(&id).ok_or("unknown document")?;
        let summary = Some((title_of(&d.doc), d.doc.len_chars() as u64));
        let replies: Vec<_> = ready
            .iter()
            .map(|(c, sc)| {
                self.store.append(Append {
                    doc: id,
                    change: c.clone(),
                    signature: sc.envelope.clone(),
                    summary: summary.clone(),
                })
            })
            .collect();
        for r in replies {
            r.get().await.map_err(|e| e.to_string())?;
        }
        if let Some(v) = self.docs.get(&id).and_then(|d| d.view.as_ref()) {
            v.send(ready.iter().map(|(c, _)| c.clone()));
        }
        for (c, _) in ready {
            let _ = self.events.send(Event::RemoteChange { doc: id, author: c.author, ops: c.n_seqs() });
        }
        Ok(())
    }

    /// Accepts a catch-up response's changes and stores them together, answering after
    /// they are durable. Returns whether any change was accepted (so asking for the next
    /// chunk makes progress).
    pub(super) async fn receive_batch(
        &mut self,
        peer: PeerId,
        id: DocId,
        changes: Vec<SignedChange>,
    ) -> bool {
        let mut progress = false;
        let mut all = Vec::new();
        for sc in changes {
            let accepted = encoding::decode_change(&sc.change)
                .map_err(|e| e.to_string())
                .and_then(|change| self.accept(id, change, sc));
            match accepted {
                Ok((ready, _)) => {
                    progress = true;
                    all.extend(ready);
                }
                Err(reason) => warn!("rejected change from {peer} for {id} in catch-up: {reason}"),
            }
        }
        if let Err(e) = self.store_received(id, all).await {
            warn!("cannot store changes of {id} from {peer}: {e}");
        }
        progress
    }
}
