//! Document ids and keys.

use std::fmt;
use std::str::FromStr;

/// A document's id: 16 random bytes, shown as 32 hex digits.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DocId(pub [u8; 16]);

/// A document's secret key: whoever holds it can read and write the document.
#[derive(Clone, PartialEq, Eq)]
pub struct DocKey(pub [u8; 32]);

impl DocId {
    /// A fresh random id.
    pub fn random() -> Result<DocId, getrandom::Error> {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b)?;
        Ok(DocId(b))
    }
}

impl DocKey {
    /// A fresh random key.
    pub fn random() -> Result<DocKey, getrandom::Error> {
        let mut b = [0u8; 32];
        getrandom::fill(&mut b)?;
        Ok(DocKey(b))
    }
}

impl fmt::Display for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Debug for DocId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DocId({self})")
    }
}

impl fmt::Debug for DocKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DocKey(..)")
    }
}

/// A string that is not a document id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a document id (expected 32 hex digits)")]
pub struct BadDocId(pub String);

impl FromStr for DocId {
    type Err = BadDocId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        if bytes.len() != 32 {
            return Err(BadDocId(s.to_owned()));
        }
        let mut out = [0u8; 16];
        for (i, pair) in bytes.chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).map_err(|_| BadDocId(s.to_owned()))?;
            out[i] = u8::from_str_radix(hex, 16).map_err(|_| BadDocId(s.to_owned()))?;
        }
        Ok(DocId(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doc_ids_round_trip_through_text() {
        let id = DocId::random().unwrap();
        assert_eq!(id.to_string().parse::<DocId>().unwrap(), id);
        assert!("xyz".parse::<DocId>().is_err());
        assert!("zz".repeat(16).parse::<DocId>().is_err());
        assert_ne!(DocId::random().unwrap(), id);
    }
}
