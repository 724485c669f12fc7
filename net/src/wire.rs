//! What travels between peers. Every payload is sealed with the document key
//! ([`crate::crypto::DocCipher`]); only routing fields are in clear. Numbers and
//! lengths are LEB128 varints ([`tandem_crdt::varint`]).
//!
//! Gossip message: `kind (1) | message id (16) | sealed payload`.
//! - kind 1, change: payload = varint length + encoded change, then the seal envelope;
//!   the id is a keyed hash of the change's author and first seq, so that duplicates
//!   share an id that outsiders cannot link to the author.
//! - kind 2, beacon: payload = the sender's vector clock; random id.
//!
//! Sync request: `doc id (16) | sealed vector clock`.
//! Sync response: `0` (the peer does not have the document) or
//! `1 | sealed (more (1) | count | count x (change, envelope))`.

use crate::crypto::{DocCipher, OpenError};
use tandem_crdt::varint::{self, VarintError};
use tandem_crdt::{Anchor, Bias, OpId, ReplicaId, VectorClock, encoding};
use tandem_storage::{DocId, SignedChange};

/// Gossip kinds.
const KIND_CHANGE: u8 = 1;
/// A vector-clock beacon for anti-entropy.
const KIND_BEACON: u8 = 2;
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

/// Builds a presence message.
pub(crate) fn presence_message(cipher: &DocCipher, p: &Presence) -> Vec<u8> {
    let mut plain = Vec::new();
    let mut name = p.name.as_str();
    while name.len() > MAX_NAME {
        let mut cut = MAX_NAME;
        while !name.is_char_boundary(cut) {
            cut -= 1;
        }
        name = &name[..cut];
    }
    varint::put_bytes(&mut plain, name.as_bytes());
    varint::put(&mut plain, u64::from(p.colour & 0xff_ffff));
    put_anchor(&mut plain, &p.cursor);
    match &p.selection {
        None => plain.push(0),
        Some(a) => {
            plain.push(1);
            put_anchor(&mut plain, a);
        }
    }
    let mut out = vec![KIND_PRESENCE];
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("the system random number generator works");
    out.extend_from_slice(&id);
    out.extend_from_slice(&cipher.seal(&[KIND_PRESENCE], &plain));
    out
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

/// A decoded gossip message.
#[derive(Debug, Clone, PartialEq)]
pub enum Gossip {
    /// A change with its author's seal.
    Change(SignedChange),
    /// The sender's version.
    Beacon(VectorClock),
    /// Where the sender is.
    Presence(Presence),
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

/// Builds a gossip message carrying a change.
pub fn change_message(cipher: &DocCipher, author: u64, seq: u64, c: &SignedChange) -> Vec<u8> {
    let mut plain = Vec::with_capacity(c.change.len() + c.envelope.len() + 8);
    put_signed(&mut plain, c);
    let mut out = vec![KIND_CHANGE];
    out.extend_from_slice(&cipher.change_message_id(author, seq));
    out.extend_from_slice(&cipher.seal(&[KIND_CHANGE], &plain));
    out
}

/// Builds a beacon message.
pub fn beacon_message(cipher: &DocCipher, clock: &VectorClock) -> Vec<u8> {
    let mut out = vec![KIND_BEACON];
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).expect("the system random number generator works");
    out.extend_from_slice(&id);
    out.extend_from_slice(&cipher.seal(&[KIND_BEACON], &encoding::encode_clock(clock)));
    out
}

/// The gossip message id: the clear id field (or, for garbage, its bytes).
pub fn message_id(data: &[u8]) -> Vec<u8> {
    data.get(..HEADER).unwrap_or(data).to_vec()
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
            if !b.is_empty() {
                return Err(WireError::Malformed("trailing bytes"));
            }
            Ok(Gossip::Change(c))
        }
        KIND_BEACON => Ok(Gossip::Beacon(encoding::decode_clock(&plain)?)),
        KIND_PRESENCE => Ok(Gossip::Presence(take_presence(&plain)?)),
        _ => Err(WireError::Malformed("unknown kind")),
    }
}

/// The message id a change message must carry.
pub(crate) fn expected_change_id(cipher: &DocCipher, data: &[u8], author: u64, seq: u64) -> bool {
    data.get(1..HEADER) == Some(cipher.change_message_id(author, seq).as_slice())
}

/// Builds a sync request.
pub fn sync_request(cipher: &DocCipher, clock: &VectorClock) -> Vec<u8> {
    let mut out = cipher.doc().0.to_vec();
    out.extend_from_slice(&cipher.seal(b"sync request", &encoding::encode_clock(clock)));
    out
}

/// The document a sync request is about.
pub fn request_doc(req: &[u8]) -> Result<DocId, WireError> {
    let b: [u8; 16] = req.get(..16).ok_or(WireError::Malformed("too short"))?.try_into().expect("16 bytes");
    Ok(DocId(b))
}

/// Opens a sync request.
pub fn open_request(cipher: &DocCipher, req: &[u8]) -> Result<VectorClock, WireError> {
    let plain = cipher.open(b"sync request", req.get(16..).ok_or(WireError::Malformed("too short"))?)?;
    Ok(encoding::decode_clock(&plain)?)
}

/// The answer to a request for a document this peer does not have.
pub fn unknown_doc_response() -> Vec<u8> {
    vec![0]
}

/// Builds a sync response: `changes` and whether more follow.
pub fn sync_response(cipher: &DocCipher, changes: &[SignedChange], more: bool) -> Vec<u8> {
    let mut plain = vec![more as u8];
    varint::put(&mut plain, changes.len() as u64);
    for c in changes {
        put_signed(&mut plain, c);
    }
    let mut out = vec![1];
    out.extend_from_slice(&cipher.seal(b"sync response", &plain));
    out
}

/// Opens a sync response: `None` when the peer does not have the document.
pub fn open_response(
    cipher: &DocCipher,
    resp: &[u8],
) -> Result<Option<(Vec<SignedChange>, bool)>, WireError> {
    match resp.first() {
        Some(0) if resp.len() == 1 => Ok(None),
        Some(1) => {
            let plain = cipher.open(b"sync response", &resp[1..])?;
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
    use tandem_storage::DocKey;

    fn cipher(k: u8) -> DocCipher {
        DocCipher::new(DocId([3; 16]), &DocKey([k; 32]))
    }

    #[test]
    fn messages_round_trip_and_refuse_garbage() {
        let c = cipher(1);
        let sc = SignedChange { change: vec![1, 2, 3], envelope: vec![9; 105] };
        let m = change_message(&c, 77, 5, &sc);
        assert_eq!(open_gossip(&c, &m).unwrap(), Gossip::Change(sc.clone()));
        assert!(expected_change_id(&c, &m, 77, 5));
        assert!(!expected_change_id(&c, &m, 77, 6));
        assert_eq!(message_id(&m), m[..17].to_vec());
        assert!(matches!(open_gossip(&cipher(2), &m), Err(WireError::Undecryptable(_))));
        let clock: VectorClock = [(ReplicaId(4), 9)].into_iter().collect();
        assert_eq!(open_gossip(&c, &beacon_message(&c, &clock)).unwrap(), Gossip::Beacon(clock.clone()));
        for bad in [&b""[..], &[1u8; 5], &[7u8; 64]] {
            assert!(open_gossip(&c, bad).is_err());
        }
        // A kind byte swapped after sealing does not open (the kind is authenticated).
        let mut swapped = m.clone();
        swapped[0] = KIND_BEACON;
        assert!(open_gossip(&c, &swapped).is_err());

        let p = Presence {
            name: "Ada ✍".into(),
            colour: 0x3366cc,
            cursor: Anchor { id: Some(OpId::new(ReplicaId(9), 4)), bias: Bias::After },
            selection: Some(Anchor { id: None, bias: Bias::Before }),
        };
        assert_eq!(open_gossip(&c, &presence_message(&c, &p)).unwrap(), Gossip::Presence(p.clone()));
        let long = Presence { name: "é".repeat(100), ..p };
        let Gossip::Presence(got) = open_gossip(&c, &presence_message(&c, &long)).unwrap() else { panic!() };
        assert!(got.name.len() <= MAX_NAME && got.name.chars().all(|ch| ch == 'é'));

        let req = sync_request(&c, &clock);
        assert_eq!(request_doc(&req).unwrap(), DocId([3; 16]));
        assert_eq!(open_request(&c, &req).unwrap(), clock);
        assert!(open_request(&cipher(2), &req).is_err());
        let resp = sync_response(&c, &[sc.clone(), sc.clone()], true);
        assert_eq!(open_response(&c, &resp).unwrap(), Some((vec![sc.clone(), sc], true)));
        assert_eq!(open_response(&c, &unknown_doc_response()).unwrap(), None);
        assert!(open_response(&c, &[2, 0]).is_err());
        assert!(open_response(&cipher(2), &resp).is_err());
    }
}
