//! Frame time while typing in a large document, and time from launch to an editable
//! document: `cargo run --release --example bench_frame -- [--markdown] [--repeat K]
//! [KEYSTROKES] [QUERY]`. With a query, the find bar is open on it while typing (its
//! matches are found again after each keystroke and the visible ones highlighted). With
//! `--markdown` the document is imported from `paper.md`, so it is highlighted as
//! Markdown; `--repeat K` makes the text K times the paper's; `--line L` types at the
//! start of line L (reached with Ctrl+G, as a user would) instead of the text's start.
//!
//! The real app state (engine, store in a temp dir) runs headless on an egui context. The
//! document is the final text of the automerge-paper trace (about 100,000 chars),
//! imported as one edit. Each sample is one frame that handles one typed character:
//! egui's layout of the window (the editor lays out the whole text when it changes) and
//! the tessellation into triangles; drawing on the GPU is not included.

use anyhow::{Context, Result};
use egui_kittest::Harness;
use std::path::Path;
use std::time::{Duration, Instant};
use tandem::ui::TandemApp;
use tandem_net::NetConfig;

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn wait(h: &mut Harness<'_, TandemApp>, cond: impl Fn(&TandemApp) -> bool) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !cond(h.state()) {
        anyhow::ensure!(Instant::now() < deadline, "timed out");
        h.step();
        std::thread::sleep(Duration::from_millis(1));
    }
    Ok(())
}

fn main() -> Result<()> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let markdown = args.iter().any(|a| a == "--markdown");
    args.retain(|a| a != "--markdown");
    // `--repeat K`: the text K times over (K = 10 makes a 1,000,000-char document).
    let repeat = match args.iter().position(|a| a == "--repeat") {
        Some(i) => {
            let k: usize = args.get(i + 1).context("--repeat takes a count")?.parse()?;
            args.drain(i..i + 2);
            k.max(1)
        }
        None => 1,
    };
    // `--line L`: type at the start of line L.
    let line = match args.iter().position(|a| a == "--line") {
        Some(i) => {
            let l: usize = args.get(i + 1).context("--line takes a line number")?.parse()?;
            args.drain(i..i + 2);
            Some(l.max(1))
        }
        None => None,
    };
    let n: usize = args.first().map_or(Ok(1000), |a| a.parse())?;
    let query = args.get(1).cloned();
    let trace =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/data/traces/sequential/automerge-paper.json.gz");
    let text = tandem::trace::Trace::load(&trace)?.end_content.repeat(repeat);
    let tmp = tempfile::tempdir()?;
    let file = tmp.path().join(if markdown { "paper.md" } else { "paper.txt" });
    std::fs::write(&file, &text)?;
    let net = || NetConfig { listen: vec!["/ip4/127.0.0.1/tcp/0".parse().unwrap()], ..NetConfig::default() };

    // Import once; the measured launch opens the stored document.
    let dir = tmp.path().join("data");
    let app = tandem::ui::start(&dir, net())?;
    let mut h = Harness::builder()
        .with_size(egui::vec2(1100.0, 720.0))
        .build_ui_state(|ui, app: &mut TandemApp| app.ui(ui), app);
    h.state_mut().import(&file).map_err(anyhow::Error::msg)?;
    wait(&mut h, |a| a.text().is_some_and(|t| t.len() == text.len()))?;
    let id = h.state().open_id().context("the imported document is open")?;
    h.state_mut().shutdown();
    drop(h);

    // The window's own path: a plain egui context (no accessibility tree, as in the
    // app), one frame per keystroke, then tessellation.
    let launch = Instant::now();
    let mut app = tandem::ui::start(&dir, net())?;
    app.open_when_listed(&id.to_string());
    let ctx = egui::Context::default();
    tandem::ui::style(&ctx);
    let screen = egui::Rect::from_min_size(egui::Pos2::ZERO, egui::vec2(1100.0, 720.0));
    let frame = |app: &mut TandemApp, events: Vec<egui::Event>| {
        let input = egui::RawInput { screen_rect: Some(screen), events, ..Default::default() };
        let out = ctx.run_ui(input, |ui| app.ui(ui));
        ctx.tessellate(out.shapes, out.pixels_per_point).len()
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.text().is_none() {
        anyhow::ensure!(Instant::now() < deadline, "the document did not open");
        frame(&mut app, Vec::new());
        std::thread::sleep(Duration::from_millis(1));
    }
    frame(&mut app, Vec::new());
    let launch_ms = launch.elapsed().as_secs_f64() * 1e3;

    if let Some(q) = &query {
        let ctrl_f = egui::Event::Key {
            key: egui::Key::F,
            physical_key: None,
            pressed: true,
            repeat: false,
            modifiers: egui::Modifiers::COMMAND,
        };
        for events in [vec![ctrl_f], Vec::new(), Vec::new(), vec![egui::Event::Text(q.clone())], Vec::new()] {
            frame(&mut app, events);
        }
        anyhow::ensure!(app.find_matches().is_some_and(|(m, _)| !m.is_empty()), "the find bar finds {q:?}");
        // Back in the editor, the selected match is left to its end before typing.
        ctx.memory_mut(|m| m.request_focus(tandem::ui::editor_id()));
        frame(&mut app, Vec::new());
        let right = egui::Event::Key {
            key: egui::Key::ArrowRight,
            physical_key: None,
            pressed: true,
            repeat: false,
            modifiers: egui::Modifiers::NONE,
        };
        frame(&mut app, vec![right]);
    }

    let key = |key: egui::Key, modifiers: egui::Modifiers| egui::Event::Key {
        key,
        physical_key: None,
        pressed: true,
        repeat: false,
        modifiers,
    };
    if let Some(l) = line {
        let go = [
            vec![key(egui::Key::G, egui::Modifiers::COMMAND)],
            Vec::new(),
            vec![egui::Event::Text(l.to_string())],
            vec![key(egui::Key::Enter, egui::Modifiers::NONE)],
            Vec::new(),
            Vec::new(),
        ];
        for events in go {
            frame(&mut app, events);
        }
    }
    // The editor has the focus once the document is open.
    frame(&mut app, vec![egui::Event::Text("x".into())]);
    let before = app.text().map_or(0, |t| t.chars().count());
    anyhow::ensure!(
        before == text.chars().count() + 1,
        "the editor takes keystrokes ({before} chars, {} before)",
        text.chars().count()
    );
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let ev = if i % 40 == 39 {
            egui::Event::Key {
                key: egui::Key::Enter,
                physical_key: None,
                pressed: true,
                repeat: false,
                modifiers: egui::Modifiers::NONE,
            }
        } else {
            egui::Event::Text("x".into())
        };
        let t = Instant::now();
        frame(&mut app, vec![ev]);
        samples.push(t.elapsed().as_secs_f64() * 1e3);
    }
    let chars = app.text().map_or(0, |t| t.chars().count());
    anyhow::ensure!(chars == before + n, "every keystroke landed ({chars} chars, {before} before)");
    if let Some(l) = line {
        // The keystrokes went where the cursor was: 40 a line, the first one on line L.
        let typed = app.text().unwrap_or_default().lines().nth(l - 1).unwrap_or_default().to_owned();
        let at = app.text().unwrap_or_default().lines().position(|t| t.starts_with("xxxxxxxxxx"));
        anyhow::ensure!(
            typed.starts_with("xxxxxxxxxx"),
            "the typing landed at line {l}, not {at:?}: {typed:?}"
        );
        let original = text.lines().nth(l - 1).unwrap_or_default();
        let last = app.text().unwrap_or_default().lines().nth(l - 1 + n / 40).unwrap_or_default().to_owned();
        anyhow::ensure!(last.ends_with(original), "line {l} moved down, whole: {last:?} / {original:?}");
    }
    samples.sort_by(f64::total_cmp);
    println!("document_chars   {}", text.chars().count());
    if let Some((matches, _)) = app.find_matches() {
        println!("find_matches     {} of {:?}", matches.len(), query.unwrap_or_default());
    }
    println!("launch_to_editable_ms {launch_ms:.1}");
    println!("frames           {n}");
    println!("frame_p50_ms     {:.2}", percentile(&samples, 0.5));
    println!("frame_p99_ms     {:.2}", percentile(&samples, 0.99));
    println!("frame_max_ms     {:.2}", samples[samples.len() - 1]);
    app.shutdown();
    Ok(())
}
