//! Named versions: a name given to a version of the document ("sent to editor"), kept
//! in the document's own map under `version/<name>` (the version's vector clock), so it
//! syncs to every peer and stays with the history. The history lists them first.
//!
//! A version named by a peer is untrusted: one whose clock does not decode is skipped,
//! and names are cleaned as authors' are.

use crate::authors::clean;
use tandem_crdt::{Doc, ReplicaId, Value, VectorClock, encoding};

const PREFIX: &str = "version/";

/// Named versions a document holds, at most (the rest are not listed).
pub const MAX_LISTED: usize = 256;

/// A version of the document with a name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NamedVersion {
    /// Its name.
    pub name: String,
    /// The version.
    pub clock: VectorClock,
    /// Who named it.
    pub by: ReplicaId,
}

/// Names the document's current version `name` (a name given before is moved to this
/// version); the caller commits. An empty name names nothing and returns false.
pub fn name_version(doc: &mut Doc, name: &str) -> Result<bool, tandem_crdt::Error> {
    let name = clean(name);
    if name.is_empty() {
        return Ok(false);
    }
    let clock = encoding::encode_clock(doc.version());
    doc.map_set(&format!("{PREFIX}{name}"), Value::Bytes(clock))?;
    Ok(true)
}

/// The document's named versions, oldest first (by how many ops they hold, then name).
pub fn named_versions(doc: &Doc) -> Vec<NamedVersion> {
    let mut res: Vec<NamedVersion> = doc
        .map_keys()
        .filter(|k| k.starts_with(PREFIX))
        .take(MAX_LISTED)
        .filter_map(|k| {
            let (Value::Bytes(b), by) = doc.map_get_with_writer(k)? else { return None };
            let clock = encoding::decode_clock(b).ok()?;
            let name = clean(&k[PREFIX.len()..]);
            (!name.is_empty()).then_some(NamedVersion { name, clock, by })
        })
        .collect();
    res.sort_by(|a, b| a.clock.n_ops().cmp(&b.clock.n_ops()).then_with(|| a.name.cmp(&b.name)));
    res
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_named_version_syncs_and_shows_the_text_it_names() {
        let mut ada = Doc::new(ReplicaId(1));
        ada.insert(0, "first draft").unwrap();
        ada.commit();
        assert!(name_version(&mut ada, " sent to editor\n").unwrap());
        ada.commit();
        ada.insert(0, "Second: ").unwrap();
        ada.commit();
        assert!(!name_version(&mut ada, " \t").unwrap(), "no empty name");
        let mut grace = Doc::new(ReplicaId(2));
        for c in ada.all_changes() {
            grace.apply(c).unwrap();
        }
        let versions = named_versions(&grace);
        assert_eq!(versions.len(), 1);
        assert_eq!(versions[0].name, "sent to editor");
        assert_eq!(versions[0].by, ReplicaId(1));
        assert_eq!(grace.text_at(&versions[0].clock).unwrap(), "first draft");
        // A peer's garbage under the prefix is skipped, not shown.
        grace.map_set("version/bad", Value::Bytes(vec![0xff; 3])).unwrap();
        grace.map_set("version/also bad", Value::Str("x".into())).unwrap();
        grace.commit();
        assert!(name_version(&mut grace, "final").unwrap());
        grace.commit();
        let names: Vec<String> = named_versions(&grace).into_iter().map(|v| v.name).collect();
        assert_eq!(names, vec!["sent to editor".to_owned(), "final".to_owned()], "oldest first");
    }
}
