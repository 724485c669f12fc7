//! Gossip: publishing own changes (or, for a change too big for gossip, beacons to the
//! members), and validating what arrives before gossipsub may forward it (a change is
//! accepted and stored first, presence goes to the sync state).

use super::handle::Event;
use super::swarm::MAX_GOSSIP;
use super::{Engine, now};
use crate::sync::PresenceVerdict;
use crate::wire::{self, Gossip};
use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance, TopicHash};
use tandem_crdt::{Change, OpId, encoding};
use tandem_storage::{DocId, SignedChange};
use tracing::{debug, warn};

impl Engine {
    /// The open document gossiped on `topic`.
    pub(super) fn doc_of_topic(&self, topic: &TopicHash) -> Option<DocId> {
        self.docs.iter().find(|(_, d)| d.topic == *topic).map(|(id, _)| *id)
    }

    /// Publishes a change this device made (already stored).
    pub(super) fn publish_change(
        &mut self,
        id: DocId,
        change: &Change,
        signed: &SignedChange,
        run: Option<&wire::RunSeal>,
    ) {
        if self.offline {
            return;
        }
        if signed.change.len() + signed.envelope.len() > MAX_GOSSIP {
            // Too big for gossip: tell the members the new version; they catch up.
            let out = self.sync.beacon_all(id);
            self.carry_out(out);
            return;
        }
        let d = &self.docs[&id];
        let msg = wire::change_message(&d.cipher, change.author.0, change.start_seq, signed, run);
        let topic = d.topic.clone();
        if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, msg) {
            // No subscribers is normal: the change is stored and catch-up delivers it.
            debug!("change {} of {id} not gossiped: {e}", change.id());
        }
    }

    pub(super) async fn on_gossip(
        &mut self,
        source: PeerId,
        msg_id: gossipsub::MessageId,
        msg: gossipsub::Message,
    ) {
        let Some(id) = self.doc_of_topic(&msg.topic) else {
            self.report(&msg_id, &source, MessageAcceptance::Ignore);
            return;
        };
        if self.offline {
            self.report(&msg_id, &source, MessageAcceptance::Ignore);
            return;
        }
        // Only a peer that proved it holds the document may bring its messages; any
        // other is penalised, so that it soon cannot send anything at all.
        if !self.sync.is_member(id, &source) {
            debug!("refused gossip for {id} from {source}, which did not prove it holds the document");
            self.report(&msg_id, &source, MessageAcceptance::Reject);
            return;
        }
        if let Some(d) = self.docs.get_mut(&id) {
            d.gossip_bytes_in += msg.data.len() as u64;
        }
        let opened = wire::open_gossip(&self.docs[&id].cipher, &msg.data);
        match opened {
            Err(e) => {
                warn!("rejected gossip from {source} for {id}: {e}");
                self.report(&msg_id, &source, MessageAcceptance::Reject);
            }
            Ok(Gossip::Presence(p)) => {
                if p.from == *self.swarm.local_peer_id() {
                    // Our own, back through the mesh.
                    self.report(&msg_id, &source, MessageAcceptance::Ignore);
                    return;
                }
                // Its sender signed it inside the seal; the peer that forwarded it may be
                // anyone in the mesh. A replay (an old counter) changes nothing, and a
                // peer flooding presence updates is not forwarded (still shown).
                let verdict = self.sync.presence_received(id, p.from, p.counter, p.presence, now());
                let acceptance = match verdict {
                    PresenceVerdict::Forward => MessageAcceptance::Accept,
                    PresenceVerdict::Shown | PresenceVerdict::Stale | PresenceVerdict::Full => {
                        MessageAcceptance::Ignore
                    }
                };
                self.report(&msg_id, &source, acceptance);
                if matches!(verdict, PresenceVerdict::Forward | PresenceVerdict::Shown) {
                    self.events.send(Event::Presence { doc: id, peer: p.from }).ok();
                }
            }
            Ok(Gossip::Change(sc, run)) => {
                let change = match encoding::decode_change(&sc.change) {
                    Ok(c)
                        if wire::expected_change_id(
                            &self.docs[&id].cipher,
                            &msg.data,
                            c.author.0,
                            c.start_seq,
                        ) =>
                    {
                        c
                    }
                    Ok(_) => {
                        warn!("rejected gossip from {source} for {id}: message id does not match the change");
                        self.report(&msg_id, &source, MessageAcceptance::Reject);
                        return;
                    }
                    Err(e) => {
                        warn!("rejected change from {source} for {id}: {e}");
                        self.report(&msg_id, &source, MessageAcceptance::Reject);
                        return;
                    }
                };
                let last = OpId::new(change.author, change.end_seq() - 1);
                let bytes = sc.change.len() + sc.envelope.len();
                if !self.sync.allow_change(id, change.author.0, bytes, super::now()) {
                    debug!(
                        "held back gossip from {source} for {id}: author {} is over its rate",
                        change.author
                    );
                    self.report(&msg_id, &source, MessageAcceptance::Ignore);
                    return;
                }
                match self.receive(id, change, sc, run).await {
                    Ok(buffered) => {
                        self.report(&msg_id, &source, MessageAcceptance::Accept);
                        let out = self.sync.change_received(source, source, id, last, buffered);
                        self.carry_out(out);
                    }
                    Err(e) => {
                        warn!("rejected change from {source} for {id}: {e}");
                        self.report(&msg_id, &source, MessageAcceptance::Reject);
                    }
                }
            }
        }
    }

    fn report(&mut self, id: &gossipsub::MessageId, source: &PeerId, a: MessageAcceptance) {
        self.swarm.behaviour_mut().gossipsub.report_message_validation_result(id, source, a);
    }
}
