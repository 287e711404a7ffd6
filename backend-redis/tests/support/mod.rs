//! Private redis-server instances on free loopback ports, for the tests.
//!
//! Each server runs under a watchdog shell whose stdin is a pipe from the
//! test process: when the test process exits (however), the pipe closes and
//! the shell kills the server. Nothing outlives the tests.
#![allow(dead_code, unreachable_pub)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// A free loopback port.
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

pub fn have_redis_server() -> bool {
    Command::new("redis-server")
        .arg("--version")
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Whether `redis-server` is on PATH. Without it, a loud `SKIPPED:` line
/// for `what`, or a failure under `CACHESTORE_REQUIRE_SERVICES=1`.
pub fn require_server(what: &str) -> bool {
    if have_redis_server() {
        return true;
    }
    assert!(
        std::env::var("CACHESTORE_REQUIRE_SERVICES").as_deref() != Ok("1"),
        "{what}: no redis-server on PATH, and CACHESTORE_REQUIRE_SERVICES=1 requires it"
    );
    println!("SKIPPED: {what}: no redis-server on PATH");
    false
}

/// A redis-server owned by this test process.
pub struct Server {
    pub port: u16,
    pub dir: PathBuf,
    extra: Vec<String>,
    watchdog: Option<Child>,
}

impl Server {
    /// Starts a server with `extra` arguments; waits until it answers.
    pub fn start(extra: &[&str]) -> Result<Server, String> {
        let dir = std::env::temp_dir().join(format!(
            "cachestore-redis-{}-{}",
            std::process::id(),
            free_port()
        ));
        std::fs::create_dir_all(&dir).map_err(|e| e.to_string())?;
        let mut server = Server {
            port: free_port(),
            dir,
            extra: extra.iter().map(|s| (*s).to_owned()).collect(),
            watchdog: None,
        };
        server.restart()?;
        Ok(server)
    }

    /// Starts (again) on the same port.
    pub fn restart(&mut self) -> Result<(), String> {
        let args = format!(
            "--port {} --bind 127.0.0.1 --save '' --appendonly no --dir {} {}",
            self.port,
            self.dir.display(),
            self.extra.join(" ")
        );
        let script =
            format!("redis-server {args} >/dev/null 2>&1 & pid=$!; cat >/dev/null; kill -9 $pid");
        let child = Command::new("sh")
            .arg("-c")
            .arg(script)
            .stdin(Stdio::piped())
            .spawn()
            .map_err(|e| e.to_string())?;
        self.watchdog = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            let pong = Command::new("redis-cli")
                .args(["-p", &self.port.to_string()])
                .args(self.auth())
                .arg("PING")
                .output();
            if pong.is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("PONG")) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("redis-server on port {} did not start", self.port))
    }

    fn auth(&self) -> Vec<String> {
        match self.extra.iter().position(|a| a == "--requirepass") {
            Some(i) => vec!["-a".into(), self.extra[i + 1].clone(), "--no-auth-warning".into()],
            None => Vec::new(),
        }
    }

    /// Kills the server (SIGKILL) and waits until the port is closed.
    pub fn kill(&mut self) {
        if let Some(mut w) = self.watchdog.take() {
            drop(w.stdin.take());
            let _ = w.wait();
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline
            && std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        {
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn cli(&self, args: &[&str]) -> String {
        let out = Command::new("redis-cli")
            .args(["-p", &self.port.to_string()])
            .args(self.auth())
            .args(args)
            .output();
        out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// One server shared by a test binary: `REDIS_URL` if set, else a private
/// redis-server; `Err` says why there is none.
pub fn shared() -> Result<String, String> {
    static SERVER: OnceLock<Result<(Option<Server>, String), String>> = OnceLock::new();
    let result = SERVER.get_or_init(|| {
        if let Ok(url) = std::env::var("REDIS_URL") {
            return Ok((None, url));
        }
        if !have_redis_server() {
            return Err("no redis-server on PATH and no REDIS_URL".into());
        }
        let server = Server::start(&[])?;
        let url = server.url();
        Ok((Some(server), url))
    });
    result.as_ref().map(|(_, url)| url.clone()).map_err(Clone::clone)
}

/// A 3-master Redis Cluster on loopback, shared by a test binary.
pub fn cluster() -> Result<String, String> {
    static CLUSTER: OnceLock<Result<(Vec<Server>, String), String>> = OnceLock::new();
    let result = CLUSTER.get_or_init(start_cluster);
    result.as_ref().map(|(_, url)| url.clone()).map_err(Clone::clone)
}

/// A new private 3-master Redis Cluster on loopback: its nodes (stopped when
/// dropped) and the URL of one of them.
pub fn start_cluster() -> Result<(Vec<Server>, String), String> {
    if !have_redis_server() {
        return Err("no redis-server on PATH".into());
    }
    let nodes: Vec<Server> = (0..3)
        .map(|_| Server::start(&["--cluster-enabled", "yes", "--cluster-node-timeout", "2000"]))
        .collect::<Result<_, _>>()?;
    let addrs: Vec<String> = nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)).collect();
    let out = Command::new("redis-cli")
        .arg("--cluster")
        .arg("create")
        .args(&addrs)
        .args(["--cluster-replicas", "0", "--cluster-yes"])
        .stdin(Stdio::piped())
        .output()
        .map_err(|e| format!("redis-cli --cluster create: {e}"))?;
    if !out.status.success() {
        return Err(format!(
            "redis-cli --cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        ));
    }
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if nodes.iter().all(|n| n.cli(&["CLUSTER", "INFO"]).contains("cluster_state:ok")) {
            let url = nodes[0].url();
            return Ok((nodes, url));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    Err("the cluster never reached cluster_state:ok".into())
}

/// A key prefix unique to this process and call, so stores sharing a server
/// start empty.
pub fn unique_prefix() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!("t{}-{}:", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed))
}

/// A private certificate authority and a server certificate it signed for
/// 127.0.0.1, in `dir`: `(ca, cert, key)`.
pub fn tls_certificates(dir: &std::path::Path) -> Result<(String, String, String), String> {
    let path = |name: &str| dir.join(name).display().to_string();
    let (ca_key, ca, key, csr, cert, ext) = (
        path("ca.key"),
        path("ca.pem"),
        path("key.pem"),
        path("req.csr"),
        path("cert.pem"),
        path("ext.cnf"),
    );
    std::fs::write(&ext, "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1\n")
        .map_err(|e| e.to_string())?;
    let steps: [Vec<&str>; 3] = [
        vec![
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=test CA",
            "-keyout",
            &ca_key,
            "-out",
            &ca,
        ],
        vec![
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            &key,
            "-out",
            &csr,
        ],
        vec![
            "x509",
            "-req",
            "-in",
            &csr,
            "-CA",
            &ca,
            "-CAkey",
            &ca_key,
            "-CAcreateserial",
            "-days",
            "1",
            "-extfile",
            &ext,
            "-out",
            &cert,
        ],
    ];
    for args in steps {
        let ok = Command::new("openssl")
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map_err(|e| format!("openssl: {e}"))?;
        if !ok.success() {
            return Err(format!("openssl {} failed", args[0]));
        }
    }
    Ok((ca, cert, key))
}

/// A redis-server with TLS on a port of its own (its plain port stays, for
/// `cli`), its certificate signed by a private authority made in `dir`:
/// the server, the TLS port and the authority's PEM file. `Err` when
/// `openssl` or a TLS-enabled redis-server is missing.
pub fn tls_server(dir: &std::path::Path) -> Result<(Server, u16, String), String> {
    let (ca, cert, key) = tls_certificates(dir)?;
    let port = free_port();
    let tls_port = port.to_string();
    let server = Server::start(&[
        "--tls-port",
        &tls_port,
        "--tls-cert-file",
        &cert,
        "--tls-key-file",
        &key,
        "--tls-auth-clients",
        "no",
    ])?;
    Ok((server, port, ca))
}

/// [`tls_server`], or `None` after a loud `SKIPPED:` line for `what` (a
/// failure under `CACHESTORE_REQUIRE_SERVICES=1`).
pub fn require_tls_server(what: &str, dir: &std::path::Path) -> Option<(Server, u16, String)> {
    if !require_server(what) {
        return None;
    }
    match tls_server(dir) {
        Ok(found) => Some(found),
        Err(why) => {
            assert!(
                std::env::var("CACHESTORE_REQUIRE_SERVICES").as_deref() != Ok("1"),
                "{what}: {why}, and CACHESTORE_REQUIRE_SERVICES=1 requires it"
            );
            println!("SKIPPED: {what}: {why}");
            None
        }
    }
}
