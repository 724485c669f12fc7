//! End-to-end encryption of every payload with the document key, and the names derived
//! from it (the gossip topic, and the tags by which two peers prove to each other that
//! they hold the key). Nothing readable leaves a peer without the key, and sealed
//! payloads are padded to a few sizes so that their length says little about what they
//! carry.
//!
//! Two capabilities come from the document key. The *read secret* (a one-way hash of
//! it) derives everything above: whoever holds it reads, follows and serves the
//! document. The *write key* (an ed25519 key, another hash of it) signs a *grant* for
//! each author's device key; every change travels with its author's grant after its
//! seal, and a change without a valid grant is refused. A read ticket carries the read
//! secret and the write key's public half only, so its holder can check grants but not
//! make them.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use tandem_storage::{DocId, DocKey};

/// Length of a write grant ([`DocCipher::grant`]): an ed25519 signature.
pub const GRANT: usize = 64;

const NONCE: usize = 24;
const TAG: usize = 16;

/// Length of a membership tag ([`DocCipher::member_tag`]).
pub const MEMBER_TAG: usize = 16;

/// Length of a rendezvous key ([`DocCipher::rendezvous`]).
pub const RENDEZVOUS_KEY: usize = 34;

/// Why a membership tag is made: each purpose gives unrelated tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagPurpose {
    /// "I hold this document": sent by the connection's asker with its fresh nonce.
    Hello,
    /// "So do I": the answer to a hello, over the asker's nonce, so it cannot be
    /// replayed from an earlier answer.
    Welcome,
    /// Names the document of a catch-up request between two peers.
    Ask,
    /// Names the document (in an epoch the receiver is still in) of the key changes
    /// one peer hands another.
    Rekey,
}

/// The size a sealed plaintext of `n` bytes is padded to (with the one byte that marks
/// where the padding starts): a power of two from 64 bytes up to 1 KiB, then a multiple
/// of 1 KiB.
pub fn padded_len(n: usize) -> usize {
    let n = n + 1;
    if n <= 1024 { n.next_power_of_two().max(64) } else { n.div_ceil(1024) * 1024 }
}

/// Whether `key` is the document key behind a read-only document's read secret `read`
/// and write public key `write_public`.
pub fn key_opens(key: &DocKey, read: &DocKey, write_public: [u8; 32]) -> bool {
    DocCipher::read_secret(key) == *read && DocCipher::new(DocId([0; 16]), key).write_public() == write_public
}

/// What a grant signs.
fn grant_message(doc: DocId, author: &[u8; 32]) -> Vec<u8> {
    let mut m = b"tandem grant v1 ".to_vec();
    m.extend_from_slice(&doc.0);
    m.extend_from_slice(author);
    m
}

fn derive(key: &DocKey, purpose: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(b"tandem v1 ");
    h.update(purpose);
    h.update(key.0);
    h.finalize().into()
}

/// The document's cipher and names.
#[derive(Clone)]
pub struct DocCipher {
    doc: DocId,
    /// The write key, where this device may write.
    write: Option<ed25519_dalek::SigningKey>,
    /// The write key's public half.
    write_public: [u8; 32],
    /// The write public keys of the document's earlier epochs: grants they made
    /// still let their authors' earlier changes in.
    past_writers: Vec<[u8; 32]>,
    aead: XChaCha20Poly1305,
    topic: String,
    id_key: [u8; 32],
    member_key: [u8; 32],
    rendezvous_key: [u8; 32],
}

impl std::fmt::Debug for DocCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DocCipher")
            .field("doc", &self.doc)
            .field("topic", &self.topic)
            .finish_non_exhaustive()
    }
}

/// A payload that does not decrypt with the document key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("payload does not decrypt with the document key")]
pub struct OpenError;

impl DocCipher {
    /// The cipher of a document this device may edit (it holds the document key).
    pub fn new(doc: DocId, key: &DocKey) -> DocCipher {
        let write = ed25519_dalek::SigningKey::from_bytes(&derive(key, b"write v1"));
        let mut c = DocCipher::reader(doc, &DocCipher::read_secret(key), write.verifying_key().to_bytes());
        c.write = Some(write);
        c
    }

    /// The read secret of a document key: what a read ticket carries instead of it.
    pub fn read_secret(key: &DocKey) -> DocKey {
        DocKey(derive(key, b"read v1"))
    }

    /// The cipher of a document this device may only read: from its read secret and
    /// the write key's public half.
    pub fn reader(doc: DocId, read: &DocKey, write_public: [u8; 32]) -> DocCipher {
        let key = read;
        let aead = XChaCha20Poly1305::new(&derive(key, b"payload").into());
        let t = derive(key, b"topic v2");
        let topic = format!("tandem/doc/{}", t[..16].iter().map(|b| format!("{b:02x}")).collect::<String>());
        DocCipher {
            doc,
            write: None,
            write_public,
            past_writers: Vec::new(),
            aead,
            topic,
            id_key: derive(key, b"message id"),
            member_key: derive(key, b"member"),
            rendezvous_key: derive(key, b"rendezvous v1"),
        }
    }

    /// A tag that only a holder of the document key can make, bound to the peer that
    /// sends it (`from`), the peer it is for (`to`) and a `nonce`: proof of membership
    /// that names the document to no one else and that no third peer can replay.
    pub fn member_tag(&self, purpose: TagPurpose, from: &[u8], to: &[u8], nonce: &[u8]) -> [u8; MEMBER_TAG] {
        let mut h = Sha256::new();
        h.update(self.member_key);
        h.update([purpose as u8]);
        for part in [from, to, nonce] {
            h.update((part.len() as u32).to_le_bytes());
            h.update(part);
        }
        let d = h.finalize();
        let mut out = [0u8; MEMBER_TAG];
        out.copy_from_slice(&d[..MEMBER_TAG]);
        out
    }

    /// The document this cipher is for.
    pub(crate) fn doc(&self) -> DocId {
        self.doc
    }

    /// Whether this device holds the write key (joined with an edit ticket, or made the
    /// document).
    pub fn can_write(&self) -> bool {
        self.write.is_some()
    }

    /// The write key's public half (what a read ticket carries).
    pub fn write_public(&self) -> [u8; 32] {
        self.write_public
    }

    /// The grant that lets the device key `author` write this document: the write
    /// key's signature over the document and that key. `None` without the write key.
    pub fn grant(&self, author: &[u8; 32]) -> Option<[u8; GRANT]> {
        use ed25519_dalek::Signer;
        Some(self.write.as_ref()?.sign(&grant_message(self.doc, author)).to_bytes())
    }

    /// `envelope` (a change's seal) with its signer's grant after it, where it has none
    /// yet and this device may grant; otherwise as it is.
    pub fn with_grant(&self, envelope: Vec<u8>) -> Vec<u8> {
        if envelope.len() != tandem_storage::SEAL_LEN {
            return envelope;
        }
        match tandem_storage::seal_signer(&envelope).and_then(|author| self.grant(&author)) {
            Some(g) => [envelope.as_slice(), &g].concat(),
            None => envelope,
        }
    }

    /// The signer of `envelope`, when a valid grant for it follows the seal.
    pub(crate) fn granted_signer(&self, envelope: &[u8]) -> Option<[u8; 32]> {
        if envelope.len() != tandem_storage::SEAL_LEN + GRANT {
            return None;
        }
        let author = tandem_storage::seal_signer(envelope)?;
        let grant: [u8; GRANT] = envelope[tandem_storage::SEAL_LEN..].try_into().ok()?;
        self.check_grant(&author, &grant).then_some(author)
    }

    /// Whether `grant` lets the device key `author` write this document: made by the
    /// write key of this epoch or of an earlier one.
    pub fn check_grant(&self, author: &[u8; 32], grant: &[u8; GRANT]) -> bool {
        let message = grant_message(self.doc, author);
        let signature = ed25519_dalek::Signature::from_bytes(grant);
        std::iter::once(&self.write_public).chain(&self.past_writers).any(|w| {
            ed25519_dalek::VerifyingKey::from_bytes(w)
                .is_ok_and(|key| key.verify_strict(&message, &signature).is_ok())
        })
    }

    /// This cipher, also taking the grants of the earlier epochs' write keys `past`.
    pub fn with_past_writers(mut self, past: Vec<[u8; 32]>) -> DocCipher {
        self.past_writers = past;
        self
    }

    /// The write key's signature over `message` (`None` without the write key).
    pub(crate) fn sign_as_writer(&self, message: &[u8]) -> Option<[u8; 64]> {
        use ed25519_dalek::Signer;
        Some(self.write.as_ref()?.sign(message).to_bytes())
    }

    /// Whether this epoch's write key made `signature` over `message`.
    pub(crate) fn check_writer_signature(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        ed25519_dalek::VerifyingKey::from_bytes(&self.write_public).is_ok_and(|key| {
            key.verify_strict(message, &ed25519_dalek::Signature::from_bytes(signature)).is_ok()
        })
    }

    /// The gossip topic: a hash of the key, so the topic reveals neither.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The key under which the document's peers meet on the public DHT during
    /// `period` (a UTC day, see `engine::public`): a sha2-256 multihash, the shape of
    /// a content id, so public DHT servers take it; only key holders can make it, and
    /// keys of two periods cannot be linked to each other or to the topic.
    pub fn rendezvous(&self, period: u64) -> [u8; RENDEZVOUS_KEY] {
        let mut h = Sha256::new();
        h.update(self.rendezvous_key);
        h.update(b"rendezvous");
        h.update(period.to_be_bytes());
        let mut out = [0u8; RENDEZVOUS_KEY];
        // The multihash prefix: sha2-256 (0x12), 32 bytes (0x20).
        out[0] = 0x12;
        out[1] = 0x20;
        out[2..].copy_from_slice(&h.finalize());
        out
    }

    /// A message id for a change that outsiders cannot link to its author.
    pub(crate) fn change_message_id(&self, author: u64, seq: u64) -> [u8; 16] {
        let mut h = Sha256::new();
        h.update(self.id_key);
        h.update(author.to_le_bytes());
        h.update(seq.to_le_bytes());
        let d = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&d[..16]);
        out
    }

    /// Encrypts `plain`, padded to [`padded_len`]; `context` (e.g. the message kind, or
    /// the two peers a message is between) is authenticated too.
    pub(crate) fn seal(&self, context: &[u8], plain: &[u8]) -> Vec<u8> {
        let mut padded = Vec::with_capacity(padded_len(plain.len()));
        padded.extend_from_slice(plain);
        padded.push(0x80);
        padded.resize(padded_len(plain.len()), 0);
        let plain = padded.as_slice();
        let mut nonce = [0u8; NONCE];
        // Without randomness there is no safe nonce; that is not recoverable.
        getrandom::fill(&mut nonce).expect("the system random number generator works");
        let mut aad = self.doc.0.to_vec();
        aad.extend_from_slice(context);
        let ct = self
            .aead
            .encrypt(XNonce::from_slice(&nonce), Payload { msg: plain, aad: &aad })
            .expect("encryption of an in-memory buffer cannot fail");
        let mut out = Vec::with_capacity(NONCE + ct.len());
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&ct);
        out
    }

    /// Decrypts what [`DocCipher::seal`] made with the same key and context.
    pub(crate) fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, OpenError> {
        if sealed.len() < NONCE + TAG {
            return Err(OpenError);
        }
        let (nonce, ct) = sealed.split_at(NONCE);
        let mut aad = self.doc.0.to_vec();
        aad.extend_from_slice(context);
        let mut plain = self
            .aead
            .decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad })
            .map_err(|_| OpenError)?;
        // Only a key holder could have sealed it, but its padding is checked all the same.
        let end = plain.iter().rposition(|&b| b != 0).ok_or(OpenError)?;
        if plain[end] != 0x80 {
            return Err(OpenError);
        }
        plain.truncate(end);
        Ok(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reader_shares_every_name_but_cannot_grant() {
        let (doc, key) = (DocId([1; 16]), DocKey([5; 32]));
        let writer = DocCipher::new(doc, &key);
        let reader = DocCipher::reader(doc, &DocCipher::read_secret(&key), writer.write_public());
        assert_eq!(reader.topic(), writer.topic());
        assert_eq!(reader.rendezvous(7), writer.rendezvous(7));
        let tag = |c: &DocCipher| c.member_tag(TagPurpose::Hello, b"a", b"b", b"n");
        assert_eq!(tag(&reader), tag(&writer));
        assert_eq!(reader.open(b"c", &writer.seal(b"c", b"text")).unwrap(), b"text");
        assert!(writer.can_write() && !reader.can_write());
        assert_ne!(DocCipher::read_secret(&key), key, "the read secret is not the key");
        let author = [9u8; 32];
        let grant = writer.grant(&author).unwrap();
        assert!(reader.check_grant(&author, &grant));
        assert!(!reader.check_grant(&[8; 32], &grant), "a grant names one key");
        assert_eq!(reader.grant(&author), None);
        let other = DocCipher::new(doc, &DocKey([6; 32]));
        assert!(!reader.check_grant(&author, &other.grant(&author).unwrap()), "another document's write key");
        let elsewhere = DocCipher::new(DocId([2; 16]), &key);
        assert!(!elsewhere.check_grant(&author, &grant), "a grant names one document");
        // A seal gets its grant once, and only a writer adds it.
        let seal = vec![1u8; tandem_storage::SEAL_LEN];
        let granted = writer.with_grant(seal.clone());
        assert_eq!(granted.len(), tandem_storage::SEAL_LEN + GRANT);
        assert_eq!(writer.with_grant(granted.clone()), granted);
        assert_eq!(reader.with_grant(seal.clone()), seal);
        assert_eq!(reader.granted_signer(&granted), Some([1; 32]));
        assert_eq!(reader.granted_signer(&seal), None);
        let mut bad = granted.clone();
        *bad.last_mut().unwrap() ^= 1;
        assert_eq!(reader.granted_signer(&bad), None);
    }

    #[test]
    fn only_the_key_opens() {
        let doc = DocId([1; 16]);
        let a = DocCipher::new(doc, &DocKey([5; 32]));
        let b = DocCipher::new(doc, &DocKey([6; 32]));
        let sealed = a.seal(b"c", b"secret text");
        assert!(!sealed.windows(6).any(|w| w == b"secret"), "ciphertext hides the text");
        assert_eq!(a.open(b"c", &sealed).unwrap(), b"secret text");
        assert_eq!(b.open(b"c", &sealed), Err(OpenError), "another key");
        assert_eq!(a.open(b"x", &sealed), Err(OpenError), "another context");
        let mut flipped = sealed.clone();
        flipped[30] ^= 1;
        assert_eq!(a.open(b"c", &flipped), Err(OpenError), "tampered");
        assert_eq!(a.open(b"c", &sealed[..10]), Err(OpenError), "short");
        assert_ne!(a.seal(b"c", b"x"), a.seal(b"c", b"x"), "fresh nonces");
        assert_ne!(a.topic(), b.topic());
        assert!(!a.topic().contains(&doc.to_string()));
    }

    #[test]
    fn sealed_sizes_fall_in_buckets() {
        let a = DocCipher::new(DocId([1; 16]), &DocKey([5; 32]));
        let sizes: std::collections::BTreeSet<usize> =
            (0..300).map(|n| a.seal(b"c", &vec![7; n]).len()).collect();
        assert_eq!(sizes.len(), 4, "{sizes:?}");
        for n in [0, 1, 63, 64, 200, 1023, 1024, 5000] {
            let plain: Vec<u8> = (0..n).map(|i| i as u8).collect();
            assert_eq!(a.open(b"c", &a.seal(b"c", &plain)).unwrap(), plain, "{n} bytes");
        }
        assert_eq!(padded_len(0), 64);
        assert_eq!(padded_len(64), 128);
        assert_eq!(padded_len(2000), 2048);
    }

    #[test]
    fn membership_tags_bind_the_key_both_peers_and_the_nonce() {
        let a = DocCipher::new(DocId([1; 16]), &DocKey([5; 32]));
        let other = DocCipher::new(DocId([1; 16]), &DocKey([6; 32]));
        let t = a.member_tag(TagPurpose::Hello, b"alice", b"bob", b"n1");
        assert_eq!(t, a.member_tag(TagPurpose::Hello, b"alice", b"bob", b"n1"));
        for other_tag in [
            other.member_tag(TagPurpose::Hello, b"alice", b"bob", b"n1"),
            a.member_tag(TagPurpose::Welcome, b"alice", b"bob", b"n1"),
            a.member_tag(TagPurpose::Hello, b"bob", b"alice", b"n1"),
            a.member_tag(TagPurpose::Hello, b"alice", b"carol", b"n1"),
            a.member_tag(TagPurpose::Hello, b"alice", b"bob", b"n2"),
            // Field boundaries count: "al" + "icebob" is not "alice" + "bob".
            a.member_tag(TagPurpose::Hello, b"al", b"icebob", b"n1"),
        ] {
            assert_ne!(t, other_tag);
        }
    }

    #[test]
    fn rendezvous_keys_are_multihashes_that_change_each_period_and_name_nothing() {
        let doc = DocId([1; 16]);
        let key = DocKey([5; 32]);
        let a = DocCipher::new(doc, &key);
        let b = DocCipher::new(doc, &DocKey([6; 32]));
        let day = 20_424;
        let k = a.rendezvous(day);
        assert_eq!(k, a.rendezvous(day), "the same for every holder of the key");
        assert_eq!(&k[..2], &[0x12, 0x20], "a sha2-256 multihash");
        let mh = libp2p::multihash::Multihash::<64>::from_bytes(&k).unwrap();
        assert_eq!((mh.code(), mh.size()), (0x12, 32));
        assert_ne!(k, a.rendezvous(day + 1), "another day");
        assert_ne!(k, b.rendezvous(day), "another key");
        let digest = &k[2..];
        for secret in [&key.0[..], &doc.0[..], a.topic().as_bytes()] {
            assert!(!digest.windows(8).any(|w| secret.windows(8).any(|s| s == w)), "names nothing");
        }
        assert!(!a.topic().contains(&digest.iter().take(4).map(|b| format!("{b:02x}")).collect::<String>()));
    }
}
