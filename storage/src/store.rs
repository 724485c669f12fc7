//! [`Store`]: the device database (redb), used from one thread (see [`crate::StoreHandle`]).

mod proof;

pub use proof::Equivocation;

use crate::error::Error;
use crate::identity::{Identity, Writer};
use crate::ids::{DocId, DocKey};
use crate::record::{DocRecord, StoredChange};
use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};
use tandem_crdt::{Change, Config, Doc, ReplicaId, VectorClock, encoding};

/// The database file inside the data dir.
pub const DB_FILE: &str = "tandem.redb";
/// The schema this build writes. Older schemas are migrated on open; newer ones refused.
pub const SCHEMA_VERSION: u64 = 5;
/// A document's snapshot is rewritten when this many changes follow it...
pub(crate) const SNAPSHOT_AFTER_CHANGES: u64 = 1000;
/// ...or when they hold this many bytes.
pub(crate) const SNAPSHOT_AFTER_BYTES: u64 = 1 << 20;
/// Peer addresses kept per document (the most recently seen).
pub const MAX_PEER_ADDRS: usize = 32;
/// Own changes are joined into one stored change up to this many encoded bytes.
pub(crate) const COMPACT_ROW_BYTES: usize = 2048;

/// `"schema_version"` (and, before schema 2, `"session_counter"`).
const META: TableDefinition<'_, &str, u64> = TableDefinition::new("meta");
/// `"secret_key"` -> 32 bytes.
const IDENTITY: TableDefinition<'_, &str, &[u8]> = TableDefinition::new("identity");
/// Doc id -> [`DocRecord`].
const DOCS: TableDefinition<'_, [u8; 16], &[u8]> = TableDefinition::new("docs");
/// (doc, author, first seq) -> [`StoredChange`].
const CHANGES: TableDefinition<'_, ([u8; 16], u64, u64), &[u8]> = TableDefinition::new("changes");
/// Doc id -> encoded document (full history) at some version.
const SNAPSHOTS: TableDefinition<'_, [u8; 16], &[u8]> = TableDefinition::new("snapshots");
/// Doc id -> this device's undo/redo history (`tandem_crdt::encoding::encode_undo`).
const UNDO: TableDefinition<'_, [u8; 16], &[u8]> = TableDefinition::new("undo");
/// (doc, multiaddr) -> last seen, unix ms.
const PEERS: TableDefinition<'_, ([u8; 16], &str), u64> = TableDefinition::new("peers");
/// Doc id -> when it was moved to the trash, unix ms. A document in the trash keeps all
/// its data but is neither listed nor opened until it is restored.
const TRASH: TableDefinition<'_, [u8; 16], u64> = TableDefinition::new("trash");
/// Doc id -> the document's earlier keys and how each was left (the network layer's
/// key ring, opaque here), for a document whose key was changed.
const KEY_RINGS: TableDefinition<'_, [u8; 16], &[u8]> = TableDefinition::new("key_rings");

/// redb's file magic: a file without it is not ours and is never opened for writing.
const REDB_MAGIC: [u8; 9] = [b'r', b'e', b'd', b'b', 0x1A, 0x0A, 0xA9, 0x0D, 0x0A];

/// What the document list shows.
#[derive(Clone, Debug, PartialEq)]
pub struct DocInfo {
    /// The id.
    pub id: DocId,
    /// The secret key: the document key, or for a read-only document its read secret.
    pub key: DocKey,
    /// For a document this device may only read (joined with a read ticket): the
    /// document's write public key, which checks that each change's author may write.
    pub read_only: Option<[u8; 32]>,
    /// The name the document last went by: its map's title, or its first line while the
    /// map holds none.
    pub title: String,
    /// The text length last stored, in chars.
    pub chars: u64,
    /// Creation time, unix ms.
    pub created_ms: u64,
    /// Last opened, unix ms.
    pub opened_ms: u64,
    /// Last change stored, unix ms.
    pub modified_ms: u64,
}

/// A range of authors (replica ids) to read the changes of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Authors {
    /// The first author.
    pub from: u64,
    /// The first author after the range; `None` for no end.
    pub until: Option<u64>,
}

impl Authors {
    /// Every author.
    pub const ALL: Authors = Authors { from: 0, until: None };
}

/// A document whose entry or history cannot be read, set aside with what is wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DamagedDoc {
    /// The id.
    pub id: DocId,
    /// What is wrong, naming the database file and the document.
    pub error: String,
}

/// One change to store durably.
#[derive(Clone, Debug)]
pub struct Append {
    /// The document.
    pub doc: DocId,
    /// The change.
    pub change: Change,
    /// Its author's signature envelope (opaque to storage).
    pub signature: Vec<u8>,
    /// The document's title and length after the change, for the list.
    pub summary: Option<(String, u64)>,
}

/// A stored change as it travels: its encoding and its author's signature envelope.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignedChange {
    /// `tandem_crdt::encoding::encode_change` bytes.
    pub change: Vec<u8>,
    /// The signature envelope.
    pub envelope: Vec<u8>,
}

/// The current time, unix ms.
pub(crate) fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// The device database.
pub struct Store {
    /// `None` only while [`Store::reopen`] replaces a database that failed a write.
    db: Option<Database>,
    path: PathBuf,
    identity: Identity,
    /// The last snapshot decoded to regenerate compacted changes, by document.
    snapshot_cache: std::cell::RefCell<Option<(DocId, Doc)>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).field("identity", &self.identity).finish()
    }
}

impl Store {
    /// Opens (creating on first run) the database in `dir`. The device's writers keep
    /// their replica ids from one start to the next.
    pub fn open(dir: &Path) -> Result<Store, Error> {
        create_private_dir(dir)?;
        let path = dir.join(DB_FILE);
        let db = if path.exists() {
            check_magic(&path)?;
            check_schema_read_only(&path, dir)?;
            Database::builder().open(&path).map_err(|e| Error::open(&path, dir, e))?
        } else {
            create_new(&path, dir)?
        };
        let mut store = Store {
            db: Some(db),
            path,
            identity: Identity::device([0; 32]),
            snapshot_cache: Default::default(),
        };
        // An up-to-date database is only read here, so a full disk still opens.
        store.identity = store.migrate_and_load_identity()?;
        Ok(store)
    }

    /// The database, or an error while it is being reopened.
    fn db(&self) -> Result<&Database, Error> {
        self.db.as_ref().ok_or_else(|| Error::Db {
            path: self.path.clone(),
            reason: "the database is closed after a failed write".into(),
        })
    }

    /// Closes and reopens the database file. redb fails every call after a write that
    /// failed with an IO error (a full disk); reopening it recovers the last committed
    /// state, so nothing committed is lost and later writes can succeed again.
    pub fn reopen(&mut self) -> Result<(), Error> {
        self.db = None;
        self.snapshot_cache.borrow_mut().take();
        let dir = self.path.parent().unwrap_or(Path::new(".")).to_owned();
        self.db = Some(Database::builder().open(&self.path).map_err(|e| Error::open(&self.path, &dir, e))?);
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// This device's identity (signing as the engine's writer).
    pub fn identity(&self) -> &Identity {
        &self.identity
    }

    /// The engine's writer id on this device.
    pub fn replica(&self) -> ReplicaId {
        self.identity.replica()
    }

    fn db_err(&self, e: impl std::fmt::Display) -> Error {
        Error::Db { path: self.path.clone(), reason: e.to_string() }
    }

    /// Brings the schema up to date and loads (creating on first run) the device key.
    /// A database that is up to date is only read, so a device whose disk is full still
    /// opens.
    fn migrate_and_load_identity(&mut self) -> Result<Identity, Error> {
        {
            let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
            let version = match tx.open_table(META) {
                Ok(meta) => meta.get("schema_version").map_err(|e| self.db_err(e))?.map(|v| v.value()),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(self.db_err(e)),
            };
            if version == Some(SCHEMA_VERSION) {
                let secret = match tx.open_table(IDENTITY) {
                    Ok(ident) => self.read_secret(&ident)?,
                    Err(redb::TableError::TableDoesNotExist(_)) => None,
                    Err(e) => return Err(self.db_err(e)),
                };
                if let Some(secret) = secret {
                    return Ok(Identity::device(secret));
                }
            }
        }
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        let identity = {
            let mut meta = tx.open_table(META).map_err(|e| self.db_err(e))?;
            let version = meta.get("schema_version").map_err(|e| self.db_err(e))?.map(|v| v.value());
            let mut version = match version {
                Some(v) if v > SCHEMA_VERSION => {
                    return Err(Error::NewerSchema {
                        path: self.path.clone(),
                        found: v,
                        supported: SCHEMA_VERSION,
                    });
                }
                Some(v) => v,
                None => 0,
            };
            // Ordered migrations: each step takes the schema from `version` to the next.
            while version < SCHEMA_VERSION {
                match version {
                    0 => {
                        // Version 1: create every table.
                        tx.open_table(IDENTITY).map_err(|e| self.db_err(e))?;
                        tx.open_table(DOCS).map_err(|e| self.db_err(e))?;
                        tx.open_table(CHANGES).map_err(|e| self.db_err(e))?;
                        tx.open_table(SNAPSHOTS).map_err(|e| self.db_err(e))?;
                        tx.open_table(PEERS).map_err(|e| self.db_err(e))?;
                        tx.open_table(UNDO).map_err(|e| self.db_err(e))?;
                    }
                    1 => {
                        // Version 2: the device writes under stable writer ids instead of
                        // one new id per process start, so the session counter goes.
                        // Changes stored under old session ids stay valid as they are.
                        meta.remove("session_counter").map_err(|e| self.db_err(e))?;
                    }
                    2 => {
                        // Version 3: a stored change the snapshot holds may keep only its
                        // seal (its bytes are regenerated from the snapshot), which older
                        // builds cannot read. Nothing is rewritten here; the next snapshot
                        // of each document compacts it.
                    }
                    3 => {
                        // Version 4: removed documents go to a trash first.
                        tx.open_table(TRASH).map_err(|e| self.db_err(e))?;
                    }
                    4 => {
                        // Version 5: a document's key can change; its earlier keys are kept.
                        tx.open_table(KEY_RINGS).map_err(|e| self.db_err(e))?;
                    }
                    v => unreachable!("no migration from schema {v}"),
                }
                version += 1;
            }
            meta.insert("schema_version", version).map_err(|e| self.db_err(e))?;

            let mut ident = tx.open_table(IDENTITY).map_err(|e| self.db_err(e))?;
            let secret = match self.read_secret(&ident)? {
                Some(b) => b,
                None => {
                    let mut b = [0u8; 32];
                    getrandom::fill(&mut b).map_err(|e| self.db_err(e))?;
                    b
                }
            };
            ident.insert("secret_key", secret.as_slice()).map_err(|e| self.db_err(e))?;
            Identity::device(secret)
        };
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(identity)
    }

    /// The stored device key, if there is one.
    fn read_secret(
        &self,
        ident: &impl ReadableTable<&'static str, &'static [u8]>,
    ) -> Result<Option<[u8; 32]>, Error> {
        match ident.get("secret_key").map_err(|e| self.db_err(e))? {
            Some(v) => {
                let b: [u8; 32] = v.value().try_into().map_err(|_| Error::Corrupt {
                    path: self.path.clone(),
                    reason: "the device key is not 32 bytes".into(),
                })?;
                Ok(Some(b))
            }
            None => Ok(None),
        }
    }

    // ----- documents -----------------------------------------------------------------

    /// Creates a new, empty document with a fresh id and key.
    pub fn create_doc(&mut self, title: &str) -> Result<DocInfo, Error> {
        let id = DocId::random().map_err(|e| self.db_err(e))?;
        let key = DocKey::random().map_err(|e| self.db_err(e))?;
        self.add_doc(id, key, title)
    }

    /// Adds a document known by id and key (joining a shared one). Adding a known
    /// document keeps it as it is.
    pub fn add_doc(&mut self, id: DocId, key: DocKey, title: &str) -> Result<DocInfo, Error> {
        self.add_doc_as(id, key, None, title)
    }

    /// Adds a document (as [`Store::add_doc`]) this device may edit (`read_only` is
    /// `None`) or only read (`read_only` is its write public key, `key` its read
    /// secret). A document held read-only and added again to edit becomes editable;
    /// one held to edit stays so.
    pub fn add_doc_as(
        &mut self,
        id: DocId,
        key: DocKey,
        read_only: Option<[u8; 32]>,
        title: &str,
    ) -> Result<DocInfo, Error> {
        if let Some(info) = self.doc(id)? {
            // Joining a document that is in the trash brings it back.
            self.restore_doc(id)?;
            if info.read_only.is_none() || read_only.is_some() {
                return Ok(info);
            }
            let mut rec = self.record(id)?.ok_or_else(|| Error::UnknownDoc(id.to_string()))?;
            rec.key = key.0;
            rec.read_only = None;
            self.put_record(id, &rec)?;
            return Ok(rec.info(id));
        }
        let now = now_ms();
        let rec = DocRecord {
            key: key.0,
            title: title.to_owned(),
            chars: 0,
            created_ms: now,
            opened_ms: now,
            modified_ms: now,
            tail_changes: 0,
            tail_bytes: 0,
            read_only,
        };
        self.put_record(id, &rec)?;
        Ok(rec.info(id))
    }

    /// Moves a document to a new key (`read_only` as in [`Store::add_doc_as`]) and keeps
    /// `ring`, the earlier keys, in the same transaction: a crash leaves the old key
    /// with the old ring or the new key with the new one.
    pub fn set_key(
        &mut self,
        id: DocId,
        key: DocKey,
        read_only: Option<[u8; 32]>,
        ring: &[u8],
    ) -> Result<DocInfo, Error> {
        let mut rec = self.record(id)?.ok_or_else(|| Error::UnknownDoc(id.to_string()))?;
        rec.key = key.0;
        rec.read_only = read_only;
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        tx.open_table(DOCS)
            .map_err(|e| self.db_err(e))?
            .insert(id.0, rec.encode().as_slice())
            .map_err(|e| self.db_err(e))?;
        tx.open_table(KEY_RINGS)
            .map_err(|e| self.db_err(e))?
            .insert(id.0, ring)
            .map_err(|e| self.db_err(e))?;
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(rec.info(id))
    }

    /// A document's key ring as [`Store::set_key`] kept it; empty while its key never
    /// changed.
    pub fn key_ring(&self, id: DocId) -> Result<Vec<u8>, Error> {
        let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
        let t = tx.open_table(KEY_RINGS).map_err(|e| self.db_err(e))?;
        Ok(t.get(id.0).map_err(|e| self.db_err(e))?.map(|v| v.value().to_vec()).unwrap_or_default())
    }

    /// Writes a document's row.
    fn put_record(&mut self, id: DocId, rec: &DocRecord) -> Result<(), Error> {
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        tx.open_table(DOCS)
            .map_err(|e| self.db_err(e))?
            .insert(id.0, rec.encode().as_slice())
            .map_err(|e| self.db_err(e))?;
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(())
    }

    fn record(&self, id: DocId) -> Result<Option<DocRecord>, Error> {
        let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
        let t = tx.open_table(DOCS).map_err(|e| self.db_err(e))?;
        let Some(v) = t.get(id.0).map_err(|e| self.db_err(e))? else { return Ok(None) };
        DocRecord::decode(v.value()).map(Some).map_err(|reason| self.corrupt_doc(id, reason))
    }

    fn corrupt_doc(&self, id: DocId, reason: impl std::fmt::Display) -> Error {
        Error::Corrupt { path: self.path.clone(), reason: format!("document {id}: {reason}") }
    }

    /// One document's entry.
    pub fn doc(&self, id: DocId) -> Result<Option<DocInfo>, Error> {
        Ok(self.record(id)?.map(|r| r.info(id)))
    }

    /// Every readable document, most recently modified first (see
    /// [`Store::docs_and_damaged`] for the ones whose entry cannot be read).
    pub fn docs(&self) -> Result<Vec<DocInfo>, Error> {
        Ok(self.docs_and_damaged()?.0)
    }

    /// Every document, most recently modified first, and apart from them the documents
    /// whose entry cannot be decoded, each with what is wrong: one damaged entry never
    /// hides the others.
    pub fn docs_and_damaged(&self) -> Result<(Vec<DocInfo>, Vec<DamagedDoc>), Error> {
        let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
        let t = tx.open_table(DOCS).map_err(|e| self.db_err(e))?;
        let trash = tx.open_table(TRASH).map_err(|e| self.db_err(e))?;
        let mut res = Vec::new();
        let mut damaged = Vec::new();
        for item in t.iter().map_err(|e| self.db_err(e))? {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            let id = DocId(k.value());
            if trash.get(id.0).map_err(|e| self.db_err(e))?.is_some() {
                continue;
            }
            match DocRecord::decode(v.value()) {
                Ok(rec) => res.push(rec.info(id)),
                Err(r) => damaged.push(DamagedDoc { id, error: self.corrupt_doc(id, r).to_string() }),
            }
        }
        res.sort_by(|a, b| b.modified_ms.cmp(&a.modified_ms).then(a.id.cmp(&b.id)));
        Ok((res, damaged))
    }

    /// The document whose id starts with `prefix` (at least 4 hex digits), or a clear
    /// error when none or several match.
    pub fn find_doc(&self, prefix: &str) -> Result<DocInfo, Error> {
        let prefix = prefix.to_ascii_lowercase();
        if prefix.len() < 4 || !prefix.chars().all(|c| c.is_ascii_hexdigit()) {
            return Err(Error::UnknownDoc(format!(
                "{prefix:?} (give at least 4 hex digits of a document id)"
            )));
        }
        let mut hits: Vec<DocInfo> =
            self.docs()?.into_iter().filter(|d| d.id.to_string().starts_with(&prefix)).collect();
        match hits.len() {
            1 => Ok(hits.remove(0)),
            0 => Err(Error::UnknownDoc(prefix)),
            n => Err(Error::UnknownDoc(format!("{prefix} is ambiguous ({n} documents match)"))),
        }
    }

    /// Moves a document to the trash: it keeps all its data but is no longer listed or
    /// opened, until [`Store::restore_doc`]. Returns whether it was here and not
    /// already in the trash.
    pub fn trash_doc(&mut self, id: DocId) -> Result<bool, Error> {
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        let moved = {
            let here = tx
                .open_table(DOCS)
                .map_err(|e| self.db_err(e))?
                .get(id.0)
                .map_err(|e| self.db_err(e))?
                .is_some();
            let mut trash = tx.open_table(TRASH).map_err(|e| self.db_err(e))?;
            let already = trash.get(id.0).map_err(|e| self.db_err(e))?.is_some();
            if here && !already {
                trash.insert(id.0, now_ms()).map_err(|e| self.db_err(e))?;
            }
            here && !already
        };
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(moved)
    }

    /// Takes a document out of the trash; returns whether it was there.
    pub fn restore_doc(&mut self, id: DocId) -> Result<bool, Error> {
        if self.trashed_ms(id)?.is_none() {
            return Ok(false);
        }
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        let was = tx
            .open_table(TRASH)
            .map_err(|e| self.db_err(e))?
            .remove(id.0)
            .map_err(|e| self.db_err(e))?
            .is_some();
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(was)
    }

    /// When a document was moved to the trash (unix ms), or `None` if it is not there.
    pub fn trashed_ms(&self, id: DocId) -> Result<Option<u64>, Error> {
        let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
        let trash = tx.open_table(TRASH).map_err(|e| self.db_err(e))?;
        Ok(trash.get(id.0).map_err(|e| self.db_err(e))?.map(|v| v.value()))
    }

    /// The documents in the trash with when each was moved there, most recent first. An
    /// entry that cannot be read is listed under its id with an empty title, so it can
    /// still be deleted.
    pub fn trashed(&self) -> Result<Vec<(DocInfo, u64)>, Error> {
        let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
        let trash = tx.open_table(TRASH).map_err(|e| self.db_err(e))?;
        let docs = tx.open_table(DOCS).map_err(|e| self.db_err(e))?;
        let mut res = Vec::new();
        for item in trash.iter().map_err(|e| self.db_err(e))? {
            let (k, when) = item.map_err(|e| self.db_err(e))?;
            let id = DocId(k.value());
            let Some(v) = docs.get(id.0).map_err(|e| self.db_err(e))? else { continue };
            let info = match DocRecord::decode(v.value()) {
                Ok(rec) => rec.info(id),
                Err(_) => DocInfo {
                    id,
                    key: DocKey([0; 32]),
                    read_only: None,
                    title: String::new(),
                    chars: 0,
                    created_ms: 0,
                    opened_ms: 0,
                    modified_ms: 0,
                },
            };
            res.push((info, when.value()));
        }
        res.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.id.cmp(&b.0.id)));
        Ok(res)
    }

    /// Removes a document and all its data (from the trash too).
    pub fn remove_doc(&mut self, id: DocId) -> Result<bool, Error> {
        self.snapshot_cache.borrow_mut().take();
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        let existed = {
            let existed = tx
                .open_table(DOCS)
                .map_err(|e| self.db_err(e))?
                .remove(id.0)
                .map_err(|e| self.db_err(e))?
                .is_some();
            let mut ch = tx.open_table(CHANGES).map_err(|e| self.db_err(e))?;
            ch.retain_in((id.0, 0, 0)..=(id.0, u64::MAX, u64::MAX), |_, _| false)
                .map_err(|e| self.db_err(e))?;
            tx.open_table(SNAPSHOTS).map_err(|e| self.db_err(e))?.remove(id.0).map_err(|e| self.db_err(e))?;
            tx.open_table(UNDO).map_err(|e| self.db_err(e))?.remove(id.0).map_err(|e| self.db_err(e))?;
            tx.open_table(TRASH).map_err(|e| self.db_err(e))?.remove(id.0).map_err(|e| self.db_err(e))?;
            tx.open_table(KEY_RINGS).map_err(|e| self.db_err(e))?.remove(id.0).map_err(|e| self.db_err(e))?;
            let mut peers = tx.open_table(PEERS).map_err(|e| self.db_err(e))?;
            peers.retain_in((id.0, "")..(next_id(id), ""), |_, _| false).map_err(|e| self.db_err(e))?;
            drop(peers);
            self.remove_equivocations(&tx, id)?;
            existed
        };
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(existed)
    }

    // ----- changes and snapshots -----------------------------------------------------

    /// Stores changes durably, all in one transaction (one fsync). Returns the documents
    /// whose snapshot is due.
    pub fn append(&mut self, batch: &[Append]) -> Result<Vec<DocId>, Error> {
        self.append_as(batch, Durability::Immediate)
    }

    /// Stores changes in one transaction that is not flushed to disk: readers see them
    /// at once, and the next durable commit of this store ([`Store::settle`], or any
    /// other write) makes them durable with everything before it. A crash before that
    /// loses them, and only them: what was durable stays. For changes other peers hold
    /// too (received ones), which catch-up brings back.
    pub fn append_unsettled(&mut self, batch: &[Append]) -> Result<Vec<DocId>, Error> {
        self.append_as(batch, Durability::None)
    }

    /// Makes every commit so far durable (one fsync).
    pub fn settle(&mut self) -> Result<(), Error> {
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        tx.commit().map_err(|e| self.db_err(e))
    }

    fn append_as(&mut self, batch: &[Append], durability: Durability) -> Result<Vec<DocId>, Error> {
        let mut due = Vec::new();
        let mut tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        tx.set_durability(durability).map_err(|e| self.db_err(e))?;
        {
            let mut docs = tx.open_table(DOCS).map_err(|e| self.db_err(e))?;
            let mut changes = tx.open_table(CHANGES).map_err(|e| self.db_err(e))?;
            let now = now_ms();
            for a in batch {
                let Some(rec) = docs.get(a.doc.0).map_err(|e| self.db_err(e))?.map(|v| v.value().to_vec())
                else {
                    return Err(Error::UnknownDoc(a.doc.to_string()));
                };
                let mut rec = DocRecord::decode(&rec).map_err(|r| self.corrupt_doc(a.doc, r))?;
                let (start_seq, stored, replaced) = match self.compacted(&changes, a)? {
                    Some(c) => c,
                    None => {
                        let stored = StoredChange {
                            end_seq: a.change.end_seq(),
                            lamport: a.change.lamport,
                            change: encoding::encode_change(&a.change),
                            signature: a.signature.clone(),
                        };
                        (a.change.start_seq, stored, 0)
                    }
                };
                // A change that covers stored rows of its author whole (the author's
                // seal over a run of its changes, received after the changes one by one)
                // replaces them.
                let author = a.change.author.0;
                let inside = (a.doc.0, author, start_seq + 1)..(a.doc.0, author, stored.end_seq);
                let mut covered = Vec::new();
                for item in changes.range(inside).map_err(|e| self.db_err(e))? {
                    let (k, v) = item.map_err(|e| self.db_err(e))?;
                    let end = StoredChange::decode(v.value()).map_or(u64::MAX, |sc| sc.end_seq);
                    if end <= stored.end_seq {
                        covered.push((k.value().2, v.value().len() as u64));
                    }
                }
                let mut replaced = replaced;
                for (start, len) in covered {
                    changes.remove((a.doc.0, author, start)).map_err(|e| self.db_err(e))?;
                    replaced += len;
                }
                let value = stored.encode();
                changes.insert((a.doc.0, author, start_seq), value.as_slice()).map_err(|e| self.db_err(e))?;
                rec.tail_changes += 1;
                rec.tail_bytes = (rec.tail_bytes + value.len() as u64).saturating_sub(replaced);
                rec.modified_ms = now;
                if let Some((title, chars)) = &a.summary {
                    rec.title.clone_from(title);
                    rec.chars = *chars;
                }
                if (rec.tail_changes >= SNAPSHOT_AFTER_CHANGES || rec.tail_bytes >= SNAPSHOT_AFTER_BYTES)
                    && !due.contains(&a.doc)
                {
                    due.push(a.doc);
                }
                docs.insert(a.doc.0, rec.encode().as_slice()).map_err(|e| self.db_err(e))?;
            }
        }
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(due)
    }

    /// This device's own change `a`, joined to the author's previous stored change when
    /// it continues it exactly (typing): the joined change, signed again by the author,
    /// replaces the previous row, so a history typed keystroke by keystroke is stored as
    /// a few changes and seals, not one per keystroke. Returns the row's first seq, the
    /// record and the size of the record it replaces; `None` stores `a` as it is.
    fn compacted(
        &self,
        changes: &redb::Table<'_, ([u8; 16], u64, u64), &[u8]>,
        a: &Append,
    ) -> Result<Option<(u64, StoredChange, u64)>, Error> {
        let author = a.change.author;
        let Some(signer) = self.identity.for_author(author) else { return Ok(None) };
        let before = (a.doc.0, author.0, 0)..(a.doc.0, author.0, a.change.start_seq);
        let prev = changes.range(before).map_err(|e| self.db_err(e))?.next_back().transpose();
        let Some((key, value)) = prev.map_err(|e| self.db_err(e))? else { return Ok(None) };
        let (start_seq, old) = (key.value().2, value.value().to_vec());
        let Ok(prev) = StoredChange::decode(&old) else { return Ok(None) };
        if prev.compacted() {
            return Ok(None);
        }
        if prev.end_seq != a.change.start_seq || prev.change.len() >= COMPACT_ROW_BYTES {
            return Ok(None);
        }
        let Ok(mut joined) = encoding::decode_change(&prev.change) else { return Ok(None) };
        if !joined.absorb(&a.change) {
            return Ok(None);
        }
        let change = encoding::encode_change(&joined);
        let signature = signer.seal(&a.doc, &change);
        let stored = StoredChange { end_seq: joined.end_seq(), lamport: joined.lamport, change, signature };
        Ok(Some((start_seq, stored, old.len() as u64)))
    }

    /// Opens a document: its snapshot plus the changes stored after it. The returned
    /// replica edits as the engine's writer id.
    pub fn load(&mut self, id: DocId) -> Result<Doc, Error> {
        self.load_as(id, Writer::Engine)
    }

    /// Opens a document as [`Store::load`] does, editing as `writer`.
    pub fn load_as(&mut self, id: DocId, writer: Writer) -> Result<Doc, Error> {
        let replica = self.identity.writer(writer).replica();
        let mut doc = self.load_quiet_as(id, replica)?;
        let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
        let undo = tx.open_table(UNDO).map_err(|e| self.db_err(e))?;
        if let Some(v) = undo.get(id.0).map_err(|e| self.db_err(e))? {
            // Undo history is a convenience: a damaged one is dropped, not fatal.
            if let Ok(state) = encoding::decode_undo(v.value()) {
                doc.restore_undo_state(&state);
            }
        }
        drop(undo);
        drop(tx);
        // The last-opened time is a convenience: a full disk must not stop the document
        // from opening. A failed write leaves redb unusable until it is reopened.
        if self.touch(id).is_err() {
            self.reopen()?;
        }
        Ok(doc)
    }

    /// Checks that a document's stored history loads, without writing anything: the
    /// error says what is wrong with it.
    pub fn check_doc(&self, id: DocId) -> Result<(), Error> {
        self.load_quiet(id).map(drop)
    }

    /// Keeps this device's undo/redo history of a document (call when closing it).
    pub fn save_undo(&mut self, id: DocId, doc: &Doc) -> Result<(), Error> {
        self.save_undo_state(id, &doc.undo_state())
    }

    pub(crate) fn save_undo_state(&mut self, id: DocId, state: &tandem_crdt::UndoState) -> Result<(), Error> {
        let bytes = encoding::encode_undo(state);
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        tx.open_table(UNDO)
            .map_err(|e| self.db_err(e))?
            .insert(id.0, bytes.as_slice())
            .map_err(|e| self.db_err(e))?;
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(())
    }

    fn load_quiet(&self, id: DocId) -> Result<Doc, Error> {
        self.load_quiet_as(id, self.replica())
    }

    fn load_quiet_as(&self, id: DocId, replica: ReplicaId) -> Result<Doc, Error> {
        if self.record(id)?.is_none() {
            return Err(Error::UnknownDoc(id.to_string()));
        }
        let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
        let snaps = tx.open_table(SNAPSHOTS).map_err(|e| self.db_err(e))?;
        let config = Config::unbounded();
        // A snapshot is a cache: every change it holds is stored too, so a damaged one
        // is passed over and the document rebuilt from its whole history.
        let snapshot = snaps.get(id.0).map_err(|e| self.db_err(e))?;
        let mut doc = match snapshot.map(|v| encoding::decode_doc(v.value(), replica)) {
            Some(Ok(d)) => d.with_config(config),
            Some(Err(_)) | None => Doc::with_config(replica, config),
        };
        let tail = self.tail(&tx, id, doc.version())?;
        for c in tail {
            doc.apply(c).map_err(|e| self.corrupt_doc(id, e))?;
        }
        if doc.pending_changes() > 0 {
            return Err(
                self.corrupt_doc(id, format!("{} stored changes miss their deps", doc.pending_changes()))
            );
        }
        Ok(doc.with_config(Config::default()))
    }

    /// The stored changes not covered by `version`, in a causal order (by Lamport time):
    /// `(lamport, author, first seq, record)`. A skip-scan: for each author it jumps past what the
    /// version covers, so the cost follows what is missing, not the history.
    fn tail_records(
        &self,
        tx: &redb::ReadTransaction,
        id: DocId,
        version: &VectorClock,
        authors: &Authors,
    ) -> Result<Vec<(u64, u64, u64, StoredChange)>, Error> {
        let t = tx.open_table(CHANGES).map_err(|e| self.db_err(e))?;
        let mut res = Vec::new();
        let mut author = authors.from;
        loop {
            let mut first =
                t.range((id.0, author, 0)..=(id.0, u64::MAX, u64::MAX)).map_err(|e| self.db_err(e))?;
            let Some(item) = first.next() else { break };
            let (k, _) = item.map_err(|e| self.db_err(e))?;
            let a = k.value().1;
            if authors.until.is_some_and(|u| a >= u) {
                break;
            }
            let have = version.get(ReplicaId(a));
            // The change holding seq `have + 1` may start before it.
            let mut start = have + 1;
            if have > 0 {
                let mut before = t.range((id.0, a, 0)..=(id.0, a, have)).map_err(|e| self.db_err(e))?;
                if let Some(item) = before.next_back() {
                    let (k, v) = item.map_err(|e| self.db_err(e))?;
                    let sc = StoredChange::decode(v.value()).map_err(|r| self.corrupt_doc(id, r))?;
                    if sc.end_seq > have + 1 {
                        start = k.value().2;
                    }
                }
            }
            for item in t.range((id.0, a, start)..=(id.0, a, u64::MAX)).map_err(|e| self.db_err(e))? {
                let (k, v) = item.map_err(|e| self.db_err(e))?;
                let sc = StoredChange::decode(v.value()).map_err(|r| self.corrupt_doc(id, r))?;
                res.push((sc.lamport, a, k.value().2, sc));
            }
            if a == u64::MAX {
                break;
            }
            author = a + 1;
        }
        res.sort_by_key(|r| (r.0, r.1));
        Ok(res)
    }

    /// The stored changes not covered by `version`, decoded, in a causal order.
    fn tail(
        &self,
        tx: &redb::ReadTransaction,
        id: DocId,
        version: &VectorClock,
    ) -> Result<Vec<Change>, Error> {
        self.tail_records(tx, id, version, &Authors::ALL)?
            .into_iter()
            .map(|(_, author, _, sc)| {
                if sc.compacted() {
                    // Only a snapshot that cannot be read leaves compacted changes uncovered.
                    return Err(self.corrupt_doc(
                        id,
                        format!(
                            "the snapshot holding the history of author {} up to seq {} cannot be read",
                            ReplicaId(author),
                            sc.end_seq - 1
                        ),
                    ));
                }
                encoding::decode_change(&sc.change).map_err(|e| self.corrupt_doc(id, e))
            })
            .collect()
    }

    /// The bytes of compacted change `author`'s `start .. end`, regenerated from the
    /// document's snapshot (decoded once and kept for the next requests).
    pub(crate) fn regenerate(
        &self,
        tx: &redb::ReadTransaction,
        id: DocId,
        author: u64,
        start: u64,
        end: u64,
    ) -> Result<Vec<u8>, Error> {
        let mut cache = self.snapshot_cache.borrow_mut();
        if cache.as_ref().is_none_or(|(d, _)| *d != id) {
            *cache = None;
            let snaps = tx.open_table(SNAPSHOTS).map_err(|e| self.db_err(e))?;
            let bytes = snaps
                .get(id.0)
                .map_err(|e| self.db_err(e))?
                .ok_or_else(|| self.corrupt_doc(id, "compacted history without a snapshot"))?;
            let doc = encoding::decode_doc(bytes.value(), self.replica())
                .map_err(|e| self.corrupt_doc(id, format!("snapshot: {e}")))?;
            *cache = Some((id, doc));
        }
        let (_, doc) = cache.as_ref().expect("filled above");
        let change = doc.change_by(ReplicaId(author), start, end).ok_or_else(|| {
            self.corrupt_doc(
                id,
                format!("the snapshot lacks the change of {} at seqs {start}..{end}", ReplicaId(author)),
            )
        })?;
        Ok(encoding::encode_change(&change))
    }

    /// The stored signed changes of a document not covered by `version`: the encoded
    /// change and its signature envelope, in a causal order.
    pub fn signed_changes_since(&self, id: DocId, version: &VectorClock) -> Result<Vec<SignedChange>, Error> {
        self.signed_changes_since_by(id, version, &Authors::ALL)
    }

    /// [`Store::signed_changes_since`], of the changes written by `authors` only.
    pub fn signed_changes_since_by(
        &self,
        id: DocId,
        version: &VectorClock,
        authors: &Authors,
    ) -> Result<Vec<SignedChange>, Error> {
        Ok(self.signed_changes_page(id, version, authors, usize::MAX)?.0)
    }

    /// The first of [`Store::signed_changes_since_by`]'s changes, in the same order: up
    /// to and including the one whose bytes (change and seal) bring the total past
    /// `budget`, and whether more follow. Only the changes returned are regenerated
    /// from the snapshot, so serving a long tail page by page costs each change once.
    pub fn signed_changes_page(
        &self,
        id: DocId,
        version: &VectorClock,
        authors: &Authors,
        budget: usize,
    ) -> Result<(Vec<SignedChange>, bool), Error> {
        let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
        let mut page = Vec::new();
        let mut bytes = 0usize;
        for (_, author, start, sc) in self.tail_records(&tx, id, version, authors)? {
            if bytes > budget {
                return Ok((page, true));
            }
            let change =
                if sc.compacted() { self.regenerate(&tx, id, author, start, sc.end_seq)? } else { sc.change };
            bytes = bytes.saturating_add(change.len() + sc.signature.len());
            page.push(SignedChange { change, envelope: sc.signature });
        }
        Ok((page, false))
    }

    /// Rewrites a document's snapshot from its stored history and compacts the changes
    /// it holds, atomically: a stored change that the snapshot regenerates byte for byte
    /// keeps only its seal (see [`Doc::change_by`]), so the history is stored once, in
    /// the snapshot's columnar form. A change it would not regenerate exactly (one sent
    /// in another form) stays as it is.
    pub fn snapshot(&mut self, id: DocId) -> Result<(), Error> {
        self.snapshot_cache.borrow_mut().take();
        let doc = self.load_quiet(id)?;
        // With the text's document order, so that opening it builds the text directly.
        let bytes = encoding::encode_snapshot(&doc);
        drop(doc);
        // Compare against the snapshot as it will be read back.
        let snap = encoding::decode_doc(&bytes, self.replica())
            .map_err(|e| self.corrupt_doc(id, format!("the new snapshot does not decode: {e}")))?;
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut changes = tx.open_table(CHANGES).map_err(|e| self.db_err(e))?;
            let mut compact = Vec::new();
            for item in
                changes.range((id.0, 0, 0)..=(id.0, u64::MAX, u64::MAX)).map_err(|e| self.db_err(e))?
            {
                let (k, v) = item.map_err(|e| self.db_err(e))?;
                let sc = StoredChange::decode(v.value()).map_err(|r| self.corrupt_doc(id, r))?;
                if sc.compacted() {
                    continue;
                }
                let (_, author, start) = k.value();
                let same = snap
                    .change_by(ReplicaId(author), start, sc.end_seq)
                    .is_some_and(|c| encoding::encode_change(&c) == sc.change);
                if same {
                    compact.push(((author, start), StoredChange { change: Vec::new(), ..sc }));
                }
            }
            for ((author, start), sc) in compact {
                changes.insert((id.0, author, start), sc.encode().as_slice()).map_err(|e| self.db_err(e))?;
            }
        }
        {
            let mut docs = tx.open_table(DOCS).map_err(|e| self.db_err(e))?;
            let Some(rec) = docs.get(id.0).map_err(|e| self.db_err(e))?.map(|v| v.value().to_vec()) else {
                return Err(Error::UnknownDoc(id.to_string()));
            };
            let mut rec = DocRecord::decode(&rec).map_err(|r| self.corrupt_doc(id, r))?;
            rec.tail_changes = 0;
            rec.tail_bytes = 0;
            rec.chars = snap.len_chars() as u64;
            docs.insert(id.0, rec.encode().as_slice()).map_err(|e| self.db_err(e))?;
            tx.open_table(SNAPSHOTS)
                .map_err(|e| self.db_err(e))?
                .insert(id.0, bytes.as_slice())
                .map_err(|e| self.db_err(e))?;
        }
        tx.commit().map_err(|e| self.db_err(e))?;
        *self.snapshot_cache.borrow_mut() = Some((id, snap));
        Ok(())
    }

    /// Marks a document opened now.
    fn touch(&mut self, id: DocId) -> Result<(), Error> {
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut docs = tx.open_table(DOCS).map_err(|e| self.db_err(e))?;
            let rec = docs.get(id.0).map_err(|e| self.db_err(e))?.map(|v| v.value().to_vec());
            if let Some(rec) = rec {
                let mut rec = DocRecord::decode(&rec).map_err(|r| self.corrupt_doc(id, r))?;
                rec.opened_ms = now_ms();
                docs.insert(id.0, rec.encode().as_slice()).map_err(|e| self.db_err(e))?;
            }
        }
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(())
    }

    // ----- peers ---------------------------------------------------------------------

    /// Remembers a peer address for a document.
    pub fn add_peer_addr(&mut self, id: DocId, addr: &str) -> Result<(), Error> {
        let tx = self.db()?.begin_write().map_err(|e| self.db_err(e))?;
        {
            let mut t = tx.open_table(PEERS).map_err(|e| self.db_err(e))?;
            t.insert((id.0, addr), now_ms()).map_err(|e| self.db_err(e))?;
            // Only the addresses seen most recently are kept.
            let mut seen: Vec<(u64, String)> = Vec::new();
            for item in t.range((id.0, "")..(next_id(id), "")).map_err(|e| self.db_err(e))? {
                let (k, v) = item.map_err(|e| self.db_err(e))?;
                seen.push((v.value(), k.value().1.to_owned()));
            }
            if seen.len() > MAX_PEER_ADDRS {
                seen.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.cmp(&b.1)));
                for (_, old) in &seen[MAX_PEER_ADDRS..] {
                    t.remove((id.0, old.as_str())).map_err(|e| self.db_err(e))?;
                }
            }
        }
        tx.commit().map_err(|e| self.db_err(e))?;
        Ok(())
    }

    /// Known peer addresses of a document, most recently seen first.
    pub fn peer_addrs(&self, id: DocId) -> Result<Vec<String>, Error> {
        let tx = self.db()?.begin_read().map_err(|e| self.db_err(e))?;
        let t = tx.open_table(PEERS).map_err(|e| self.db_err(e))?;
        let mut res = Vec::new();
        for item in t.range((id.0, "")..(next_id(id), "")).map_err(|e| self.db_err(e))? {
            let (k, v) = item.map_err(|e| self.db_err(e))?;
            res.push((v.value(), k.value().1.to_owned()));
        }
        res.sort_by_key(|r| std::cmp::Reverse(r.0));
        Ok(res.into_iter().map(|r| r.1).collect())
    }
}

/// The smallest id after `id` (for range ends); the last id maps to itself.
fn next_id(id: DocId) -> [u8; 16] {
    let n = u128::from_be_bytes(id.0);
    n.saturating_add(1).to_be_bytes()
}

fn create_private_dir(dir: &Path) -> Result<(), Error> {
    let io = |e| Error::Io { path: dir.to_owned(), source: e };
    if !dir.exists() {
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true);
        #[cfg(unix)]
        std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
        b.create(dir).map_err(io)?;
    }
    if !dir.is_dir() {
        return Err(Error::Io { path: dir.to_owned(), source: std::io::Error::other("not a directory") });
    }
    Ok(())
}

/// Refuses a file that is not a redb database, before redb could write to it.
fn check_magic(path: &Path) -> Result<(), Error> {
    use std::io::Read;
    let mut head = [0u8; REDB_MAGIC.len()];
    let mut f = std::fs::File::open(path).map_err(|e| Error::Io { path: path.to_owned(), source: e })?;
    let n = f.read(&mut head).map_err(|e| Error::Io { path: path.to_owned(), source: e })?;
    if n < head.len() || head != REDB_MAGIC {
        let reason = if n == 0 {
            "the file is empty".to_owned()
        } else {
            "not a Tandem database (wrong file header)".to_owned()
        };
        return Err(Error::Corrupt { path: path.to_owned(), reason });
    }
    Ok(())
}

/// Refuses a database of a newer schema before opening it for writing (a writable open
/// already changes the file). A database that needs crash recovery cannot be read
/// this way; the schema check then happens in the writable open.
fn check_schema_read_only(path: &Path, dir: &Path) -> Result<(), Error> {
    let db = match Database::builder().open_read_only(path) {
        Ok(db) => db,
        Err(redb::DatabaseError::DatabaseAlreadyOpen) => return Err(Error::InUse { dir: dir.to_owned() }),
        Err(_) => return Ok(()),
    };
    let Ok(tx) = db.begin_read() else { return Ok(()) };
    let Ok(meta) = tx.open_table(META) else { return Ok(()) };
    if let Ok(Some(v)) = meta.get("schema_version")
        && v.value() > SCHEMA_VERSION
    {
        return Err(Error::NewerSchema {
            path: path.to_owned(),
            found: v.value(),
            supported: SCHEMA_VERSION,
        });
    }
    Ok(())
}

/// Creates the database under a temporary name and moves it into place, so a crash
/// never leaves a half-made file at `path`. The file is readable by the user only.
fn create_new(path: &Path, dir: &Path) -> Result<Database, Error> {
    let tmp = path.with_extension("redb.new");
    let io = |e| Error::Io { path: tmp.clone(), source: e };
    let _ = std::fs::remove_file(&tmp);
    let mut opts = std::fs::OpenOptions::new();
    opts.read(true).write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    drop(opts.open(&tmp).map_err(io)?);
    let db = Database::builder().create(&tmp).map_err(|e| Error::open(&tmp, dir, e))?;
    drop(db);
    std::fs::rename(&tmp, path).map_err(io)?;
    Database::builder().open(path).map_err(|e| Error::open(path, dir, e))
}

trait WithConfig {
    fn with_config(self, config: Config) -> Doc;
}

impl WithConfig for Doc {
    fn with_config(mut self, config: Config) -> Doc {
        self.set_config(config);
        self
    }
}
