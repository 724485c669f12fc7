//! The `tandem` program: the desktop app and the command line. This library half holds
//! what the binary and its tests share.

pub mod alloc;
pub mod clock;
pub mod config;
pub mod docs;
pub mod history_file;
pub mod logs;
pub mod node;
pub mod trace;
pub mod tracegen;
pub mod ui;
