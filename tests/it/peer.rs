//! A bare libp2p peer speaking Tandem's protocols (gossipsub and `/tandem/sync/3`) in
//! the test process, so a test can send what no `tandem node` would: garbage,
//! forgeries, replays, storms. It holds a document's key or not; with the key it
//! proves membership as a node does (a hello on each new connection, welcomes to the
//! nodes' hellos) unless told not to. It records everything it receives.

use futures::StreamExt;
use futures::prelude::*;
use libp2p::request_response::{self, OutboundRequestId, ProtocolSupport};
use libp2p::swarm::{NetworkBehaviour, SwarmEvent};
use libp2p::{Multiaddr, PeerId, gossipsub, noise, tcp, yamux};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tandem_net::crypto::{DocCipher, TagPurpose};
use tandem_net::wire;
use tandem_storage::SignedChange;
use tokio::sync::{mpsc, oneshot};

use super::node::WAIT;

/// Length-prefixed frames, as `/tandem/sync/3` carries them, with generous limits: the
/// peer may send more than a node accepts.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Frames;

const FRAME_MAX: usize = 16 << 20;

async fn read_frame<T: AsyncRead + Unpin + Send>(io: &mut T) -> std::io::Result<Vec<u8>> {
    let mut len = [0u8; 4];
    io.read_exact(&mut len).await?;
    let len = u32::from_le_bytes(len) as usize;
    if len > FRAME_MAX {
        return Err(std::io::Error::other("frame too large"));
    }
    let mut buf = vec![0u8; len];
    io.read_exact(&mut buf).await?;
    Ok(buf)
}

async fn write_frame<T: AsyncWrite + Unpin + Send>(io: &mut T, data: Vec<u8>) -> std::io::Result<()> {
    io.write_all(&(data.len() as u32).to_le_bytes()).await?;
    io.write_all(&data).await?;
    io.close().await
}

impl request_response::Codec for Frames {
    type Protocol = libp2p::StreamProtocol;
    type Request = Vec<u8>;
    type Response = Vec<u8>;

    async fn read_request<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        read_frame(io).await
    }

    async fn read_response<T: AsyncRead + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
    ) -> std::io::Result<Vec<u8>> {
        read_frame(io).await
    }

    async fn write_request<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        req: Vec<u8>,
    ) -> std::io::Result<()> {
        write_frame(io, req).await
    }

    async fn write_response<T: AsyncWrite + Unpin + Send>(
        &mut self,
        _: &Self::Protocol,
        io: &mut T,
        res: Vec<u8>,
    ) -> std::io::Result<()> {
        write_frame(io, res).await
    }
}

#[derive(NetworkBehaviour)]
struct PeerBehaviour {
    gossipsub: gossipsub::Behaviour,
    sync: request_response::Behaviour<Frames>,
}

/// How the peer answers catch-up requests.
#[derive(Clone)]
pub(crate) enum Answer {
    /// "I do not have the document."
    Refuse,
    /// These changes, and whether it claims more follow.
    Changes(Vec<SignedChange>, bool),
}

/// What the peer is.
pub(crate) struct Config {
    /// The document's cipher, for a peer that holds the key.
    pub(crate) cipher: Option<DocCipher>,
    /// Whether a key holder proves membership (sends hellos and welcomes).
    pub(crate) prove: bool,
    /// Topics to subscribe to at once.
    pub(crate) topics: Vec<String>,
}

/// Everything the peer received.
#[derive(Debug, Default)]
pub(crate) struct Received {
    /// Gossip messages' data.
    pub(crate) gossip: Vec<Vec<u8>>,
    /// Topics that connected peers said they subscribe to.
    pub(crate) topics: Vec<String>,
    /// Requests on the sync protocol, with who sent them.
    pub(crate) requests: Vec<(PeerId, Vec<u8>)>,
    /// Answers to the peer's own requests.
    pub(crate) responses: Vec<Vec<u8>>,
    /// Nodes that welcomed the peer's hello with a tag of its document.
    pub(crate) welcomed: Vec<PeerId>,
}

impl Received {
    /// Every byte the peer received, for searching.
    pub(crate) fn all_bytes(&self) -> Vec<u8> {
        let mut all = Vec::new();
        for b in self.gossip.iter().chain(self.responses.iter()).chain(self.requests.iter().map(|(_, r)| r)) {
            all.extend_from_slice(b);
            all.push(0);
        }
        for t in &self.topics {
            all.extend_from_slice(t.as_bytes());
            all.push(0);
        }
        all
    }
}

enum Cmd {
    Dial(Multiaddr),
    Subscribe(String),
    Unsubscribe(String),
    Publish(String, Vec<u8>, oneshot::Sender<Result<(), String>>),
    Request(PeerId, Vec<u8>),
}

/// A running test peer; dropping it stops its swarm.
pub(crate) struct TestPeer {
    _rt: tokio::runtime::Runtime,
    cmds: mpsc::UnboundedSender<Cmd>,
    /// What it received so far.
    pub(crate) received: Arc<Mutex<Received>>,
    /// How it answers catch-up requests.
    pub(crate) answer: Arc<Mutex<Answer>>,
    /// Its peer id.
    pub(crate) id: PeerId,
}

impl TestPeer {
    /// Starts a peer.
    pub(crate) fn start(config: Config) -> TestPeer {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().unwrap();
        let (cmds, mut rx) = mpsc::unbounded_channel::<Cmd>();
        let received = Arc::new(Mutex::new(Received::default()));
        let answer = Arc::new(Mutex::new(Answer::Refuse));
        let mut swarm = rt.block_on(async {
            libp2p::SwarmBuilder::with_new_identity()
                .with_tokio()
                .with_tcp(tcp::Config::default(), noise::Config::new, yamux::Config::default)
                .unwrap()
                .with_behaviour(|_| PeerBehaviour {
                    // As a node does: no author, seqno or signature in clear, and a
                    // message known by a hash of all of it.
                    gossipsub: gossipsub::Behaviour::new(
                        gossipsub::MessageAuthenticity::Anonymous,
                        gossipsub::ConfigBuilder::default()
                            .protocol_id_prefix(tandem_net::GOSSIP_PROTOCOL)
                            .max_transmit_size(1 << 20)
                            .validation_mode(gossipsub::ValidationMode::Anonymous)
                            .message_id_fn(|m: &gossipsub::Message| {
                                gossipsub::MessageId::from(wire::message_id(&m.data))
                            })
                            .build()
                            .unwrap(),
                    )
                    .unwrap(),
                    sync: request_response::Behaviour::new(
                        [(tandem_net::SYNC_PROTOCOL, ProtocolSupport::Full)],
                        request_response::Config::default().with_request_timeout(Duration::from_secs(60)),
                    ),
                })
                .unwrap()
                .with_swarm_config(|c| c.with_idle_connection_timeout(Duration::from_secs(600)))
                .build()
        });
        let id = *swarm.local_peer_id();
        let _context = rt.enter();
        for t in &config.topics {
            swarm.behaviour_mut().gossipsub.subscribe(&gossipsub::IdentTopic::new(t.as_str())).unwrap();
        }
        let (rec, answers) = (received.clone(), answer.clone());
        let me = swarm.local_peer_id().to_bytes();
        let cipher = config.cipher.filter(|_| config.prove);
        rt.spawn(async move {
            let mut hellos: HashMap<OutboundRequestId, (PeerId, [u8; 16])> = HashMap::new();
            loop {
                tokio::select! {
                    ev = swarm.select_next_some() => match ev {
                        SwarmEvent::ConnectionEstablished { peer_id, num_established, .. } if num_established.get() == 1 => {
                            if let Some(c) = &cipher {
                                // Fresh enough for a test: the time, to the nanosecond.
                                let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
                                let nonce = nanos.to_le_bytes();
                                let tag = c.member_tag(TagPurpose::Hello, &me, &peer_id.to_bytes(), &nonce);
                                let rid = swarm.behaviour_mut().sync.send_request(&peer_id, wire::hello_request(&nonce, vec![tag]));
                                hellos.insert(rid, (peer_id, nonce));
                            }
                        }
                        SwarmEvent::Behaviour(PeerBehaviourEvent::Gossipsub(gossipsub::Event::Subscribed { topic, .. })) => {
                            rec.lock().unwrap().topics.push(topic.to_string());
                        }
                        SwarmEvent::Behaviour(PeerBehaviourEvent::Gossipsub(gossipsub::Event::Message { message, .. })) => {
                            rec.lock().unwrap().gossip.push(message.data);
                        }
                        SwarmEvent::Behaviour(PeerBehaviourEvent::Sync(request_response::Event::Message {
                            peer,
                            message: request_response::Message::Request { request, channel, .. },
                            ..
                        })) => {
                            rec.lock().unwrap().requests.push((peer, request.clone()));
                            let them = peer.to_bytes();
                            let resp = match (wire::parse_request(&request), &cipher) {
                                (Ok(wire::Request::Hello { nonce, tags }), Some(c))
                                    if tags.contains(&c.member_tag(TagPurpose::Hello, &them, &me, &nonce)) =>
                                {
                                    wire::welcome_response(&[c.member_tag(TagPurpose::Welcome, &me, &them, &nonce)])
                                }
                                // A hello naming none of its documents: an empty welcome.
                                (Ok(wire::Request::Hello { .. }), _) => wire::welcome_response(&[]),
                                (Ok(wire::Request::Ask { .. }), Some(c)) => match answers.lock().unwrap().clone() {
                                    Answer::Refuse => wire::unknown_doc_response(),
                                    Answer::Changes(changes, more) => wire::sync_response(c, &changes, more, &me, &them),
                                },
                                _ => wire::unknown_doc_response(),
                            };
                            let _ = swarm.behaviour_mut().sync.send_response(channel, resp);
                        }
                        SwarmEvent::Behaviour(PeerBehaviourEvent::Sync(request_response::Event::Message {
                            message: request_response::Message::Response { request_id, response },
                            ..
                        })) => {
                            let mut rec = rec.lock().unwrap();
                            if let (Some((peer, nonce)), Some(c)) = (hellos.remove(&request_id), &cipher) {
                                let welcome = c.member_tag(TagPurpose::Welcome, &peer.to_bytes(), &me, &nonce);
                                if wire::open_welcome(&response).is_ok_and(|tags| tags.contains(&welcome)) {
                                    rec.welcomed.push(peer);
                                }
                            }
                            rec.responses.push(response);
                        }
                        _ => {}
                    },
                    cmd = rx.recv() => match cmd {
                        None => break,
                        Some(Cmd::Dial(a)) => swarm.dial(a).unwrap(),
                        Some(Cmd::Subscribe(t)) => {
                            swarm.behaviour_mut().gossipsub.subscribe(&gossipsub::IdentTopic::new(t)).unwrap();
                        }
                        Some(Cmd::Unsubscribe(t)) => {
                            swarm.behaviour_mut().gossipsub.unsubscribe(&gossipsub::IdentTopic::new(t));
                        }
                        Some(Cmd::Publish(t, data, done)) => {
                            let res = swarm
                                .behaviour_mut()
                                .gossipsub
                                .publish(gossipsub::IdentTopic::new(t), data)
                                .map(|_| ())
                                .map_err(|e| e.to_string());
                            let _ = done.send(res);
                        }
                        Some(Cmd::Request(peer, bytes)) => {
                            swarm.behaviour_mut().sync.send_request(&peer, bytes);
                        }
                    },
                }
            }
        });
        TestPeer { _rt: rt, cmds, received, answer, id }
    }

    /// Dials a node.
    pub(crate) fn dial(&self, addr: Multiaddr) {
        self.cmds.send(Cmd::Dial(addr)).unwrap();
    }

    /// Subscribes to a topic (again, if it did before: gossipsub sends nothing new then).
    pub(crate) fn subscribe(&self, topic: &str) {
        self.cmds.send(Cmd::Subscribe(topic.to_owned())).unwrap();
    }

    /// Unsubscribes from a topic.
    pub(crate) fn unsubscribe(&self, topic: &str) {
        self.cmds.send(Cmd::Unsubscribe(topic.to_owned())).unwrap();
    }

    /// Publishes on a topic; returns gossipsub's verdict.
    pub(crate) fn publish(&self, topic: &str, data: Vec<u8>) -> Result<(), String> {
        let (tx, rx) = oneshot::channel();
        self.cmds.send(Cmd::Publish(topic.to_owned(), data, tx)).unwrap();
        let deadline = Instant::now() + WAIT;
        let mut rx = rx;
        loop {
            match rx.try_recv() {
                Ok(res) => return res,
                Err(oneshot::error::TryRecvError::Empty) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(5))
                }
                Err(e) => panic!("the peer did not publish: {e}"),
            }
        }
    }

    /// Sends a raw request on the sync protocol.
    pub(crate) fn request(&self, peer: PeerId, bytes: Vec<u8>) {
        self.cmds.send(Cmd::Request(peer, bytes)).unwrap();
    }

    /// Waits until `done` holds of what the peer received.
    pub(crate) fn wait(&self, what: &str, done: impl Fn(&Received) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(&self.received.lock().unwrap()) {
            assert!(Instant::now() < deadline, "timed out waiting for {what}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}
