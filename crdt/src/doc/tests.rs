//! Unit tests of `Doc`: interleaving, undo, anchors, map conflicts, insert origin checks.

use crate::{Bias, Change, Doc, ReplicaId, Value, VectorClock};

fn replicas(n: u64) -> Vec<Doc> {
    (1..=n).map(|i| Doc::new(ReplicaId(i * 1000))).collect()
}

/// Sends everything each replica has to every other one.
fn sync_all(docs: &mut [Doc]) {
    for a in 0..docs.len() {
        for b in 0..docs.len() {
            if a != b {
                let changes = docs[a].changes_since(docs[b].version());
                for c in changes {
                    docs[b].apply(c).unwrap();
                }
            }
        }
    }
    for d in docs.iter() {
        d.check();
        assert_eq!(d.text(), docs[0].text());
        assert_eq!(d.version(), docs[0].version());
    }
}

/// Types `word` at `pos` one char per commit: forwards (left to right) or backwards
/// (each char typed before the previous one, as when typing then moving left).
fn type_word(doc: &mut Doc, pos: usize, word: &str, forwards: bool) -> Vec<Change> {
    let chars: Vec<char> = word.chars().collect();
    let mut out = Vec::new();
    for i in 0..chars.len() {
        if forwards {
            doc.insert(pos + i, &chars[i].to_string()).unwrap();
        } else {
            doc.insert(pos, &chars[chars.len() - 1 - i].to_string()).unwrap();
        }
        out.extend(doc.commit());
    }
    out
}

/// Replicas start from `base`, each types its word concurrently at `pos`; after the
/// merge each word must be whole.
fn check(base: &str, pos: usize, words: &[(&str, bool)]) -> String {
    let mut docs = replicas(words.len() as u64);
    docs[0].insert(0, base).unwrap();
    docs[0].commit();
    sync_all(&mut docs);
    for (d, &(w, fwd)) in docs.iter_mut().zip(words) {
        type_word(d, pos, w, fwd);
        assert!(d.text().contains(w));
    }
    sync_all(&mut docs);
    let text = docs[0].text();
    for (w, _) in words {
        assert!(text.contains(w), "{w:?} interleaved in {text:?}");
    }
    assert_eq!(
        text.chars().count(),
        base.chars().count() + words.iter().map(|w| w.0.chars().count()).sum::<usize>()
    );
    text
}

#[test]
fn forward_typing_never_interleaves() {
    check("", 0, &[("milk", true), ("eggs", true)]);
    check("Shopping:\n", 10, &[("milk\n", true), ("eggs\n", true)]);
    check("ab", 1, &[("hello", true), ("world", true), ("again", true)]);
}

#[test]
fn backward_typing_never_interleaves() {
    // The Fugue paper's backward case: both type their word right to left.
    check("", 0, &[("milk", false), ("eggs", false)]);
    check("Shopping:\n", 10, &[("milk\n", false), ("eggs\n", false)]);
    check("xy", 1, &[("hello", false), ("world", false), ("again", false)]);
}

#[test]
fn mixed_directions_never_interleave() {
    check("", 0, &[("milk", true), ("eggs", false)]);
    check("", 0, &[("milk", false), ("eggs", true)]);
    check("--", 1, &[("forward", true), ("backward", false), ("unicode 漢字👍🏽", true)]);
}

#[test]
fn fugue_paper_nested_example() {
    // Alice types "milk", Bob concurrently types "eggs" at the same place; then Alice,
    // who has seen only her own word, appends " cheese" after it, while Carol (who
    // saw both) inserts "bread " at the front. Alice's continuation must stay with
    // her word.
    let mut docs = replicas(3);
    type_word(&mut docs[0], 0, "milk", true);
    type_word(&mut docs[1], 0, "eggs", true);
    type_word(&mut docs[0], 4, " cheese", true);
    let (a, rest) = docs.split_at_mut(1);
    for c in a[0].changes_since(rest[1].version()) {
        rest[1].apply(c).unwrap();
    }
    for c in rest[0].changes_since(rest[1].version()) {
        rest[1].apply(c).unwrap();
    }
    type_word(&mut docs[2], 0, "bread ", true);
    sync_all(&mut docs);
    let t = docs[0].text();
    assert!(t.starts_with("bread "), "{t}");
    assert!(t.contains("milk cheese"), "{t}");
    assert!(t.contains("eggs"), "{t}");
}

#[test]
fn concurrent_order_is_deterministic_by_replica() {
    // Same scenario, delivered in both orders: the same result.
    let mut x = replicas(2);
    let ca = type_word(&mut x[0], 0, "AAA", true);
    let cb = type_word(&mut x[1], 0, "BBB", true);
    let mut p = Doc::new(ReplicaId(7));
    let mut q = Doc::new(ReplicaId(8));
    for c in ca.iter().chain(&cb) {
        p.apply(c.clone()).unwrap();
    }
    for c in cb.iter().chain(&ca) {
        q.apply(c.clone()).unwrap();
    }
    assert_eq!(p.text(), q.text());
    // The lower replica id goes first.
    assert_eq!(p.text(), "AAABBB");
}

#[test]
fn undo_only_own_edits() {
    let mut docs = replicas(2);
    docs[0].insert(0, "hello").unwrap();
    docs[0].commit();
    sync_all(&mut docs);
    docs[1].insert(5, " world").unwrap();
    docs[1].commit();
    sync_all(&mut docs);
    let u = docs[0].undo().unwrap().expect("something to undo");
    assert_eq!(docs[0].text(), " world");
    docs[1].apply(u).unwrap();
    assert_eq!(docs[1].text(), " world");
    assert!(docs[0].undo().unwrap().is_none(), "the remote edit is not undone");
    let r = docs[0].redo().unwrap().expect("something to redo");
    docs[1].apply(r).unwrap();
    assert_eq!(docs[0].text(), "hello world");
    assert_eq!(docs[1].text(), "hello world");
}

#[test]
fn undo_restores_deleted_text_and_map() {
    let mut d = Doc::new(ReplicaId(1));
    d.insert(0, "abcdef").unwrap();
    d.map_set("title", Value::Str("one".into())).unwrap();
    d.commit();
    d.delete(1, 3).unwrap();
    d.map_set("title", Value::Str("two".into())).unwrap();
    d.commit();
    assert_eq!(d.text(), "aef");
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "abcdef");
    assert_eq!(d.map_get("title"), Some(&Value::Str("one".into())));
    d.redo().unwrap().unwrap();
    assert_eq!(d.text(), "aef");
    assert_eq!(d.map_get("title"), Some(&Value::Str("two".into())));
    d.undo().unwrap();
    d.undo().unwrap();
    assert_eq!(d.text(), "");
    assert_eq!(d.map_get("title"), None);
    d.check();
}

#[test]
fn anchors_follow_their_character() {
    let mut docs = replicas(2);
    docs[0].insert(0, "hello world").unwrap();
    docs[0].commit();
    sync_all(&mut docs);
    let cursor = docs[0].anchor(6, Bias::After); // before 'w'
    let end = docs[0].anchor(11, Bias::After);
    docs[1].insert(0, ">> ").unwrap();
    docs[1].delete(3 + 2, 2).unwrap(); // "llo" -> "o"
    docs[1].commit();
    sync_all(&mut docs);
    assert_eq!(docs[0].text(), ">> heo world");
    assert_eq!(docs[0].resolve(&cursor), Some(7));
    assert_eq!(docs[0].resolve(&end), Some(12));
    // Deleting the anchored char leaves the anchor where it was.
    docs[1].delete(7, 1).unwrap();
    docs[1].commit();
    sync_all(&mut docs);
    assert_eq!(docs[0].resolve(&cursor), Some(7));
    let before = docs[0].anchor(3, Bias::Before);
    docs[0].insert(3, "X").unwrap();
    docs[0].commit();
    assert_eq!(docs[0].resolve(&before), Some(3));
}

#[test]
fn map_conflicts_show_all_values_and_pick_one_winner() {
    let mut docs = replicas(3);
    docs[0].map_set("title", Value::Str("Plan".into())).unwrap();
    docs[0].commit();
    sync_all(&mut docs);
    docs[1].map_set("title", Value::Str("Plan A".into())).unwrap();
    docs[1].commit();
    docs[2].map_set("title", Value::Str("Plan B".into())).unwrap();
    docs[2].commit();
    sync_all(&mut docs);
    for d in &docs {
        let vals = d.map_values("title");
        assert_eq!(vals.len(), 2, "both concurrent values kept");
        assert!(vals.contains(&&Value::Str("Plan A".into())) && vals.contains(&&Value::Str("Plan B".into())));
        assert_eq!(d.map_get("title"), Some(vals[0]));
    }
    // Resolving the conflict supersedes both.
    docs[0].map_set("title", Value::Str("Plan C".into())).unwrap();
    docs[0].commit();
    sync_all(&mut docs);
    for d in &docs {
        assert_eq!(d.map_values("title"), vec![&Value::Str("Plan C".into())]);
    }
}

#[test]
fn time_travel_shows_old_versions() {
    let mut d = Doc::new(ReplicaId(5));
    let mut snaps = vec![(VectorClock::new(), String::new())];
    for (pos, del, ins) in [(0, 0, "hello"), (5, 0, " world"), (0, 1, "J"), (6, 5, "there")] {
        d.delete(pos, del).unwrap();
        d.insert(pos, ins).unwrap();
        d.commit();
        snaps.push((d.version().clone(), d.text()));
    }
    for (v, t) in &snaps {
        assert_eq!(&d.text_at(v).unwrap(), t);
    }
    let mut future = d.version().clone();
    future.observe(ReplicaId(99), 1);
    assert!(d.text_at(&future).is_err());
}

#[test]
fn undo_history_survives_reloading_as_a_new_session() {
    let mut d = Doc::new(ReplicaId(1));
    d.insert(0, "one two").unwrap();
    d.map_set("title", Value::Str("a".into())).unwrap();
    d.commit();
    d.delete(0, 4).unwrap();
    d.map_set("title", Value::Str("b".into())).unwrap();
    d.commit();
    d.undo().unwrap();
    d.redo().unwrap();
    assert_eq!(d.text(), "two");
    let bytes = crate::encoding::encode_doc(&d);
    let state = crate::encoding::decode_undo(&crate::encoding::encode_undo(&d.undo_state())).unwrap();
    assert_eq!(state, d.undo_state());
    let mut e = crate::encoding::decode_doc(&bytes, ReplicaId(2)).unwrap();
    e.restore_undo_state(&state);
    assert_eq!(e.undo_state(), d.undo_state());
    // The reloaded replica undoes what the earlier session did, in order.
    e.undo().unwrap().unwrap();
    assert_eq!(e.text(), "one two");
    assert_eq!(e.map_get("title"), Some(&Value::Str("a".into())));
    e.undo().unwrap().unwrap();
    assert_eq!(e.text(), "");
    assert_eq!(e.map_get("title"), None);
    e.redo().unwrap().unwrap();
    assert_eq!(e.text(), "one two");
    e.check();
}

/// A small deterministic generator for the origin checks below.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: u64) -> u64 {
        self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
        if n == 0 { 0 } else { (self.0 >> 33) % n }
    }
}

/// Every item of `d` (tombstones included) in document order.
fn item_order(d: &Doc) -> Vec<crate::OpId> {
    d.text.spans().flat_map(|s| (s.lv..s.lv + s.len).map(|lv| d.log.id_of(lv))).collect()
}

#[test]
fn origin_checks_agree_with_the_authors_view_item_by_item() {
    use crate::{Error, InvalidReason, Op, OpId};
    for seed in 0..300 {
        let mut rng = Lcg(seed);
        // Three replicas type, delete and sync; every change is kept.
        let mut docs = replicas(3);
        let mut changes = Vec::new();
        for _ in 0..12 {
            let i = rng.below(3) as usize;
            let len = docs[i].len_chars() as u64;
            match rng.below(4) {
                0 => {
                    let j = rng.below(3) as usize;
                    for c in docs[j].changes_since(docs[i].version()) {
                        docs[i].apply(c).unwrap();
                    }
                }
                1 if len > 0 => {
                    docs[i].delete(rng.below(len) as usize, 1).unwrap();
                    changes.push(docs[i].commit().unwrap());
                }
                _ => {
                    docs[i].insert(rng.below(len + 1) as usize, "xy").unwrap();
                    changes.push(docs[i].commit().unwrap());
                }
            }
        }
        // The author saw the first `j` changes; a replica holding all of them sees
        // concurrent items too.
        let j = rng.below(changes.len() as u64 + 1) as usize;
        let mut author_view = Doc::new(ReplicaId(7));
        let mut everything = Doc::new(ReplicaId(8));
        for (k, c) in changes.iter().enumerate() {
            if k < j {
                author_view.apply(c.clone()).unwrap();
            }
            everything.apply(c.clone()).unwrap();
        }
        // Inserts with origins drawn from the items seen, the change's own and the
        // ends, judged on the author's view as a plain list.
        let author = ReplicaId(9);
        let mut order: Vec<Option<OpId>> = item_order(&author_view).into_iter().map(Some).collect();
        let mut ops = Vec::new();
        let mut valid = true;
        let mut seq = 1;
        for _ in 0..1 + rng.below(3) {
            let pick = |rng: &mut Lcg, order: &[Option<OpId>]| match rng.below(order.len() as u64 + 1) {
                0 => None,
                k => order[k as usize - 1],
            };
            let left = pick(&mut rng, &order);
            let at = left.map_or(0, |l| order.iter().position(|o| *o == Some(l)).unwrap() + 1);
            // Often the real neighbour, else any item.
            let right =
                if rng.below(2) == 0 { order.get(at).copied().flatten() } else { pick(&mut rng, &order) };
            valid &= order.get(at).copied().flatten() == right;
            let n = 1 + rng.below(2);
            order.splice(at..at, (0..n).map(|k| Some(OpId::new(author, seq + k))));
            ops.push(Op::Insert { origin_left: left, origin_right: right, text: "Q".repeat(n as usize) });
            seq += n;
        }
        let deps: Vec<OpId> = author_view.version().iter().map(|(r, s)| OpId::new(r, s)).collect();
        let c = Change { time: 0, author, start_seq: 1, deps, lamport: 1_000, ops };
        for d in [&mut author_view, &mut everything] {
            let before = d.text();
            match d.apply(c.clone()) {
                Ok(_) => assert!(valid, "seed {seed}: {c:?} taken"),
                Err(Error::InvalidChange { reason: InvalidReason::InconsistentOrigins { .. }, .. }) => {
                    assert!(!valid, "seed {seed}: {c:?} refused");
                    assert_eq!(d.text(), before);
                }
                Err(e) => panic!("seed {seed}: {e}"),
            }
            d.check();
        }
        if valid {
            // The author's view is the list the check judged.
            assert_eq!(
                item_order(&author_view),
                order.into_iter().flatten().collect::<Vec<_>>(),
                "seed {seed}"
            );
        }
    }
}

#[test]
fn the_op_log_and_the_content_keep_at_most_a_quarter_spare() {
    // Typing at scattered places, with deletes: many insert and delete runs, and
    // content pushed a character at a time.
    let mut d = Doc::new(ReplicaId(1));
    let mut pos = 0;
    for i in 0..30_000usize {
        d.insert(pos, "é").unwrap();
        if i % 3 == 0 {
            d.delete(pos / 2, 1).unwrap();
        }
        d.commit_quiet();
        pos = (pos + 7_919) % (d.len_chars() + 1);
    }
    let (ins, dels) = (&d.log.ins, &d.log.dels);
    assert!(ins.len() > 10_000 && dels.len() > 5_000, "{} insert and {} delete runs", ins.len(), dels.len());
    let spare = |len: usize, cap: usize| cap <= len + len / 4 + 16;
    assert!(spare(ins.len(), ins.capacity()), "{} insert runs in room for {}", ins.len(), ins.capacity());
    assert!(spare(dels.len(), dels.capacity()), "{} delete runs in room for {}", dels.len(), dels.capacity());
    let (len, cap) = (d.text.content_len(), d.text.content_capacity());
    assert!(spare(len, cap), "{len} bytes of content in room for {cap}");
}

#[test]
fn a_full_undo_history_takes_eight_bytes_a_step() {
    // A replica keeps up to `max_undo_steps` (10,000) of them: 80 KB at this size.
    assert_eq!(std::mem::size_of::<super::undo::Packed>(), 8);
    let mut d = Doc::new(ReplicaId(1));
    let max = d.config.max_undo_steps;
    for i in 0..max + 10 {
        d.insert(i % 7, "x").unwrap();
        d.commit_quiet();
    }
    assert_eq!(d.undo.len(), max);
    assert_eq!(d.undo.capacity(), max, "room for the limit, not the next power of two");
    d.undo().unwrap();
    assert_eq!(d.undo.len(), max - 1);
}
