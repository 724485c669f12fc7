//! Who wrote what, on any replica, online or not: each writer of a document records its
//! display name and colour in the document's own map, under keys named after its author
//! id (`author/<id>`, `colour/<id>`), so the names sync and stay with the history, also
//! for people who left long ago.
//!
//! Any ticket holder can write any map key, so an entry counts only when the author it
//! names wrote it itself: another writer cannot put a name on someone else's edits (the
//! owner's next record writes its own entry back). Names are cut to [`MAX_NAME_CHARS`]
//! chars and stripped of control characters when read.

use std::collections::BTreeMap;
use tandem_crdt::{Doc, ReplicaId, Value};

/// The longest name shown, in chars.
pub const MAX_NAME_CHARS: usize = 64;

const NAME: &str = "author/";
const COLOUR: &str = "colour/";
/// The peer id of the device a writer writes from: who keeps the right to edit when
/// the document's key changes ([`crate::rekey`]).
const DEVICE: &str = "device/";

/// An author as the document names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Author {
    /// The display name it gave itself.
    pub name: String,
    /// Its colour (0xRRGGBB), if it gave one.
    pub colour: Option<u32>,
}

fn key(prefix: &str, author: ReplicaId) -> String {
    format!("{prefix}{author}")
}

/// A name as it is shown: no control chars, at most [`MAX_NAME_CHARS`] chars.
pub(crate) fn clean(name: &str) -> String {
    name.chars().filter(|c| !c.is_control()).take(MAX_NAME_CHARS).collect::<String>().trim().to_owned()
}

/// The value of `key` if `author` wrote the winning one.
fn own(doc: &Doc, key: &str, author: ReplicaId) -> Option<Value> {
    doc.map_get_with_writer(key).filter(|(_, w)| *w == author).map(|(v, _)| v.clone())
}

/// The author `author` as the document names it, if it recorded itself.
pub fn author_of(doc: &Doc, author: ReplicaId) -> Option<Author> {
    let Some(Value::Str(name)) = own(doc, &key(NAME, author), author) else { return None };
    let colour = match own(doc, &key(COLOUR, author), author) {
        Some(Value::Int(c)) => u32::try_from(c).ok().map(|c| c & 0xff_ffff),
        _ => None,
    };
    Some(Author { name: clean(&name), colour })
}

/// Every author that recorded itself in the document.
pub fn authors_of(doc: &Doc) -> BTreeMap<ReplicaId, Author> {
    doc.map_keys()
        .filter_map(|k| k.strip_prefix(NAME))
        .filter_map(|id| u64::from_str_radix(id, 16).ok().map(ReplicaId))
        .filter_map(|a| author_of(doc, a).map(|author| (a, author)))
        .collect()
}

/// The device (peer id, as text) each writer said it writes from, by author.
pub fn devices_of(doc: &Doc) -> BTreeMap<ReplicaId, String> {
    doc.map_keys()
        .filter_map(|k| k.strip_prefix(DEVICE))
        .filter_map(|id| u64::from_str_radix(id, 16).ok().map(ReplicaId))
        .filter_map(|a| match own(doc, &key(DEVICE, a), a) {
            Some(Value::Str(peer)) => Some((a, peer)),
            _ => None,
        })
        .collect()
}

/// Whether this replica recorded that it writes from the device `peer`.
pub fn device_recorded(doc: &Doc, peer: &str) -> bool {
    let me = doc.replica();
    matches!(own(doc, &key(DEVICE, me), me), Some(Value::Str(p)) if p == peer)
}

/// Records the device this replica writes from (its peer id), when the document does
/// not hold it already; returns whether it wrote anything (the caller commits).
pub fn record_device(doc: &mut Doc, peer: &str) -> Result<bool, tandem_crdt::Error> {
    if device_recorded(doc, peer) {
        return Ok(false);
    }
    let me = doc.replica();
    doc.map_set(&key(DEVICE, me), Value::Str(peer.to_owned()))?;
    Ok(true)
}

/// Records this replica's name and colour in the document, when the document does not
/// hold them already; returns whether it wrote anything (the caller commits).
pub fn record_author(doc: &mut Doc, name: &str, colour: u32) -> Result<bool, tandem_crdt::Error> {
    let me = doc.replica();
    let name = clean(name);
    let colour = colour & 0xff_ffff;
    let wanted = Author { name: name.clone(), colour: Some(colour) };
    if name.is_empty() || author_of(doc, me).as_ref() == Some(&wanted) {
        return Ok(false);
    }
    doc.map_set(&key(NAME, me), Value::Str(name))?;
    doc.map_set(&key(COLOUR, me), Value::Int(i64::from(colour)))?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(from: &mut Doc, to: &mut Doc) {
        for c in from.all_changes() {
            to.apply(c).ok();
        }
    }

    #[test]
    fn authors_name_themselves_once_and_nobody_names_another() {
        let mut ada = Doc::new(ReplicaId(1));
        assert!(record_author(&mut ada, "Ada", 0x123456).unwrap());
        ada.commit();
        assert!(!record_author(&mut ada, "Ada", 0x123456).unwrap(), "nothing new to record");
        let mut grace = Doc::new(ReplicaId(2));
        sync(&mut ada, &mut grace);
        assert_eq!(
            authors_of(&grace).get(&ReplicaId(1)),
            Some(&Author { name: "Ada".into(), colour: Some(0x123456) })
        );
        // Grace writes a name under Ada's id: it does not count.
        grace.map_set(&key(NAME, ReplicaId(1)), Value::Str("Not Ada".into())).unwrap();
        grace.commit();
        assert_eq!(author_of(&grace, ReplicaId(1)), None);
        sync(&mut grace, &mut ada);
        // Ada sees her entry is not hers any more and writes it back.
        assert!(record_author(&mut ada, "Ada", 0x123456).unwrap());
        ada.commit();
        sync(&mut ada, &mut grace);
        assert_eq!(author_of(&grace, ReplicaId(1)).unwrap().name, "Ada");
        // A rename is recorded; names are cleaned.
        assert!(record_author(&mut ada, "Ada\u{7}  Lovelace".repeat(20).as_str(), 1).unwrap());
        let name = author_of(&ada, ReplicaId(1)).unwrap().name;
        assert!(name.chars().count() <= MAX_NAME_CHARS && !name.contains('\u{7}'), "{name:?}");
        assert!(!record_author(&mut ada, " \n ", 1).unwrap(), "no empty name");
    }
}
