//! `cargo bench --bench compile`: the 1,000,000-line hosts benchmark of the compiler.
//!
//! Generates (seeded) a 1,000,000-line hosts file, compiles it with RemoveComments + Compress +
//! Validate + Deduplicate + InsertFinalNewLine natively (`blocklist-edge compile`), inside the
//! compiler component on wasmtime (`blocklist-edge compile --component`, with the component's
//! machine code cold and cached), and with the reference HostlistCompiler when Node.js is there
//! (installed from npm on first use, as the differential tests do). Each run is a separate
//! process; the table gives wall time, peak RSS (`wait4`), rules/s and the ratios to the
//! reference. Outputs are checked to be identical apart from the two stamp lines.
//!
//! `BENCH_LINES` changes the size; `BENCH_SKIP_REFERENCE=1` leaves the reference out.

#[path = "../tests/common/reference.rs"]
mod reference;

use reference::{Rng, comparable};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

fn generate(path: &Path, lines: usize) {
    let words = [
        "ads",
        "track",
        "cdn",
        "img",
        "stat",
        "pixel",
        "beacon",
        "metrics",
        "log",
        "srv",
        "api",
        "edge",
        "media",
        "click",
        "analytics",
        "tag",
    ];
    let tlds = ["com", "net", "org", "io", "de", "co.uk", "ru", "info", "biz", "xyz"];
    let mut r = Rng(42);
    let mut out = String::with_capacity(lines * 26);
    for i in 0..lines {
        match r.next() % 100 {
            0..=2 => out.push_str(&format!("# comment {i}\n")),
            3 => out.push('\n'),
            _ => {
                let labels = 1 + r.next() % 2;
                out.push_str("0.0.0.0 ");
                for _ in 0..labels {
                    out.push_str(words[(r.next() % words.len() as u64) as usize]);
                    out.push_str(&(r.next() % 5000).to_string());
                    out.push('.');
                }
                out.push_str(tlds[(r.next() % tlds.len() as u64) as usize]);
                out.push('\n');
            }
        }
    }
    std::fs::write(path, out).unwrap();
}

struct Run {
    name: &'static str,
    seconds: f64,
    max_rss_kib: i64,
    output: Option<String>,
}

/// Runs a command to completion, measuring its wall time and peak RSS.
// The child is reaped by wait4 (for its rusage), which clippy does not see.
#[allow(clippy::zombie_processes)]
fn measure(name: &'static str, mut cmd: Command, output: &Path) -> Run {
    let _ = std::fs::remove_file(output);
    let started = Instant::now();
    let child = cmd.stdout(std::process::Stdio::null()).stderr(std::process::Stdio::piped()).spawn().expect(name);
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waits for our own child; `usage` is a valid out-pointer.
    let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
    let seconds = started.elapsed().as_secs_f64();
    assert_eq!(r, pid, "wait4 failed for {name}");
    let ok = libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0;
    if !ok {
        eprintln!("{name} failed (status {status})");
    }
    Run {
        name,
        seconds,
        max_rss_kib: usage.ru_maxrss,
        output: if ok { std::fs::read_to_string(output).ok() } else { None },
    }
}

fn reference_cli(tmp: &Path) -> Option<PathBuf> {
    if std::env::var_os("BENCH_SKIP_REFERENCE").is_some() {
        return None;
    }
    reference::cli(tmp).map_err(|e| eprintln!("the reference is left out: {e}")).ok()
}

fn main() {
    // `cargo bench` passes `--bench`; nothing else is understood.
    let lines: usize = std::env::var("BENCH_LINES").ok().and_then(|v| v.parse().ok()).unwrap_or(1_000_000);
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    let dir = tmp.join("compile-bench");
    std::fs::create_dir_all(&dir).unwrap();
    let hosts = dir.join("hosts.txt");
    generate(&hosts, lines);
    let config = dir.join("config.json");
    std::fs::write(
        &config,
        r#"{"name":"bench","sources":[{"source":"hosts.txt","type":"hosts"}],"transformations":["RemoveComments","Compress","Validate","Deduplicate","InsertFinalNewLine"]}"#,
    )
    .unwrap();
    let exe = env!("CARGO_BIN_EXE_blocklist-edge");
    let cache = dir.join("wasm-cache");
    let _ = std::fs::remove_dir_all(&cache);
    let ours = |name: &'static str, component: bool, out: &str| {
        let mut c = Command::new(exe);
        c.current_dir(&dir).env("BLOCKLIST_EDGE_CACHE_DIR", &cache).args(["compile", "-c", "config.json", "-o", out]);
        if component {
            c.arg("--component");
        }
        measure(name, c, &dir.join(out))
    };
    let mut runs = vec![
        ours("native", false, "native.txt"),
        ours("component (cold: JIT compile)", true, "component-cold.txt"),
        ours("component (machine code cached)", true, "component.txt"),
    ];
    if let Some(cli) = reference_cli(tmp) {
        let mut c = Command::new("node");
        c.current_dir(&dir).arg(cli).args(["-c", "config.json", "-o", "reference.txt"]);
        runs.push(measure("reference HostlistCompiler 2.1.1", c, &dir.join("reference.txt")));
    }

    let reference = runs.iter().find(|r| r.name.starts_with("reference")).map(|r| (r.seconds, r.max_rss_kib));
    let expected = runs[0].output.as_deref().map(comparable);
    let rules =
        runs[0].output.as_deref().map_or(0, |t| t.lines().filter(|l| !l.is_empty() && !l.starts_with('!')).count());
    println!();
    println!(
        "compile benchmark: {lines} hosts lines -> {rules} rules (RemoveComments, Compress, Validate, Deduplicate, InsertFinalNewLine)"
    );
    println!();
    println!("| run | wall (s) | peak RSS (MiB) | rules/s | speed vs reference | memory vs reference | output |");
    println!("|---|---:|---:|---:|---:|---:|---|");
    for r in &runs {
        let same = match (&r.output, &expected) {
            (Some(o), Some(e)) => {
                if &comparable(o) == e {
                    "identical"
                } else {
                    "DIFFERS"
                }
            }
            _ => "failed",
        };
        let (speed, mem) = match reference {
            Some((s, m)) => (format!("{:.1}x", s / r.seconds), format!("{:.3}x", r.max_rss_kib as f64 / m as f64)),
            None => ("-".into(), "-".into()),
        };
        println!(
            "| {} | {:.2} | {:.0} | {:.0} | {} | {} | {} |",
            r.name,
            r.seconds,
            r.max_rss_kib as f64 / 1024.0,
            rules as f64 / r.seconds,
            speed,
            mem,
            same
        );
    }
    if reference.is_none() {
        println!("\n(the reference was left out: no Node.js/npm, or BENCH_SKIP_REFERENCE set)");
    }
}
