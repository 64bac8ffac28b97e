//! A bed of hosts for tests: network namespaces on a bridge, made and
//! faulted by `tools/hosts.sh`, with a master on host 0 and workers on the
//! others, each on its own IP. Removed when dropped, pass or fail.
//!
//! It needs root and `ip`, `nft` and `iptables`. Without them `Bed::up`
//! returns `None` and says why (the test is skipped), unless
//! `MINISPARK_HOSTS_TEST=require`, as CI sets, where it fails instead.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

use super::{path, Proc};

/// Bed names are `t<pid in hex>g<n>`, so a bed a killed test run left behind
/// (its process gone) can be told apart from one in use, and removed.
static NEXT: AtomicU32 = AtomicU32::new(0);

pub struct Bed {
    pub name: String,
    pub hosts: usize,
}

fn script() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tools/hosts.sh")
}

/// Runs `tools/hosts.sh ARGS`; its stdout, or a panic with its stderr.
pub fn hosts_sh(args: &[&str]) -> String {
    let out = Command::new(script())
        .args(args)
        .output()
        .expect("running tools/hosts.sh");
    assert!(
        out.status.success(),
        "tools/hosts.sh {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Why a bed cannot be made here, if it cannot.
fn missing() -> Option<String> {
    let uid = Command::new("id").arg("-u").output().ok()?;
    if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
        return Some("not root".into());
    }
    for tool in ["ip", "nft", "iptables"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .is_ok_and(|o| o.status.success());
        if !found {
            return Some(format!(
                "`{tool}` is not installed (apt-get install -y iproute2 nftables iptables)"
            ));
        }
    }
    None
}

/// Removes beds whose test process is gone.
fn sweep() {
    let Ok(dir) = std::fs::read_dir("/run") else {
        return;
    };
    for entry in dir.flatten() {
        let file = entry.file_name().to_string_lossy().to_string();
        let Some(bed) = file.strip_prefix("minispark-hosts-t") else {
            continue;
        };
        let alive = bed
            .split_once('g')
            .and_then(|(pid, _)| u32::from_str_radix(pid, 16).ok())
            .is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if !alive {
            let _ = Command::new(script())
                .args(["down", &format!("t{bed}")])
                .output();
        }
    }
}

impl Bed {
    /// A bed with `workers` worker hosts (and host 0 for the master), or
    /// `None` (with a message) where this machine cannot make one.
    pub fn up(workers: usize) -> Option<Bed> {
        if let Some(why) = missing() {
            assert!(
                std::env::var("MINISPARK_HOSTS_TEST").as_deref() != Ok("require"),
                "MINISPARK_HOSTS_TEST=require but the multi-host bed cannot be made: {why}"
            );
            eprintln!("skipped: the multi-host test bed needs root, ip, nft and iptables: {why}");
            return None;
        }
        sweep();
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let name = format!("t{pid:x}g{n}");
        assert!(name.len() <= 10, "bed name {name} too long");
        // A subnet no interface of this machine uses yet.
        let used = String::from_utf8_lossy(
            &Command::new("ip")
                .args(["-br", "addr"])
                .output()
                .expect("ip -br addr")
                .stdout,
        )
        .to_string();
        let net = (0..150)
            .map(|i| 100 + (pid as usize + n as usize * 7 + i) % 150)
            .find(|net| !used.contains(&format!("10.{net}.0.")))
            .expect("a free 10.N.0.0/24 subnet");
        hosts_sh(&["up", &name, &workers.to_string(), &net.to_string()]);
        Some(Bed {
            name,
            hosts: workers + 1,
        })
    }

    /// Host `h`'s IP address (0 is the master's host).
    pub fn ip(&self, h: usize) -> String {
        hosts_sh(&["ip", &self.name, &h.to_string()])
    }

    /// Host `h`'s namespace.
    pub fn ns(&self, h: usize) -> String {
        format!("{}-h{h}", self.name)
    }

    /// Applies a fault: `fault(&["split", "1", "2"])`, `fault(&["loss", "5"])`.
    pub fn fault(&self, args: &[&str]) {
        let mut all = vec![args[0], &self.name];
        all.extend_from_slice(&args[1..]);
        hosts_sh(&all);
    }

    /// A master on host 0, on a port the OS picks, with its own state dir.
    pub fn master(&self, state: &Path, extra: &[&str]) -> Proc {
        let ip = self.ip(0);
        let mut args = vec!["--port", "0", "--bind", &ip, "--state-dir", path(state)];
        args.extend_from_slice(extra);
        Proc::start_in(Some(&self.ns(0)), "master", &args)
    }

    /// A worker on host `h` bound to its IP, with `work` as its work dir.
    pub fn worker(&self, h: usize, master: &str, work: &Path, extra: &[&str]) -> Proc {
        let ip = self.ip(h);
        let mut args = vec!["--master", master, "--bind", &ip, "--work-dir", path(work)];
        args.extend_from_slice(extra);
        Proc::start_in(Some(&self.ns(h)), "worker", &args)
    }
}

impl Drop for Bed {
    fn drop(&mut self) {
        let _ = Command::new(script()).args(["down", &self.name]).output();
    }
}
