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
/// The other devices a writer says are its person's (peer ids, comma-separated). Two
/// devices count as one person only when each names the other.
const LINKED: &str = "linked/";

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

/// The devices (peer ids) `author` says are its person's too.
pub fn links_of(doc: &Doc, author: ReplicaId) -> Vec<String> {
    match own(doc, &key(LINKED, author), author) {
        Some(Value::Str(s)) => s.split(',').filter(|p| !p.is_empty()).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

/// Records the devices this replica's person also writes from (their peer ids), when
/// the document does not hold exactly them; returns whether it wrote anything.
pub fn record_links(doc: &mut Doc, peers: &[String]) -> Result<bool, tandem_crdt::Error> {
    let me = doc.replica();
    let mut peers: Vec<String> =
        peers.iter().filter(|p| !p.is_empty() && !p.contains(',')).cloned().collect();
    peers.sort();
    peers.dedup();
    if links_of(doc, me) == peers {
        return Ok(false);
    }
    doc.map_set(&key(LINKED, me), Value::Str(peers.join(",")))?;
    Ok(true)
}

/// The chars of a device's short code ([`device_code`]).
pub const DEVICE_CODE_CHARS: usize = 16;

/// A device's short code, the one a person reads off one device and types on another
/// to link them: the last [`DEVICE_CODE_CHARS`] chars of its peer id in groups of four
/// (the peers panel's key fingerprint is its last two groups). About 80 bits of the
/// device's key even with case ignored, too many to make a key that matches a chosen
/// code.
pub fn device_code(peer: &str) -> String {
    let chars: Vec<char> = peer.chars().collect();
    let tail = &chars[chars.len().saturating_sub(DEVICE_CODE_CHARS)..];
    tail.chunks(4).map(|c| c.iter().collect::<String>()).collect::<Vec<_>>().join("-")
}

/// A typed device code as it is compared: without spaces and dashes, in lower case;
/// `None` when it is not [`DEVICE_CODE_CHARS`] letters and digits.
pub fn normal_device_code(code: &str) -> Option<String> {
    let res: String =
        code.chars().filter(|c| !c.is_whitespace() && *c != '-').flat_map(char::to_lowercase).collect();
    (res.chars().count() == DEVICE_CODE_CHARS && res.chars().all(|c| c.is_ascii_alphanumeric()))
        .then_some(res)
}

/// Whether the device `peer` has the short code `code` ([`normal_device_code`] form).
pub fn has_device_code(peer: &str, code: &str) -> bool {
    normal_device_code(&device_code(peer)).is_some_and(|c| c == code)
}

/// Every author mapped to the one it is shown as: the first (smallest id) author of its
/// person, the devices joined by links that both ends made. An author with no
/// confirmed link is shown as itself.
pub fn people_of(doc: &Doc) -> BTreeMap<ReplicaId, ReplicaId> {
    let devices = devices_of(doc);
    let mut says: BTreeMap<&str, std::collections::BTreeSet<String>> = BTreeMap::new();
    for (author, device) in &devices {
        says.entry(device.as_str()).or_default().extend(links_of(doc, *author));
    }
    // Devices joined by mutual links, each to the smallest device of its group.
    let mut group: BTreeMap<&str, &str> = says.keys().map(|d| (*d, *d)).collect();
    fn root<'a>(group: &BTreeMap<&'a str, &'a str>, mut d: &'a str) -> &'a str {
        while let Some(&up) = group.get(d).filter(|up| **up != d) {
            d = up;
        }
        d
    }
    for (device, links) in &says {
        for other in links {
            let mutual = says.get(other.as_str()).is_some_and(|back| back.contains(*device));
            if !mutual {
                continue;
            }
            let (a, b) = (root(&group, device), root(&group, other.as_str()));
            if a != b {
                let (lo, hi) = if a < b { (a, b) } else { (b, a) };
                group.insert(hi, lo);
            }
        }
    }
    let mut first: BTreeMap<&str, ReplicaId> = BTreeMap::new();
    for (author, device) in &devices {
        let r = root(&group, device);
        first.entry(r).and_modify(|f| *f = (*f).min(*author)).or_insert(*author);
    }
    devices.iter().map(|(author, device)| (*author, first[root(&group, device)])).collect()
}

/// The links `author` claims that the other device did not make back: shown as a
/// warning, never as one person.
pub fn unconfirmed_links(doc: &Doc, author: ReplicaId) -> Vec<String> {
    let devices = devices_of(doc);
    let Some(mine) = devices.get(&author) else { return Vec::new() };
    links_of(doc, author)
        .into_iter()
        .filter(|other| {
            !devices.iter().any(|(a, d)| d == other && links_of(doc, *a).iter().any(|back| back == mine))
        })
        .collect()
}

/// How the document shows `author`: under its person's name and colour when its device
/// is linked (both ways) to the device of another author that named itself; a name
/// that another person uses too gets its device's key fingerprint, so nobody passes
/// for someone else.
pub fn shown_author(doc: &Doc, author: ReplicaId) -> Option<Author> {
    let people = people_of(doc);
    let person = people.get(&author).copied().unwrap_or(author);
    let group: Vec<ReplicaId> = people.iter().filter(|(_, p)| **p == person).map(|(a, _)| *a).collect();
    let mut shown = std::iter::once(person)
        .chain(group.iter().copied())
        .chain(std::iter::once(author))
        .find_map(|a| author_of(doc, a))?;
    let clash = authors_of(doc)
        .iter()
        .any(|(other, a)| a.name == shown.name && people.get(other).copied().unwrap_or(*other) != person);
    if clash {
        let device = devices_of(doc).remove(&author).unwrap_or_else(|| author.to_string());
        shown.name = format!("{} (key …{})", shown.name, &device[device.len().saturating_sub(6)..]);
    }
    Some(shown)
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
    fn a_device_code_is_the_peer_ids_tail_and_is_typed_loosely() {
        let peer = "12D3KooWAnz7WxmxstAW2JZ9vyDmnocbsHtCvFFfRGdGRM13Yaw6";
        let code = device_code(peer);
        assert_eq!(code, "vFFf-RGdG-RM13-Yaw6");
        let typed = format!("  {} ", code.to_uppercase().replace('-', " "));
        let n = normal_device_code(&typed).unwrap();
        assert!(has_device_code(peer, &n));
        assert!(!has_device_code("12D3KooWAnz7WxmxstAW2JZ9vyDmnocbsHtCvFFfRGdGRM13Yaw7", &n));
        assert_eq!(normal_device_code("abc"), None, "too short");
        assert_eq!(normal_device_code("abcd-efgh-ijkl-mn!p"), None, "not a letter or digit");
    }

    #[test]
    fn linked_devices_show_as_one_person_only_when_both_say_so() {
        let mut laptop = Doc::new(ReplicaId(1));
        record_author(&mut laptop, "Ada", 0x123456).unwrap();
        record_device(&mut laptop, "LAPTOP").unwrap();
        laptop.commit();
        let mut desktop = Doc::new(ReplicaId(2));
        record_author(&mut desktop, "Ada at home", 0x654321).unwrap();
        record_device(&mut desktop, "DESKTOP").unwrap();
        desktop.commit();
        let mut mallory = Doc::new(ReplicaId(3));
        record_author(&mut mallory, "Ada", 0x123456).unwrap();
        record_device(&mut mallory, "MALLORY").unwrap();
        // Mallory claims to be one of Ada's devices.
        record_links(&mut mallory, &["LAPTOP".into()]).unwrap();
        mallory.commit();
        sync(&mut desktop, &mut laptop);
        sync(&mut mallory, &mut laptop);
        // Only the desktop has said it is the laptop's: no one person yet.
        record_links(&mut desktop, &["LAPTOP".into()]).unwrap();
        desktop.commit();
        sync(&mut desktop, &mut laptop);
        assert_eq!(people_of(&laptop)[&ReplicaId(2)], ReplicaId(2));
        assert_eq!(unconfirmed_links(&laptop, ReplicaId(2)), vec!["LAPTOP".to_owned()]);
        // The laptop says it back: both show as Ada; Mallory does not.
        record_links(&mut laptop, &["DESKTOP".into()]).unwrap();
        laptop.commit();
        let people = people_of(&laptop);
        assert_eq!((people[&ReplicaId(1)], people[&ReplicaId(2)]), (ReplicaId(1), ReplicaId(1)));
        assert_eq!(people[&ReplicaId(3)], ReplicaId(3));
        assert!(unconfirmed_links(&laptop, ReplicaId(2)).is_empty());
        assert_eq!(unconfirmed_links(&laptop, ReplicaId(3)), vec!["LAPTOP".to_owned()]);
        let desk = shown_author(&laptop, ReplicaId(2)).unwrap();
        assert_eq!((desk.colour, desk.name.starts_with("Ada")), (Some(0x123456), true));
        // The same name on another person gets a key fingerprint on both sides.
        assert_eq!(shown_author(&laptop, ReplicaId(3)).unwrap().name, "Ada (key …ALLORY)");
        assert_eq!(shown_author(&laptop, ReplicaId(1)).unwrap().name, "Ada (key …LAPTOP)");
        assert_eq!(shown_author(&laptop, ReplicaId(2)).unwrap().name, "Ada (key …ESKTOP)");
        assert!(!record_links(&mut laptop, &["DESKTOP".into()]).unwrap(), "nothing new");
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
