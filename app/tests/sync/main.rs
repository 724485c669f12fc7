//! Sync between real `tandem node` processes on loopback (mDNS off, bounded waits).

mod node;
mod scenarios;
