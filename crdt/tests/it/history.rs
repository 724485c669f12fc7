//! The readable history: wall times carried by changes (through sync, splits, runs and
//! encodings), sessions of editing, and who typed each character (blame) at a version.

use crate::{doc, sync};
use tandem_crdt::{ABSORB_WINDOW_S, Change, Doc, EditSession, OpId, ReplicaId, VectorClock, encoding};

const T0: u64 = 1_790_000_000;

/// Types `text` at `pos` at wall time `time` and commits it.
fn type_at(d: &mut Doc, time: u64, pos: usize, text: &str) -> Change {
    d.set_wall_clock(time);
    d.insert(pos, text).unwrap();
    d.commit().unwrap()
}

/// Deletes `len` chars at `pos` at wall time `time` and commits it.
fn delete_at(d: &mut Doc, time: u64, pos: usize, len: usize) -> Change {
    d.set_wall_clock(time);
    d.delete(pos, len).unwrap();
    d.commit().unwrap()
}

#[test]
fn changes_carry_their_wall_time_through_sync_and_encodings() {
    let mut a = doc(1);
    let c1 = type_at(&mut a, T0, 0, "one");
    assert_eq!(c1.time, T0);
    // Typing that continues the insert a second later: one run of the log, two times.
    let c2 = type_at(&mut a, T0 + 1, 3, " two");
    assert_eq!(c2.time, T0 + 1);
    let all = a.all_changes();
    assert_eq!(all.iter().map(|c| (c.start_seq, c.time)).collect::<Vec<_>>(), [(1, T0), (4, T0 + 1)]);
    // The timed encoding is version 2; an undated change keeps version 1.
    let bytes = encoding::encode_change(&c2);
    assert_eq!(bytes[0], encoding::CHANGE_VERSION);
    assert_eq!(encoding::decode_change(&bytes).unwrap(), c2);
    let undated = Change { time: 0, ..c2.clone() };
    let mut old = encoding::encode_change(&undated);
    assert_eq!(old[0], 1);
    assert_eq!(encoding::decode_change(&old).unwrap(), undated);
    // Time 0 written in version 2 is refused: each change has one encoding.
    old.insert(0, 2);
    old.remove(1);
    let (head, tail) = old.split_at(1 + 8 + 1 + 1);
    let forged = [head, &[0], tail].concat();
    assert!(encoding::decode_change(&forged).is_err());

    let mut b = doc(2);
    sync(&a, &mut b);
    for (seq, time) in [(1, T0), (3, T0), (4, T0 + 1), (7, T0 + 1)] {
        assert_eq!(b.time_of(OpId::new(ReplicaId(1), seq)), Some(time), "seq {seq}");
    }
    assert_eq!(b.time_of(OpId::new(ReplicaId(1), 8)), None, "not held");
    // A change regenerated from the log carries the time of its first op.
    assert_eq!(b.change_by(ReplicaId(1), 4, 8).unwrap(), c2);
    assert_eq!(b.change_by(ReplicaId(1), 1, 8).unwrap().time, T0);
    // The document encoding keeps the times.
    let loaded = encoding::decode_doc(&encoding::encode_doc(&b), ReplicaId(9)).unwrap();
    assert_eq!(loaded.all_changes(), a.all_changes());
    assert_eq!(loaded.time_of(OpId::new(ReplicaId(1), 5)), Some(T0 + 1));
}

#[test]
fn a_run_absorbs_changes_within_its_window_and_keeps_its_first_time() {
    let mut a = doc(1);
    let mut run = type_at(&mut a, T0, 0, "a");
    assert!(run.absorb(&type_at(&mut a, T0 + 5, 1, "b")));
    assert!(run.absorb(&type_at(&mut a, T0 + ABSORB_WINDOW_S - 1, 2, "c")));
    assert_eq!(run.time, T0);
    assert!(!run.absorb(&type_at(&mut a, T0 + ABSORB_WINDOW_S, 3, "d")), "a minute on starts a new run");
    // A clock that went back starts a new run too.
    let mut later = type_at(&mut a, T0 + 100, 4, "e");
    assert!(!later.absorb(&type_at(&mut a, T0 + 99, 5, "f")));
    // The absorbed run is what a replica regenerates for those seqs.
    assert_eq!(a.change_by(ReplicaId(1), 1, 4).unwrap(), run);
}

/// Names sessions compactly for assertions: (author, start, end, +ins, -del).
fn brief(s: &[EditSession]) -> Vec<(u64, u64, u64, u64, u64)> {
    s.iter().map(|s| (s.author.0, s.start_time - T0, s.end_time - T0, s.inserted, s.deleted)).collect()
}

#[test]
fn sessions_group_each_authors_edits_by_pauses() {
    let (mut ada, mut grace) = (doc(0xada), doc(0x6ace));
    // Ada writes for a minute, in bursts a few seconds apart.
    type_at(&mut ada, T0, 0, "Hello");
    type_at(&mut ada, T0 + 20, 5, " world");
    delete_at(&mut ada, T0 + 50, 10, 1);
    sync(&ada, &mut grace);
    // Grace edits meanwhile on her device, and Ada names the document (a map write:
    // in no session).
    type_at(&mut grace, T0 + 60, 0, ">> ");
    ada.set_wall_clock(T0 + 70);
    ada.map_set("title", tandem_crdt::Value::Str("Greeting".into())).unwrap();
    ada.commit().unwrap();
    type_at(&mut ada, T0 + 80, 10, "d!");
    // After ten minutes away, Ada comes back.
    type_at(&mut ada, T0 + 700, 0, "Re: ");
    sync(&grace, &mut ada);
    sync(&ada, &mut grace);
    assert_eq!(ada.text(), grace.text());
    assert_eq!(ada.text(), "Re: >> Hello world!");

    for d in [&ada, &grace] {
        let sessions = d.edit_sessions(300);
        let mut got = brief(&sessions);
        got.sort_by_key(|s| (s.1, s.0));
        assert_eq!(
            got,
            [(0xada, 0, 80, 13, 1), (0x6ace, 60, 60, 3, 0), (0xada, 700, 700, 4, 0)],
            "replica {:?}: {sessions:?}",
            d.replica()
        );
        // Sessions are listed by where they end, and the version after the last one
        // is the whole document.
        assert!(sessions.windows(2).all(|w| w[0].end <= w[1].end));
        let last = sessions.last().unwrap();
        assert_eq!(d.text_at(&d.version_at(last.end)).unwrap(), d.text());
        // The version after Ada's first session holds all of it.
        let first = sessions.iter().find(|s| s.author.0 == 0xada && s.start_time == T0).unwrap();
        let text = d.text_at(&d.version_at(first.end)).unwrap();
        assert!(text.ends_with("Hello world!"), "{text:?}");
        assert!(!text.contains("Re: "));
    }
    // A shorter pause splits Ada's first minute where she stopped for 30 s.
    let mut got = brief(&ada.edit_sessions(25));
    got.sort_by_key(|s| (s.1, s.0));
    assert_eq!(
        got[..4],
        [(0xada, 0, 20, 11, 0), (0xada, 50, 50, 0, 1), (0x6ace, 60, 60, 3, 0), (0xada, 80, 80, 2, 0)]
    );
}

#[test]
fn undated_edits_form_sessions_while_no_one_else_edits_between() {
    let (mut a, mut b) = (doc(1), doc(2));
    for (i, t) in ["ab", "cd"].iter().enumerate() {
        a.insert(i * 2, t).unwrap();
        a.commit().unwrap();
    }
    sync(&a, &mut b);
    b.insert(4, "X").unwrap();
    b.commit().unwrap();
    sync(&b, &mut a);
    a.insert(5, "e").unwrap();
    a.commit().unwrap();
    let got: Vec<(u64, u64)> = a.edit_sessions(300).iter().map(|s| (s.author.0, s.inserted)).collect();
    assert_eq!(got, [(1, 4), (2, 1), (1, 1)]);
}

#[test]
fn blame_names_who_typed_each_character_at_any_version() {
    let (mut ada, mut grace) = (doc(0xada), doc(0x6ace));
    type_at(&mut ada, T0, 0, "Hello world");
    sync(&ada, &mut grace);
    let before = grace.version().clone();
    type_at(&mut grace, T0 + 1, 5, ", dear");
    delete_at(&mut grace, T0 + 2, 0, 1);
    type_at(&mut grace, T0 + 3, 0, "J");
    sync(&grace, &mut ada);
    assert_eq!(ada.text(), "Jello, dear world");
    let (a, g) = (ReplicaId(0xada), ReplicaId(0x6ace));
    assert_eq!(ada.blame_at(ada.version()).unwrap(), [(g, 1), (a, 4), (g, 6), (a, 6)]);
    assert_eq!(ada.blame_at(&before).unwrap(), [(a, 11)]);
    assert_eq!(ada.blame_at(&VectorClock::new()).unwrap(), []);
    let total: usize = ada.blame_at(ada.version()).unwrap().iter().map(|r| r.1).sum();
    assert_eq!(total, ada.len_chars());
    let unknown: VectorClock = [(ReplicaId(77), 1)].into_iter().collect();
    assert!(ada.blame_at(&unknown).is_err(), "a version this replica never held");
}
