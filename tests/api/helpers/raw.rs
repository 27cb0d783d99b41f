//! Raw HTTP/1.1 over TCP, for what a well-behaved client never sends: heads and bodies too big,
//! too slow or never finished. It writes and reads at once, so a server that answers before the
//! request has ended is heard.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

/// A connection to the server at `address` (`http://host:port`).
pub struct Raw {
    reader: tokio::net::tcp::OwnedReadHalf,
    writer: Option<OwnedWriteHalf>,
    writing: Option<tokio::task::JoinHandle<()>>,
}

/// What came back: the status, the head as text, the body as text.
#[derive(Debug)]
pub struct RawResponse {
    pub status: u16,
    pub head: String,
    pub body: String,
}

impl Raw {
    pub async fn connect(address: &str) -> Raw {
        let host = address.trim_start_matches("http://");
        let stream = TcpStream::connect(host).await.expect("connect");
        let (reader, writer) = stream.into_split();
        Raw {
            reader,
            writer: Some(writer),
            writing: None,
        }
    }

    /// Writes `bytes` now, ignoring a connection the server already closed.
    pub async fn send(&mut self, bytes: &[u8]) {
        if let Some(writer) = self.writer.as_mut() {
            let _ = writer.write_all(bytes).await;
        }
    }

    /// Writes `chunks` in the background, each after `pause`, stopping at the first write that
    /// fails (the server answered and closed).
    pub fn send_in_background(&mut self, chunks: Vec<Vec<u8>>, pause: Duration) {
        let mut writer = self.writer.take().expect("one background writer");
        self.writing = Some(tokio::spawn(async move {
            for chunk in chunks {
                if writer.write_all(&chunk).await.is_err() {
                    return;
                }
                tokio::time::sleep(pause).await;
            }
            // Keep the connection open: an unfinished request stays unfinished.
            std::future::pending::<()>().await;
        }));
    }

    /// Reads one response: its head, then a body of its `Content-Length`, or up to the close.
    /// Panics if none has come `within`.
    pub async fn response(&mut self, within: Duration) -> RawResponse {
        let read = async {
            let mut bytes = Vec::new();
            let mut buffer = [0u8; 8192];
            loop {
                if let Some(response) = parse(&bytes) {
                    return response;
                }
                match self.reader.read(&mut buffer).await {
                    Ok(0) | Err(_) => {
                        return parse_closed(&bytes).expect("a response before the close");
                    }
                    Ok(n) => bytes.extend_from_slice(&buffer[..n]),
                }
            }
        };
        tokio::time::timeout(within, read)
            .await
            .unwrap_or_else(|_| panic!("no response within {within:?}"))
    }

    /// Waits until the server closes the connection, reading whatever it sends; panics if it is
    /// still open `within`.
    pub async fn assert_closed(&mut self, within: Duration) -> Vec<u8> {
        let started = Instant::now();
        let mut received = Vec::new();
        let mut buffer = [0u8; 8192];
        loop {
            let left = within.saturating_sub(started.elapsed());
            match tokio::time::timeout(left, self.reader.read(&mut buffer)).await {
                Ok(Ok(0) | Err(_)) => return received,
                Ok(Ok(n)) => received.extend_from_slice(&buffer[..n]),
                Err(_) => panic!("the connection is still open after {within:?}"),
            }
        }
    }
}

impl Drop for Raw {
    fn drop(&mut self) {
        if let Some(writing) = self.writing.take() {
            writing.abort();
        }
    }
}

/// A request head for `method path`, with `headers` (`Name: value` lines) and `Host`.
pub fn head(method: &str, path: &str, headers: &[&str]) -> Vec<u8> {
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: localhost\r\n");
    for header in headers {
        head.push_str(header);
        head.push_str("\r\n");
    }
    head.push_str("\r\n");
    head.into_bytes()
}

fn parse(bytes: &[u8]) -> Option<RawResponse> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let length = head.lines().find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse::<usize>().ok())?
    })?;
    let body = bytes.get(end + 4..end + 4 + length)?;
    Some(response(head, body))
}

fn parse_closed(bytes: &[u8]) -> Option<RawResponse> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    Some(response(head, &bytes[end + 4..]))
}

fn response(head: String, body: &[u8]) -> RawResponse {
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let body = String::from_utf8_lossy(body).into_owned();
    RawResponse { status, head, body }
}
