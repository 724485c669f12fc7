//! Tandem's durable local replicas: one redb database per device holding the device
//! identity, the document list, every document's signed changes and its snapshot.
//!
//! Key types: [`Store`] (the database, used from one thread), [`StoreHandle`] (the
//! store on its own thread, cloneable, with group commit), [`DocId`], [`DocKey`],
//! [`Identity`].
//!
//! **Promises.** An append is answered only after its transaction is committed to disk.
//! The device writes under two stable replica ids ([`Writer`]), so a document's version
//! vector grows by device, not by process start; a change is stored before it is
//! published and the next seq follows the stored ones, so no published `(ReplicaId,
//! seq)` is ever reused. A second process
//! on the same data dir gets [`Error::InUse`]. A damaged or foreign file gives
//! [`Error::Corrupt`] naming it and is never written to.
//!
//! ```
//! use tandem_storage::{Append, Store};
//!
//! let dir = tempfile::tempdir().unwrap();
//! let mut store = Store::open(dir.path()).unwrap();
//! let info = store.create_doc("Notes").unwrap();
//! let mut doc = store.load(info.id).unwrap();
//! doc.insert(0, "hello").unwrap();
//! let change = doc.commit().unwrap();
//! store.append(&[Append { doc: info.id, change, signature: vec![], summary: None }]).unwrap();
//! drop(store);
//! let mut store = Store::open(dir.path()).unwrap();
//! assert_eq!(store.load(info.id).unwrap().text(), "hello");
//! ```
#![warn(missing_docs)]

mod actor;
mod error;
mod identity;
mod ids;
mod record;
mod store;

pub use actor::{Reply, SETTLE, StorageState, StoreHandle};
pub use error::Error;
pub use identity::{Identity, SEAL_LEN, SealError, Writer, check_seal, seal_signer};
pub use ids::{BadDocId, DocId, DocKey};
pub use store::{
    Append, Authors, DB_FILE, DamagedDoc, DocInfo, Equivocation, MAX_PEER_ADDRS, SCHEMA_VERSION,
    SignedChange, Store,
};

/// The default data dir: the platform's data directory for Tandem, unless
/// `TANDEM_DATA_DIR` is set.
pub fn default_data_dir() -> Option<std::path::PathBuf> {
    if let Some(d) = std::env::var_os("TANDEM_DATA_DIR") {
        return Some(d.into());
    }
    directories::ProjectDirs::from("org", "Tandem", "tandem").map(|p| p.data_dir().to_owned())
}
