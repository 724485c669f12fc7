//! Undo steps are user actions and pause-grouped bursts of typing: keystrokes committed
//! with [`Doc::commit_at`] less than `undo_group_ms` apart join one step, whatever remote
//! ops arrive in between; a paste, a multi-char delete, a map write, an undo or redo and
//! a transaction committed with [`Doc::commit`] are steps of their own. The grouping
//! survives saving and restoring the undo history.

use crate::{doc, prop_config, sync};
use proptest::prelude::*;
use tandem_crdt::{Config, Doc, ReplicaId, Value, encoding};

/// Types `s` one char per transaction at `pos`, `gap` ms apart from `*t` on.
fn type_chars(d: &mut Doc, pos: usize, s: &str, t: &mut u64, gap: u64) {
    for (i, c) in s.chars().enumerate() {
        d.insert(pos + i, &c.to_string()).unwrap();
        *t += gap;
        d.commit_at(*t).expect("a keystroke commits a change");
    }
}

/// Undoes until nothing is left; returns how many steps there were.
fn undo_all(d: &mut Doc) -> usize {
    let mut n = 0;
    while d.undo().unwrap().is_some() {
        n += 1;
    }
    n
}

/// Redoes until nothing is left; returns how many steps there were.
fn redo_all(d: &mut Doc) -> usize {
    let mut n = 0;
    while d.redo().unwrap().is_some() {
        n += 1;
    }
    n
}

#[test]
fn a_burst_of_typing_undoes_in_one_step() {
    let mut d = doc(1);
    let mut t = 10_000;
    type_chars(&mut d, 0, "helo", &mut t, 150);
    // A backspace and more typing, still without a pause.
    d.delete(3, 1).unwrap();
    t += 200;
    d.commit_at(t).unwrap();
    type_chars(&mut d, 3, "lo!", &mut t, 120);
    assert_eq!(d.text(), "hello!");

    d.undo().unwrap().expect("the burst is undone");
    assert_eq!(d.text(), "", "one undo takes back the whole burst");
    assert!(!d.can_undo());
    d.redo().unwrap().expect("the burst is redone");
    assert_eq!(d.text(), "hello!", "one redo brings the whole burst back");
    assert!(!d.can_redo());
    d.check();
}

#[test]
fn a_pause_splits_steps() {
    let mut d = Doc::with_config(ReplicaId(1), Config { undo_group_ms: 500, ..Config::default() });
    let mut t = 0;
    type_chars(&mut d, 0, "ab", &mut t, 100);
    // Exactly the threshold is a pause.
    type_chars(&mut d, 2, "cd", &mut t, 500);
    t += 499;
    d.insert(4, "e").unwrap();
    d.commit_at(t).unwrap();
    // Two seconds later: a new burst.
    t += 2_000;
    d.insert(5, "f").unwrap();
    d.commit_at(t).unwrap();
    assert_eq!(d.text(), "abcdef");

    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "abcde");
    // "d" came a full threshold after "c"; "e" 499 ms after "d".
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "abc");
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "ab");
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "");
    assert!(!d.can_undo());
    assert_eq!(redo_all(&mut d), 4);
    assert_eq!(d.text(), "abcdef");
}

#[test]
fn a_threshold_of_zero_never_groups() {
    let mut d = Doc::with_config(ReplicaId(1), Config { undo_group_ms: 0, ..Config::default() });
    let mut t = 0;
    type_chars(&mut d, 0, "abc", &mut t, 0);
    assert_eq!(undo_all(&mut d), 3);
}

#[test]
fn a_paste_is_its_own_step() {
    let mut d = doc(1);
    let mut t = 0;
    type_chars(&mut d, 0, "ab", &mut t, 100);
    d.insert(2, "pasted").unwrap();
    t += 100;
    d.commit_at(t).unwrap();
    // Typing right after the paste does not join it.
    type_chars(&mut d, 8, "cd", &mut t, 100);
    assert_eq!(d.text(), "abpastedcd");

    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "abpasted");
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "ab");
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "");
    assert!(!d.can_undo());
}

#[test]
fn a_multi_char_delete_and_a_map_write_are_steps_of_their_own() {
    let mut d = doc(1);
    let mut t = 0;
    type_chars(&mut d, 0, "abcdef", &mut t, 100);
    // A selection deleted (or cut) at once.
    d.delete(1, 2).unwrap();
    t += 100;
    d.commit_at(t).unwrap();
    type_chars(&mut d, 4, "g", &mut t, 100);
    d.map_set("title", Value::Str("x".into())).unwrap();
    t += 100;
    d.commit_at(t).unwrap();
    type_chars(&mut d, 5, "h", &mut t, 100);
    assert_eq!(d.text(), "adefgh");

    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "adefg");
    assert!(d.map_get("title").is_some());
    d.undo().unwrap().unwrap();
    assert_eq!(d.map_get("title"), None);
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "adef");
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "abcdef");
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "");
}

#[test]
fn a_transaction_committed_as_its_own_step_never_groups() {
    let mut d = doc(1);
    let mut t = 0;
    type_chars(&mut d, 0, "ab", &mut t, 100);
    // A short replacement the caller marks as a step of its own (e.g. a restore).
    d.insert(2, "x").unwrap();
    d.commit().unwrap();
    type_chars(&mut d, 3, "cd", &mut t, 100);
    assert_eq!(d.text(), "abxcd");

    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "abx");
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "ab");
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "");
}

#[test]
fn undo_and_redo_end_a_burst() {
    let mut d = doc(1);
    let mut t = 0;
    type_chars(&mut d, 0, "ab", &mut t, 100);
    d.undo().unwrap().unwrap();
    type_chars(&mut d, 0, "cd", &mut t, 100);
    d.undo().unwrap().unwrap();
    d.redo().unwrap().unwrap();
    // Typing right after a redo is a new step, not part of the redone one.
    type_chars(&mut d, 2, "ef", &mut t, 100);
    assert_eq!(d.text(), "cdef");
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "cd");
    d.undo().unwrap().unwrap();
    assert_eq!(d.text(), "");
    assert!(!d.can_undo());
}

/// A and B each type a burst while exchanging every keystroke.
fn interleaved_bursts() -> (Doc, Doc) {
    let mut a = doc(1);
    let mut b = doc(2);
    b.insert(0, "|").unwrap();
    b.commit().unwrap();
    sync(&b, &mut a);
    let mut t = 0;
    for (ca, cb) in "hello".chars().zip("world".chars()) {
        let pa = a.text().find('|').unwrap();
        a.insert(pa, &ca.to_string()).unwrap();
        t += 100;
        a.commit_at(t).unwrap();
        let pb = b.len_chars();
        b.insert(pb, &cb.to_string()).unwrap();
        b.commit_at(t).unwrap();
        sync(&b, &mut a);
        sync(&a, &mut b);
    }
    assert_eq!(a.text(), "hello|world");
    assert_eq!(b.text(), a.text());
    (a, b)
}

#[test]
fn remote_ops_between_keystrokes_do_not_split_the_burst() {
    let (mut a, mut b) = interleaved_bursts();
    let undo = a.undo().unwrap().expect("A's burst is undone");
    assert_eq!(a.text(), "|world", "exactly A's burst goes; B's text stays");
    assert!(!a.can_undo(), "A's burst was one step");
    b.apply(undo).unwrap();
    assert_eq!(b.text(), "|world");

    let redo = a.redo().unwrap().expect("A's burst is redone");
    assert_eq!(a.text(), "hello|world");
    b.apply(redo).unwrap();
    assert_eq!(b.text(), "hello|world");

    // B's burst is one step too, and A's text stays when B undoes it.
    let undo = b.undo().unwrap().expect("B's burst is undone");
    assert_eq!(b.text(), "hello|");
    a.apply(undo).unwrap();
    assert_eq!(a.text(), "hello|");
    // B's "|" was committed as a step of its own.
    b.undo().unwrap().unwrap();
    assert_eq!(b.text(), "hello");
    assert!(!b.can_undo());
    a.check();
    b.check();
}

#[test]
fn grouped_steps_survive_saving_and_restoring_the_history() {
    let (mut a, b) = interleaved_bursts();
    let mut t = 10_000;
    // A second burst of A, after a pause.
    type_chars(&mut a, 0, ">> ", &mut t, 100);
    assert_eq!(a.text(), ">> hello|world");
    // One undo leaves a grouped step on each stack.
    a.undo().unwrap().unwrap();
    assert_eq!(a.text(), "hello|world");
    let saved = encoding::decode_undo(&encoding::encode_undo(&a.undo_state())).unwrap();
    assert_eq!(saved, a.undo_state());

    // Reloaded from its encoding (the same order of ops) and rebuilt with B's ops first
    // (A's burst, interleaved with B's ops in A's log, is one run there).
    let reloaded = encoding::decode_doc(&encoding::encode_doc(&a), a.replica()).unwrap();
    let mut rebuilt = doc(1);
    sync(&b, &mut rebuilt);
    sync(&a, &mut rebuilt);
    for mut r in [reloaded, rebuilt] {
        assert_eq!(r.text(), a.text());
        r.restore_undo_state(&saved);
        assert_eq!(r.undo_state(), saved, "every step is kept");
        r.redo().unwrap().expect("the second burst is redone");
        assert_eq!(r.text(), ">> hello|world");
        r.undo().unwrap().unwrap();
        r.undo().unwrap().expect("the first burst is undone in one step");
        assert_eq!(r.text(), "|world");
        assert!(!r.can_undo());
        assert_eq!(redo_all(&mut r), 2);
        assert_eq!(r.text(), ">> hello|world");
        r.check();
    }
}

#[test]
fn typing_after_a_restored_history_starts_a_new_step() {
    let mut a = doc(1);
    let mut t = 0;
    type_chars(&mut a, 0, "ab", &mut t, 100);
    let state = a.undo_state();
    let mut r = encoding::decode_doc(&encoding::encode_doc(&a), a.replica()).unwrap();
    r.restore_undo_state(&state);
    type_chars(&mut r, 2, "cd", &mut t, 100);
    r.undo().unwrap().unwrap();
    assert_eq!(r.text(), "ab");
    r.undo().unwrap().unwrap();
    assert_eq!(r.text(), "");
}

/// One action of replica A (lowercase letters), or of B (digits), whose changes A
/// receives while B never sees A's.
#[derive(Debug, Clone)]
enum Action {
    /// Keystrokes in one transaction (one frame), one char each.
    Type {
        pos: usize,
        s: String,
    },
    /// A one-char delete.
    Backspace {
        pos: usize,
    },
    /// A paste: one insert of several chars.
    Paste {
        pos: usize,
        s: String,
    },
    /// A selection deleted at once.
    Cut {
        pos: usize,
        len: usize,
    },
    /// A keystroke committed as a step of its own.
    OwnStep {
        pos: usize,
        s: String,
    },
    /// B types and A receives it.
    Remote {
        pos: usize,
        s: String,
    },
    Undo,
    Redo,
}

fn action() -> impl Strategy<Value = (Action, u64)> {
    let gap = prop_oneof![4 => 0u64..400, 1 => 900u64..1100, 1 => 1000u64..5000];
    let act = prop_oneof![
        6 => (any::<usize>(), "[a-z]{1,3}").prop_map(|(pos, s)| Action::Type { pos, s }),
        2 => any::<usize>().prop_map(|pos| Action::Backspace { pos }),
        1 => (any::<usize>(), "[a-z]{5,9}").prop_map(|(pos, s)| Action::Paste { pos, s }),
        1 => (any::<usize>(), 2..6usize).prop_map(|(pos, len)| Action::Cut { pos, len }),
        1 => (any::<usize>(), "[a-z]").prop_map(|(pos, s)| Action::OwnStep { pos, s }),
        3 => (any::<usize>(), "[0-9]{1,3}").prop_map(|(pos, s)| Action::Remote { pos, s }),
        1 => Just(Action::Undo),
        1 => Just(Action::Redo),
    ];
    (act, gap)
}

/// A's own chars in the text (B only types digits).
fn own(d: &Doc) -> String {
    d.text().chars().filter(char::is_ascii_lowercase).collect()
}

/// The chars of `s`, sorted.
fn sorted(s: &str) -> Vec<char> {
    let mut v: Vec<char> = s.chars().collect();
    v.sort_unstable();
    v
}

proptest! {
    #![proptest_config(prop_config(256, "proptest-regressions/it/undo_groups.txt"))]

    /// Random histories with random pauses against a model of the steps (each step: A's
    /// own text before and after it). Undoing a step brings A's text back to what it was
    /// before the step, whatever B typed meanwhile; undoing every step leaves only B's
    /// chars; redoing every step then gives the text back. A reloaded replica with the
    /// saved history does the same.
    #[test]
    fn undo_all_then_redo_all_gives_the_text_back(
        actions in prop::collection::vec(action(), 1..80),
    ) {
        let mut a = doc(1);
        let mut b = doc(2);
        let mut t = 1_000_000u64;
        let group = Config::default().undo_group_ms;
        // The model: A's undo and redo stacks, and when the latest step may take typing.
        let mut undo: Vec<(String, String)> = Vec::new();
        let mut redo: Vec<(String, String)> = Vec::new();
        let mut open: Option<u64> = None;
        for (act, gap) in actions {
            t += gap;
            let before = own(&a);
            let len = a.len_chars();
            // `Some(typing)` when A made a transaction grouped by time.
            let mut commit_at: Option<bool> = None;
            match act {
                Action::Type { pos, s } => {
                    let pos = pos % (len + 1);
                    for (i, c) in s.chars().enumerate() {
                        a.insert(pos + i, &c.to_string()).unwrap();
                    }
                    commit_at = Some(true);
                }
                Action::Backspace { pos } if len > 0 => {
                    a.delete(pos % len, 1).unwrap();
                    commit_at = Some(true);
                }
                Action::Paste { pos, s } => {
                    a.insert(pos % (len + 1), &s).unwrap();
                    commit_at = Some(false);
                }
                Action::Cut { pos, len: n } if len >= n => {
                    a.delete(pos % (len - n + 1), n).unwrap();
                    commit_at = Some(false);
                }
                Action::OwnStep { pos, s } => {
                    a.insert(pos % (len + 1), &s).unwrap();
                    a.commit().unwrap();
                    undo.push((before.clone(), own(&a)));
                    redo.clear();
                    open = None;
                }
                Action::Remote { pos, s } => {
                    let pos = pos % (b.len_chars() + 1);
                    b.insert(pos, &s).unwrap();
                    let c = b.commit_at(t).unwrap();
                    a.apply(c).unwrap();
                }
                Action::Undo => {
                    let done = a.undo().unwrap().is_some();
                    prop_assert_eq!(done, !undo.is_empty());
                    if let Some((was, is)) = undo.pop() {
                        prop_assert_eq!(&before, &is);
                        prop_assert_eq!(own(&a), was.clone());
                        redo.push((was, is));
                    }
                    open = None;
                }
                Action::Redo => {
                    let done = a.redo().unwrap().is_some();
                    prop_assert_eq!(done, !redo.is_empty());
                    if let Some((was, is)) = redo.pop() {
                        prop_assert_eq!(&before, &was);
                        prop_assert_eq!(own(&a), is.clone());
                        undo.push((was, is));
                    }
                    open = None;
                }
                Action::Backspace { .. } | Action::Cut { .. } => {}
            }
            if let Some(typing) = commit_at {
                a.commit_at(t).expect("an edit commits a change");
                redo.clear();
                let joins = typing && open.is_some_and(|o| t - o < group);
                match undo.last_mut() {
                    Some(top) if joins => top.1 = own(&a),
                    _ => undo.push((before, own(&a))),
                }
                open = typing.then_some(t);
            }
        }
        a.check();

        let saved = encoding::decode_undo(&encoding::encode_undo(&a.undo_state())).unwrap();
        let mut reloaded = encoding::decode_doc(&encoding::encode_doc(&a), a.replica()).unwrap();
        reloaded.restore_undo_state(&saved);
        let mut rebuilt = doc(1);
        sync(&b, &mut rebuilt);
        sync(&a, &mut rebuilt);
        rebuilt.restore_undo_state(&saved);
        let text = a.text();
        for d in [&mut a, &mut reloaded, &mut rebuilt] {
            prop_assert_eq!(d.text(), text.clone());
            prop_assert_eq!(undo_all(d), undo.len(), "one undo per step of the model");
            // Only B's chars are left. (Their order may differ from B's: a char of B
            // that A deleted comes back as a new item, which B's later inserts next to
            // the original do not know.)
            prop_assert_eq!(own(d), "");
            prop_assert_eq!(sorted(&d.text()), sorted(&b.text()), "only B's text is left");
            for _ in 0..undo.len() {
                prop_assert!(d.redo().unwrap().is_some());
            }
            prop_assert_eq!(d.text(), text.clone(), "redoing every undone step gives the text back");
            // Then the steps undone before the end, down to the first one undone.
            prop_assert_eq!(redo_all(d), redo.len());
            if let Some((_, is)) = redo.first() {
                prop_assert_eq!(own(d), is.clone());
            }
            d.check();
        }
    }
}

#[test]
fn a_saved_step_with_ops_not_held_is_dropped() {
    let mut a = doc(1);
    let mut t = 0;
    type_chars(&mut a, 0, "ab", &mut t, 100);
    let mut state = a.undo_state();
    let (first, n) = state.undo[0];
    state.undo.push((first, n + 1));
    state.undo.push((first, u64::MAX));
    state.undo.push((tandem_crdt::OpId::new(first.replica, u64::MAX), 2));
    state.undo.push((first, 0));
    let mut r = encoding::decode_doc(&encoding::encode_doc(&a), a.replica()).unwrap();
    r.restore_undo_state(&state);
    assert_eq!(r.undo_state().undo, vec![(first, n)]);
    r.undo().unwrap().unwrap();
    assert_eq!(r.text(), "");
}
