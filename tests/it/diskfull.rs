//! A full disk loses nothing: `tandem node` on a 6 MB tmpfs in a private mount
//! namespace (root only; prints `SKIPPED:` where the mount is refused). The disk is
//! filled until inserts are refused; a refused insert says there is no space and
//! waits in memory; the node restarts on the full disk and shows every acknowledged
//! edit; once space is free the waiting edits are stored, and after a restart the text
//! is exactly the acknowledged edits.

use super::node::{Node, Spawn, WAIT};
use serde_json::{Value as Json, json};
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Instant;

/// A tmpfs mounted in a mount namespace of its own, held by a sleeping process; other
/// processes join it with `nsenter`. Dropping it ends the holder, and with it the
/// namespace and the tmpfs.
struct Tmpfs {
    holder: Child,
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` on `dir` in a new mount namespace, or says why not.
    fn mount(dir: &Path, size: &str) -> Result<Tmpfs, String> {
        let script = format!(
            "mount -t tmpfs -o size={size} tmpfs '{}' && echo mounted && exec sleep 600",
            dir.display()
        );
        let mut holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run `unshare`: {e}"))?;
        let mut first = String::new();
        BufReader::new(holder.stdout.take().expect("piped")).read_line(&mut first).ok();
        if first.trim() != "mounted" {
            let _ = holder.kill();
            let out = holder.wait_with_output().map_err(|e| e.to_string())?;
            return Err(format!("cannot mount a tmpfs: {}", String::from_utf8_lossy(&out.stderr).trim()));
        }
        Ok(Tmpfs { holder, dir: dir.to_owned() })
    }

    fn pid(&self) -> u32 {
        self.holder.id()
    }

    /// Runs a shell command inside the namespace; returns whether it succeeded.
    fn sh(&self, script: &str) -> bool {
        Command::new("nsenter")
            .args(["--target", &self.pid().to_string(), "--mount", "--", "sh", "-c", script])
            .status()
            .expect("nsenter runs")
            .success()
    }

    /// Fills the disk with a file until the file system refuses more.
    fn fill(&self) {
        let filler = self.dir.join("filler");
        // `dd` stops at "No space left on device" and then fails, as expected.
        self.sh(&format!("dd if=/dev/zero of='{}' bs=64k 2>/dev/null", filler.display()));
        assert!(self.sh(&format!("test -s '{}'", filler.display())), "the filler file was written");
    }

    /// Deletes the filler: space is free again.
    fn free(&self) {
        assert!(self.sh(&format!("rm '{}'", self.dir.join("filler").display())), "the filler is removed");
    }

    fn node(&self) -> Node {
        let spawn = Spawn { mountns: Some(self.pid()), ..Spawn::default() };
        Node::start_with(&self.dir.join("data"), &["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"], &spawn)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

fn insert(node: &mut Node, doc: &str, text: &str) -> Json {
    let pos = node.text(doc).chars().count();
    node.send(json!({"cmd": "insert", "doc": doc, "pos": pos, "text": text}))
}

fn status(node: &mut Node, doc: &str) -> Json {
    node.ok(json!({"cmd": "status", "doc": doc}))
}

/// Checks that a refused insert says the disk is full and that the edit waits.
fn assert_refused_for_space(r: &Json) {
    assert_eq!(r["ok"], false, "{r}");
    let e = r["error"].as_str().unwrap_or_default().to_lowercase();
    assert!(e.contains("no space left on device"), "the error names the full disk: {r}");
    assert!(e.contains("kept in memory"), "the error says the edit waits: {r}");
}

/// The ops the node's replica holds and has stored (every author of the version; the
/// device writes under the same writer id on every start).
fn ops_held(status: &Json) -> u64 {
    let v = status["version"].as_object().expect("a version");
    v.values().map(|n| n.as_u64().unwrap()).sum()
}

#[test]
fn a_full_disk_loses_no_acknowledged_edit() {
    let started = Instant::now();
    let tmp = tempfile::tempdir().unwrap();
    let fs = match Tmpfs::mount(tmp.path(), "6m") {
        Ok(fs) => fs,
        Err(e) => {
            println!("SKIPPED: {e}");
            return;
        }
    };

    // A document with some text, then a full disk.
    let mut node = fs.node();
    let doc = node.ok(json!({"cmd": "create", "title": "Full"}))["doc"].as_str().unwrap().to_owned();
    let mut acked = String::from("start|");
    node.insert(&doc, 0, &acked);
    fs.fill();

    // Inserts until the disk refuses them; every acknowledged one is remembered.
    insert_until_refused(&mut node, &doc, &mut acked, "e", 3);
    let s = status(&mut node, &doc);
    assert_eq!(s["waiting"], 3, "{s}");
    assert!(s["store_error"].as_str().unwrap_or_default().contains("No space left on device"), "{s}");
    // The version counts the title, the device's entry (written with its first edit)
    // and the acknowledged characters, not the refused ones.
    assert_eq!(ops_held(&s), 2 + acked.chars().count() as u64, "{s}");
    assert!(
        node.events.iter().any(|e| e["event"] == "storage" && e["waiting"].as_u64() > Some(0)),
        "a storage event reported the failed write: {:?}",
        node.events
    );
    node.kill9();

    // On the still-full disk the node starts and shows every acknowledged edit; the
    // refused edits of the killed process were never acknowledged and are gone.
    let mut node = fs.node();
    assert_eq!(node.text(&doc), acked, "after a restart on the full disk");
    // A quit with an edit that cannot be stored says it is lost. (Reopening the
    // database may have freed room inside it for a few more edits first.)
    insert_until_refused(&mut node, &doc, &mut acked, "l", 1);
    let r = node.quit_reply();
    assert_eq!(r["unstored"], 1, "{r}");
    assert!(r["warning"].as_str().unwrap_or_default().contains("1 edits were not stored"), "{r}");

    let mut node = fs.node();
    assert_eq!(node.text(&doc), acked, "after a quit on the full disk");
    let waiting = insert_until_refused(&mut node, &doc, &mut acked, "w", 2).concat();
    let before_seq = ops_held(&status(&mut node, &doc));
    assert_eq!(status(&mut node, &doc)["waiting"], 2);

    // Space returns: the waiting edits are stored without any new edit, then typing
    // goes on.
    fs.free();
    let s = node.wait_for("the waiting edits to be stored", |n| {
        let s = status(n, &doc);
        (s["waiting"] == 0).then_some(s)
    });
    assert!(s["store_error"].is_null(), "{s}");
    assert_eq!(ops_held(&s), before_seq + waiting.chars().count() as u64, "{s}");
    assert!(
        node.events.iter().any(|e| e["event"] == "storage" && e["waiting"] == 0),
        "a storage event said everything is stored: {:?}",
        node.events
    );
    let r = insert(&mut node, &doc, "after|");
    assert_eq!(r["ok"], true, "{r}");
    let expected = format!("{acked}{waiting}after|");
    assert_eq!(node.text(&doc), expected);
    let r = node.quit_reply();
    assert_eq!(r["unstored"], 0, "{r}");

    let mut node = fs.node();
    assert_eq!(node.text(&doc), expected, "every acknowledged edit, byte for byte");
    node.quit();
    assert!(started.elapsed() < WAIT, "the test took {:?}", started.elapsed());
}

/// Inserts at the end until the disk has refused `n` inserts; adds the acknowledged
/// ones to `acked` and returns the refused ones. Once one is refused, no later one may
/// be stored before it.
fn insert_until_refused(node: &mut Node, doc: &str, acked: &mut String, tag: &str, n: usize) -> Vec<String> {
    let mut refused = Vec::new();
    for i in 0..20_000 {
        let text = format!("{tag}{i}|");
        let r = insert(node, doc, &text);
        if r["ok"] == true {
            assert!(refused.is_empty(), "an insert after a refused one is stored before it: {r}");
            acked.push_str(&text);
        } else {
            assert_refused_for_space(&r);
            refused.push(text);
            if refused.len() == n {
                return refused;
            }
        }
    }
    panic!("the disk never filled");
}

/// Child: the window on a full disk, run by the test below inside a mount namespace
/// with a tmpfs at `TANDEM_FULL_WINDOW_DIR`.
#[test]
fn window_child() {
    use egui_kittest::kittest::Queryable;
    use std::io::Write;
    let Ok(dir) = std::env::var("TANDEM_FULL_WINDOW_DIR") else { return };
    let dir = Path::new(&dir);
    let data = dir.join("data");
    let id = {
        let mut store = tandem_storage::Store::open(&data).unwrap();
        let info = store.create_doc("Notes").unwrap();
        let mut doc = store.load(info.id).unwrap();
        doc.insert(0, "hello").unwrap();
        let change = doc.commit().unwrap();
        store
            .append(&[tandem_storage::Append { doc: info.id, change, signature: vec![], summary: None }])
            .unwrap();
        info.id
    };
    let filler = dir.join("filler");
    {
        let mut f = std::fs::File::create(&filler).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
    }

    // The window starts on the full disk and opens the document.
    let mut h = super::ui::harness(super::ui::start(&data));
    super::ui::wait(&mut h, "the document listed", |a| a.docs().len() == 1);
    h.state_mut().open_doc(id);
    super::ui::wait(&mut h, "the document open", |a| a.text() == Some("hello"));

    // Typing until the disk refuses: the status bar says the disk is full and counts
    // the waiting edits.
    let deadline = Instant::now() + WAIT;
    while h.query_by_label_contains("Disk full:").is_none() {
        assert!(Instant::now() < deadline, "the status bar never said the disk is full");
        super::ui::type_in_editor(&mut h, "x");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert!(
        h.query_by_label_contains("to be saved (retrying)").is_some(),
        "the bar counts the waiting edits"
    );

    // Space returns: the edits are stored and the bar says so.
    std::fs::remove_file(&filler).unwrap();
    let deadline = Instant::now() + WAIT;
    while h.query_by_label_contains("Disk full:").is_some() || h.query_by_label_contains("Saved").is_none() {
        assert!(Instant::now() < deadline, "the waiting edits were never saved");
        h.step();
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let text = h.state().text().unwrap().to_owned();
    h.state_mut().shutdown();
    let mut store = tandem_storage::Store::open(&data).unwrap();
    assert_eq!(store.load(id).unwrap().text(), text, "every edit typed is on disk");
    println!("window child passed");
}

#[test]
fn the_window_on_a_full_disk_says_so_and_saves_once_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().display().to_string();
    let exe = std::env::current_exe().unwrap().display().to_string();
    let script = format!(
        "mount -t tmpfs -o size=6m tmpfs '{dir}' || exit 77; \
         TANDEM_FULL_WINDOW_DIR='{dir}' exec '{exe}' diskfull::window_child --exact --nocapture --test-threads=1"
    );
    let child = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", &script])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pid = child.id();
    // Bounded: the child is killed if it hangs.
    let watchdog = std::thread::spawn(move || {
        let deadline = Instant::now() + WAIT * 2;
        while Instant::now() < deadline {
            if !Path::new(&format!("/proc/{pid}")).exists() {
                return;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
    });
    let out = child.wait_with_output().unwrap();
    let _ = watchdog.join();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    if out.status.code() == Some(77) {
        println!("SKIPPED: cannot mount a tmpfs in a private mount namespace: {}", stderr.trim());
        return;
    }
    assert!(
        out.status.success() && stdout.contains("window child passed"),
        "the child failed:\n{stdout}\n{stderr}"
    );
}

#[test]
fn received_edits_on_a_full_disk_are_stored_and_announced_once_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let fs = match Tmpfs::mount(tmp.path(), "6m") {
        Ok(fs) => fs,
        Err(e) => {
            println!("SKIPPED: {e}");
            return;
        }
    };
    let a_dir = tempfile::tempdir().unwrap();
    let mut a = Node::start(a_dir.path(), &[]);
    let doc = a.ok(json!({"cmd": "create", "title": "Shared"}))["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "a|");
    let a_author =
        status(&mut a, &doc)["version"].as_object().expect("a version").keys().next().unwrap().clone();
    let ticket = a.ok(json!({"cmd": "ticket", "doc": doc}))["ticket"].as_str().unwrap().to_owned();
    let mut b = fs.node();
    b.ok(json!({"cmd": "join", "ticket": ticket}));
    b.wait_text(&doc, |t| t == "a|");

    // B types once, which flushes what it received to disk with its own edit (received
    // changes are otherwise flushed within a second). Then B's disk fills: its own
    // edit waits, and so does what A sends next.
    b.insert(&doc, 2, "b|");
    fs.fill();
    let mut b_acked = String::new();
    let b_waiting = insert_until_refused(&mut b, &doc, &mut b_acked, "b", 1).concat();
    let seen = b.events.len();
    let stored_from_a = status(&mut b, &doc)["version"][&a_author].as_u64().unwrap();
    a.insert(&doc, 0, "remote|");
    b.wait_text(&doc, |t| t.contains("remote|"));
    let s = b.wait_for("the received edit to wait", |n| {
        let s = status(n, &doc);
        (s["waiting"] == 2).then_some(s)
    });
    assert_eq!(s["version"][&a_author].as_u64().unwrap(), stored_from_a, "the version leaves it out: {s}");

    // Space returns: both are stored, the received one is announced and B's own edit
    // reaches A.
    fs.free();
    b.wait_for("the waiting edits to be stored", |n| (status(n, &doc)["waiting"] == 0).then_some(()));
    assert!(
        b.events[seen..].iter().any(|e| e["event"] == "remote_change" && e["author"] == a_author.as_str()),
        "the received edit is announced once stored: {:?}",
        &b.events[seen..]
    );
    let text = b.text(&doc);
    assert!(text.contains(&b_waiting) && text.contains("remote|"), "{text}");
    a.wait_text(&doc, |t| t == text);
    b.quit();
    let mut b = fs.node();
    assert_eq!(b.text(&doc), text, "after a restart");
    b.quit();
    a.quit();
}
