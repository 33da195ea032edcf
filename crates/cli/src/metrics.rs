//! `--metrics ADDR`: the instance's counters over HTTP in Prometheus text format, for the
//! monitoring people already run. Just enough HTTP/1.1 for a scraper: `GET /metrics`.

use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::time::Duration;

use eventcast::Eventcast;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// The largest request head read; scrapers send a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;
/// A client gets this long to send its request and take the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(5);
/// Scrapes served at once; more wait in the accept queue.
const MAX_CONCURRENT: usize = 16;

/// A running metrics server; dropping it stops it.
pub struct Server {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the server answers `GET /metrics` with: the exposition text, made when scraped.
type Source = std::sync::Arc<dyn Fn() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync>;

impl Server {
    /// Serves the counters of `ec`.
    pub fn start(ec: Eventcast, addr: SocketAddr) -> eventcast::Result<Server> {
        Self::start_with(addr, move || {
            let ec = ec.clone();
            Box::pin(async move { ec.stats().await.to_prometheus() })
        })
    }

    /// Serves what `source` makes.
    pub fn start_with(
        addr: SocketAddr,
        source: impl Fn() -> Pin<Box<dyn Future<Output = String> + Send>> + Send + Sync + 'static,
    ) -> eventcast::Result<Server> {
        let source: Source = std::sync::Arc::new(source);
        let listener = std::net::TcpListener::bind(addr)
            .and_then(|l| l.set_nonblocking(true).map(|()| l))
            .and_then(TcpListener::from_std)
            .map_err(|e| eventcast::Error::InvalidOption {
                option: "metrics",
                value: addr.to_string(),
                allowed: format!("an address and free port of this host to listen on ({e})"),
            })?;
        let addr = listener.local_addr().unwrap_or(addr);
        let slots = std::sync::Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT));
        let task = tokio::spawn(async move {
            loop {
                let Ok(permit) = slots.clone().acquire_owned().await else { return };
                let Ok((stream, _)) = listener.accept().await else {
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                };
                let source = source.clone();
                tokio::spawn(async move {
                    let _ = tokio::time::timeout(CLIENT_TIMEOUT, serve(stream, &source)).await;
                    drop(permit);
                });
            }
        });
        Ok(Server { addr, task })
    }
}

async fn serve(mut stream: TcpStream, source: &Source) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && !head.windows(2).any(|w| w == b"\n\n") {
        let n = stream.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            break;
        }
        head.extend_from_slice(&buf[..n]);
    }
    let request_line = String::from_utf8_lossy(&head);
    let mut words = request_line.split_whitespace();
    let (status, body) = match (words.next(), words.next()) {
        (Some("GET"), Some("/metrics")) => ("200 OK", source().await),
        (Some("GET"), Some("/")) => ("200 OK", "eventcast metrics: GET /metrics\n".to_owned()),
        (Some("GET"), _) => ("404 Not Found", "not found: GET /metrics\n".to_owned()),
        _ => ("405 Method Not Allowed", "only GET /metrics\n".to_owned()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await
}
