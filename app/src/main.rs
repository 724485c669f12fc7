//! `tandem`: a local-first, peer-to-peer collaborative text editor.

use anyhow::{Context, Result};
use clap::{Parser, Subcommand};
use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use tandem::docs;
use tandem::trace::{self, Trace};

#[global_allocator]
static ALLOC: tandem::alloc::Counting = tandem::alloc::Counting;

/// Tandem: a local-first, peer-to-peer collaborative text editor.
#[derive(Debug, Parser)]
#[command(
    name = "tandem",
    version,
    about,
    after_help = "Without a command, tandem opens the desktop window."
)]
struct Cli {
    /// Where documents are stored (default: the platform's data directory).
    #[arg(long, global = true, env = "TANDEM_DATA_DIR", value_name = "DIR")]
    data_dir: Option<PathBuf>,
    #[command(flatten)]
    net: NetArgs,
    /// The document the window opens (its id or first hex digits; default: the last one).
    #[arg(long, value_name = "DOC")]
    open: Option<String>,
    /// Without a command: open the desktop window.
    #[command(subcommand)]
    command: Option<Command>,
}

/// How a peer (the window or `tandem node`) meets others.
#[derive(Debug, clap::Args)]
struct NetArgs {
    /// Listen address (repeatable); default: all interfaces, random TCP and QUIC ports.
    #[arg(long, value_name = "MULTIADDR")]
    listen: Vec<tandem_net::Multiaddr>,
    /// A peer to dial at start (repeatable).
    #[arg(long, value_name = "MULTIADDR")]
    bootstrap: Vec<tandem_net::Multiaddr>,
    /// Do not discover peers on the LAN with mDNS.
    #[arg(long)]
    no_mdns: bool,
    /// Do not use the public libp2p network (its DHT, relays) or UPnP: peers are found
    /// on the LAN, through tickets and bootstrap peers only. Also
    /// `TANDEM_PUBLIC_NETWORK=off`.
    #[arg(long)]
    no_public_network: bool,
    /// A bootstrap peer of the public network (repeatable; replaces the default IPFS
    /// bootstrap peers).
    #[arg(long, value_name = "MULTIADDR")]
    public_bootstrap: Vec<tandem_net::Multiaddr>,
}

impl NetArgs {
    /// The engine's configuration: the command line, then the data dir's network
    /// settings (`network.json`); the engine also heeds `TANDEM_PUBLIC_NETWORK=off`.
    fn config(self, relay: bool, dir: &std::path::Path) -> Result<tandem_net::NetConfig> {
        let listen = if self.listen.is_empty() { tandem::node::default_listen() } else { self.listen };
        let mut config = tandem_net::NetConfig {
            listen,
            bootstrap: self.bootstrap,
            mdns: !self.no_mdns,
            relay,
            public: !self.no_public_network,
            public_bootstrap: self.public_bootstrap,
        };
        let settings = tandem::config::NetworkSettings::load(dir).map_err(anyhow::Error::msg)?;
        settings.apply(&mut config);
        Ok(config)
    }
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the documents on this device.
    List {
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Create a document from a UTF-8 text file and print its id.
    Import {
        /// The text file (with --history, a history file from `export --history`).
        file: PathBuf,
        /// The title (default: the file name, or the history file's title).
        #[arg(long)]
        title: Option<String>,
        /// Read a history file (JSON) instead of text: the new document holds every
        /// change, with its authors and times.
        #[arg(long)]
        history: bool,
    },
    /// Add a shared document by its ticket; it syncs the next time this data dir runs
    /// (the window or `tandem node`). Prints its id.
    Join {
        /// The ticket (as copied from Share).
        ticket: String,
    },
    /// Run a headless peer driven by JSON lines on stdin (see docs/node-protocol.md).
    Node {
        #[command(flatten)]
        net: NetArgs,
        /// Also serve as a relay (raised limits for document traffic) for peers that
        /// cannot reach each other directly.
        #[arg(long)]
        relay: bool,
        /// Run as a service: the end of stdin does not stop the node; `quit`, SIGTERM
        /// or SIGINT do.
        #[arg(long)]
        serve: bool,
    },
    /// Write a document's text to FILE, or to standard output.
    Export {
        /// The document id (or its first hex digits, at least 4).
        doc: String,
        /// Where to write (default: standard output).
        #[arg(conflicts_with = "history")]
        file: Option<PathBuf>,
        /// Write the full history as JSON to this file instead of the text: one object
        /// per change (author, name, time, deps, ops).
        #[arg(long, value_name = "FILE")]
        history: Option<PathBuf>,
    },
    /// Replay an editing trace (.json.gz) through the CRDT and report timings and sizes.
    Trace {
        /// The trace file: sequential or concurrent, gzipped JSON.
        #[arg(required_unless_present = "generate", conflicts_with = "generate")]
        file: Option<PathBuf>,
        /// Generate the trace instead: `code:SEED`, `conc:SEED`, `big:SEED`,
        /// `long:SOURCE` (a spec or a trace file).
        #[arg(long, value_name = "SPEC")]
        generate: Option<String>,
        /// Write the trace to this .json.gz file instead of replaying it.
        #[arg(long, value_name = "PATH")]
        write: Option<PathBuf>,
        /// Print one JSON object instead of a table.
        #[arg(long)]
        json: bool,
        /// Runs per measurement; the best is reported.
        #[arg(long, default_value_t = 3)]
        runs: usize,
    },
}

fn main() -> ExitCode {
    tandem::clock::learn_local_offset();
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        // A reader that went away (`tandem list | head`) is not an error.
        Err(e) if is_broken_pipe(&e) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tandem: {e:#}");
            ExitCode::from(2)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>().is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

fn run(cli: Cli) -> Result<ExitCode> {
    let data_dir = cli.data_dir.as_deref();
    let Some(command) = cli.command else {
        let dir = match data_dir {
            Some(d) => d.to_owned(),
            None => tandem_storage::default_data_dir().context("no data directory: pass --data-dir")?,
        };
        tandem::logs::init(Some(&dir));
        let net = cli.net.config(false, &dir)?;
        if let Some(doc) = &cli.open {
            docs::check_doc_arg(doc)?;
        }
        tandem::ui::run(&dir, net, cli.open.as_deref())?;
        return Ok(ExitCode::SUCCESS);
    };
    match command {
        Command::List { json } => {
            let store = docs::open_store(data_dir)?;
            docs::list(&store, json, &mut std::io::stdout().lock())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Import { file, title, history } => {
            let mut store = docs::open_store(data_dir)?;
            let info = if history {
                docs::import_history(&mut store, &file, title.as_deref())?
            } else {
                docs::import(&mut store, &file, title.as_deref())?
            };
            writeln!(std::io::stdout(), "{}", info.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Join { ticket } => {
            let mut store = docs::open_store(data_dir)?;
            let info = docs::join(&mut store, &ticket)?;
            writeln!(std::io::stdout(), "{}", info.id)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Node { net, relay, serve } => {
            let dir = match data_dir {
                Some(d) => d.to_owned(),
                None => tandem_storage::default_data_dir().context("no data directory: pass --data-dir")?,
            };
            tandem::logs::init(Some(&dir));
            let rt = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
            let config = net.config(relay, &dir)?;
            rt.block_on(tandem::node::run(&dir, config, serve))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Export { doc, file, history } => {
            docs::check_doc_arg(&doc)?;
            let mut store = docs::open_store(data_dir)?;
            match history {
                Some(path) => docs::export_history(&mut store, &doc, &path)?,
                None => docs::export(&mut store, &doc, file.as_deref(), &mut std::io::stdout().lock())?,
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Trace { file, generate, write, json, runs } => {
            let file = file.or(generate.map(PathBuf::from)).expect("clap requires a file or a spec");
            let t = Trace::load_or_generate(&file.to_string_lossy())?;
            if let Some(path) = write {
                t.write(&path)?;
                return Ok(ExitCode::SUCCESS);
            }
            let r = trace::measure(&file, &t, runs)
                .with_context(|| format!("cannot replay {}", file.display()))?;
            let mut out = std::io::stdout().lock();
            if json {
                writeln!(out, "{}", serde_json::to_string(&r)?)?;
            } else {
                writeln!(out, "trace           {}", r.trace)?;
                writeln!(out, "ops             {} patches, {} CRDT ops", r.ops, r.crdt_ops)?;
                writeln!(out, "replay_ms       {:.2}", r.replay_ms)?;
                writeln!(out, "merge_ms        {:.2}", r.merge_ms)?;
                writeln!(out, "stream_ms       {:.2}", r.stream_ms)?;
                writeln!(out, "load_ms         {:.2}", r.load_ms)?;
                writeln!(out, "encoded_bytes   {}", r.encoded_bytes)?;
                writeln!(out, "snapshot_bytes  {}", r.snapshot_bytes)?;
                writeln!(out, "doc_heap_bytes  {}", r.doc_heap_bytes)?;
                writeln!(out, "ok              {}", r.ok)?;
            }
            Ok(if r.ok { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
    }
}
