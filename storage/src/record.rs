//! The byte layout of table values (versioned; decoding checks every length).

use tandem_crdt::varint;

/// A document's row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DocRecord {
    pub(crate) key: [u8; 32],
    pub(crate) title: String,
    pub(crate) chars: u64,
    pub(crate) created_ms: u64,
    pub(crate) opened_ms: u64,
    pub(crate) modified_ms: u64,
    /// Changes and bytes stored since the snapshot.
    pub(crate) tail_changes: u64,
    pub(crate) tail_bytes: u64,
    /// For a document this device may only read: its write public key (`key` is then
    /// its read secret). Stored after the other fields, only when set.
    pub(crate) read_only: Option<[u8; 32]>,
}

/// A stored change. Once a snapshot holds its ops, `change` is empty: the change is
/// regenerated from the snapshot ([`tandem_crdt::Doc::change_by`]) and only its seal is
/// kept here, so the history is stored once.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredChange {
    pub(crate) end_seq: u64,
    pub(crate) lamport: u64,
    pub(crate) change: Vec<u8>,
    pub(crate) signature: Vec<u8>,
}

const RECORD_VERSION: u8 = 1;
/// Marks the optional last field of a document's row: the document is read-only.
const READ_ONLY: u8 = 1;

/// Why a stored table value could not be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum RecordError {
    /// A number or a length-prefixed field is cut short or out of range.
    #[error("record field: {0}")]
    Field(#[from] varint::VarintError),
    /// The record starts with a version this build does not know.
    #[error("unknown record version {0}")]
    Version(u8),
    /// The document title is not UTF-8.
    #[error("title is not UTF-8")]
    Title,
    /// Bytes follow the last field.
    #[error("trailing bytes in record")]
    Trailing,
}

/// A cursor over one stored value.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, RecordError> {
        let (&b, rest) = self.0.split_first().ok_or(varint::VarintError::End)?;
        self.0 = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, RecordError> {
        Ok(varint::take(&mut self.0)?)
    }

    fn bytes(&mut self) -> Result<&'a [u8], RecordError> {
        Ok(varint::take_bytes(&mut self.0)?)
    }

    fn version(&mut self) -> Result<(), RecordError> {
        match self.u8()? {
            RECORD_VERSION => Ok(()),
            v => Err(RecordError::Version(v)),
        }
    }

    fn end(&self) -> Result<(), RecordError> {
        if self.0.is_empty() { Ok(()) } else { Err(RecordError::Trailing) }
    }
}

impl DocRecord {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_VERSION];
        out.extend_from_slice(&self.key);
        varint::put_bytes(&mut out, self.title.as_bytes());
        for v in [
            self.chars,
            self.created_ms,
            self.opened_ms,
            self.modified_ms,
            self.tail_changes,
            self.tail_bytes,
        ] {
            varint::put(&mut out, v);
        }
        if let Some(w) = &self.read_only {
            out.push(READ_ONLY);
            out.extend_from_slice(w);
        }
        out
    }

    pub(crate) fn decode(b: &[u8]) -> Result<DocRecord, RecordError> {
        let mut r = Reader(b);
        r.version()?;
        let mut key = [0u8; 32];
        for k in &mut key {
            *k = r.u8()?;
        }
        let title = std::str::from_utf8(r.bytes()?).map_err(|_| RecordError::Title)?.to_owned();
        let rec = DocRecord {
            key,
            title,
            chars: r.varint()?,
            created_ms: r.varint()?,
            opened_ms: r.varint()?,
            modified_ms: r.varint()?,
            tail_changes: r.varint()?,
            tail_bytes: r.varint()?,
            read_only: None,
        };
        let mut rec = rec;
        if !r.0.is_empty() {
            if r.u8()? != READ_ONLY {
                return Err(RecordError::Trailing);
            }
            let mut w = [0u8; 32];
            for b in &mut w {
                *b = r.u8()?;
            }
            rec.read_only = Some(w);
        }
        r.end()?;
        Ok(rec)
    }

    pub(crate) fn info(&self, id: crate::DocId) -> crate::DocInfo {
        crate::DocInfo {
            id,
            key: crate::DocKey(self.key),
            read_only: self.read_only,
            title: self.title.clone(),
            chars: self.chars,
            created_ms: self.created_ms,
            opened_ms: self.opened_ms,
            modified_ms: self.modified_ms,
        }
    }
}

impl StoredChange {
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.change.len() + self.signature.len() + 16);
        out.push(RECORD_VERSION);
        varint::put(&mut out, self.end_seq);
        varint::put(&mut out, self.lamport);
        varint::put_bytes(&mut out, &self.change);
        varint::put_bytes(&mut out, &self.signature);
        out
    }

    pub(crate) fn decode(b: &[u8]) -> Result<StoredChange, RecordError> {
        let mut r = Reader(b);
        r.version()?;
        let end_seq = r.varint()?;
        let lamport = r.varint()?;
        let change = r.bytes()?.to_vec();
        let signature = r.bytes()?.to_vec();
        r.end()?;
        Ok(StoredChange { end_seq, lamport, change, signature })
    }

    /// Whether the change's bytes live in the document's snapshot only.
    pub(crate) fn compacted(&self) -> bool {
        self.change.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_and_reject_garbage() {
        let rec = DocRecord {
            key: [3; 32],
            title: "Notes 漢字".into(),
            chars: 12,
            created_ms: 1,
            opened_ms: 2,
            modified_ms: u64::MAX,
            tail_changes: 5,
            tail_bytes: 500,
            read_only: None,
        };
        let b = rec.encode();
        assert_eq!(DocRecord::decode(&b).unwrap(), rec);
        for cut in 0..b.len() {
            assert!(DocRecord::decode(&b[..cut]).is_err());
        }
        // A read-only document's row: the write public key after the other fields.
        let reader = DocRecord { read_only: Some([7; 32]), ..rec.clone() };
        let r = reader.encode();
        assert_eq!(r.len(), b.len() + 33);
        assert_eq!(DocRecord::decode(&r).unwrap(), reader);
        for cut in b.len() + 1..r.len() {
            assert!(DocRecord::decode(&r[..cut]).is_err(), "cut at {cut}");
        }
        let mut bad = b.clone();
        bad.push(9);
        assert_eq!(DocRecord::decode(&bad), Err(RecordError::Trailing));
        let sc = StoredChange { end_seq: 9, lamport: 4, change: vec![1, 2, 3], signature: vec![9; 64] };
        let b = sc.encode();
        assert_eq!(StoredChange::decode(&b).unwrap(), sc);
        let mut long = b.clone();
        long.push(0);
        assert!(StoredChange::decode(&long).is_err());
        assert_eq!(StoredChange::decode(&[2, 0, 0]), Err(RecordError::Version(2)));
    }
}
