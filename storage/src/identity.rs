//! This device's identity: an ed25519 key pair, and the writer ids it edits as.
//!
//! A device has two writers, each with a replica id that stays the same on every start
//! (so a document's version vector grows by device, not by process start): the engine
//! (`tandem node`, the command line, edits through `EngineHandle`) and the window (its
//! own replica of the open document). Two writers, because the window and the engine
//! keep separate replicas and each numbers its ops without gaps. A seq is never handed
//! out twice: a change is stored before anyone sees it, and the next seq follows the
//! stored ones, so a seq lost in a crash was never published. Databases from before
//! (one writer id per process start) keep their old ids for the changes they hold.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use tandem_crdt::ReplicaId;

/// The session number of the engine's writer. Older databases numbered sessions from 1
/// upwards, one per process start; these two are far above any such count.
const ENGINE_SESSION: u64 = u64::MAX - 1;
/// The session number of the window's writer.
const WINDOW_SESSION: u64 = u64::MAX;

/// Who on this device writes; each has its own stable replica id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// The engine: `tandem node`, the command line, `EngineHandle` edits.
    Engine,
    /// The desktop window's replica of the open document.
    Window,
}

impl Writer {
    fn session(self) -> u64 {
        match self {
            Writer::Engine => ENGINE_SESSION,
            Writer::Window => WINDOW_SESSION,
        }
    }
}

/// The device key pair, and the writer it signs as.
#[derive(Clone)]
pub struct Identity {
    key: SigningKey,
    session: u64,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("public", &self.public_hex())
            .field("session", &self.session)
            .finish()
    }
}

/// The writer id of session `session` of the device with public key `public`: the first
/// 8 bytes of SHA-256(public key, session). Anyone holding the public key and the
/// session number can check that a writer id belongs to that key.
pub(crate) fn replica_id(public: &[u8; 32], session: u64) -> ReplicaId {
    let mut h = Sha256::new();
    h.update(b"tandem replica v1");
    h.update(public);
    h.update(session.to_le_bytes());
    let d = h.finalize();
    let mut b = [0u8; 8];
    b.copy_from_slice(&d[..8]);
    ReplicaId(u64::from_le_bytes(b))
}

impl Identity {
    pub(crate) fn new(secret: [u8; 32], session: u64) -> Identity {
        Identity { key: SigningKey::from_bytes(&secret), session }
    }

    /// The public key.
    pub fn public(&self) -> [u8; 32] {
        self.key.verifying_key().to_bytes()
    }

    /// The public key as hex.
    pub fn public_hex(&self) -> String {
        self.public().iter().map(|b| format!("{b:02x}")).collect()
    }

    /// The engine's identity on this device, which [`Identity::seal`] signs as.
    pub(crate) fn device(secret: [u8; 32]) -> Identity {
        Identity::new(secret, ENGINE_SESSION)
    }

    /// The writer id this identity edits as.
    pub fn replica(&self) -> ReplicaId {
        replica_id(&self.public(), self.session)
    }

    /// The same key, signing as `writer`.
    pub fn writer(&self, writer: Writer) -> Identity {
        Identity { key: self.key.clone(), session: writer.session() }
    }

    /// The same key, signing as writer number `session` (any number; the two writers of
    /// [`Writer`] are two of them, and databases of schema 1 used one per start). For
    /// tools and tests that speak for a key under many writer ids.
    pub fn with_session(&self, session: u64) -> Identity {
        Identity { key: self.key.clone(), session }
    }

    /// The identity whose writer id is `author`, if it is one of this device's writers.
    pub fn for_author(&self, author: ReplicaId) -> Option<Identity> {
        [Writer::Engine, Writer::Window].into_iter().map(|w| self.writer(w)).find(|i| i.replica() == author)
    }

    /// Signs `msg` with the device key.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// Version byte of the signature envelope.
pub(crate) const ENVELOPE_VERSION: u8 = 1;
/// Size of an envelope: version, public key, session, signature.
pub(crate) const ENVELOPE_LEN: usize = 1 + 32 + 8 + 64;
/// What may follow an envelope: the 64-byte write grant the network layer checks
/// (`tandem_net::crypto::GRANT`); the seal itself covers the first [`ENVELOPE_LEN`]
/// bytes.
const TRAILER_LEN: usize = 64;

/// The size of a change's seal, before any grant that follows it.
pub const SEAL_LEN: usize = ENVELOPE_LEN;

/// The device key that made the seal `envelope`, if it is one.
pub fn seal_signer(envelope: &[u8]) -> Option<[u8; 32]> {
    if envelope.len() < ENVELOPE_LEN || envelope[0] != ENVELOPE_VERSION {
        return None;
    }
    envelope[1..33].try_into().ok()
}

fn signed_message(doc: &[u8; 16], change: &[u8]) -> Vec<u8> {
    let mut m = Vec::with_capacity(32 + change.len());
    m.extend_from_slice(b"tandem change v1");
    m.extend_from_slice(doc);
    m.extend_from_slice(change);
    m
}

impl Identity {
    /// Signs an encoded change of document `doc`: the envelope carries this device's
    /// public key and session, so anyone can check that the change's author id belongs
    /// to the key.
    pub fn seal(&self, doc: &crate::DocId, change: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(ENVELOPE_LEN);
        out.push(ENVELOPE_VERSION);
        out.extend_from_slice(&self.public());
        out.extend_from_slice(&self.session.to_le_bytes());
        out.extend_from_slice(&self.sign(&signed_message(&doc.0, change)));
        out
    }
}

/// Why a signature envelope was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SealError {
    /// Not an envelope of a known version and size.
    #[error("malformed signature envelope")]
    Malformed,
    /// The key and session do not derive the change's author id.
    #[error("the change's author {0} does not belong to the signing key")]
    WrongAuthor(ReplicaId),
    /// The signature does not match.
    #[error("bad signature")]
    BadSignature,
}

/// Checks that `envelope` signs `change` (encoded) of document `doc` by `author`.
pub fn check_seal(
    doc: &crate::DocId,
    change: &[u8],
    author: ReplicaId,
    envelope: &[u8],
) -> Result<(), SealError> {
    let len = envelope.len();
    if (len != ENVELOPE_LEN && len != ENVELOPE_LEN + TRAILER_LEN) || envelope[0] != ENVELOPE_VERSION {
        return Err(SealError::Malformed);
    }
    let public: [u8; 32] = envelope[1..33].try_into().map_err(|_| SealError::Malformed)?;
    let session = u64::from_le_bytes(envelope[33..41].try_into().map_err(|_| SealError::Malformed)?);
    let sig: [u8; 64] = envelope[41..ENVELOPE_LEN].try_into().map_err(|_| SealError::Malformed)?;
    if replica_id(&public, session) != author {
        return Err(SealError::WrongAuthor(author));
    }
    if !verify(&public, &signed_message(&doc.0, change), &sig) {
        return Err(SealError::BadSignature);
    }
    Ok(())
}

/// Checks an ed25519 signature.
pub(crate) fn verify(public: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public) else { return false };
    key.verify(msg, &Signature::from_bytes(signature)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_are_stable_and_distinct() {
        let a = Identity::device([7; 32]);
        assert_eq!(a.replica(), Identity::device([7; 32]).replica());
        let window = a.writer(Writer::Window);
        assert_ne!(a.replica(), window.replica());
        assert_eq!(a.for_author(window.replica()).map(|i| i.replica()), Some(window.replica()));
        assert_eq!(a.for_author(a.replica()).map(|i| i.replica()), Some(a.replica()));
        assert!(a.for_author(Identity::device([8; 32]).replica()).is_none());
        let doc = crate::DocId([1; 16]);
        let env = window.seal(&doc, b"change");
        assert_eq!(check_seal(&doc, b"change", window.replica(), &env), Ok(()));
        assert_eq!(check_seal(&doc, b"change", a.replica(), &env), Err(SealError::WrongAuthor(a.replica())));
    }

    #[test]
    fn signatures_verify_and_sessions_differ() {
        let a = Identity::new([7; 32], 1);
        let b = Identity::new([7; 32], 2);
        assert_ne!(a.replica(), b.replica());
        assert_eq!(a.replica(), replica_id(&a.public(), 1));
        let sig = a.sign(b"hello");
        assert!(verify(&a.public(), b"hello", &sig));
        assert!(!verify(&a.public(), b"hellO", &sig));
        let other = Identity::new([8; 32], 1);
        assert!(!verify(&other.public(), b"hello", &sig));
    }

    #[test]
    fn seals_bind_document_author_and_bytes() {
        let me = Identity::new([7; 32], 3);
        let doc = crate::DocId([1; 16]);
        let env = me.seal(&doc, b"change");
        assert_eq!(check_seal(&doc, b"change", me.replica(), &env), Ok(()));
        assert_eq!(check_seal(&doc, b"changE", me.replica(), &env), Err(SealError::BadSignature));
        assert_eq!(
            check_seal(&crate::DocId([2; 16]), b"change", me.replica(), &env),
            Err(SealError::BadSignature)
        );
        let other = Identity::new([9; 32], 3).replica();
        assert_eq!(check_seal(&doc, b"change", other, &env), Err(SealError::WrongAuthor(other)));
        assert_eq!(check_seal(&doc, b"change", me.replica(), &env[1..]), Err(SealError::Malformed));
        let mut forged = env.clone();
        forged[50] ^= 1;
        assert_eq!(check_seal(&doc, b"change", me.replica(), &forged), Err(SealError::BadSignature));
    }
}
