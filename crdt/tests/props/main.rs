//! Property tests of the CRDT core: convergence under arbitrary delivery, causal
//! buffering, and decoders fed garbage.

mod causal;
mod convergence;
mod decode;
