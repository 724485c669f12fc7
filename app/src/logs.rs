//! Where the program's log goes: standard error, and a file in the data dir
//! (`logs/tandem.log`) that is rotated so it never takes more than about 1 MB; and a
//! panic hook that leaves a crash report beside it before the program dies.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

/// The log folder inside the data dir.
pub const LOG_DIR: &str = "logs";
/// The log file in it; the one before is `tandem.log.1`.
pub const LOG_FILE: &str = "tandem.log";
/// A log file is rotated when it would grow past this many bytes (so the two files
/// take at most about twice that).
pub const ROTATE_BYTES: u64 = 512 * 1024;
/// Crash reports kept; older ones are deleted when a new one is written.
pub const CRASH_REPORTS_KEPT: usize = 8;

/// An append-only log file that starts over in a new file, keeping one old one, when it
/// reaches [`ROTATE_BYTES`].
#[derive(Debug)]
pub struct RotatingFile {
    path: PathBuf,
    limit: u64,
    file: File,
    len: u64,
}

impl RotatingFile {
    /// Opens (creating it and its folder) the log file at `path`, rotating at `limit`
    /// bytes.
    pub fn open(path: &Path, limit: u64) -> io::Result<RotatingFile> {
        if let Some(dir) = path.parent() {
            private_dir(dir)?;
        }
        let file = open_private(path)?;
        let len = file.metadata()?.len();
        Ok(RotatingFile { path: path.to_owned(), limit, file, len })
    }

    fn rotate(&mut self) -> io::Result<()> {
        let mut old = self.path.clone().into_os_string();
        old.push(".1");
        std::fs::rename(&self.path, &old)?;
        self.file = open_private(&self.path)?;
        self.len = 0;
        Ok(())
    }
}

impl Write for RotatingFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.len > 0 && self.len + buf.len() as u64 > self.limit {
            self.rotate()?;
        }
        // A single record longer than the limit is cut, so the cap holds.
        let take = buf.len().min(self.limit.max(1) as usize);
        self.file.write_all(&buf[..take])?;
        self.len += take as u64;
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

/// Creates `dir` (and the data dir above it, when the log comes first) readable by
/// this user only, as the store makes the data dir: the log names peers and addresses.
fn private_dir(dir: &Path) -> io::Result<()> {
    let mut b = std::fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut b, 0o700);
    b.create(dir)
}

/// Opens a log or crash file for appending, readable by this user only.
fn open_private(path: &Path) -> io::Result<File> {
    let mut opts = OpenOptions::new();
    opts.create(true).append(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    opts.open(path)
}

/// A shared [`RotatingFile`] that tracing writes each record to in one piece.
#[derive(Debug, Clone)]
struct SharedFile(Arc<Mutex<RotatingFile>>);

impl Write for SharedFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).write(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).flush()
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for SharedFile {
    type Writer = SharedFile;

    fn make_writer(&'a self) -> SharedFile {
        self.clone()
    }
}

/// Span fields formatted for the file. A type of its own, because fmt layers keep a
/// span's formatted fields under the formatter's type: with the default one, the file
/// would get the fields the terminal layer formatted, colours and all.
#[derive(Debug, Default)]
struct PlainFields(tracing_subscriber::fmt::format::DefaultFields);

impl<'w> tracing_subscriber::fmt::FormatFields<'w> for PlainFields {
    fn format_fields<R: tracing_subscriber::field::RecordFields>(
        &self,
        writer: tracing_subscriber::fmt::format::Writer<'w>,
        fields: R,
    ) -> std::fmt::Result {
        self.0.format_fields(writer, fields)
    }
}

/// Sends the log to standard error and, when `data_dir` is given, to its rotating log
/// file, at the level `RUST_LOG` asks for (default: warnings, and this program's own
/// information in the file). Installs the crash-report panic hook for that folder. A log
/// file that cannot be opened is said on standard error and the program goes on.
pub fn init(data_dir: Option<&Path>) {
    use tracing_subscriber::{EnvFilter, Layer as _, fmt};
    let from_env = || EnvFilter::try_from_default_env().ok();
    let stderr = fmt::layer()
        .with_writer(io::stderr)
        .with_filter(from_env().unwrap_or_else(|| EnvFilter::new("warn")));
    let file = data_dir.and_then(|dir| {
        let path = dir.join(LOG_DIR).join(LOG_FILE);
        match RotatingFile::open(&path, ROTATE_BYTES) {
            Ok(f) => Some(f),
            Err(e) => {
                eprintln!("tandem: cannot write the log file {}: {e}", path.display());
                None
            }
        }
    });
    let file_layer = file.map(|f| {
        let filter = from_env().unwrap_or_else(|| EnvFilter::new("warn,tandem=info,tandem_net=info"));
        fmt::layer()
            .with_ansi(false)
            .fmt_fields(PlainFields::default())
            .with_writer(SharedFile(Arc::new(Mutex::new(f))))
            .with_filter(filter)
    });
    tracing_subscriber::registry().with(stderr).with(file_layer).try_init().ok();
    if let Some(dir) = data_dir {
        install_panic_hook(&dir.join(LOG_DIR));
    }
}

/// Installs a panic hook that writes a crash report (what panicked, where, the thread
/// and a backtrace) into `dir` and logs it, then runs the hook that was there before.
pub fn install_panic_hook(dir: &Path) {
    let dir = dir.to_owned();
    let before = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let report = crash_report(info);
        tracing::error!("{}", report.lines().next().unwrap_or("panic"));
        match write_crash_report(&dir, &report) {
            Ok(path) => eprintln!("tandem: a crash report is in {}", path.display()),
            Err(e) => eprintln!("tandem: cannot write a crash report in {}: {e}", dir.display()),
        }
        before(info);
    }));
}

/// The text of a crash report for a panic.
fn crash_report(info: &std::panic::PanicHookInfo<'_>) -> String {
    let what = info
        .payload()
        .downcast_ref::<&str>()
        .map(|s| (*s).to_owned())
        .or_else(|| info.payload().downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "(no message)".to_owned());
    let at = info.location().map_or_else(|| "unknown place".to_owned(), ToString::to_string);
    let thread = std::thread::current().name().unwrap_or("unnamed").to_owned();
    format!(
        "tandem {} panicked at {at} on thread {thread}: {what}\nunix time: {} ms\nos: {} {}\n\nbacktrace:\n{}\n",
        env!("CARGO_PKG_VERSION"),
        now_ms(),
        std::env::consts::OS,
        std::env::consts::ARCH,
        std::backtrace::Backtrace::force_capture(),
    )
}

fn now_ms() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// Writes `report` as a new `crash-<unix ms>.txt` in `dir` and deletes the oldest
/// reports beyond [`CRASH_REPORTS_KEPT`]; returns the new file's path.
pub fn write_crash_report(dir: &Path, report: &str) -> io::Result<PathBuf> {
    private_dir(dir)?;
    let mut path = dir.join(format!("crash-{}.txt", now_ms()));
    let mut n = 1;
    while path.exists() {
        path = dir.join(format!("crash-{}-{n}.txt", now_ms()));
        n += 1;
    }
    open_private(&path)?.write_all(report.as_bytes())?;
    let mut reports = crash_reports(dir)?;
    while reports.len() > CRASH_REPORTS_KEPT {
        std::fs::remove_file(reports.remove(0)).ok();
    }
    Ok(path)
}

/// The crash reports in `dir`, oldest first.
pub fn crash_reports(dir: &Path) -> io::Result<Vec<PathBuf>> {
    let mut res: Vec<(std::time::SystemTime, PathBuf)> = Vec::new();
    for e in std::fs::read_dir(dir)? {
        let e = e?;
        let name = e.file_name();
        let name = name.to_string_lossy();
        if name.starts_with("crash-") && name.ends_with(".txt") {
            let modified = e.metadata()?.modified()?;
            res.push((modified, e.path()));
        }
    }
    res.sort();
    Ok(res.into_iter().map(|(_, p)| p).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_log_rotates_and_never_passes_its_cap() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data").join("logs").join(LOG_FILE);
        let mut f = RotatingFile::open(&path, 1000).unwrap();
        // tracing hands each record over in one write, as here.
        for i in 0..500 {
            f.write_all(format!("record {i:04} of the log\n").as_bytes()).unwrap();
        }
        drop(f);
        let now = std::fs::read_to_string(&path).unwrap();
        let old = std::fs::read_to_string(path.with_extension("log.1")).unwrap();
        assert!(now.len() <= 1000 && old.len() <= 1000, "{} and {} bytes", now.len(), old.len());
        assert!(now.ends_with("record 0499 of the log\n"), "the newest record is in the file");
        assert!(
            old.contains("record 04") && !old.contains("record 0001 "),
            "the old file holds the ones before"
        );
        // Records are whole: rotation happens between them.
        assert!(now.starts_with("record ") && old.starts_with("record "));
        // Reopening goes on where the file stands.
        let mut f = RotatingFile::open(&path, 1000).unwrap();
        f.write_all(b"after a restart\n").unwrap();
        drop(f);
        assert!(std::fs::read_to_string(&path).unwrap().contains("after a restart"));
        // The log and its folders (the data dir too, when the log made it) are private.
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode(&path), 0o600);
            assert_eq!(mode(path.parent().unwrap()), 0o700);
            assert_eq!(mode(&dir.path().join("data")), 0o700, "the data dir the log made");
        }
        // One record larger than the cap is cut to it.
        let mut f = RotatingFile::open(&path, 1000).unwrap();
        f.write_all(&[b'x'; 5000]).unwrap();
        drop(f);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 1000);
    }

    /// Run as a child process by the test below: installs the hook and panics.
    #[test]
    fn panicking_child() {
        let Ok(dir) = std::env::var("TANDEM_TEST_CRASH_DIR") else { return };
        install_panic_hook(Path::new(&dir));
        panic!("the child panics on purpose");
    }

    #[test]
    fn a_panic_leaves_a_crash_report() {
        let dir = tempfile::tempdir().unwrap();
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args(["logs::tests::panicking_child", "--exact", "--nocapture", "--test-threads=1"])
            .env("TANDEM_TEST_CRASH_DIR", dir.path())
            .output()
            .unwrap();
        assert!(!out.status.success(), "the child panicked");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("a crash report is in"), "{stderr}");
        let reports = crash_reports(dir.path()).unwrap();
        assert_eq!(reports.len(), 1);
        let report = std::fs::read_to_string(&reports[0]).unwrap();
        assert!(report.contains("the child panics on purpose"), "{report}");
        assert!(report.contains("app/src/logs.rs:"), "it says where: {report}");
        assert!(report.contains("backtrace:"), "{report}");
    }

    #[test]
    fn only_the_newest_crash_reports_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut written = Vec::new();
        for i in 0..CRASH_REPORTS_KEPT + 3 {
            written.push(write_crash_report(dir.path(), &format!("report {i}")).unwrap());
            std::thread::sleep(std::time::Duration::from_millis(15));
        }
        let kept = crash_reports(dir.path()).unwrap();
        assert_eq!(kept, written[3..].to_vec());
        assert_eq!(
            std::fs::read_to_string(kept.last().unwrap()).unwrap(),
            format!("report {}", CRASH_REPORTS_KEPT + 2)
        );
    }
}
