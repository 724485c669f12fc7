//! `tandem list`, `tandem import`, `tandem export`: the document store from the shell.

use anyhow::{Context, Result, bail};
use std::io::Write;
use std::path::{Path, PathBuf};
use tandem_crdt::Value;
use tandem_storage::{Append, DamagedDoc, DocInfo, Store};

/// Opens the store in `data_dir`, or the default one.
pub fn open_store(data_dir: Option<&Path>) -> Result<Store> {
    let dir: PathBuf = match data_dir {
        Some(d) => d.to_owned(),
        None => tandem_storage::default_data_dir().context("no data directory: pass --data-dir")?,
    };
    Ok(Store::open(&dir)?)
}

/// Adds the document a ticket names (its key and the peer addresses it carries), to
/// be synced the next time the data dir runs (the window or `tandem node`). A document
/// already held keeps what it has and learns the addresses.
pub fn join(store: &mut Store, ticket: &str) -> Result<DocInfo> {
    let t: tandem_net::Ticket = ticket.trim().parse().context("this is not a Tandem ticket")?;
    // An edit ticket for a document held read-only upgrades it only with its real key.
    if let Some(held) = store.doc(t.doc)?
        && let (Some(w), None) = (held.read_only, t.read_only)
        && !tandem_net::crypto::key_opens(&t.key, &held.key, w)
    {
        bail!("the ticket's key does not belong to document {}", t.doc);
    }
    let info = store.add_doc_as(t.doc, t.key.clone(), t.read_only, "")?;
    for a in &t.addrs {
        store.add_peer_addr(t.doc, &a.to_string())?;
    }
    Ok(info)
}

/// The title a document shows when its map has none.
pub const UNTITLED: &str = "Untitled";

/// Prints the documents: a table, or one JSON object per line. A document whose data
/// cannot be read is listed with what is wrong (`"error"` in JSON), after the others.
pub fn list(store: &Store, json: bool, out: &mut impl Write) -> Result<()> {
    let (docs, mut damaged) = store.docs_and_damaged()?;
    // An entry that reads but whose history does not load is damaged too.
    let docs: Vec<DocInfo> = docs
        .into_iter()
        .filter(|d| match store.check_doc(d.id) {
            Ok(()) => true,
            Err(e) => {
                damaged.push(DamagedDoc { id: d.id, error: e.to_string() });
                false
            }
        })
        .collect();
    if json {
        for d in &damaged {
            writeln!(out, "{}", serde_json::json!({"id": d.id.to_string(), "error": d.error}))?;
        }
        for d in &docs {
            let v = serde_json::json!({
                "id": d.id.to_string(),
                "title": d.title,
                "chars": d.chars,
                "created_ms": d.created_ms,
                "modified_ms": d.modified_ms,
            });
            writeln!(out, "{v}")?;
        }
        return Ok(());
    }
    if docs.is_empty() && damaged.is_empty() {
        writeln!(out, "no documents yet (tandem import FILE creates one)")?;
        return Ok(());
    }
    writeln!(out, "{:<32}  {:>8}  {:<19}  TITLE", "ID", "CHARS", "MODIFIED (UTC)")?;
    for d in &docs {
        writeln!(out, "{}  {:>8}  {:<19}  {}", d.id, d.chars, utc(d.modified_ms), d.title)?;
    }
    for d in &damaged {
        writeln!(out, "{}  DAMAGED: {}", d.id, d.error)?;
    }
    Ok(())
}

/// The title a document imported from `file` takes: the file's name without its
/// extension, except that a Markdown file keeps `.md` (so the document is highlighted
/// and exported as Markdown); "Untitled" for a path without a name.
pub fn title_from_path(file: &Path) -> String {
    let markdown = file.extension().is_some_and(|e| {
        let e = e.to_string_lossy().to_lowercase();
        e == "md" || e == "markdown"
    });
    let name = if markdown { file.file_name() } else { file.file_stem() };
    name.map_or(UNTITLED.to_owned(), |s| s.to_string_lossy().into_owned())
}

/// Creates a document from a UTF-8 text file; returns it.
pub fn import(store: &mut Store, file: &Path, title: Option<&str>) -> Result<DocInfo> {
    let bytes = std::fs::read(file).with_context(|| format!("cannot read {}", file.display()))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        anyhow::anyhow!(
            "{} is not UTF-8 text (invalid byte at offset {})",
            file.display(),
            e.utf8_error().valid_up_to()
        )
    })?;
    let title = match title {
        Some(t) => t.to_owned(),
        None => title_from_path(file),
    };
    let info = store.create_doc(&title)?;
    let mut doc = store.load(info.id)?;
    doc.map_set("title", Value::Str(title.clone()))?;
    doc.insert(0, &text)?;
    doc.set_wall_clock(tandem_net::change_time());
    let change = doc.commit().context("an import always makes a change")?;
    // A big file is stored (and synced) as several changes, each one every replica
    // accepts; all of them go in one transaction.
    let summary = Some((title, doc.len_chars() as u64));
    let parts: Vec<Append> = change
        .wire_parts()
        .into_iter()
        .map(|part| {
            let signature = store.identity().seal(&info.id, &tandem_crdt::encoding::encode_change(&part));
            Append { doc: info.id, change: part, signature, summary: summary.clone() }
        })
        .collect();
    store.append(&parts)?;
    Ok(store.doc(info.id)?.unwrap_or(info))
}

/// Creates a document from a history file (`export --history`): every change, with
/// its authors and times. Changes this device wrote are signed for the new document;
/// other authors' changes keep no seal (their signatures named the document they were
/// made in), so peers that get them refuse them: the copy is this device's, to read,
/// restore from, edit and export.
pub fn import_history(store: &mut Store, file: &Path, title: Option<&str>) -> Result<DocInfo> {
    let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
    let (file_title, doc) = crate::history_file::from_json(&text, store.replica())
        .with_context(|| format!("cannot import the history in {}", file.display()))?;
    let title = title.map_or(file_title, str::to_owned);
    let info = store.create_doc(&title)?;
    let summary = Some((title, doc.len_chars() as u64));
    let mut batch = Vec::new();
    for change in doc.all_changes().iter().flat_map(tandem_crdt::Change::wire_parts) {
        let signature = match store.identity().for_author(change.author) {
            Some(me) => me.seal(&info.id, &tandem_crdt::encoding::encode_change(&change)),
            None => Vec::new(),
        };
        batch.push(Append { doc: info.id, change, signature, summary: summary.clone() });
        // Bounded transactions however long the history.
        if batch.len() >= 4_096 {
            store.append(&std::mem::take(&mut batch))?;
        }
    }
    store.append(&batch)?;
    Ok(store.doc(info.id)?.unwrap_or(info))
}

/// Writes a document's full history as JSON to `file`.
pub fn export_history(store: &mut Store, doc: &str, file: &Path) -> Result<()> {
    let info = store.find_doc(doc)?;
    let json = crate::history_file::to_json(&store.load(info.id)?, &info.title)?;
    std::fs::write(file, json).with_context(|| format!("cannot write {}", file.display()))
}

/// Writes a document's text to `file`, or to `out` when there is none.
pub fn export(store: &mut Store, doc: &str, file: Option<&Path>, out: &mut impl Write) -> Result<()> {
    let info = store.find_doc(doc)?;
    let text = store.load(info.id)?.text();
    match file {
        Some(f) => std::fs::write(f, text).with_context(|| format!("cannot write {}", f.display()))?,
        None => out.write_all(text.as_bytes())?,
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS` in UTC.
fn utc(ms: u64) -> String {
    crate::clock::utc(ms / 1000)
}

/// Fails unless `s` is a plausible document reference.
pub fn check_doc_arg(s: &str) -> Result<()> {
    if s.is_empty() {
        bail!("no document given");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{Path, UNTITLED, title_from_path};

    #[test]
    fn imported_titles_keep_only_a_markdown_extension() {
        for (path, title) in [
            ("/home/a/Trip.txt", "Trip"),
            ("/home/a/notes.md", "notes.md"),
            ("/home/a/README.Markdown", "README.Markdown"),
            ("/home/a/plain", "plain"),
            ("/home/a/archive.tar.gz", "archive.tar"),
            ("/", UNTITLED),
        ] {
            assert_eq!(title_from_path(Path::new(path)), title, "{path}");
        }
    }
}
