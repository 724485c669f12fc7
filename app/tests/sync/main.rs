//! Sync between real `tandem node` processes on loopback (mDNS off, bounded waits).

mod netns;
mod node;
mod relay;
mod rogue;
mod scenarios;
