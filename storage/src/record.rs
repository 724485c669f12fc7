//! The byte layout of table values (versioned; decoding checks every length).

/// A document's row.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct DocRecord {
    pub key: [u8; 32],
    pub title: String,
    pub chars: u64,
    pub created_ms: u64,
    pub opened_ms: u64,
    pub modified_ms: u64,
    /// Changes and bytes stored since the snapshot.
    pub tail_changes: u64,
    pub tail_bytes: u64,
}

/// A stored change.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct StoredChange {
    pub end_seq: u64,
    pub lamport: u64,
    pub change: Vec<u8>,
    pub signature: Vec<u8>,
}

const RECORD_VERSION: u8 = 1;

fn put(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push(v as u8 | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_bytes(out: &mut Vec<u8>, b: &[u8]) {
    put(out, b.len() as u64);
    out.extend_from_slice(b);
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn u8(&mut self) -> Result<u8, &'static str> {
        let (&b, rest) = self.0.split_first().ok_or("truncated record")?;
        self.0 = rest;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, &'static str> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= ((b & 0x7f) as u64) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err("bad varint in record")
    }

    fn bytes(&mut self) -> Result<&'a [u8], &'static str> {
        let n = self.varint()?;
        if n > self.0.len() as u64 {
            return Err("length beyond the record");
        }
        let (b, rest) = self.0.split_at(n as usize);
        self.0 = rest;
        Ok(b)
    }

    fn version(&mut self) -> Result<(), &'static str> {
        match self.u8()? {
            RECORD_VERSION => Ok(()),
            _ => Err("unknown record version"),
        }
    }

    fn end(&self) -> Result<(), &'static str> {
        if self.0.is_empty() { Ok(()) } else { Err("trailing bytes in record") }
    }
}

impl DocRecord {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = vec![RECORD_VERSION];
        out.extend_from_slice(&self.key);
        put_bytes(&mut out, self.title.as_bytes());
        for v in [
            self.chars,
            self.created_ms,
            self.opened_ms,
            self.modified_ms,
            self.tail_changes,
            self.tail_bytes,
        ] {
            put(&mut out, v);
        }
        out
    }

    pub fn decode(b: &[u8]) -> Result<DocRecord, &'static str> {
        let mut r = Reader(b);
        r.version()?;
        let mut key = [0u8; 32];
        for k in &mut key {
            *k = r.u8()?;
        }
        let title = std::str::from_utf8(r.bytes()?).map_err(|_| "title is not UTF-8")?.to_owned();
        let rec = DocRecord {
            key,
            title,
            chars: r.varint()?,
            created_ms: r.varint()?,
            opened_ms: r.varint()?,
            modified_ms: r.varint()?,
            tail_changes: r.varint()?,
            tail_bytes: r.varint()?,
        };
        r.end()?;
        Ok(rec)
    }

    pub fn info(&self, id: crate::DocId) -> crate::DocInfo {
        crate::DocInfo {
            id,
            key: crate::DocKey(self.key),
            title: self.title.clone(),
            chars: self.chars,
            created_ms: self.created_ms,
            opened_ms: self.opened_ms,
            modified_ms: self.modified_ms,
        }
    }
}

impl StoredChange {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.change.len() + self.signature.len() + 16);
        out.push(RECORD_VERSION);
        put(&mut out, self.end_seq);
        put(&mut out, self.lamport);
        put_bytes(&mut out, &self.change);
        put_bytes(&mut out, &self.signature);
        out
    }

    pub fn decode(b: &[u8]) -> Result<StoredChange, &'static str> {
        let mut r = Reader(b);
        r.version()?;
        let end_seq = r.varint()?;
        let lamport = r.varint()?;
        let change = r.bytes()?.to_vec();
        let signature = r.bytes()?.to_vec();
        r.end()?;
        Ok(StoredChange { end_seq, lamport, change, signature })
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
        };
        let b = rec.encode();
        assert_eq!(DocRecord::decode(&b).unwrap(), rec);
        for cut in 0..b.len() {
            assert!(DocRecord::decode(&b[..cut]).is_err());
        }
        let sc = StoredChange { end_seq: 9, lamport: 4, change: vec![1, 2, 3], signature: vec![9; 64] };
        let b = sc.encode();
        assert_eq!(StoredChange::decode(&b).unwrap(), sc);
        let mut long = b.clone();
        long.push(0);
        assert!(StoredChange::decode(&long).is_err());
        assert!(StoredChange::decode(&[2, 0, 0]).is_err());
    }
}
