//! `tandem node`: a headless peer driven by JSON lines on stdin; answers and events are
//! JSON lines on stdout. Tests and scripts drive Tandem through it. Every command, reply
//! and event is documented, with an example session, in `docs/node-protocol.md`.

use anyhow::{Context, Result};
use serde_json::{Value as Json, json};
use std::path::Path;
use tandem_net::{EngineHandle, Event, Multiaddr, NetConfig, Ticket};
use tandem_storage::{DocId, StoreHandle};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::mpsc;

/// Every command the node answers, in the order `docs/node-protocol.md` lists them.
pub const COMMANDS: &[&str] = &[
    "create",
    "join",
    "ticket",
    "link",
    "members",
    "remove_people",
    "seal",
    "unseal",
    "insert",
    "delete",
    "text",
    "status",
    "peers",
    "traffic",
    "network",
    "offline",
    "presence",
    "presences",
    "quit",
];

/// All interfaces, random TCP and QUIC ports.
pub fn default_listen() -> Vec<Multiaddr> {
    ["/ip4/0.0.0.0/tcp/0", "/ip4/0.0.0.0/udp/0/quic-v1"]
        .iter()
        .map(|a| a.parse().expect("a valid multiaddr"))
        .collect()
}

/// Runs the node until `quit` or the end of stdin; with `serve`, until `quit`, SIGTERM
/// or SIGINT (the end of stdin does not stop it: it runs as a service).
pub async fn run(data_dir: &Path, config: NetConfig, serve: bool) -> Result<()> {
    let store = StoreHandle::open(data_dir)?;
    let engine = EngineHandle::start(store, config).await?;

    // One writer, so lines never interleave.
    let (out, mut lines) = mpsc::unbounded_channel::<String>();
    let writer = tokio::spawn(async move {
        let mut stdout = tokio::io::stdout();
        while let Some(line) = lines.recv().await {
            if stdout.write_all(line.as_bytes()).await.is_err() || stdout.write_all(b"\n").await.is_err() {
                break;
            }
            let _ = stdout.flush().await;
        }
    });

    let (peer, addrs) = engine.info().await?;
    let listen: Vec<String> = addrs.iter().map(|a| a.to_string()).collect();
    let _ = out.send(json!({"event": "ready", "peer_id": peer.to_string(), "listen": listen}).to_string());
    // Documents whose data cannot be read are set aside; every other one works.
    for d in engine.docs().await?.into_iter() {
        if let Some(error) = d.error {
            let _ =
                out.send(json!({"event": "doc_error", "doc": d.id.to_string(), "error": error}).to_string());
        }
    }
    // A disk that was already full at start: say so at once.
    let storage = engine.storage();
    if let Some(error) = storage.error {
        let _ = out.send(
            json!({"event": "storage", "waiting": storage.waiting.len(), "error": error, "snapshot_failures": storage.snapshot_failures})
                .to_string(),
        );
    }

    let mut events = engine.subscribe();
    let ev_out = out.clone();
    let ev_task = tokio::spawn(async move {
        loop {
            let ev = match events.recv().await {
                Ok(ev) => ev,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    let _ = ev_out.send(json!({"event": "lagged", "missed": n}).to_string());
                    continue;
                }
                Err(_) => break,
            };
            let line = match ev {
                Event::PeerConnected(p) => {
                    json!({"event": "peer_connected", "peer_id": p.peer.to_string(), "addr": p.addr.to_string(), "kind": p.kind.as_str()})
                }
                Event::PeerDisconnected(p) => json!({"event": "peer_disconnected", "peer_id": p.to_string()}),
                Event::RemoteChange { doc, author, ops } => {
                    json!({"event": "remote_change", "doc": doc.to_string(), "author": author.to_string(), "ops": ops})
                }
                Event::Presence { doc, peer } => {
                    json!({"event": "presence", "doc": doc.to_string(), "peer_id": peer.to_string()})
                }
                Event::Storage { waiting, error, snapshot_failures } => {
                    json!({"event": "storage", "waiting": waiting, "error": error, "snapshot_failures": snapshot_failures})
                }
                Event::Equivocation { doc, author } => {
                    json!({"event": "equivocation", "doc": doc.to_string(), "author": author.to_string()})
                }
                // Replies already say when an edit is durable; `list` shows documents.
                Event::Saved { .. } | Event::DocsChanged => continue,
            };
            let _ = ev_out.send(line.to_string());
        }
    });

    let commands = commands(&engine, &out, &ev_task);
    if serve {
        tokio::select! {
            r = async {
                // After the end of stdin a service goes on; after `quit` it stops.
                if !commands.await? {
                    stop_signal().await;
                }
                anyhow::Ok(())
            } => r?,
            () = stop_signal() => {}
        }
    } else {
        commands.await?;
    }
    engine.shutdown().await;
    ev_task.abort();
    drop(out);
    let _ = writer.await;
    Ok(())
}

/// Waits for SIGTERM or SIGINT.
async fn stop_signal() {
    #[cfg(unix)]
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
        return;
    }
    tokio::signal::ctrl_c().await.ok();
}

/// Answers the commands on stdin until `quit` (then returns true) or its end.
async fn commands(
    engine: &EngineHandle,
    out: &mpsc::UnboundedSender<String>,
    ev_task: &tokio::task::JoinHandle<()>,
) -> Result<bool> {
    let mut stdin = BufReader::new(tokio::io::stdin()).lines();
    while let Some(line) = stdin.next_line().await.context("reading stdin")? {
        if line.trim().is_empty() {
            continue;
        }
        let (mut reply, quit) = match handle(engine, &line).await {
            Ok((v, quit)) => (v, quit),
            Err(e) => (json!({"ok": false, "error": format!("{e:#}")}), false),
        };
        if quit {
            // The reply says whether anything was lost: edits the disk refused to the end.
            let unstored = engine.shutdown().await;
            reply["unstored"] = json!(unstored);
            if unstored > 0 {
                reply["warning"] =
                    json!(format!("{unstored} edits were not stored (the disk refused them) and are lost"));
            }
            ev_task.abort();
            let _ = out.send(reply.to_string());
            return Ok(true);
        }
        let _ = out.send(reply.to_string());
    }
    Ok(false)
}

fn field<'a>(v: &'a Json, name: &str) -> Result<&'a Json> {
    v.get(name).with_context(|| format!("missing field {name:?}"))
}

fn str_field<'a>(v: &'a Json, name: &str) -> Result<&'a str> {
    field(v, name)?.as_str().with_context(|| format!("field {name:?} must be a string"))
}

fn num_field(v: &Json, name: &str) -> Result<usize> {
    let n =
        field(v, name)?.as_u64().with_context(|| format!("field {name:?} must be a non-negative integer"))?;
    usize::try_from(n).context("number too large")
}

/// The `"peers"` field: a list of peer ids.
fn peers_field(v: &Json) -> Result<Vec<tandem_net::PeerId>> {
    v.get("peers")
        .and_then(|p| p.as_array())
        .context("missing field \"peers\" (a list of peer ids)")?
        .iter()
        .map(|p| p.as_str().context("a peer id is not a string")?.parse().context("bad peer id"))
        .collect()
}

fn doc_field(v: &Json) -> Result<DocId> {
    Ok(str_field(v, "doc")?.parse()?)
}

/// Answers one command line: the reply and whether to quit.
async fn handle(engine: &EngineHandle, line: &str) -> Result<(Json, bool)> {
    let v: Json =
        serde_json::from_str(line).context("malformed command (expected one JSON object per line)")?;
    let cmd = str_field(&v, "cmd")?;
    let ok = |extra: Json| {
        let mut m = json!({"ok": true});
        if let (Some(m), Json::Object(e)) = (m.as_object_mut(), extra) {
            m.extend(e);
        }
        m
    };
    Ok(match cmd {
        "create" => {
            let title = v.get("title").and_then(Json::as_str).unwrap_or("Untitled");
            let (doc, ticket) = engine.create(title).await?;
            (ok(json!({"doc": doc.to_string(), "ticket": ticket.to_string()})), false)
        }
        "join" => {
            let ticket: Ticket = str_field(&v, "ticket")?.parse().context("bad ticket")?;
            let doc = engine.join(ticket).await?;
            (ok(json!({"doc": doc.to_string()})), false)
        }
        "ticket" => {
            // `"read": true` asks for a read ticket.
            let doc = doc_field(&v)?;
            let t = if v.get("read").and_then(|r| r.as_bool()) == Some(true) {
                engine.read_ticket(doc).await?
            } else {
                engine.ticket(doc).await?
            };
            (ok(json!({"ticket": t.to_string(), "read_only": t.read_only.is_some()})), false)
        }
        "link" => {
            // Each entry is a device's full code (peer id) or its short code.
            let codes = v
                .get("peers")
                .and_then(|p| p.as_array())
                .context("missing field \"peers\" (a list of device codes)")?
                .iter()
                .map(|p| p.as_str().map(str::to_owned).context("a device code is not a string"))
                .collect::<Result<Vec<_>>>()?;
            let peers = engine.link_devices(codes).await?;
            (ok(json!({"peers": peers.iter().map(|p| p.to_string()).collect::<Vec<_>>()})), false)
        }
        "members" => {
            let members: Vec<Json> = engine
                .members(doc_field(&v)?)
                .await?
                .into_iter()
                .map(|m| json!({"peer_id": m.peer.to_string(), "name": m.name, "edit": m.edit, "online": m.online}))
                .collect();
            (ok(json!({"members": members})), false)
        }
        "remove_people" => {
            let doc = doc_field(&v)?;
            let t = engine.remove_people(doc, peers_field(&v)?).await?;
            (ok(json!({"ticket": t.to_string()})), false)
        }
        "seal" => {
            let sealed = engine.seal(doc_field(&v)?, str_field(&v, "text")?.as_bytes().to_vec()).await?;
            (ok(json!({"sealed": data_encoding::HEXLOWER.encode(&sealed)})), false)
        }
        "unseal" => {
            let sealed = data_encoding::HEXLOWER
                .decode(str_field(&v, "sealed")?.as_bytes())
                .context("\"sealed\" is not lowercase hex")?;
            let plain = engine.unseal(doc_field(&v)?, sealed).await?;
            (ok(json!({"text": String::from_utf8_lossy(&plain)})), false)
        }
        "insert" => {
            engine.insert(doc_field(&v)?, num_field(&v, "pos")?, str_field(&v, "text")?).await?;
            (ok(json!({})), false)
        }
        "delete" => {
            engine.delete(doc_field(&v)?, num_field(&v, "pos")?, num_field(&v, "len")?).await?;
            (ok(json!({})), false)
        }
        "text" => (ok(json!({"text": engine.text(doc_field(&v)?).await?})), false),
        "status" => {
            let s = engine.status(doc_field(&v)?).await?;
            let version: serde_json::Map<String, Json> =
                s.version.iter().map(|(r, n)| (r.to_string(), json!(n))).collect();
            let authors: serde_json::Map<String, Json> = s
                .authors
                .iter()
                .map(|(r, a)| {
                    let colour = a.colour.map(|c| format!("#{c:06x}"));
                    let person = s.people.get(r).unwrap_or(r).to_string();
                    let unconfirmed = s.unconfirmed_links.get(r).cloned().unwrap_or_default();
                    (
                        r.to_string(),
                        json!({"name": a.name, "colour": colour, "person": person, "unconfirmed_links": unconfirmed}),
                    )
                })
                .collect();
            (
                ok(json!({
                    "version": version,
                    "peers": s.peers,
                    "pending": s.pending,
                    "sync_bytes_in": s.sync_bytes_in,
                    "gossip_bytes_in": s.gossip_bytes_in,
                    "waiting": s.waiting,
                    "store_error": s.store_error,
                    "snapshot_failures": s.snapshot_failures,
                    "snapshot_error": s.snapshot_error,
                    "equivocators": s.equivocators.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
                    "authors": authors,
                    "epoch": s.epoch,
                    "removed": s.removed,
                })),
                false,
            )
        }
        "peers" => {
            let peers: Vec<Json> = engine
                .peers()
                .await?
                .into_iter()
                .map(|p| {
                    json!({
                        "peer_id": p.peer.to_string(),
                        "addr": p.addr.to_string(),
                        "kind": p.kind.as_str(),
                        "rtt_ms": p.rtt.map(|d| d.as_secs_f64() * 1000.0),
                    })
                })
                .collect();
            (ok(json!({"peers": peers})), false)
        }
        "traffic" => {
            let t = engine.traffic().await?;
            let res = json!({
                "bytes_in": t.bytes_in,
                "bytes_out": t.bytes_out,
                "dht_queries": t.dht_queries,
                "connections": t.connections,
            });
            (ok(res), false)
        }
        "network" => {
            let n = engine.network().await?;
            let strings = |v: &[Multiaddr]| v.iter().map(|a| a.to_string()).collect::<Vec<_>>();
            let res = json!({
                "public_network": n.public_network,
                "public_reached": n.public_reached,
                "public_dht_peers": n.public_dht_peers,
                "public_announced": n.public_announced,
                "public_found": n.public_found,
                "private_dht_peers": n.private_dht_peers,
                "reachability": n.reachability.as_str(),
                "listen": strings(&n.listen),
                "external": strings(&n.external),
                "relays": n.relays.iter().map(|p| p.to_string()).collect::<Vec<_>>(),
                "upnp_mapped": n.upnp_mapped,
                "infrastructure": n.infrastructure,
                "offline": n.offline,
            });
            (ok(res), false)
        }
        "offline" => {
            let on = field(&v, "on")?.as_bool().context("field \"on\" must be true or false")?;
            engine.set_offline(on).await?;
            (ok(json!({})), false)
        }
        "presence" => {
            let colour = match v.get("colour").and_then(Json::as_str) {
                Some(c) => {
                    u32::from_str_radix(c.trim_start_matches('#'), 16).context("colour must be #rrggbb")?
                }
                None => 0x3366cc,
            };
            let name = v.get("name").and_then(Json::as_str).unwrap_or("");
            let selection = match v.get("selection") {
                None | Some(Json::Null) => None,
                Some(_) => Some(num_field(&v, "selection")?),
            };
            engine.set_presence(doc_field(&v)?, name, colour, num_field(&v, "cursor")?, selection).await?;
            (ok(json!({})), false)
        }
        "presences" => {
            let list: Vec<Json> = engine
                .presences(doc_field(&v)?)
                .await?
                .into_iter()
                .map(|p| json!({"peer_id": p.peer.to_string(), "name": p.name, "colour": format!("#{:06x}", p.colour), "cursor": p.cursor, "selection": p.selection}))
                .collect();
            (ok(json!({"presences": list})), false)
        }
        "quit" => (ok(json!({})), true),
        other => anyhow::bail!("unknown command {other:?}"),
    })
}
