//! Gossip: publishing own changes (or a beacon for a change too big for gossip),
//! validating what arrives before gossipsub may forward it (a change is accepted and
//! stored first, a beacon or presence goes to the sync state), and peers' subscriptions.

use super::handle::Event;
use super::swarm::MAX_GOSSIP;
use super::{Engine, now};
use crate::wire::{self, Gossip};
use libp2p::PeerId;
use libp2p::gossipsub::{self, MessageAcceptance, TopicHash};
use tandem_crdt::{Change, OpId, encoding};
use tandem_storage::{DocId, SignedChange};
use tracing::{debug, warn};

impl Engine {
    /// The open document gossiped on `topic`.
    fn doc_of_topic(&self, topic: &TopicHash) -> Option<DocId> {
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
        let d = &self.docs[&id];
        let msg = if signed.change.len() + signed.envelope.len() > MAX_GOSSIP {
            // Too big for gossip: tell peers the new version; they catch up.
            wire::beacon_message(&d.cipher, d.doc.version())
        } else {
            wire::change_message(&d.cipher, change.author.0, change.start_seq, signed, run)
        };
        let topic = d.topic.clone();
        if let Err(e) = self.swarm.behaviour_mut().gossipsub.publish(topic, msg) {
            // No subscribers is normal: the change is stored and catch-up delivers it.
            debug!("change {} of {id} not gossiped: {e}", change.id());
        }
    }

    /// A peer's subscription to a topic became known.
    pub(super) fn on_subscribed(&mut self, peer: PeerId, topic: &TopicHash) {
        if let Some(id) = self.doc_of_topic(topic) {
            let out = self.sync.subscribed(peer, id);
            self.carry_out(out);
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
        let origin = msg.source.unwrap_or(source);
        let opened = wire::open_gossip(&self.docs[&id].cipher, &msg.data);
        match opened {
            Err(e) => {
                warn!("rejected gossip from {source} for {id}: {e}");
                self.report(&msg_id, &source, MessageAcceptance::Reject);
            }
            Ok(Gossip::Presence(p)) => {
                // A peer flooding presence updates is not forwarded (still shown).
                let forward = self.sync.presence_received(id, origin, p, now());
                let verdict = if forward { MessageAcceptance::Accept } else { MessageAcceptance::Ignore };
                self.report(&msg_id, &source, verdict);
                self.events.send(Event::Presence { doc: id, peer: origin }).ok();
            }
            Ok(Gossip::Beacon(beacon)) => {
                self.report(&msg_id, &source, MessageAcceptance::Accept);
                let ours = self.docs[&id].doc.version();
                let out = match beacon {
                    wire::Beacon::Version(clock) => self.sync.beacon(source, origin, id, clock, ours),
                    wire::Beacon::Digest(digest) => {
                        let same = digest == wire::version_digest(ours);
                        self.sync.beacon_digest(source, id, same)
                    }
                };
                self.carry_out(out);
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
                        let out = self.sync.change_received(source, origin, id, last, buffered);
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
