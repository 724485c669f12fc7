//! What travels between peers. Every payload is sealed with the document key
//! ([`crate::crypto::DocCipher`]); only routing fields are in clear. Numbers and
//! lengths are LEB128 varints ([`tandem_crdt::varint`]).
//!
//! Gossip message: `kind (1) | message id (16) | sealed payload`.
//! - kind 1, change: payload = varint length + encoded change, then the seal envelope;
//!   the id is a keyed hash of the change's author and first seq, which outsiders
//!   cannot link to the author (gossipsub itself knows a message by a hash of all of
//!   it, [`message_id`]).
//! - kind 3, presence: payload = the sender's public key, a counter that only grows,
//!   the presence, and the sender's signature over the document id, counter and
//!   presence ([`SignedPresence`]). gossipsub carries no author, sequence number or
//!   signature of its own (anonymous mode): nothing in clear names who wrote a message.
//!
//! Requests on `/tandem/sync/3` name no document in clear:
//! - hello: `1 | nonce (16) | count | count x tag (16)`, one membership tag per document
//!   the sender holds ([`crate::crypto::TagPurpose::Hello`], bound to both peers and the
//!   nonce), padded with random tags to a power of two. The answer is
//!   `2 | count | count x tag`: a welcome tag over the same nonce for each document both
//!   hold. A peer without a document's key can neither make nor recognise its tags.
//! - catch-up: `2 | tag (16) | sealed (first author (8) | 0, or 1 and the first author
//!   after the range (8) | vector clock of the authors in range)`; the tag
//!   ([`crate::crypto::TagPurpose::Ask`]) names the document to the receiver alone, and
//!   the sealed part is bound to both peers, so no third peer can replay it. The answer
//!   is `0` (not here, or refused) or `1 | sealed (more (1) | count | count x (change,
//!   envelope))`, bound to both peers as well.
//! - beacon (anti-entropy, sent to a few members at a time, never forwarded):
//!   `3 | tag (16) | sealed (0 | the sender's vector clock, or, for a version too big to
//!   carry, 1 | a 32-byte digest of it)`, tagged and bound like a catch-up request;
//!   answered `0`.

use crate::crypto::{DocCipher, MEMBER_TAG, OpenError, TagPurpose};
use tandem_crdt::varint::{self, VarintError};
use tandem_crdt::{Anchor, Bias, OpId, ReplicaId, VectorClock, encoding};
use tandem_storage::SignedChange;

/// Gossip kinds.
const KIND_CHANGE: u8 = 1;
/// Ephemeral presence: name, colour, cursor and selection.
const KIND_PRESENCE: u8 = 3;
/// Longest display name carried, in bytes.
const MAX_NAME: usize = 64;

/// Where a peer is in a document: never stored, expires when the peer goes quiet.
#[derive(Debug, Clone, PartialEq)]
pub struct Presence {
    /// Display name.
    pub name: String,
    /// Colour as 0xRRGGBB.
    pub colour: u32,
    /// The cursor.
    pub cursor: Anchor,
    /// The other end of the selection, if any.
    pub selection: Option<Anchor>,
}

fn put_anchor(out: &mut Vec<u8>, a: &Anchor) {
    let bias = matches!(a.bias, Bias::After) as u8;
    match a.id {
        None => out.push(bias),
        Some(id) => {
            out.push(2 | bias);
            out.extend_from_slice(&id.replica.0.to_le_bytes());
            varint::put(out, id.seq);
        }
    }
}

fn take_anchor(b: &mut &[u8]) -> Result<Anchor, WireError> {
    let (&tag, rest) = b.split_first().ok_or(WireError::Malformed("truncated anchor"))?;
    *b = rest;
    let bias = if tag & 1 == 1 { Bias::After } else { Bias::Before };
    let id = match tag >> 1 {
        0 => None,
        1 => {
            if b.len() < 8 {
                return Err(WireError::Malformed("truncated anchor"));
            }
            let (r, rest) = b.split_at(8);
            *b = rest;
            let replica = ReplicaId(u64::from_le_bytes(r.try_into().expect("8 bytes")));
            Some(OpId::new(replica, varint::take(b)?))
        }
        _ => return Err(WireError::Malformed("bad anchor")),
    };
    Ok(Anchor { id, bias })
}

/// Longest public key a presence may carry (an ed25519 key is 36 bytes encoded).
const MAX_PRESENCE_KEY: usize = 64;

/// A presence as it travels: who sent it, proven by a signature inside the seal
/// (gossip forwards messages, so the libp2p peer that hands one over is not its
/// sender), and a counter that only grows, so a replayed one is told from a new one.
#[derive(Debug, Clone, PartialEq)]
pub struct SignedPresence {
    /// The peer whose key signed it.
    pub from: libp2p::PeerId,
    /// The sender's counter: higher than in any presence it sent before.
    pub counter: u64,
    /// Where the sender is.
    pub presence: Presence,
}

/// The bytes a presence's signature covers.
fn presence_signed_bytes(cipher: &DocCipher, counter: u64, body: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(body.len() + 48);
    m.extend_from_slice(b"tandem presence v1");
    m.extend_from_slice(&cipher.doc().0);
    m.extend_from_slice(&counter.to_le_bytes());
    m.extend_from_slice(body);
    m
}

/// Builds a presence message, signed by `key` with `counter` (which must be higher
/// than in any presence this key sent before: receivers drop the others as replays).
pub fn presence_message(
    cipher: &DocCipher,
    key: &libp2p::identity::Keypair,
    counter: u64,
    p: &Presence,
) -> Vec<u8> {
    let mut body = Vec::new();
    let mut name = p.name.as_str();
    while name.len() > MAX_NAME {
        let mut cut = MAX_NAME;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name = &name[..cut];
    }
    varint::put_bytes(&mut body, name.as_bytes());
    varint::put(&mut body, u64::from(p.colour & 0xff_ffff));
    put_anchor(&mut body, &p.cursor);
    match &p.selection {
        None => body.push(0),
        Some(a) => {
            body.push(1);
            put_anchor(&mut body, a);
        }
    }
    // Only keys that cannot sign fail here, and the device key is ed25519.
    let signature = key.sign(&presence_signed_bytes(cipher, counter, &body)).unwrap_or_default();
    let mut plain = Vec::with_capacity(body.len() + 120);
    varint::put_bytes(&mut plain, &key.public().encode_protobuf());
    varint::put(&mut plain, counter);
    varint::put_bytes(&mut plain, &body);
    varint::put_bytes(&mut plain, &signature);
    let mut out = vec![KIND_PRESENCE];
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("the system random number generator works");
    out.extend_from_slice(&id);
    out.extend_from_slice(&cipher.seal(&[KIND_PRESENCE], &plain));
    out
}

fn take_signed_presence(cipher: &DocCipher, mut b: &[u8]) -> Result<SignedPresence, WireError> {
    let key = varint::take_bytes(&mut b)?;
    if key.len() > MAX_PRESENCE_KEY {
        return Err(WireError::Malformed("presence key too long"));
    }
    let key = libp2p::identity::PublicKey::try_decode_protobuf(key)
        .map_err(|_| WireError::Malformed("bad presence key"))?;
    let counter = varint::take(&mut b)?;
    let body = varint::take_bytes(&mut b)?;
    let signature = varint::take_bytes(&mut b)?;
    if !b.is_empty() {
        return Err(WireError::Malformed("trailing bytes"));
    }
    if !key.verify(&presence_signed_bytes(cipher, counter, body), signature) {
        return Err(WireError::Malformed("presence signature does not verify"));
    }
    Ok(SignedPresence { from: key.to_peer_id(), counter, presence: take_presence(body)? })
}

fn take_presence(mut b: &[u8]) -> Result<Presence, WireError> {
    let name = varint::take_bytes(&mut b)?;
    if name.len() > MAX_NAME {
        return Err(WireError::Malformed("name too long"));
    }
    let name = std::str::from_utf8(name).map_err(|_| WireError::Malformed("name is not UTF-8"))?.to_owned();
    let colour =
        u32::try_from(varint::take(&mut b)?).map_err(|_| WireError::Malformed("bad colour"))? & 0xff_ffff;
    let cursor = take_anchor(&mut b)?;
    let (&has_sel, rest) = b.split_first().ok_or(WireError::Malformed("truncated presence"))?;
    b = rest;
    let selection = match has_sel {
        0 => None,
        1 => Some(take_anchor(&mut b)?),
        _ => return Err(WireError::Malformed("bad selection flag")),
    };
    if !b.is_empty() {
        return Err(WireError::Malformed("trailing bytes"));
    }
    Ok(Presence { name, colour, cursor, selection })
}
const HEADER: usize = 17;

/// Why an incoming message was refused.
#[derive(Debug, PartialEq, thiserror::Error)]
pub enum WireError {
    /// Not the expected shape.
    #[error("malformed message: {0}")]
    Malformed(&'static str),
    /// Does not decrypt with the document key.
    #[error(transparent)]
    Undecryptable(#[from] OpenError),
    /// The inner bytes (a vector clock) do not decode.
    #[error("bad payload: {0}")]
    Payload(#[from] tandem_crdt::Error),
}

impl From<VarintError> for WireError {
    fn from(e: VarintError) -> WireError {
        WireError::Malformed(e.reason())
    }
}

/// The author's seal over the run of its changes that a gossiped change ends: the
/// change regenerated from the author's seqs `start_seq ..` up to the gossiped change's
/// end (one change, [`tandem_crdt::Doc::change_by`]), signed. A receiver that holds the
/// run stores it as one change under this seal instead of one change and seal per
/// keystroke.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunSeal {
    /// The run's first seq.
    pub start_seq: u64,
    /// The author's signature envelope over the run's encoding.
    pub envelope: Vec<u8>,
}

/// A decoded gossip message.
#[derive(Debug, Clone, PartialEq)]
pub enum Gossip {
    /// A change with its author's seal, and the seal of the run it ends, if any.
    Change(SignedChange, Option<RunSeal>),
    /// Where the sender is, signed by it.
    Presence(SignedPresence),
}

fn put_signed(out: &mut Vec<u8>, c: &SignedChange) {
    varint::put_bytes(out, &c.change);
    varint::put_bytes(out, &c.envelope);
}

fn take_signed(b: &mut &[u8]) -> Result<SignedChange, WireError> {
    let change = varint::take_bytes(b)?.to_vec();
    let envelope = varint::take_bytes(b)?.to_vec();
    Ok(SignedChange { change, envelope })
}

/// Builds a gossip message carrying a change and, optionally, the seal of the run of
/// the author's changes it ends.
pub fn change_message(
    cipher: &DocCipher,
    author: u64,
    seq: u64,
    c: &SignedChange,
    run: Option<&RunSeal>,
) -> Vec<u8> {
    let mut plain = Vec::with_capacity(c.change.len() + c.envelope.len() + 8);
    put_signed(&mut plain, c);
    if let Some(run) = run {
        varint::put(&mut plain, run.start_seq);
        varint::put_bytes(&mut plain, &run.envelope);
    }
    let mut out = vec![KIND_CHANGE];
    out.extend_from_slice(&cipher.change_message_id(author, seq));
    out.extend_from_slice(&cipher.seal(&[KIND_CHANGE], &plain));
    out
}

/// Versions with more entries than this are beaconed as a digest.
pub(crate) const BEACON_ENTRIES: usize = 2_000;

/// What a beacon tells about the sender's version.
#[derive(Debug, Clone, PartialEq)]
pub enum Beacon {
    /// The version itself.
    Version(VectorClock),
    /// A digest of a version too big to carry ([`version_digest`]).
    Digest([u8; 32]),
}

/// A digest of a version, to tell whether two big versions are equal.
pub fn version_digest(clock: &VectorClock) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(b"tandem version digest v1");
    h.update(encoding::encode_clock(clock));
    h.finalize().into()
}

/// Builds a beacon from peer `from` to peer `to`: the sender's version, or its digest
/// when it has more than [`BEACON_ENTRIES`] entries.
pub fn beacon_request(cipher: &DocCipher, clock: &VectorClock, from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    if clock.len() <= BEACON_ENTRIES {
        plain.push(0);
        plain.extend_from_slice(&encoding::encode_clock(clock));
    } else {
        plain.push(1);
        plain.extend_from_slice(&version_digest(clock));
    }
    let mut out = vec![REQ_BEACON];
    out.extend_from_slice(&cipher.member_tag(TagPurpose::Ask, from, to, &[]));
    out.extend_from_slice(&cipher.seal(&between(b"beacon", from, to), &plain));
    out
}

/// Opens the sealed part of a beacon that peer `from` sent to peer `to`.
pub fn open_beacon(cipher: &DocCipher, sealed: &[u8], from: &[u8], to: &[u8]) -> Result<Beacon, WireError> {
    take_beacon(&cipher.open(&between(b"beacon", from, to), sealed)?)
}

fn take_beacon(plain: &[u8]) -> Result<Beacon, WireError> {
    match plain.split_first() {
        Some((0, clock)) => Ok(Beacon::Version(encoding::decode_clock(clock)?)),
        Some((1, digest)) => Ok(Beacon::Digest(
            digest.try_into().map_err(|_| WireError::Malformed("beacon digest is not 32 bytes"))?,
        )),
        _ => Err(WireError::Malformed("unknown beacon")),
    }
}

/// The id gossipsub knows a message by: a hash of all of it. Not the clear id field:
/// any key holder can make that for any change, and a refused message with the id of
/// a valid one would make every honest copy a duplicate of something refused (dropped,
/// and counted against the peers that forward it).
pub fn message_id(data: &[u8]) -> Vec<u8> {
    use sha2::{Digest, Sha256};
    Sha256::digest(data)[..20].to_vec()
}

/// Opens and decodes a gossip message.
pub fn open_gossip(cipher: &DocCipher, data: &[u8]) -> Result<Gossip, WireError> {
    if data.len() < HEADER {
        return Err(WireError::Malformed("too short"));
    }
    let kind = data[0];
    let plain = cipher.open(&[kind], &data[HEADER..])?;
    match kind {
        KIND_CHANGE => {
            let mut b = plain.as_slice();
            let c = take_signed(&mut b)?;
            let run = if b.is_empty() {
                None
            } else {
                let start_seq = varint::take(&mut b)?;
                let envelope = varint::take_bytes(&mut b)?.to_vec();
                Some(RunSeal { start_seq, envelope })
            };
            if !b.is_empty() {
                return Err(WireError::Malformed("trailing bytes"));
            }
            Ok(Gossip::Change(c, run))
        }
        KIND_PRESENCE => Ok(Gossip::Presence(take_signed_presence(cipher, &plain)?)),
        _ => Err(WireError::Malformed("unknown kind")),
    }
}

/// The message id a change message must carry.
pub(crate) fn expected_change_id(cipher: &DocCipher, data: &[u8], author: u64, seq: u64) -> bool {
    data.get(1..HEADER) == Some(cipher.change_message_id(author, seq).as_slice())
}

/// What a catch-up request asks for: the changes by authors `from .. until` that
/// `clock` (the asker's version of those authors) does not cover.
#[derive(Debug, Clone, PartialEq)]
pub struct Ask {
    /// The asker's version, of the authors in range.
    pub clock: VectorClock,
    /// The first author in range.
    pub from: u64,
    /// The first author after the range; `None` for no end.
    pub until: Option<u64>,
}

impl Ask {
    /// Whether the request carries the asker's whole version.
    pub fn whole(&self) -> bool {
        self.from == 0 && self.until.is_none()
    }
}

/// A membership tag.
pub type Tag = [u8; MEMBER_TAG];

/// Request kinds.
const REQ_HELLO: u8 = 1;
const REQ_ASK: u8 = 2;
const REQ_BEACON: u8 = 3;
const REQ_REKEY: u8 = 4;
/// Answer kinds.
const RESP_NONE: u8 = 0;
const RESP_CHANGES: u8 = 1;
const RESP_WELCOME: u8 = 2;
/// The most tags a hello or its answer may carry (a device's documents, padded).
pub const MAX_TAGS: usize = 4096;
/// The fewest tags a hello carries, so that holding one document or none looks the same.
const MIN_TAGS: usize = 4;

/// A request on the sync protocol, parsed but not yet opened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Request<'a> {
    /// A peer tells which documents it holds, in tags only a holder can recognise.
    Hello {
        /// The sender's fresh nonce, which the welcome tags must cover.
        nonce: [u8; 16],
        /// Its hello tags, padded.
        tags: Vec<Tag>,
    },
    /// A catch-up request for the document `tag` names.
    Ask {
        /// The ask tag between the two peers.
        tag: Tag,
        /// The sealed request.
        sealed: &'a [u8],
    },
    /// A beacon: the sender's version of the document `tag` names.
    Beacon {
        /// The ask tag between the two peers.
        tag: Tag,
        /// The sealed version.
        sealed: &'a [u8],
    },
    /// The key changes of the document `tag` names, from the epoch the receiver is in.
    Rekey {
        /// The rekey tag between the two peers, in the receiver's epoch.
        tag: Tag,
        /// The sealed records.
        sealed: &'a [u8],
    },
}

fn put_tags(out: &mut Vec<u8>, tags: &[Tag]) {
    varint::put(out, tags.len() as u64);
    for t in tags {
        out.extend_from_slice(t);
    }
}

fn take_tags(mut b: &[u8]) -> Result<Vec<Tag>, WireError> {
    let n = varint::take(&mut b)?;
    if n > MAX_TAGS as u64 || b.len() as u64 != n * MEMBER_TAG as u64 {
        return Err(WireError::Malformed("bad tag list"));
    }
    Ok(b.chunks_exact(MEMBER_TAG).map(|c| c.try_into().expect("chunk of a tag")).collect())
}

/// `tags` padded with random ones to a power of two (at least [`MIN_TAGS`]) and sorted,
/// so that their number and order say little about the documents behind them.
fn padded_tags(mut tags: Vec<Tag>) -> Vec<Tag> {
    let n = tags.len().next_power_of_two().max(MIN_TAGS);
    while tags.len() < n {
        let mut t = [0u8; MEMBER_TAG];
        getrandom::fill(&mut t).expect("the system random number generator works");
        tags.push(t);
    }
    tags.sort_unstable();
    tags
}

/// Builds a hello carrying `tags` (at most [`MAX_TAGS`] of them are sent).
pub fn hello_request(nonce: &[u8; 16], mut tags: Vec<Tag>) -> Vec<u8> {
    tags.truncate(MAX_TAGS);
    let tags = padded_tags(tags);
    let mut out = vec![REQ_HELLO];
    out.extend_from_slice(nonce);
    put_tags(&mut out, &tags);
    out
}

/// The answer to a hello: the welcome tags of the documents both peers hold.
pub fn welcome_response(tags: &[Tag]) -> Vec<u8> {
    let mut out = vec![RESP_WELCOME];
    put_tags(&mut out, &tags[..tags.len().min(MAX_TAGS)]);
    out
}

/// Parses a request on the sync protocol.
pub fn parse_request(req: &[u8]) -> Result<Request<'_>, WireError> {
    match req.split_first() {
        Some((&REQ_HELLO, rest)) => {
            let (nonce, tags) = rest.split_at_checked(16).ok_or(WireError::Malformed("truncated hello"))?;
            Ok(Request::Hello { nonce: nonce.try_into().expect("16 bytes"), tags: take_tags(tags)? })
        }
        Some((&kind @ (REQ_ASK | REQ_BEACON), rest)) => {
            let (tag, sealed) =
                rest.split_at_checked(MEMBER_TAG).ok_or(WireError::Malformed("truncated request"))?;
            let tag = tag.try_into().expect("a tag");
            Ok(if kind == REQ_ASK { Request::Ask { tag, sealed } } else { Request::Beacon { tag, sealed } })
        }
        Some((&REQ_REKEY, rest)) => {
            let (tag, sealed) =
                rest.split_at_checked(MEMBER_TAG).ok_or(WireError::Malformed("truncated request"))?;
            Ok(Request::Rekey { tag: tag.try_into().expect("a tag"), sealed })
        }
        _ => Err(WireError::Malformed("unknown request")),
    }
}

/// Builds the key changes `records` (oldest first, the first leaving the epoch of
/// `cipher`) from peer `from` to peer `to`, sealed in the epoch `cipher` is for.
pub fn rekey_request(cipher: &DocCipher, records: &[Vec<u8>], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    varint::put(&mut plain, records.len() as u64);
    for r in records {
        varint::put_bytes(&mut plain, r);
    }
    let mut out = vec![REQ_REKEY];
    out.extend_from_slice(&cipher.member_tag(TagPurpose::Rekey, from, to, &[]));
    out.extend_from_slice(&cipher.seal(&between(b"rekey", from, to), &plain));
    out
}

/// Opens the key changes that peer `from` sent to peer `to`.
pub fn open_rekey(
    cipher: &DocCipher,
    sealed: &[u8],
    from: &[u8],
    to: &[u8],
) -> Result<Vec<Vec<u8>>, WireError> {
    let plain = cipher.open(&between(b"rekey", from, to), sealed)?;
    let mut b = plain.as_slice();
    let n = varint::take(&mut b)?;
    if n > crate::rekey::MAX_PAST_EPOCHS as u64 {
        return Err(WireError::Malformed("too many key changes"));
    }
    let mut records = Vec::with_capacity(n as usize);
    for _ in 0..n {
        records.push(varint::take_bytes(&mut b)?.to_vec());
    }
    if !b.is_empty() {
        return Err(WireError::Malformed("trailing bytes after key changes"));
    }
    Ok(records)
}

/// The welcome tags of an answer to a hello; `None` for another kind of answer.
pub fn open_welcome(resp: &[u8]) -> Result<Vec<Tag>, WireError> {
    match resp.split_first() {
        Some((&RESP_WELCOME, rest)) => take_tags(rest),
        Some((&RESP_NONE, [])) => Ok(Vec::new()),
        _ => Err(WireError::Malformed("not an answer to a hello")),
    }
}

/// The authenticated context of a message from peer `from` to peer `to`.
fn between(what: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut ctx = what.to_vec();
    for p in [from, to] {
        varint::put_bytes(&mut ctx, p);
    }
    ctx
}

/// Builds a catch-up request from peer `from` to peer `to` (their ids' bytes).
pub fn sync_request(cipher: &DocCipher, ask: &Ask, from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut plain = ask.from.to_le_bytes().to_vec();
    match ask.until {
        None => plain.push(0),
        Some(u) => {
            plain.push(1);
            plain.extend_from_slice(&u.to_le_bytes());
        }
    }
    plain.extend_from_slice(&encoding::encode_clock(&ask.clock));
    let mut out = vec![REQ_ASK];
    out.extend_from_slice(&cipher.member_tag(TagPurpose::Ask, from, to, &[]));
    out.extend_from_slice(&cipher.seal(&between(b"sync request", from, to), &plain));
    out
}

/// Opens the sealed part of a catch-up request that peer `from` sent to peer `to`.
pub fn open_request(cipher: &DocCipher, sealed: &[u8], from: &[u8], to: &[u8]) -> Result<Ask, WireError> {
    let plain = cipher.open(&between(b"sync request", from, to), sealed)?;
    let truncated = || WireError::Malformed("truncated request");
    let (first, b) = plain.split_at_checked(8).ok_or_else(truncated)?;
    let first = u64::from_le_bytes(first.try_into().expect("8 bytes"));
    let (until, b) = match b.split_first() {
        Some((0, rest)) => (None, rest),
        Some((1, rest)) => {
            let (u, rest) = rest.split_at_checked(8).ok_or_else(truncated)?;
            (Some(u64::from_le_bytes(u.try_into().expect("8 bytes"))), rest)
        }
        _ => return Err(truncated()),
    };
    if until.is_some_and(|u| u <= first) {
        return Err(WireError::Malformed("empty author range"));
    }
    let clock = encoding::decode_clock(b)?;
    if clock.iter().any(|(r, _)| r.0 < first || until.is_some_and(|u| r.0 >= u)) {
        return Err(WireError::Malformed("version entry outside the author range"));
    }
    Ok(Ask { clock, from: first, until })
}

/// The answer to a request this peer does not serve (an unknown document, or offline).
pub fn unknown_doc_response() -> Vec<u8> {
    vec![RESP_NONE]
}

/// Builds a catch-up answer from peer `from` to peer `to`: `changes` and whether more
/// follow.
pub fn sync_response(
    cipher: &DocCipher,
    changes: &[SignedChange],
    more: bool,
    from: &[u8],
    to: &[u8],
) -> Vec<u8> {
    let mut plain = vec![more as u8];
    varint::put(&mut plain, changes.len() as u64);
    for c in changes {
        put_signed(&mut plain, c);
    }
    let mut out = vec![RESP_CHANGES];
    out.extend_from_slice(&cipher.seal(&between(b"sync response", from, to), &plain));
    out
}

/// Opens a catch-up answer that peer `from` sent to peer `to`: `None` when it does not
/// serve the request.
pub fn open_response(
    cipher: &DocCipher,
    resp: &[u8],
    from: &[u8],
    to: &[u8],
) -> Result<Option<(Vec<SignedChange>, bool)>, WireError> {
    match resp.split_first() {
        Some((&RESP_NONE, [])) => Ok(None),
        Some((&RESP_CHANGES, sealed)) => {
            let plain = cipher.open(&between(b"sync response", from, to), sealed)?;
            let mut b = plain.as_slice();
            let (&more, rest) = b.split_first().ok_or(WireError::Malformed("empty response"))?;
            b = rest;
            let n = varint::take(&mut b)?;
            if n > b.len() as u64 {
                return Err(WireError::Malformed("count beyond the message"));
            }
            let mut changes = Vec::with_capacity(n as usize);
            for _ in 0..n {
                changes.push(take_signed(&mut b)?);
            }
            if !b.is_empty() {
                return Err(WireError::Malformed("trailing bytes"));
            }
            Ok(Some((changes, more == 1)))
        }
        _ => Err(WireError::Malformed("unknown response")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tandem_storage::{DocId, DocKey};

    fn cipher(k: u8) -> DocCipher {
        DocCipher::new(DocId([3; 16]), &DocKey([k; 32]))
    }

    #[test]
    fn messages_round_trip_and_refuse_garbage() {
        let c = cipher(1);
        let sc = SignedChange { change: vec![1, 2, 3], envelope: vec![9; 105] };
        let m = change_message(&c, 77, 5, &sc, None);
        assert_eq!(open_gossip(&c, &m).unwrap(), Gossip::Change(sc.clone(), None));
        let run = RunSeal { start_seq: 2, envelope: vec![7; 105] };
        let m = change_message(&c, 77, 5, &sc, Some(&run));
        assert_eq!(open_gossip(&c, &m).unwrap(), Gossip::Change(sc.clone(), Some(run)));
        assert!(expected_change_id(&c, &m, 77, 5));
        assert!(!expected_change_id(&c, &m, 77, 6));
        assert_eq!(message_id(&m), message_id(&m.clone()));
        let mut other = m.clone();
        *other.last_mut().unwrap() ^= 1;
        assert_ne!(message_id(&m), message_id(&other), "a message with the same clear id is another message");
        assert!(matches!(open_gossip(&cipher(2), &m), Err(WireError::Undecryptable(_))));
        let clock: VectorClock = [(ReplicaId(4), 9)].into_iter().collect();
        let beacon = |clock: &VectorClock| {
            let req = beacon_request(&c, clock, b"alice", b"bob");
            let Ok(Request::Beacon { tag, sealed }) = parse_request(&req) else { panic!("a beacon") };
            assert_eq!(tag, c.member_tag(TagPurpose::Ask, b"alice", b"bob", &[]));
            assert!(open_beacon(&c, sealed, b"carol", b"bob").is_err(), "bound to its sender");
            open_beacon(&c, sealed, b"alice", b"bob").unwrap()
        };
        assert_eq!(beacon(&clock), Beacon::Version(clock.clone()));
        let big: VectorClock = (1..=BEACON_ENTRIES as u64 + 1).map(|r| (ReplicaId(r), r)).collect();
        assert_eq!(beacon(&big), Beacon::Digest(version_digest(&big)));
        for bad in [&b""[..], &[1u8; 5], &[7u8; 64]] {
            assert!(open_gossip(&c, bad).is_err());
        }
        // A kind byte swapped after sealing does not open (the kind is authenticated).
        let mut swapped = m.clone();
        swapped[0] = KIND_PRESENCE;
        assert!(open_gossip(&c, &swapped).is_err());

        let p = Presence {
            name: "Ada ✍".into(),
            colour: 0x3366cc,
            cursor: Anchor { id: Some(OpId::new(ReplicaId(9), 4)), bias: Bias::After },
            selection: Some(Anchor { id: None, bias: Bias::Before }),
        };
        let key = libp2p::identity::Keypair::generate_ed25519();
        let from = key.public().to_peer_id();
        assert_eq!(
            open_gossip(&c, &presence_message(&c, &key, 7, &p)).unwrap(),
            Gossip::Presence(SignedPresence { from, counter: 7, presence: p.clone() })
        );
        let long = Presence { name: "é".repeat(100), ..p.clone() };
        let Gossip::Presence(got) = open_gossip(&c, &presence_message(&c, &key, 8, &long)).unwrap() else {
            panic!()
        };
        assert!(got.presence.name.len() <= MAX_NAME && got.presence.name.chars().all(|ch| ch == 'é'));
        // The signature covers the counter and the document: a presence re-sealed with
        // another counter, or signed for another document, does not open.
        let signed = presence_message(&c, &key, 9, &p);
        let plain = c.open(&[KIND_PRESENCE], &signed[HEADER..]).unwrap();
        let mut b = plain.as_slice();
        let pk = varint::take_bytes(&mut b).unwrap().to_vec();
        assert_eq!(varint::take(&mut b).unwrap(), 9);
        let mut bumped = Vec::new();
        varint::put_bytes(&mut bumped, &pk);
        varint::put(&mut bumped, 10);
        bumped.extend_from_slice(b);
        let mut forged = vec![KIND_PRESENCE];
        forged.extend_from_slice(&[0; 16]);
        forged.extend_from_slice(&c.seal(&[KIND_PRESENCE], &bumped));
        assert_eq!(open_gossip(&c, &forged), Err(WireError::Malformed("presence signature does not verify")));
        let other = DocCipher::new(DocId([4; 16]), &DocKey([5; 32]));
        let elsewhere = presence_message(&other, &key, 9, &p);
        let moved = other.open(&[KIND_PRESENCE], &elsewhere[HEADER..]).unwrap();
        let replanted = [&signed[..HEADER], &c.seal(&[KIND_PRESENCE], &moved)[..]].concat();
        assert!(open_gossip(&c, &replanted).is_err(), "a presence signed for another document");

        let (alice, bob) = (&b"alice"[..], &b"bob"[..]);
        let ask = Ask { clock: clock.clone(), from: 0, until: None };
        let req = sync_request(&c, &ask, alice, bob);
        assert!(!req.windows(16).any(|w| w == [3; 16]), "the document id is not in the request");
        let Ok(Request::Ask { tag, sealed }) = parse_request(&req) else { panic!("an ask") };
        assert_eq!(tag, c.member_tag(TagPurpose::Ask, alice, bob, &[]));
        assert_eq!(open_request(&c, sealed, alice, bob).unwrap(), ask);
        // Replayed by another peer, or to another peer, it does not open.
        assert!(open_request(&c, sealed, b"carol", bob).is_err());
        assert!(open_request(&c, sealed, alice, b"carol").is_err());
        let page = Ask { clock: clock.clone(), from: 1, until: Some(u64::MAX) };
        let req = sync_request(&c, &page, alice, bob);
        let Ok(Request::Ask { sealed, .. }) = parse_request(&req) else { panic!("an ask") };
        assert_eq!(open_request(&c, sealed, alice, bob).unwrap(), page);
        let outside = Ask { clock, from: u64::MAX - 1, until: None };
        let req = sync_request(&c, &outside, alice, bob);
        let Ok(Request::Ask { sealed, .. }) = parse_request(&req) else { panic!("an ask") };
        assert!(open_request(&c, sealed, alice, bob).is_err());
        assert!(open_request(&cipher(2), sealed, alice, bob).is_err());
        let resp = sync_response(&c, &[sc.clone(), sc.clone()], true, bob, alice);
        assert_eq!(open_response(&c, &resp, bob, alice).unwrap(), Some((vec![sc.clone(), sc], true)));
        assert!(open_response(&c, &resp, b"carol", alice).is_err());
        assert_eq!(open_response(&c, &unknown_doc_response(), bob, alice).unwrap(), None);
        assert!(open_response(&c, &[2, 0], bob, alice).is_err());
        assert!(open_response(&cipher(2), &resp, bob, alice).is_err());

        // A hello pads its tags; its answer carries welcome tags.
        let t = c.member_tag(TagPurpose::Hello, alice, bob, &[9; 16]);
        let hello = hello_request(&[9; 16], vec![t]);
        let Ok(Request::Hello { nonce, tags }) = parse_request(&hello) else { panic!("a hello") };
        assert_eq!((nonce, tags.len()), ([9; 16], MIN_TAGS));
        assert!(tags.contains(&t));
        let five = hello_request(&[1; 16], vec![t; 5]);
        let Ok(Request::Hello { tags, .. }) = parse_request(&five) else { panic!("a hello") };
        assert_eq!(tags.len(), 8);
        assert_eq!(open_welcome(&welcome_response(&[t])).unwrap(), vec![t]);
        assert_eq!(open_welcome(&unknown_doc_response()).unwrap(), Vec::<Tag>::new());
        for bad in [&[][..], &[1, 2, 3], &[3], &[2, 1]] {
            assert!(parse_request(bad).is_err(), "{bad:?}");
        }
        let mut lying = vec![REQ_HELLO];
        lying.extend_from_slice(&[0; 16]);
        varint::put(&mut lying, 1 << 40);
        assert!(parse_request(&lying).is_err(), "a count beyond the message");
    }
}
