//! End-to-end tests: the real `tandem` binary as a user runs it. Sync between real
//! `tandem node` processes on loopback (mDNS off, bounded waits), through relays, against
//! a rogue libp2p peer, against strangers spamming the DHT or posing as relays, through
//! a stand-in for the public IPFS network (`amino`, `public`), against a
//! hostile collaborator who holds the ticket, inside
//! network namespaces and on a full disk; the document commands of the CLI;
//! every editing trace in `tests/data/traces`; and the desktop window, headless under
//! egui_kittest (`ui`; `find` for find and replace and go to line; `status`; `a11y` for
//! the AccessKit tree and the keyboard; `switcher` for the quick switcher; `presence` for
//! peers' colours, cursors and name tags; `desktop` for files in and out, themes, the
//! window's state and fonts).
//!
//! One binary (a `[[test]]` of the `tandem` package, so `CARGO_BIN_EXE_tandem` is the
//! binary under test), with `node` as the one driver of `tandem node` processes.

mod a11y;
mod amino;
mod baddoc;
mod cli;
mod desktop;
mod diskfull;
mod find;
mod hostile;
mod long_text;
mod nat;
mod netns;
mod node;
mod outsider;
mod peer;
mod presence;
mod public;
mod relay;
mod revoke;
mod rogue;
mod scenarios;
mod status;
mod strangers;
mod switcher;
mod trace;
mod ui;
