//! Gossip among members only: a connection carries gossip once its peer proved it
//! holds one of this device's documents ([`Gossip::admit`], from `members.rs`).
//!
//! gossipsub tells every peer it connects to which topics it subscribes to, first in
//! one message as the connection opens and then each time it joins a topic. A topic
//! names no document, but it is the same for all its members, so anyone who connected
//! could tell who shares a document with whom. Here each connection's gossipsub handler
//! ([`GateHandler`]) opens no stream of its own, so sends nothing, until its peer is
//! admitted; what gossipsub queued for it meanwhile goes out then. What the peer sends
//! before that is held back from gossipsub (a few messages per connection, the rest
//! dropped) and handed over on admission: two members admit each other at about the
//! same moment, and the first message each sends is its list of topics.
//!
//! A peer that never proves anything hears no topic and no message, and none of what it
//! sends reaches gossipsub. A member of one document still hears the topics of the
//! others this device holds (see docs/threat-model.md).

use libp2p::PeerId;
use libp2p::core::transport::PortUse;
use libp2p::core::{Endpoint, Multiaddr};
use libp2p::gossipsub;
use libp2p::swarm::handler::{ConnectionEvent, ConnectionHandler, ConnectionHandlerEvent, SubstreamProtocol};
use libp2p::swarm::{
    ConnectionDenied, ConnectionId, FromSwarm, NetworkBehaviour, NotifyHandler, THandler, THandlerInEvent,
    THandlerOutEvent, ToSwarm,
};
use std::collections::{HashMap, HashSet, VecDeque};
use std::task::{Context, Poll, Waker};

/// Messages held back per connection of a peer not yet admitted; later ones are
/// dropped. The first is the handler's note of the protocol the peer speaks, the next
/// its list of topics; gossip repairs anything lost after that (heartbeats, catch-up).
const HELD_PER_CONNECTION: usize = 4;

/// gossipsub, with each connection's traffic held until its peer is admitted.
pub(crate) struct Gossip {
    inner: gossipsub::Behaviour,
    /// Peers that proved a document, while connected.
    admitted: HashSet<PeerId>,
    /// Established connections, by peer.
    connections: HashMap<PeerId, Vec<ConnectionId>>,
    /// What the handlers of connections of peers not yet admitted reported.
    held: HashMap<ConnectionId, (PeerId, Vec<THandlerOutEvent<gossipsub::Behaviour>>)>,
    /// Handlers to open, in turn.
    to_open: VecDeque<(PeerId, ConnectionId)>,
    waker: Option<Waker>,
}

impl Gossip {
    pub(crate) fn new(inner: gossipsub::Behaviour) -> Gossip {
        Gossip {
            inner,
            admitted: HashSet::new(),
            connections: HashMap::new(),
            held: HashMap::new(),
            to_open: VecDeque::new(),
            waker: None,
        }
    }

    /// `peer` proved it holds one of this device's documents: its connections carry
    /// gossip from now on, and gossipsub hears what it sent meanwhile.
    pub(crate) fn admit(&mut self, peer: PeerId) {
        if !self.connections.contains_key(&peer) || !self.admitted.insert(peer) {
            return;
        }
        for &c in &self.connections[&peer] {
            self.to_open.push_back((peer, c));
            if let Some((_, events)) = self.held.remove(&c) {
                for ev in events {
                    self.inner.on_connection_handler_event(peer, c, ev);
                }
            }
        }
        if let Some(w) = self.waker.take() {
            w.wake();
        }
    }
}

impl std::ops::Deref for Gossip {
    type Target = gossipsub::Behaviour;

    fn deref(&self) -> &gossipsub::Behaviour {
        &self.inner
    }
}

impl std::ops::DerefMut for Gossip {
    fn deref_mut(&mut self) -> &mut gossipsub::Behaviour {
        &mut self.inner
    }
}

impl NetworkBehaviour for Gossip {
    type ConnectionHandler = GateHandler<THandler<gossipsub::Behaviour>>;
    type ToSwarm = gossipsub::Event;

    fn handle_pending_inbound_connection(
        &mut self,
        id: ConnectionId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<(), ConnectionDenied> {
        self.inner.handle_pending_inbound_connection(id, local, remote)
    }

    fn handle_established_inbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        local: &Multiaddr,
        remote: &Multiaddr,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let inner = self.inner.handle_established_inbound_connection(id, peer, local, remote)?;
        Ok(GateHandler::new(inner, self.admitted.contains(&peer)))
    }

    fn handle_pending_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: Option<PeerId>,
        addrs: &[Multiaddr],
        role: Endpoint,
    ) -> Result<Vec<Multiaddr>, ConnectionDenied> {
        self.inner.handle_pending_outbound_connection(id, peer, addrs, role)
    }

    fn handle_established_outbound_connection(
        &mut self,
        id: ConnectionId,
        peer: PeerId,
        addr: &Multiaddr,
        role: Endpoint,
        port_use: PortUse,
    ) -> Result<THandler<Self>, ConnectionDenied> {
        let inner = self.inner.handle_established_outbound_connection(id, peer, addr, role, port_use)?;
        Ok(GateHandler::new(inner, self.admitted.contains(&peer)))
    }

    fn on_swarm_event(&mut self, event: FromSwarm<'_>) {
        match &event {
            FromSwarm::ConnectionEstablished(e) => {
                self.connections.entry(e.peer_id).or_default().push(e.connection_id);
            }
            FromSwarm::ConnectionClosed(e) => {
                self.held.remove(&e.connection_id);
                if let Some(cs) = self.connections.get_mut(&e.peer_id) {
                    cs.retain(|&c| c != e.connection_id);
                    if cs.is_empty() {
                        // A peer proves itself again on its next connection.
                        self.connections.remove(&e.peer_id);
                        self.admitted.remove(&e.peer_id);
                    }
                }
                self.to_open.retain(|&(_, c)| c != e.connection_id);
            }
            _ => {}
        }
        self.inner.on_swarm_event(event);
    }

    fn on_connection_handler_event(
        &mut self,
        peer: PeerId,
        connection: ConnectionId,
        event: THandlerOutEvent<Self>,
    ) {
        if self.admitted.contains(&peer) {
            self.inner.on_connection_handler_event(peer, connection, event);
            return;
        }
        let (_, events) = self.held.entry(connection).or_insert_with(|| (peer, Vec::new()));
        if events.len() < HELD_PER_CONNECTION {
            events.push(event);
        }
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<ToSwarm<Self::ToSwarm, THandlerInEvent<Self>>> {
        if let Some((peer_id, c)) = self.to_open.pop_front() {
            return Poll::Ready(ToSwarm::NotifyHandler {
                peer_id,
                handler: NotifyHandler::One(c),
                event: GateIn::Open,
            });
        }
        self.waker = Some(cx.waker().clone());
        self.inner.poll(cx).map(|ev| ev.map_in(GateIn::Inner))
    }
}

/// What [`Gossip`] tells a connection's [`GateHandler`].
#[derive(Debug)]
pub(crate) enum GateIn<T> {
    /// For the gossipsub handler.
    Inner(T),
    /// The peer was admitted: open the gate.
    Open,
}

/// A connection handler that opens no stream until it is told to ([`GateIn::Open`]);
/// everything else goes to the handler inside. Streams the peer opens are taken as
/// usual (refusing them would make its gossipsub give up on the connection).
pub(crate) struct GateHandler<H: ConnectionHandler> {
    inner: H,
    open: bool,
    /// Streams the handler asked for while closed.
    asked: VecDeque<ConnectionHandlerEvent<H::OutboundProtocol, H::OutboundOpenInfo, H::ToBehaviour>>,
    /// Wakes the connection to ask for them once open.
    waker: Option<Waker>,
}

impl<H: ConnectionHandler> GateHandler<H> {
    fn new(inner: H, open: bool) -> Self {
        GateHandler { inner, open, asked: VecDeque::new(), waker: None }
    }
}

impl<H: ConnectionHandler> ConnectionHandler for GateHandler<H> {
    type FromBehaviour = GateIn<H::FromBehaviour>;
    type ToBehaviour = H::ToBehaviour;
    type InboundProtocol = H::InboundProtocol;
    type OutboundProtocol = H::OutboundProtocol;
    type InboundOpenInfo = H::InboundOpenInfo;
    type OutboundOpenInfo = H::OutboundOpenInfo;

    fn listen_protocol(&self) -> SubstreamProtocol<Self::InboundProtocol, Self::InboundOpenInfo> {
        self.inner.listen_protocol()
    }

    fn connection_keep_alive(&self) -> bool {
        self.inner.connection_keep_alive()
    }

    fn poll(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<ConnectionHandlerEvent<Self::OutboundProtocol, Self::OutboundOpenInfo, Self::ToBehaviour>> {
        if self.open {
            if let Some(ev) = self.asked.pop_front() {
                return Poll::Ready(ev);
            }
            return self.inner.poll(cx);
        }
        self.waker = Some(cx.waker().clone());
        loop {
            match self.inner.poll(cx) {
                Poll::Ready(ev @ ConnectionHandlerEvent::OutboundSubstreamRequest { .. }) => {
                    self.asked.push_back(ev)
                }
                other => return other,
            }
        }
    }

    fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Option<Self::ToBehaviour>> {
        self.inner.poll_close(cx)
    }

    fn on_behaviour_event(&mut self, event: Self::FromBehaviour) {
        match event {
            GateIn::Inner(e) => self.inner.on_behaviour_event(e),
            GateIn::Open => {
                self.open = true;
                if let Some(w) = self.waker.take() {
                    w.wake();
                }
            }
        }
    }

    fn on_connection_event(
        &mut self,
        event: ConnectionEvent<
            '_,
            Self::InboundProtocol,
            Self::OutboundProtocol,
            Self::InboundOpenInfo,
            Self::OutboundOpenInfo,
        >,
    ) {
        self.inner.on_connection_event(event);
    }
}
