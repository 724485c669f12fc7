//! Changing a document's key to remove people from it.
//!
//! A document's key lives in *epochs*: the key of its first ticket is epoch 0. A device
//! that may write can move the document to a fresh random key (the next epoch) for the
//! members it keeps. It writes a [`Rekey`] record: the new key encrypted to each kept
//! member's device key (its libp2p ed25519 identity, used for X25519 with an ephemeral
//! key; an editor gets the new key, a reader its read secret), signed by the old
//! epoch's write key so that only a writer can move a document. Everything derived
//! from the key (payload cipher, topic, membership tags, rendezvous keys, write grants)
//! changes with it, so the removed members can open nothing sent after the move, and
//! cannot even tell the new epoch's traffic from anyone else's.
//!
//! Members that were offline meet the move later: a member of the new epoch that gets a
//! hello in an old epoch's tags answers with the records from that epoch on, sealed with
//! the old key ([`crate::wire::rekey_request`]); a kept member opens its part and moves
//! too, a removed one finds no part for itself. A device keeps its earlier keys and the
//! records that left them in a [`KeyRing`] (stored with the document), so that it can
//! still check the grants of changes written before the move and bring laggards along.
//!
//! What a rotation cannot do: take back what removed members already hold (everything
//! up to the move), or stop a member who had not yet heard of the move from accepting
//! a removed writer's edits made meanwhile (those reach the others once that member
//! moves).

use crate::crypto::DocCipher;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use tandem_crdt::varint;
use tandem_storage::{DocId, DocKey};

/// The most members one record carries a key for.
pub const MAX_WRAPS: usize = 256;
/// The most earlier epochs a device keeps; a member further behind needs a new ticket.
pub const MAX_PAST_EPOCHS: usize = 16;

const RECORD_VERSION: u8 = 1;
const RING_VERSION: u8 = 1;
/// A wrapped secret: 32 bytes and the AEAD tag.
const WRAPPED: usize = 32 + 16;

/// Why a record or key ring was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RekeyError {
    /// The bytes are not a record or ring of a known version.
    #[error("malformed key change: {0}")]
    Malformed(&'static str),
    /// The record is not signed by the write key of the epoch it leaves.
    #[error("key change not signed by the document's write key")]
    Signature,
}

impl From<varint::VarintError> for RekeyError {
    fn from(_: varint::VarintError) -> RekeyError {
        RekeyError::Malformed("field cut short")
    }
}

/// A member kept through a key change, by its device key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Keep {
    /// The member's device key (the ed25519 key of its peer id).
    pub device: [u8; 32],
    /// Whether it gets the key (to edit) or only the read secret.
    pub edit: bool,
}

/// What a member opens from a record: the new epoch's key or read secret.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NewKey {
    /// The new document key: the member may edit.
    Edit(DocKey),
    /// The new read secret and write public key: the member may read.
    Read(DocKey, [u8; 32]),
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Wrap {
    device: [u8; 32],
    edit: bool,
    sealed: [u8; WRAPPED],
}

/// A key change: the new epoch's key for each kept member, signed by the old write key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rekey {
    /// The epoch it moves to (one more than the one it leaves).
    pub epoch: u32,
    /// The new epoch's write public key.
    pub write_public: [u8; 32],
    ephemeral: [u8; 32],
    wraps: Vec<Wrap>,
    /// The device keys of the members it removes (so that no later move keeps them
    /// by mistake).
    removed: Vec<[u8; 32]>,
    signature: [u8; 64],
}

/// The X25519 public key of an ed25519 device key, if it is a valid point.
fn montgomery(device: &[u8; 32]) -> Option<[u8; 32]> {
    let key = ed25519_dalek::VerifyingKey::from_bytes(device).ok()?;
    Some(key.to_montgomery().to_bytes())
}

/// The key that wraps one member's secret.
fn wrap_key(
    doc: DocId,
    epoch: u32,
    ephemeral: &[u8; 32],
    device: &[u8; 32],
    shared: &[u8; 32],
) -> XChaCha20Poly1305 {
    let mut h = Sha256::new();
    h.update(b"tandem rekey wrap v1");
    h.update(doc.0);
    h.update(epoch.to_le_bytes());
    h.update(ephemeral);
    h.update(device);
    h.update(shared);
    XChaCha20Poly1305::new(&<[u8; 32]>::from(h.finalize()).into())
}

/// Each wrap key is used once, so a fixed nonce is safe.
const WRAP_NONCE: [u8; 24] = [0; 24];

impl Rekey {
    /// A record moving the document of `old` (which must hold the write key) to epoch
    /// `epoch` under `key`, for the members `keep` (at most [`MAX_WRAPS`]; members whose
    /// device key is not a valid point are skipped), naming the members it removes.
    /// `None` without the write key.
    pub fn make(
        old: &DocCipher,
        epoch: u32,
        key: &DocKey,
        keep: &[Keep],
        removed: &[[u8; 32]],
    ) -> Option<Rekey> {
        let doc = old.doc();
        let new = DocCipher::new(doc, key);
        let mut eph = [0u8; 32];
        getrandom::fill(&mut eph).expect("the system random number generator works");
        let ephemeral = x25519_dalek::x25519(eph, x25519_dalek::X25519_BASEPOINT_BYTES);
        let read = DocCipher::read_secret(key);
        let mut wraps = Vec::new();
        for k in keep.iter().take(MAX_WRAPS) {
            let Some(point) = montgomery(&k.device) else { continue };
            let shared = x25519_dalek::x25519(eph, point);
            let secret = if k.edit { &key.0 } else { &read.0 };
            let sealed = wrap_key(doc, epoch, &ephemeral, &k.device, &shared)
                .encrypt(XNonce::from_slice(&WRAP_NONCE), Payload { msg: secret, aad: &[k.edit as u8] })
                .expect("encryption of an in-memory buffer cannot fail");
            wraps.push(Wrap {
                device: k.device,
                edit: k.edit,
                sealed: sealed.try_into().expect("32 bytes and a tag"),
            });
        }
        let removed = removed.iter().take(MAX_WRAPS).copied().collect();
        let mut r =
            Rekey { epoch, write_public: new.write_public(), ephemeral, wraps, removed, signature: [0; 64] };
        r.signature = old.sign_as_writer(&r.signed_bytes(doc))?;
        Some(r)
    }

    /// The members this record keeps.
    pub fn kept(&self) -> impl Iterator<Item = Keep> + '_ {
        self.wraps.iter().map(|w| Keep { device: w.device, edit: w.edit })
    }

    /// The device keys of the members this record removes.
    pub fn removed(&self) -> &[[u8; 32]] {
        &self.removed
    }

    fn body(&self) -> Vec<u8> {
        let mut out = vec![RECORD_VERSION];
        varint::put(&mut out, u64::from(self.epoch));
        out.extend_from_slice(&self.write_public);
        out.extend_from_slice(&self.ephemeral);
        varint::put(&mut out, self.wraps.len() as u64);
        for w in &self.wraps {
            out.extend_from_slice(&w.device);
            out.push(w.edit as u8);
            out.extend_from_slice(&w.sealed);
        }
        varint::put(&mut out, self.removed.len() as u64);
        for r in &self.removed {
            out.extend_from_slice(r);
        }
        out
    }

    fn signed_bytes(&self, doc: DocId) -> Vec<u8> {
        let mut m = b"tandem rekey v1 ".to_vec();
        m.extend_from_slice(&doc.0);
        m.extend_from_slice(&self.body());
        m
    }

    /// The record's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = self.body();
        out.extend_from_slice(&self.signature);
        out
    }

    /// Reads a record from untrusted bytes (its signature is checked by
    /// [`Rekey::check`]).
    pub fn decode(mut b: &[u8]) -> Result<Rekey, RekeyError> {
        let bad = RekeyError::Malformed;
        let take = |b: &mut &[u8], n: usize| -> Result<Vec<u8>, RekeyError> {
            let (head, rest) = b.split_at_checked(n).ok_or(bad("cut short"))?;
            *b = rest;
            Ok(head.to_vec())
        };
        if take(&mut b, 1)?[0] != RECORD_VERSION {
            return Err(bad("unknown version"));
        }
        let epoch = u32::try_from(varint::take(&mut b)?).map_err(|_| bad("epoch out of range"))?;
        let write_public = take(&mut b, 32)?.try_into().expect("32 bytes");
        let ephemeral = take(&mut b, 32)?.try_into().expect("32 bytes");
        let n = varint::take(&mut b)?;
        if n > MAX_WRAPS as u64 || (b.len() as u64) < n * (32 + 1 + WRAPPED as u64) + 64 {
            return Err(bad("bad member list"));
        }
        let mut wraps = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let device = take(&mut b, 32)?.try_into().expect("32 bytes");
            let edit = match take(&mut b, 1)?[0] {
                0 => false,
                1 => true,
                _ => return Err(bad("bad member kind")),
            };
            let sealed = take(&mut b, WRAPPED)?.try_into().expect("a wrapped secret");
            wraps.push(Wrap { device, edit, sealed });
        }
        let n = varint::take(&mut b)?;
        if n > MAX_WRAPS as u64 || b.len() as u64 != n * 32 + 64 {
            return Err(bad("bad list of removed members"));
        }
        let removed = (0..n)
            .map(|_| take(&mut b, 32).map(|r| r.try_into().expect("32 bytes")))
            .collect::<Result<_, _>>()?;
        let signature = take(&mut b, 64)?.try_into().expect("64 bytes");
        Ok(Rekey { epoch, write_public, ephemeral, wraps, removed, signature })
    }

    /// Checks that the writer of `old`'s epoch made this record, moving to the next one.
    pub fn check(&self, old: &DocCipher, old_epoch: u32) -> Result<(), RekeyError> {
        if Some(self.epoch) != old_epoch.checked_add(1) {
            return Err(RekeyError::Malformed("not the next epoch"));
        }
        if old.check_writer_signature(&self.signed_bytes(old.doc()), &self.signature) {
            Ok(())
        } else {
            Err(RekeyError::Signature)
        }
    }

    /// The new key for the device whose ed25519 secret is `device_secret`, if the record
    /// keeps it; the best it holds when it is named twice.
    pub fn open(&self, doc: DocId, device_secret: &[u8; 32]) -> Option<NewKey> {
        let signing = ed25519_dalek::SigningKey::from_bytes(device_secret);
        let me = signing.verifying_key().to_bytes();
        let shared = x25519_dalek::x25519(signing.to_scalar_bytes(), self.ephemeral);
        let mut best = None;
        for w in self.wraps.iter().filter(|w| w.device == me) {
            let Ok(secret) = wrap_key(doc, self.epoch, &self.ephemeral, &me, &shared)
                .decrypt(XNonce::from_slice(&WRAP_NONCE), Payload { msg: &w.sealed, aad: &[w.edit as u8] })
            else {
                continue;
            };
            let secret = DocKey(secret.try_into().ok()?);
            if w.edit {
                // The key must be the one the record names (a writer could wrap another).
                if DocCipher::new(doc, &secret).write_public() == self.write_public {
                    return Some(NewKey::Edit(secret));
                }
            } else {
                best = Some(NewKey::Read(secret, self.write_public));
            }
        }
        best
    }
}

/// One earlier epoch of a document as a device keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PastEpoch {
    /// The epoch's number.
    pub epoch: u32,
    /// Its key, or for a reader its read secret.
    pub secret: DocKey,
    /// Its write public key when this device only read it (`None`: it held the key).
    pub read_only: Option<[u8; 32]>,
    /// The record that left it (moved to the next epoch).
    pub left_by: Vec<u8>,
}

impl PastEpoch {
    /// This epoch's cipher.
    pub fn cipher(&self, doc: DocId) -> DocCipher {
        cipher_of(doc, &self.secret, self.read_only)
    }
}

/// A document's earlier epochs, oldest first: the current one is the next after them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyRing {
    /// The epochs kept (at most [`MAX_PAST_EPOCHS`], the latest).
    pub past: Vec<PastEpoch>,
}

/// The cipher of a key, or of a read secret with its write public key `read_only`.
fn cipher_of(doc: DocId, secret: &DocKey, read_only: Option<[u8; 32]>) -> DocCipher {
    match read_only {
        None => DocCipher::new(doc, secret),
        Some(w) => DocCipher::reader(doc, secret, w),
    }
}

impl KeyRing {
    /// The cipher of the current epoch's `key` (as [`PastEpoch::secret`] and
    /// [`PastEpoch::read_only`]), taking the earlier epochs' grants too, and the
    /// earlier epochs' ciphers, oldest first.
    pub fn ciphers(
        &self,
        doc: DocId,
        key: &DocKey,
        read_only: Option<[u8; 32]>,
    ) -> (DocCipher, Vec<DocCipher>) {
        let past: Vec<DocCipher> = self.past.iter().map(|p| p.cipher(doc)).collect();
        let current = cipher_of(doc, key, read_only)
            .with_past_writers(past.iter().map(DocCipher::write_public).collect());
        (current, past)
    }

    /// The current epoch's number.
    pub fn epoch(&self) -> u32 {
        self.past.last().map_or(0, |p| p.epoch + 1)
    }

    /// Adds the epoch just left (dropping the oldest beyond [`MAX_PAST_EPOCHS`]).
    pub fn push(&mut self, past: PastEpoch) {
        self.past.push(past);
        if self.past.len() > MAX_PAST_EPOCHS {
            self.past.remove(0);
        }
    }

    /// The ring's stored bytes (empty for a document whose key never changed).
    pub fn encode(&self) -> Vec<u8> {
        if self.past.is_empty() {
            return Vec::new();
        }
        let mut out = vec![RING_VERSION];
        varint::put(&mut out, self.past.len() as u64);
        for p in &self.past {
            varint::put(&mut out, u64::from(p.epoch));
            out.extend_from_slice(&p.secret.0);
            match &p.read_only {
                None => out.push(0),
                Some(w) => {
                    out.push(1);
                    out.extend_from_slice(w);
                }
            }
            varint::put_bytes(&mut out, &p.left_by);
        }
        out
    }

    /// Reads a stored ring.
    pub fn decode(mut b: &[u8]) -> Result<KeyRing, RekeyError> {
        let bad = RekeyError::Malformed;
        if b.is_empty() {
            return Ok(KeyRing::default());
        }
        let arr = |b: &mut &[u8]| -> Result<[u8; 32], RekeyError> {
            let (head, rest) = b.split_at_checked(32).ok_or(bad("cut short"))?;
            *b = rest;
            Ok(head.try_into().expect("32 bytes"))
        };
        let (&version, rest) = b.split_first().ok_or(bad("empty"))?;
        if version != RING_VERSION {
            return Err(bad("unknown key ring version"));
        }
        b = rest;
        let n = varint::take(&mut b)?;
        if n > MAX_PAST_EPOCHS as u64 {
            return Err(bad("too many epochs"));
        }
        let mut past = Vec::with_capacity(n as usize);
        for _ in 0..n {
            let epoch = u32::try_from(varint::take(&mut b)?).map_err(|_| bad("epoch out of range"))?;
            let secret = DocKey(arr(&mut b)?);
            let (&kind, rest) = b.split_first().ok_or(bad("cut short"))?;
            b = rest;
            let read_only = match kind {
                0 => None,
                1 => Some(arr(&mut b)?),
                _ => return Err(bad("bad epoch kind")),
            };
            let left_by = varint::take_bytes(&mut b)?.to_vec();
            past.push(PastEpoch { epoch, secret, read_only, left_by });
        }
        if !b.is_empty() {
            return Err(bad("trailing bytes"));
        }
        Ok(KeyRing { past })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(seed: u8) -> ([u8; 32], [u8; 32]) {
        let secret = [seed; 32];
        (secret, ed25519_dalek::SigningKey::from_bytes(&secret).verifying_key().to_bytes())
    }

    #[test]
    fn kept_members_open_their_part_and_nobody_else_does() {
        let doc = DocId([3; 16]);
        let old = DocCipher::new(doc, &DocKey([1; 32]));
        let new_key = DocKey([2; 32]);
        let (ada_s, ada) = device(10);
        let (grace_s, grace) = device(11);
        let (mallory_s, mallory) = device(12);
        let keep = [Keep { device: ada, edit: true }, Keep { device: grace, edit: false }];
        let r = Rekey::make(&old, 1, &new_key, &keep, &[mallory]).unwrap();
        let r = Rekey::decode(&r.encode()).unwrap();
        assert_eq!(r.check(&old, 0), Ok(()));
        assert_eq!(r.open(doc, &ada_s), Some(NewKey::Edit(new_key.clone())));
        let new = DocCipher::new(doc, &new_key);
        assert_eq!(
            r.open(doc, &grace_s),
            Some(NewKey::Read(DocCipher::read_secret(&new_key), new.write_public()))
        );
        assert_eq!(r.open(doc, &mallory_s), None, "a removed member gets nothing");
        assert!(!r.encode().windows(32).any(|w| w == new_key.0), "the key is not in clear");
        assert_eq!(r.kept().collect::<Vec<_>>(), keep);
        assert_eq!(r.removed(), &[mallory]);
        // Only the old write key signs a move, to the next epoch only.
        let reader = DocCipher::reader(doc, &DocCipher::read_secret(&DocKey([1; 32])), old.write_public());
        assert!(Rekey::make(&reader, 1, &new_key, &keep, &[]).is_none());
        assert_eq!(r.check(&old, 1), Err(RekeyError::Malformed("not the next epoch")));
        let stranger = DocCipher::new(doc, &DocKey([9; 32]));
        assert_eq!(r.check(&stranger, 0), Err(RekeyError::Signature));
        let forged = Rekey::make(&stranger, 1, &new_key, &keep, &[]).unwrap();
        assert_eq!(forged.check(&old, 0), Err(RekeyError::Signature));
        let mut bytes = r.encode();
        bytes[40] ^= 1;
        assert!(Rekey::decode(&bytes).is_ok_and(|t| t.check(&old, 0).is_err()));
    }

    #[test]
    fn garbage_is_refused_and_rings_round_trip() {
        for n in 0..200usize {
            let bytes: Vec<u8> = (0..n).map(|i| (i * 37 + n) as u8).collect();
            if let Ok(r) = Rekey::decode(&bytes) {
                assert!(r.wraps.len() <= MAX_WRAPS);
            }
            KeyRing::decode(&bytes).ok();
        }
        let r = Rekey::make(&DocCipher::new(DocId([3; 16]), &DocKey([1; 32])), 1, &DocKey([2; 32]), &[], &[])
            .unwrap();
        let mut ring = KeyRing::default();
        assert!(ring.encode().is_empty());
        assert_eq!(ring.epoch(), 0);
        for e in 0..20 {
            ring.push(PastEpoch {
                epoch: e,
                secret: DocKey([e as u8; 32]),
                read_only: (e % 2 == 1).then_some([7; 32]),
                left_by: r.encode(),
            });
        }
        assert_eq!(ring.past.len(), MAX_PAST_EPOCHS);
        assert_eq!(ring.epoch(), 20);
        assert_eq!(KeyRing::decode(&ring.encode()).unwrap(), ring);
        let enc = ring.encode();
        for cut in [1, 2, 10, enc.len() - 1] {
            assert!(KeyRing::decode(&enc[..cut]).is_err(), "cut at {cut}");
        }
    }
}
