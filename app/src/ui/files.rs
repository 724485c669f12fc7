//! Files in and out of the window: reading a text file to import on a thread with its
//! progress, the file name an export proposes, and the system's file chooser (the XDG
//! desktop portal, through `rfd`), run on a thread so that no frame waits for it.
//! Where no chooser runs (no portal and no zenity, as under Xvfb), the dialogs' typed
//! path is the way in and out.

use super::error::FileError;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A file is read in pieces this big, so that its progress moves.
const CHUNK: usize = 1 << 20;

/// A chooser that answers "nothing chosen" faster than this was never shown: there is
/// none on this system.
pub(super) const NO_CHOOSER: Duration = Duration::from_millis(400);

/// The text is handed to the engine in pieces this big (in bytes), so that making a
/// big document shows its progress too.
pub(super) const INSERT_CHUNK: usize = 1 << 20;

/// How far an import has got: of the file's size, the bytes read, then the bytes put
/// into the document; each half of the way.
#[derive(Debug)]
pub(super) struct Progress {
    /// The file being imported.
    pub(super) path: PathBuf,
    /// Its size when the import started.
    pub(super) total: u64,
    read: AtomicU64,
    inserted: AtomicU64,
}

impl Progress {
    /// The share done, from 0 to 1.
    pub(super) fn fraction(&self) -> f32 {
        if self.total == 0 {
            return 1.0;
        }
        let done = self.read.load(Ordering::Relaxed) + self.inserted.load(Ordering::Relaxed);
        (done as f64 / (2 * self.total) as f64).min(1.0) as f32
    }

    /// Notes that `n` more bytes of the text are in the document.
    pub(super) fn inserted(&self, n: usize) {
        self.inserted.fetch_add(n as u64, Ordering::Relaxed);
    }

    /// "Importing notes.txt…".
    pub(super) fn text(&self) -> String {
        let name = self
            .path
            .file_name()
            .map_or_else(|| self.path.display().to_string(), |n| n.to_string_lossy().into_owned());
        format!("Importing {name}…")
    }
}

/// `text` cut into pieces of at most [`INSERT_CHUNK`] bytes, at char boundaries.
pub(super) fn pieces(mut text: &str) -> impl Iterator<Item = &str> {
    std::iter::from_fn(move || {
        if text.is_empty() {
            return None;
        }
        let cut =
            if text.len() <= INSERT_CHUNK { text.len() } else { text.floor_char_boundary(INSERT_CHUNK) };
        let (piece, rest) = text.split_at(cut);
        text = rest;
        Some(piece)
    })
}

/// Checks that `path` is a file that can be imported, before anything is read: a
/// missing path or a folder gives its error at once.
pub(super) fn check_import(path: &Path) -> Result<Arc<Progress>, FileError> {
    if path.as_os_str().is_empty() {
        return Err(FileError::NoPath);
    }
    let meta = std::fs::metadata(path).map_err(|source| FileError::Read { path: path.to_owned(), source })?;
    if !meta.is_file() {
        return Err(FileError::NotAFile { path: path.to_owned() });
    }
    let total = meta.len();
    Ok(Arc::new(Progress {
        path: path.to_owned(),
        total,
        read: AtomicU64::new(0),
        inserted: AtomicU64::new(0),
    }))
}

/// Reads the file of `progress` as UTF-8 text (a BOM dropped), telling `progress` how
/// far it got. Blocking: run it on a thread.
pub(super) fn read_text(progress: &Progress) -> Result<String, FileError> {
    let path = &progress.path;
    let read_err = |source| FileError::Read { path: path.clone(), source };
    let mut f = std::fs::File::open(path).map_err(read_err)?;
    let mut bytes = Vec::with_capacity(progress.total as usize);
    let mut buf = vec![0; CHUNK];
    loop {
        let n = match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        bytes.extend_from_slice(&buf[..n]);
        progress.read.store(bytes.len() as u64, Ordering::Relaxed);
    }
    let mut text = String::from_utf8(bytes)
        .map_err(|e| FileError::NotUtf8 { path: path.clone(), offset: e.utf8_error().valid_up_to() })?;
    if text.starts_with('\u{feff}') {
        text.remove(0);
    }
    Ok(text)
}

/// The file name an export proposes for a document called `name`: the name itself
/// when it ends in `.md` or `.txt`, else the name with `.txt`; chars no file name may
/// hold become `-`.
pub(super) fn export_name(name: &str) -> String {
    let clean: String = name
        .trim()
        .chars()
        .map(|c| if matches!(c, '/' | '\\' | '\0') || c.is_control() { '-' } else { c })
        .collect();
    let clean = clean.trim_matches('.').trim();
    let clean = if clean.is_empty() { "Untitled" } else { clean };
    let lower = clean.to_lowercase();
    if lower.ends_with(".md") || lower.ends_with(".txt") { clean.to_owned() } else { format!("{clean}.txt") }
}

/// The folder the file dialogs start in: the last one used, else the user's documents
/// folder or home.
pub(super) fn start_dir(last: Option<&Path>) -> PathBuf {
    if let Some(d) = last {
        return d.to_owned();
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("."));
    let docs = home.join("Documents");
    if docs.is_dir() { docs } else { home }
}

/// Asks the system's file chooser for a text file to open (blocking: run it on a thread).
pub(super) fn choose_import(dir: &Path) -> Option<PathBuf> {
    rfd::FileDialog::new()
        .set_title("Import a text file")
        .add_filter("Text", &["txt", "md", "markdown", "text"])
        .add_filter("All files", &["*"])
        .set_directory(dir)
        .pick_file()
}

/// Asks the system's file chooser where to save, proposing `file_name` in `dir`; the
/// chooser itself asks before replacing a file (blocking: run it on a thread).
pub(super) fn choose_export(dir: &Path, file_name: &str) -> Option<PathBuf> {
    rfd::FileDialog::new()
        .set_title("Export")
        .add_filter("Text", &["txt", "md"])
        .set_directory(dir)
        .set_file_name(file_name)
        .save_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn export_names_follow_the_document_name() {
        for (name, file) in [
            ("Trip to Lisbon", "Trip to Lisbon.txt"),
            ("notes.md", "notes.md"),
            ("README.MD", "README.MD"),
            ("log.txt", "log.txt"),
            ("a/b\\c", "a-b-c.txt"),
            ("  ", "Untitled.txt"),
            ("..", "Untitled.txt"),
        ] {
            assert_eq!(export_name(name), file, "{name:?}");
        }
    }

    #[test]
    fn reading_reports_progress_and_names_the_file_in_errors() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.txt");
        let text = "Zeile ✓\n".repeat(300_000);
        std::fs::write(&big, format!("\u{feff}{text}")).unwrap();
        let p = check_import(&big).unwrap();
        assert_eq!(p.fraction(), 0.0);
        assert_eq!(read_text(&p).unwrap(), text, "read whole, the BOM dropped");
        assert_eq!(p.fraction(), 0.5, "read, not yet in the document");
        let parts: Vec<&str> = pieces(&text).collect();
        assert!(parts.len() > 1 && parts.iter().all(|x| x.len() <= INSERT_CHUNK));
        assert_eq!(parts.concat(), text);
        for x in parts {
            p.inserted(x.len());
        }
        // The BOM is not part of the text, so the bar stops a hair short of the end.
        assert!(p.fraction() > 0.999, "{}", p.fraction());

        let latin1 = dir.path().join("latin1.txt");
        std::fs::write(&latin1, b"caf\xe9").unwrap();
        let e = read_text(&check_import(&latin1).unwrap()).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("{} is not UTF-8 text (invalid byte at offset 3)", latin1.display())
        );

        let e = check_import(&dir.path().join("missing.txt")).unwrap_err();
        assert!(
            e.to_string().starts_with(&format!("Cannot read {}", dir.path().join("missing.txt").display()))
        );
        let e = check_import(dir.path()).unwrap_err();
        assert_eq!(e.to_string(), format!("{} is a folder or a device, not a file", dir.path().display()));
    }
}
