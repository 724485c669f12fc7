//! `tandem list / import / export` as a user runs them: the real binary on a real store.

use std::path::Path;
use std::process::{Command, Output};

fn tandem(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_tandem")).arg("--data-dir").arg(dir).args(args).output().unwrap()
}

fn ok_stdout(out: Output) -> String {
    assert!(out.status.success(), "failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap()
}

#[test]
fn import_list_export_round_trip() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let file = tmp.path().join("notes.md");
    let text = "# Notes\n\nnaïve café ☕ — 漢字 👍🏽\n";
    std::fs::write(&file, text).unwrap();

    let id = ok_stdout(tandem(&data, &["import", file.to_str().unwrap()])).trim().to_owned();
    assert_eq!(id.len(), 32, "prints the new id: {id}");

    let list = ok_stdout(tandem(&data, &["list", "--json"]));
    let rows: Vec<serde_json::Value> = list.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0]["id"], id.as_str());
    // A Markdown file keeps its extension in the title: the document is Markdown.
    assert_eq!(rows[0]["title"], "notes.md");
    assert_eq!(rows[0]["chars"], text.chars().count());

    let table = ok_stdout(tandem(&data, &["list"]));
    assert!(table.contains(&id) && table.contains("notes"), "{table}");

    // Export by a prefix of the id, to stdout and to a file.
    assert_eq!(ok_stdout(tandem(&data, &["export", &id[..8]])), text);
    let out = tmp.path().join("out.txt");
    ok_stdout(tandem(&data, &["export", &id, out.to_str().unwrap()]));
    assert_eq!(std::fs::read_to_string(&out).unwrap(), text);

    // The environment variable selects the same store.
    let via_env = Command::new(env!("CARGO_BIN_EXE_tandem"))
        .env("TANDEM_DATA_DIR", &data)
        .args(["export", &id])
        .output()
        .unwrap();
    assert_eq!(ok_stdout(via_env), text);

    // A second document with an explicit title lists first (most recent).
    let second = tmp.path().join("b.txt");
    std::fs::write(&second, "").unwrap();
    let id2 = ok_stdout(tandem(&data, &["import", second.to_str().unwrap(), "--title", "Empty one"]))
        .trim()
        .to_owned();
    let list = ok_stdout(tandem(&data, &["list", "--json"]));
    assert_eq!(list.lines().count(), 2);
    assert!(list.lines().any(|l| l.contains(&id2) && l.contains("Empty one")));
    assert_eq!(ok_stdout(tandem(&data, &["export", &id2])), "");
}

#[test]
fn bad_input_gives_clear_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("data");
    let check = |args: &[&str], needle: &str| {
        let out = tandem(&data, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(needle), "{args:?}: {err}");
    };
    let latin1 = tmp.path().join("latin1.txt");
    std::fs::write(&latin1, b"caf\xe9").unwrap();
    check(&["import", latin1.to_str().unwrap()], "is not UTF-8");
    check(&["import", tmp.path().join("missing.txt").to_str().unwrap()], "missing.txt");
    check(&["export", "abcdef0123"], "no document");
    check(&["export", "xy"], "hex digits");
    // Nothing was created by the failed imports.
    assert_eq!(ok_stdout(tandem(&data, &["list", "--json"])), "");
}

#[test]
fn a_corrupt_store_is_named_and_kept() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(tmp.path().join("tandem.redb"), b"definitely not a database").unwrap();
    let out = tandem(tmp.path(), &["list"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("tandem.redb") && err.contains("not a Tandem database"), "{err}");
    assert_eq!(std::fs::read(tmp.path().join("tandem.redb")).unwrap(), b"definitely not a database");
}

/// The commands in the table of `docs/node-protocol.md`, in order.
fn documented_node_commands() -> Vec<String> {
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/node-protocol.md"))
        .expect("docs/node-protocol.md");
    let table = doc.split("## Commands").nth(1).expect("a Commands section");
    let table = table.split("\n## ").next().unwrap_or(table);
    table
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn node_protocol_doc_lists_exactly_the_commands_the_node_answers() {
    let documented = documented_node_commands();
    assert_eq!(documented, tandem::node::COMMANDS, "docs/node-protocol.md and tandem::node::COMMANDS differ");

    // Each listed command is known to a real node: with its fields missing it may be
    // refused, but never as an unknown command. `quit` goes last.
    let tmp = tempfile::tempdir().unwrap();
    let mut node = super::node::Node::start(tmp.path(), &[]);
    for cmd in documented.iter().filter(|c| *c != "quit") {
        let reply = node.send(serde_json::json!({ "cmd": cmd }));
        let error = reply["error"].as_str().unwrap_or("");
        assert!(!error.contains("unknown command"), "{cmd}: {reply}");
    }
    let reply = node.send(serde_json::json!({"cmd": "frobnicate"}));
    assert_eq!(reply["ok"], false);
    assert!(reply["error"].as_str().unwrap().contains("unknown command"), "{reply}");
    node.quit();
}

/// Regression (a hostile collaborator and a year of use): a change bigger than one
/// catch-up answer could never be served, so a joiner never got past it. An import of a
/// 50 MB file is stored as parts every replica accepts, and a peer that joins gets it
/// all.
#[test]
fn a_50_mb_import_syncs_to_a_joiner() {
    use super::node::Node;
    use serde_json::json;
    use std::time::{Duration, Instant};

    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("a");
    let file = tmp.path().join("big.txt");
    let line = "Tandem keeps every replica; naïve café ☕ 漢字 — line ";
    let mut text = String::with_capacity(50 << 20);
    let mut i = 0;
    while text.len() < 50 << 20 {
        text.push_str(line);
        text.push_str(&i.to_string());
        text.push('\n');
        i += 1;
    }
    std::fs::write(&file, &text).unwrap();
    let id = ok_stdout(tandem(&data, &["import", file.to_str().unwrap()])).trim().to_owned();

    let mut a = Node::start(&data, &[]);
    let ticket = a.ticket(&id);
    let mut b = Node::start(&tmp.path().join("b"), &[]);
    let started = Instant::now();
    b.ok(json!({"cmd": "join", "ticket": ticket.to_string()}));
    let want = a.version(&id);
    let deadline = started + Duration::from_secs(600);
    while b.version(&id) != want {
        assert!(Instant::now() < deadline, "the joiner did not get the whole import in 10 minutes");
        std::thread::sleep(Duration::from_millis(200));
    }
    eprintln!("a 50 MB document joined in {:?}", started.elapsed());
    assert!(b.text(&id) == text, "the joiner's text equals the imported file");
}

/// A peer writes its log into the data dir as well as to stderr: what it listened on is
/// there after it quit, across runs.
#[test]
fn a_node_keeps_its_log_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join(tandem::logs::LOG_DIR).join(tandem::logs::LOG_FILE);
    let spawn = super::node::Spawn { rust_log: Some("tandem_net=info"), ..Default::default() };
    for run in 0..2 {
        let node = super::node::Node::start_with(
            dir.path(),
            &["--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"],
            &spawn,
        );
        let port = node.listen[0].split("/tcp/").nth(1).unwrap().split('/').next().unwrap().to_owned();
        node.quit();
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(
            text.lines().any(|l| l.contains("listening on") && l.contains(&format!("/tcp/{port}"))),
            "run {run}: {text}"
        );
        assert!(!text.contains('\u{1b}'), "no terminal colours in the file");
    }
}

/// `tandem join TICKET` adds a document to a data dir that is not running; a node
/// started on it with `--serve` (as the relay service runs, stdin closed at once) syncs
/// it, keeps running, and stops cleanly on SIGTERM with the text on disk.
#[test]
fn a_document_joined_on_the_command_line_syncs_when_a_service_runs_the_data_dir() {
    let tmp = tempfile::tempdir().unwrap();
    let (a_dir, b_dir) = (tmp.path().join("a"), tmp.path().join("b"));
    let mut a = crate::node::Node::start(&a_dir, &[]);
    let doc = a.ok(serde_json::json!({"cmd": "create", "title": "Kept"}))["doc"].as_str().unwrap().to_owned();
    a.insert(&doc, 0, "kept by the service");
    let ticket = a.ticket(&doc).to_string();
    let bad = tandem(&b_dir, &["join", "tandem1-not-a-ticket"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("not a Tandem ticket"), "{bad:?}");
    assert_eq!(ok_stdout(tandem(&b_dir, &["join", &ticket])).trim(), doc);
    assert!(ok_stdout(tandem(&b_dir, &["list"])).contains(&doc[..8]));
    let mut service = std::process::Command::new(env!("CARGO_BIN_EXE_tandem"))
        .arg("--data-dir")
        .arg(&b_dir)
        .args(["node", "--serve", "--listen", "/ip4/127.0.0.1/tcp/0", "--no-mdns"])
        .env(tandem_net::PUBLIC_NETWORK_ENV, "off")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // It dials the ticket's addresses, proves it holds the document and catches up.
    a.wait_for("the service among the document's peers", |a| {
        (a.ok(serde_json::json!({"cmd": "status", "doc": doc}))["peers"] == 1).then_some(())
    });
    a.insert(&doc, 0, "Live: ");
    // Gossip on loopback takes milliseconds; this is far more.
    std::thread::sleep(std::time::Duration::from_secs(5));
    assert!(service.try_wait().unwrap().is_none(), "the service stopped when its stdin closed");
    let pid = service.id().to_string();
    assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let status = service.wait().unwrap();
    assert!(status.success(), "SIGTERM stops it cleanly: {status:?}");
    let text = ok_stdout(tandem(&b_dir, &["export", &doc]));
    assert_eq!(text, "Live: kept by the service");
    a.quit();
}
