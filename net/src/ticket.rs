//! Tickets: the one string that shares a document (its id, a secret and a few peer
//! addresses). An edit ticket carries the document key: its holder can read and write.
//! A read ticket carries the read secret and the write key's public half
//! ([`crate::crypto`]): its holder reads, follows and serves the document, and every
//! change it makes is refused by everyone.
//!
//! Layout: `tandem1` + lowercase base32 (no padding) of: version byte (1 for an edit
//! ticket, 2 for a read ticket), doc id (16), key or read secret (32), for a read ticket
//! the write public key (32), address count (1), each address as length (2,
//! little-endian) + multiaddr bytes, then the first 4 bytes of SHA-256 over all of that
//! (catches typos).

use libp2p::Multiaddr;
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;
use tandem_storage::{DocId, DocKey};

const PREFIX: &str = "tandem1";
const VERSION: u8 = 1;
const VERSION_READ: u8 = 2;
/// Most addresses a ticket carries.
pub(crate) const MAX_ADDRS: usize = 8;

/// A document share ticket.
#[derive(Clone, PartialEq, Eq)]
pub struct Ticket {
    /// The document.
    pub doc: DocId,
    /// Its secret key, or for a read ticket its read secret.
    pub key: DocKey,
    /// For a read ticket: the document's write public key.
    pub read_only: Option<[u8; 32]>,
    /// Where peers that have it may be found.
    pub addrs: Vec<Multiaddr>,
}

impl fmt::Debug for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Ticket").field("doc", &self.doc).field("addrs", &self.addrs).finish_non_exhaustive()
    }
}

/// Why a string is not a usable ticket.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TicketError {
    /// It does not start with `tandem1`.
    #[error("not a Tandem ticket (it should start with \"{PREFIX}\")")]
    Prefix,
    /// The text after the prefix is not base32.
    #[error("the ticket contains characters that do not belong in a ticket")]
    Alphabet,
    /// The checksum does not match: a typo or a cut-off copy.
    #[error("the ticket is damaged or incomplete (checksum mismatch); copy it again")]
    Checksum,
    /// Structurally wrong.
    #[error("the ticket is malformed: {0}")]
    Malformed(&'static str),
    /// A newer ticket format.
    #[error("the ticket was made by a newer Tandem (format {0}); upgrade Tandem")]
    Version(u8),
}

impl fmt::Display for Ticket {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut b = vec![if self.read_only.is_some() { VERSION_READ } else { VERSION }];
        b.extend_from_slice(&self.doc.0);
        b.extend_from_slice(&self.key.0);
        if let Some(w) = &self.read_only {
            b.extend_from_slice(w);
        }
        let addrs: Vec<&Multiaddr> = self.addrs.iter().take(MAX_ADDRS).collect();
        b.push(addrs.len() as u8);
        for a in addrs {
            let bytes = a.to_vec();
            b.extend_from_slice(&(bytes.len() as u16).to_le_bytes());
            b.extend_from_slice(&bytes);
        }
        let sum = Sha256::digest(&b);
        b.extend_from_slice(&sum[..4]);
        write!(f, "{PREFIX}{}", data_encoding::BASE32_NOPAD.encode(&b).to_ascii_lowercase())
    }
}

impl FromStr for Ticket {
    type Err = TicketError;

    fn from_str(s: &str) -> Result<Ticket, TicketError> {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let body = s.strip_prefix(PREFIX).ok_or(TicketError::Prefix)?;
        let b = data_encoding::BASE32_NOPAD.decode(body.to_ascii_uppercase().as_bytes()).map_err(
            |e| match e.kind {
                // A cut-off copy: the same advice as a checksum mismatch.
                data_encoding::DecodeKind::Length => TicketError::Checksum,
                _ => TicketError::Alphabet,
            },
        )?;
        if b.len() < 1 + 16 + 32 + 1 + 4 {
            return Err(TicketError::Checksum);
        }
        let (data, sum) = b.split_at(b.len() - 4);
        if Sha256::digest(data)[..4] != *sum {
            return Err(TicketError::Checksum);
        }
        if data[0] != VERSION && data[0] != VERSION_READ {
            return Err(TicketError::Version(data[0]));
        }
        let mut doc = [0u8; 16];
        doc.copy_from_slice(&data[1..17]);
        let mut key = [0u8; 32];
        key.copy_from_slice(&data[17..49]);
        let mut rest = &data[49..];
        let read_only = if data[0] == VERSION_READ {
            let w: [u8; 32] = rest
                .get(..32)
                .and_then(|w| w.try_into().ok())
                .ok_or(TicketError::Malformed("write key cut off"))?;
            rest = &rest[32..];
            Some(w)
        } else {
            None
        };
        let (&n, after) = rest.split_first().ok_or(TicketError::Malformed("address count cut off"))?;
        let n = n as usize;
        rest = after;
        if n > MAX_ADDRS {
            return Err(TicketError::Malformed("too many addresses"));
        }
        let mut addrs = Vec::with_capacity(n);
        for _ in 0..n {
            if rest.len() < 2 {
                return Err(TicketError::Malformed("address cut off"));
            }
            let len = u16::from_le_bytes([rest[0], rest[1]]) as usize;
            rest = &rest[2..];
            if rest.len() < len {
                return Err(TicketError::Malformed("address cut off"));
            }
            let addr = Multiaddr::try_from(rest[..len].to_vec())
                .map_err(|_| TicketError::Malformed("bad address"))?;
            addrs.push(addr);
            rest = &rest[len..];
        }
        if !rest.is_empty() {
            return Err(TicketError::Malformed("trailing bytes"));
        }
        Ok(Ticket { doc: DocId(doc), key: DocKey(key), read_only, addrs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Ticket {
        Ticket {
            doc: DocId([7; 16]),
            key: DocKey([9; 32]),
            read_only: None,
            addrs: vec![
                "/ip4/127.0.0.1/tcp/4001/p2p/12D3KooWGzh5QqrCLcQSJyHb5QnyEu6EtP5dRsxpbExAWXbgDxTy"
                    .parse()
                    .unwrap(),
                "/ip6/::1/udp/4001/quic-v1".parse().unwrap(),
            ],
        }
    }

    #[test]
    fn round_trip() {
        let t = sample();
        let s = t.to_string();
        assert!(s.starts_with("tandem1"));
        assert_eq!(s.parse::<Ticket>().unwrap(), t);
        // Copies with line breaks or spaces still parse.
        let wrapped = format!(" {}\n{} ", &s[..20], &s[20..]);
        assert_eq!(wrapped.parse::<Ticket>().unwrap(), t);
        let none = Ticket { addrs: vec![], ..t.clone() };
        assert_eq!(none.to_string().parse::<Ticket>().unwrap(), none);
        // A read ticket: 32 bytes more, and it says so.
        let read = Ticket { read_only: Some([4; 32]), ..t };
        let rs = read.to_string();
        assert_eq!(rs.parse::<Ticket>().unwrap(), read);
        assert_ne!(rs, s);
        for cut in [rs.len() - 4, 60] {
            assert!(rs[..cut].parse::<Ticket>().is_err());
        }
    }

    #[test]
    fn bad_tickets_say_why() {
        let s = sample().to_string();
        assert_eq!("hello".parse::<Ticket>(), Err(TicketError::Prefix));
        assert_eq!("tandem1!!!!!!!!".parse::<Ticket>(), Err(TicketError::Alphabet));
        assert_eq!(s[..s.len() - 5].parse::<Ticket>(), Err(TicketError::Checksum), "cut off");
        // One changed character: the checksum catches it.
        let mut typo: Vec<char> = s.chars().collect();
        let i = typo.len() / 2;
        typo[i] = if typo[i] == 'a' { 'b' } else { 'a' };
        let typo: String = typo.into_iter().collect();
        assert!(matches!(typo.parse::<Ticket>(), Err(TicketError::Checksum | TicketError::Alphabet)));
        for bad in ["", "tandem1", "tandem1aaaa"] {
            assert!(bad.parse::<Ticket>().is_err(), "{bad:?}");
        }
    }
}
