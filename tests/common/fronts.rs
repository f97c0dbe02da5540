//! Network fronts that let a test see connections: `tests/peers/h2front.sh` (Debian's nginx as
//! an HTTP/2 TLS front to the HTTP/1.1-only Python peers, logging each request's connection)
//! and `tests/peers/delay_proxy.py` (a TCP proxy that logs every connection it forwards and can
//! add latency). Both are stopped on drop.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::peers::Peers;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/peers")
        .join(name)
}

/// One request as an [`H2Front`] logged it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrontRequest {
    /// The front's port (which upstream it went to).
    pub port: u16,
    /// nginx's serial number of the client connection.
    pub connection: u64,
    /// `HTTP/2.0` or `HTTP/1.1`.
    pub protocol: String,
    pub method: String,
    pub uri: String,
    pub status: u16,
}

/// nginx fronting HTTPS peers with HTTP/2 and HTTP/1.1 (one front per upstream).
pub struct H2Front {
    /// `https://127.0.0.1:PORT` of each front, in the order of the upstreams given.
    pub urls: Vec<String>,
    dir: tempfile::TempDir,
}

impl H2Front {
    /// Starts one front per `upstreams` URL (`https://127.0.0.1:PORT`), presenting the peers'
    /// test certificate; panics with nginx's error log if it does not start.
    pub fn start(peers: &Peers, upstreams: &[&str]) -> H2Front {
        let dir = tempfile::Builder::new()
            .prefix("h2front-")
            .tempdir()
            .unwrap();
        let out = Command::new("bash")
            .arg(script("h2front.sh"))
            .arg(dir.path())
            .arg(peers.path("TLS_CERT"))
            .arg(peers.path("TLS_KEY"))
            .args(upstreams)
            .output()
            .expect("run tests/peers/h2front.sh");
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "h2front.sh failed: {}\n{}\nerror.log: {}",
            String::from_utf8_lossy(&out.stderr),
            stdout,
            std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
        );
        let urls: Vec<String> = stdout
            .lines()
            .filter_map(|l| l.split_once('=').map(|(_, v)| v.to_string()))
            .collect();
        assert_eq!(urls.len(), upstreams.len(), "h2front.sh printed {stdout}");
        H2Front { urls, dir }
    }

    /// Every request logged so far.
    pub fn requests(&self) -> Vec<FrontRequest> {
        let log = std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default();
        log.lines()
            .map(|l| {
                let f: Vec<&str> = l.split(' ').collect();
                assert_eq!(f.len(), 6, "unexpected access log line {l:?}");
                FrontRequest {
                    port: f[0].parse().unwrap(),
                    connection: f[1].parse().unwrap(),
                    protocol: f[2].to_string(),
                    method: f[3].to_string(),
                    uri: f[4].to_string(),
                    status: f[5].parse().unwrap(),
                }
            })
            .collect()
    }

    /// The requests that went through the front at `url`.
    pub fn requests_to(&self, url: &str) -> Vec<FrontRequest> {
        let port: u16 = url.rsplit(':').next().unwrap().parse().unwrap();
        self.requests()
            .into_iter()
            .filter(|r| r.port == port)
            .collect()
    }

    /// The distinct client connections the requests at `url` came on.
    pub fn connections_to(&self, url: &str) -> BTreeSet<u64> {
        self.requests_to(url).iter().map(|r| r.connection).collect()
    }
}

impl Drop for H2Front {
    fn drop(&mut self) {
        if let Ok(pid) = std::fs::read_to_string(self.dir.path().join("nginx.pid")) {
            let _ = Command::new("kill").arg(pid.trim()).status();
        }
    }
}

/// A TCP proxy in front of one `host:port`, logging each connection.
pub struct TcpProxy {
    /// `127.0.0.1:PORT` to connect to instead of the target.
    pub addr: String,
    child: Child,
    dir: tempfile::TempDir,
}

impl TcpProxy {
    /// Proxies to `target`, holding each client->server chunk `delay_ms` (0: none).
    pub fn start(target: &str, delay_ms: u64) -> TcpProxy {
        let dir = tempfile::Builder::new()
            .prefix("tcpproxy-")
            .tempdir()
            .unwrap();
        let ready = dir.path().join("port");
        let child = Command::new("python3")
            .arg(script("delay_proxy.py"))
            .args(["--target", target, "--delay-ms", &delay_ms.to_string()])
            .arg("--ready-file")
            .arg(&ready)
            .arg("--log")
            .arg(dir.path().join("conn.log"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start tests/peers/delay_proxy.py");
        let start = Instant::now();
        let port = loop {
            if let Ok(p) = std::fs::read_to_string(&ready) {
                break p.trim().to_string();
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "delay_proxy.py did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        TcpProxy {
            addr: format!("127.0.0.1:{port}"),
            child,
            dir,
        }
    }

    /// How many client connections were opened through the proxy so far.
    pub fn connections_opened(&self) -> usize {
        std::fs::read_to_string(self.dir.path().join("conn.log"))
            .unwrap_or_default()
            .lines()
            .filter(|l| l.ends_with(" open"))
            .count()
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
