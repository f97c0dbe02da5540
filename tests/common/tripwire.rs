//! A listener that records whether anything connected to it: proof that a command made no
//! request to a registry, store or API server.

use std::net::TcpListener;

/// A bound, never-answering TCP port.
pub struct Tripwire(TcpListener);

impl Tripwire {
    /// Binds a free loopback port.
    pub fn new() -> Tripwire {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        l.set_nonblocking(true).unwrap();
        Tripwire(l)
    }

    /// `127.0.0.1:PORT`.
    pub fn addr(&self) -> String {
        self.0.local_addr().unwrap().to_string()
    }

    /// Whether a connection was made.
    pub fn touched(&self) -> bool {
        self.0.accept().is_ok()
    }
}
