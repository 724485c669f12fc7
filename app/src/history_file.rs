//! A document's whole history as JSON, for `tandem export --history` and `tandem import
//! --history`: one object per change (its author, the author's name as the document
//! gives it, its wall time, seqs, Lamport time, deps and ops), in causal order, through
//! the CRDT types' serde form (`tandem-crdt`'s `serde` feature). The wire and disk keep
//! the CRDT's own encoding; this is for people and other tools.
//!
//! Reading one back applies every change to a fresh replica with the CRDT's checks, so
//! a hand-edited file that breaks causality or names ops it never made is refused with
//! the change at fault; the result holds the same text, version and authors.

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use tandem_crdt::{Change, Config, Doc, ReplicaId};

/// The `format` field of a history file.
pub const FORMAT: &str = "tandem-history";
/// The version this build writes and reads.
pub const VERSION: u32 = 1;

/// A history file.
#[derive(Serialize, Deserialize, Debug)]
pub struct HistoryFile {
    /// Always [`FORMAT`].
    pub format: String,
    /// The file's layout version.
    pub version: u32,
    /// The document's title when exported.
    pub title: String,
    /// Every change, in an order that respects causality.
    pub changes: Vec<Entry>,
}

/// One change and its author's name.
#[derive(Serialize, Deserialize, Debug)]
pub struct Entry {
    /// The author's display name, if the document records one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The change.
    #[serde(flatten)]
    pub change: Change,
}

/// The history of `doc` as pretty JSON.
pub fn to_json(doc: &Doc, title: &str) -> Result<String> {
    let authors = tandem_net::authors::authors_of(doc);
    let changes = doc
        .all_changes()
        .into_iter()
        .map(|change| Entry { name: authors.get(&change.author).map(|a| a.name.clone()), change })
        .collect();
    let file = HistoryFile { format: FORMAT.into(), version: VERSION, title: title.into(), changes };
    // A map value no JSON can hold (a float that is not a number) is named here.
    serde_json::to_string_pretty(&file).context("the history holds a value JSON cannot represent")
}

/// Reads a history file into a replica that edits as `replica`: its title and the
/// replica. Errors name what is wrong (the JSON, its format, or the change refused).
pub fn from_json(text: &str, replica: ReplicaId) -> Result<(String, Doc)> {
    let file: HistoryFile = serde_json::from_str(text).context("not a Tandem history file")?;
    if file.format != FORMAT {
        bail!("not a Tandem history file (format {:?}, expected {FORMAT:?})", file.format);
    }
    if file.version != VERSION {
        bail!("history file version {} is not supported (this build reads version {VERSION})", file.version);
    }
    let mut doc = Doc::with_config(replica, Config::unbounded());
    for (i, e) in file.changes.into_iter().enumerate() {
        let id = e.change.id();
        doc.apply(e.change).with_context(|| format!("change {} ({id}) is refused", i + 1))?;
    }
    if doc.pending_changes() > 0 {
        let wanted: Vec<String> =
            doc.missing().iter().map(|(r, seq)| format!("{r} up to seq {seq}")).collect();
        bail!(
            "the history lacks changes that {} of its changes depend on (ops of {})",
            doc.pending_changes(),
            wanted.join(", ")
        );
    }
    doc.set_config(Config::default());
    Ok((file.title, doc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authors_names_and_times_survive() {
        let mut ada = Doc::new(ReplicaId(0xada));
        ada.set_wall_clock(1_790_000_000);
        tandem_net::authors::record_author(&mut ada, "Ada", 0xff0000).unwrap();
        ada.insert(0, "hi").unwrap();
        ada.commit().unwrap();
        let json = to_json(&ada, "Notes").unwrap();
        assert!(json.contains("\"name\": \"Ada\""), "{json}");
        assert!(json.contains("\"time\": 1790000000"), "{json}");
        let (_, back) = from_json(&json, ReplicaId(1)).unwrap();
        assert_eq!(tandem_net::authors::author_of(&back, ReplicaId(0xada)).unwrap().name, "Ada");
        assert_eq!(back.time_of(tandem_crdt::OpId::new(ReplicaId(0xada), 2)), Some(1_790_000_000));
    }

    #[test]
    fn broken_files_are_refused_with_what_is_wrong() {
        let mut a = Doc::new(ReplicaId(1));
        // Two changes (a pause between them keeps them apart in the history).
        a.set_wall_clock(1_790_000_000);
        a.insert(0, "one").unwrap();
        a.commit().unwrap();
        a.set_wall_clock(1_790_000_100);
        a.insert(3, " two").unwrap();
        a.commit().unwrap();
        assert_eq!(a.all_changes().len(), 2);
        let json = to_json(&a, "t").unwrap();
        let err = |text: &str| format!("{:#}", from_json(text, ReplicaId(2)).unwrap_err());
        assert!(err("{").contains("not a Tandem history file"));
        assert!(err(&json.replace(FORMAT, "other")).contains("format \"other\""));
        assert!(err(&json.replace("\"version\": 1", "\"version\": 9")).contains("version 9"));
        // The first change dropped: the second waits for it forever.
        let mut file: HistoryFile = serde_json::from_str(&json).unwrap();
        file.changes.remove(0);
        assert!(err(&serde_json::to_string(&file).unwrap()).contains("lacks changes"));
        // A change whose Lamport time does not follow its deps.
        let mut file: HistoryFile = serde_json::from_str(&json).unwrap();
        file.changes[1].change.lamport = 1;
        let e = err(&serde_json::to_string(&file).unwrap());
        assert!(e.contains("change 2") && e.contains("refused"), "{e}");
    }
}
