//! This device's identity: an ed25519 key pair, and the writer ids of its sessions.

use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use sha2::{Digest, Sha256};
use tandem_crdt::ReplicaId;

/// The device key pair and this process's session number.
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
pub fn replica_id(public: &[u8; 32], session: u64) -> ReplicaId {
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

    /// This process's session number (unique per process start on this device).
    pub fn session(&self) -> u64 {
        self.session
    }

    /// The writer id this process edits as.
    pub fn replica(&self) -> ReplicaId {
        replica_id(&self.public(), self.session)
    }

    /// Signs `msg` with the device key.
    pub fn sign(&self, msg: &[u8]) -> [u8; 64] {
        self.key.sign(msg).to_bytes()
    }
}

/// Checks an ed25519 signature.
pub fn verify(public: &[u8; 32], msg: &[u8], signature: &[u8; 64]) -> bool {
    let Ok(key) = VerifyingKey::from_bytes(public) else { return false };
    key.verify(msg, &Signature::from_bytes(signature)).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

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
}
