//! Catch-up responses in bulk: every change of a response is verified and applied
//! first, then all the ones the document now holds are stored in one group commit.
//! Storing them one at a time (as a gossiped change is) cost one fsync per change:
//! 10,000 missed keystrokes took 12 s to catch up, nearly all of it waiting on disk.

use super::{Engine, Event, title_of};
use libp2p::PeerId;
use tandem_crdt::encoding;
use tandem_storage::{Append, DocId, SignedChange, check_seal};
use tracing::{debug, warn};

impl Engine {
    /// Verifies, applies and stores a catch-up response's changes (as
    /// [`Engine::receive`] does one), answering after they are all durable. Returns
    /// whether any change was accepted (so asking for the next chunk makes progress).
    pub(super) async fn receive_batch(
        &mut self,
        peer: PeerId,
        id: DocId,
        changes: Vec<SignedChange>,
    ) -> bool {
        let mut progress = false;
        let mut replies = Vec::new();
        let mut applied = Vec::new();
        for sc in changes {
            let checked = encoding::decode_change(&sc.change).map_err(|e| e.to_string()).and_then(|c| {
                check_seal(&id, &sc.change, c.author, &sc.envelope).map(|()| c).map_err(|e| e.to_string())
            });
            let change = match checked {
                Ok(c) => c,
                Err(reason) => {
                    warn!("rejected change from {peer} for {id} in catch-up: {reason}");
                    continue;
                }
            };
            let Some(d) = self.docs.get_mut(&id) else { return progress };
            let out = match d.doc.apply(change.clone()) {
                Ok(out) => out,
                Err(e @ tandem_crdt::Error::BufferFull { .. }) => {
                    debug!("{e}");
                    progress = true;
                    continue;
                }
                Err(e) => {
                    warn!("rejected change from {peer} for {id} in catch-up: {e}");
                    continue;
                }
            };
            progress = true;
            if out.duplicate {
                continue;
            }
            d.unsaved.push((change, sc));
            // Store every received change the document now holds, in arrival order.
            let version = d.doc.version().clone();
            let (ready, waiting): (Vec<_>, Vec<_>) = std::mem::take(&mut d.unsaved)
                .into_iter()
                .partition(|(c, _)| c.end_seq() - 1 <= version.get(c.author));
            d.unsaved = waiting;
            let summary = Some((title_of(&d.doc), d.doc.len_chars() as u64));
            for (c, sc) in ready {
                replies.push(self.store.append(Append {
                    doc: id,
                    change: c.clone(),
                    signature: sc.envelope,
                    summary: summary.clone(),
                }));
                applied.push((c.author, c.n_seqs()));
            }
        }
        for r in replies {
            if let Err(e) = r.get().await {
                warn!("cannot store changes of {id} from {peer}: {e}");
                return progress;
            }
        }
        for (author, ops) in applied {
            let _ = self.events.send(Event::RemoteChange { doc: id, author, ops });
        }
        progress
    }
}
