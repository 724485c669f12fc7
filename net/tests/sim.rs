//! A seeded simulation of the sync protocol, without sockets: peers with real CRDT
//! replicas exchange the real wire messages (gossiped changes, beacons, catch-up
//! requests and chunked responses, all sealed with the document key) through a network
//! that reorders, duplicates and drops messages and splits into partitions. After the
//! partitions heal, anti-entropy (beacons answered by catch-up) must bring every replica
//! to the same text and version, with nothing left waiting for deps.
//!
//! Seals (signatures) are checked by the storage crate's tests and the multi-process
//! tests; here every envelope is empty.

use tandem_crdt::{Change, Doc, ReplicaId, VectorClock, encoding};
use tandem_net::crypto::DocCipher;
use tandem_net::wire::{self, Gossip};
use tandem_storage::{DocId, DocKey, SignedChange};

/// A small deterministic generator (xorshift64*), so a failing seed replays exactly.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Gossip,
    Request,
    Response,
}

#[derive(Clone)]
struct Msg {
    from: usize,
    to: usize,
    kind: Kind,
    bytes: Vec<u8>,
}

struct Sim {
    cipher: DocCipher,
    docs: Vec<Doc>,
    /// `side[i]`: which side of the partition peer `i` is on (all equal: no partition).
    side: Vec<u8>,
    net: Vec<Msg>,
    rng: Rng,
    /// Changes per catch-up response (one, so continuations happen).
    chunk: usize,
}

fn signed(c: &Change) -> SignedChange {
    SignedChange { change: encoding::encode_change(c), envelope: Vec::new() }
}

impl Sim {
    fn new(seed: u64, n: usize) -> Sim {
        let cipher = DocCipher::new(DocId([7; 16]), &DocKey([9; 32]));
        Sim {
            cipher,
            docs: (0..n).map(|i| Doc::new(ReplicaId(100 + i as u64))).collect(),
            side: vec![0; n],
            net: Vec::new(),
            rng: Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1),
            chunk: 1,
        }
    }

    fn send(&mut self, from: usize, to: usize, kind: Kind, bytes: Vec<u8>) {
        self.net.push(Msg { from, to, kind, bytes });
    }

    fn broadcast(&mut self, from: usize, bytes: &[u8]) {
        for to in 0..self.docs.len() {
            if to != from {
                self.send(from, to, Kind::Gossip, bytes.to_vec());
            }
        }
    }

    fn request(&mut self, from: usize, to: usize) {
        let req = wire::sync_request(&self.cipher, self.docs[from].version());
        self.send(from, to, Kind::Request, req);
    }

    fn edit(&mut self, at: usize) {
        let len = self.docs[at].len_chars() as u64;
        let d = &mut self.docs[at];
        if len > 0 && self.rng.chance(30) {
            let pos = self.rng.below(len);
            let n = 1 + self.rng.below((len - pos).min(4));
            d.delete(pos as usize, n as usize).unwrap();
        } else {
            let pos = self.rng.below(len + 1) as usize;
            let text = ["a", "bc", "déf", "😀", "\n", "xyz "][self.rng.below(6) as usize];
            d.insert(pos, text).unwrap();
        }
        let c = d.commit().expect("an edit commits a change");
        let msg = wire::change_message(&self.cipher, c.author.0, c.start_seq, &signed(&c));
        self.broadcast(at, &msg);
    }

    /// Delivers (or drops, or duplicates) one message chosen at random.
    fn deliver_one(&mut self, lossy: bool) {
        if self.net.is_empty() {
            return;
        }
        let i = self.rng.below(self.net.len() as u64) as usize;
        let m = self.net.swap_remove(i);
        if self.side[m.from] != self.side[m.to] || (lossy && self.rng.chance(10)) {
            return;
        }
        if lossy && self.rng.chance(10) {
            self.net.push(m.clone());
        }
        match m.kind {
            Kind::Gossip => {
                match wire::open_gossip(&self.cipher, &m.bytes).expect("a gossip message opens") {
                    Gossip::Change(sc) => {
                        let c = encoding::decode_change(&sc.change).expect("a change decodes");
                        let out = self.docs[m.to].apply(c).expect("a change applies");
                        if out.buffered {
                            // Missing deps: ask the sender for what this replica lacks.
                            self.request(m.to, m.from);
                        }
                    }
                    Gossip::Beacon(clock) => {
                        if !clock.le(self.docs[m.to].version()) {
                            self.request(m.to, m.from);
                        }
                    }
                    Gossip::Presence(_) => {}
                }
            }
            Kind::Request => {
                let clock = wire::open_request(&self.cipher, &m.bytes).expect("a request opens");
                let all = self.docs[m.to].changes_since(&clock);
                let more = all.len() > self.chunk;
                let chunk: Vec<SignedChange> = all.iter().take(self.chunk).map(signed).collect();
                let resp = wire::sync_response(&self.cipher, &chunk, more);
                self.send(m.to, m.from, Kind::Response, resp);
            }
            Kind::Response => {
                let (changes, more) = wire::open_response(&self.cipher, &m.bytes)
                    .expect("a response opens")
                    .expect("known doc");
                for sc in changes {
                    let c = encoding::decode_change(&sc.change).expect("a change decodes");
                    self.docs[m.to].apply(c).expect("a change applies");
                }
                if more {
                    self.request(m.to, m.from);
                }
            }
        }
    }

    fn beacon(&mut self, at: usize) {
        let msg = wire::beacon_message(&self.cipher, self.docs[at].version());
        self.broadcast(at, &msg);
    }

    fn run(&mut self, steps: usize) {
        let n = self.docs.len() as u64;
        for _ in 0..steps {
            let peer = self.rng.below(n) as usize;
            match self.rng.below(100) {
                0..=29 => self.edit(peer),
                30..=84 => self.deliver_one(true),
                85..=92 => self.beacon(peer),
                _ => {
                    // Split into two random sides, or heal.
                    if self.rng.chance(50) {
                        self.side = (0..n).map(|_| self.rng.below(2) as u8).collect();
                    } else {
                        self.side.fill(0);
                    }
                }
            }
        }
    }

    /// Heals the network and runs anti-entropy rounds (beacons, everything delivered)
    /// until no message is left. Returns the rounds it took.
    fn settle(&mut self) -> usize {
        self.side.fill(0);
        for round in 1..=50 {
            for at in 0..self.docs.len() {
                self.beacon(at);
            }
            let mut budget = 100_000;
            while !self.net.is_empty() {
                self.deliver_one(false);
                budget -= 1;
                assert!(budget > 0, "messages keep coming");
            }
            let v = self.docs[0].version().clone();
            if self.docs.iter().all(|d| d.version() == &v && d.pending_changes() == 0) {
                return round;
            }
        }
        panic!("anti-entropy did not converge in 50 rounds");
    }
}

#[test]
fn partitions_reordering_loss_and_duplicates_converge_after_healing() {
    for seed in 0..48 {
        let mut sim = Sim::new(seed, 4);
        sim.run(600);
        let rounds = sim.settle();
        let text = sim.docs[0].text();
        for (i, d) in sim.docs.iter().enumerate() {
            assert_eq!(d.text(), text, "seed {seed}: peer {i} differs");
            d.check();
        }
        // Every edit made anywhere is held everywhere.
        let mut all = VectorClock::new();
        for d in &sim.docs {
            all.merge(d.version());
        }
        assert_eq!(sim.docs[0].version(), &all, "seed {seed}");
        assert!(rounds <= 3, "seed {seed}: {rounds} rounds of anti-entropy");
    }
}

#[test]
fn without_gossip_catch_up_alone_delivers_everything() {
    // Every gossiped change is lost; only beacons and chunked catch-up carry history.
    let mut sim = Sim::new(99, 3);
    for i in 0..60 {
        sim.edit(i % 3);
    }
    sim.net.clear();
    let rounds = sim.settle();
    let text = sim.docs[0].text();
    assert!(sim.docs.iter().all(|d| d.text() == text));
    // Each peer holds all 60 edits: its own 20 and the others' 40.
    for d in &sim.docs {
        assert_eq!(d.version().len(), 3);
        assert_eq!(d.version(), sim.docs[0].version());
    }
    assert!(rounds <= 2, "{rounds}");
}
