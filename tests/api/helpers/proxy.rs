//! A TCP proxy that a test can cut and restore, to take a database away from a server and bring
//! it back.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use url::Url;

pub struct Proxy {
    pub port: u16,
    open: Arc<AtomicBool>,
    connections: Arc<Mutex<Vec<JoinHandle<()>>>>,
    accept: JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: SocketAddr) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let connections: Arc<Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let accept = tokio::spawn({
            let (open, connections) = (open.clone(), connections.clone());
            async move {
                while let Ok((mut client, _)) = listener.accept().await {
                    if !open.load(Ordering::SeqCst) {
                        drop(client);
                        continue;
                    }
                    let relay = tokio::spawn(async move {
                        if let Ok(mut server) = TcpStream::connect(target).await {
                            let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                        }
                    });
                    connections.lock().unwrap().push(relay);
                }
            }
        });
        Proxy {
            port,
            open,
            connections,
            accept,
        }
    }

    /// Drops every open connection and refuses new ones, as a database going away does.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        for relay in self.connections.lock().unwrap().drain(..) {
            relay.abort();
        }
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.accept.abort();
        self.cut();
    }
}

/// The address a database URL points at (PostgreSQL's port when it names none).
pub fn target(url: &str) -> SocketAddr {
    let url = Url::parse(url).expect("a database URL");
    let host = match url.host_str().expect("a host in the database URL") {
        "localhost" => "127.0.0.1",
        host => host,
    };
    let port = url.port().unwrap_or(5432);
    format!("{host}:{port}")
        .parse()
        .expect("a numeric host in TEST_DATABASE_URL")
}

/// `url` with its host and port replaced by those of the proxy listening on `port`.
pub fn route_through(url: &str, port: u16) -> String {
    let mut url = Url::parse(url).expect("a database URL");
    url.set_host(Some("127.0.0.1")).expect("a URL with a host");
    url.set_port(Some(port)).expect("a URL with a host");
    url.into()
}

#[test]
fn routing_changes_host_and_port_only() {
    let url = "postgres://u:p@localhost/db?sslmode=disable";
    assert_eq!(target(url), "127.0.0.1:5432".parse().unwrap());
    let routed = "postgres://u:p@127.0.0.1:6000/db?sslmode=disable";
    assert_eq!(route_through(url, 6000), routed);
}
