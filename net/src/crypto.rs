//! End-to-end encryption of every payload with the document key, and the names derived
//! from it (the gossip topic). Nothing readable leaves a peer without the key.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use sha2::{Digest, Sha256};
use tandem_storage::{DocId, DocKey};

const NONCE: usize = 24;
const TAG: usize = 16;

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
    aead: XChaCha20Poly1305,
    topic: String,
    id_key: [u8; 32],
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
    /// The cipher of a document.
    pub fn new(doc: DocId, key: &DocKey) -> DocCipher {
        let aead = XChaCha20Poly1305::new(&derive(key, b"payload").into());
        let t = derive(key, b"topic");
        let topic = format!("tandem/doc/{}", t[..16].iter().map(|b| format!("{b:02x}")).collect::<String>());
        DocCipher { doc, aead, topic, id_key: derive(key, b"message id") }
    }

    /// The document.
    pub(crate) fn doc(&self) -> DocId {
        self.doc
    }

    /// The gossip topic: a hash of the key, so the topic reveals neither.
    pub fn topic(&self) -> &str {
        &self.topic
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

    /// Encrypts `plain`; `context` (e.g. the message kind) is authenticated too.
    pub(crate) fn seal(&self, context: &[u8], plain: &[u8]) -> Vec<u8> {
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
        self.aead.decrypt(XNonce::from_slice(nonce), Payload { msg: ct, aad: &aad }).map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
