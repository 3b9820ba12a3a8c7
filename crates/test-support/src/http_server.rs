//! A tiny HTTP/1.1 server on 127.0.0.1 for download tests: serves fixed routes, honours
//! `Range`, and can drop a connection midway, fail, or hang. Shared by spam-data's tests and
//! the xtask's, so both test against the same server.

#![allow(clippy::unwrap_used)] // test support: a panic is the failure report

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What the server answers.
#[derive(Debug, Clone)]
pub enum Route {
    /// The body, honouring `Range`.
    File(Vec<u8>),
    /// Like `File`, but the first request sends only the first `n` bytes and drops the connection.
    DropFirst(Vec<u8>, usize),
    /// A status without body.
    Status(u16),
    /// `Status` for the first `n` requests, then `File`.
    FailFirst(u16, usize, Vec<u8>),
    /// Accept and say nothing.
    Hang,
    /// Like `File`, with extra response headers (the hub's `X-Repo-Commit`, `ETag`, ...).
    Headers(Vec<(String, String)>, Vec<u8>),
    /// A redirect (`status`, `Location`) with extra headers, as the hub answers for a large
    /// file stored elsewhere.
    Redirect(u16, String, Vec<(String, String)>),
    /// A body with no announced length that keeps coming: the chunk, over and over, until
    /// the client hangs up (bounded at 256 MiB so a failing test still ends).
    Endless(Vec<u8>),
}

/// One request as received: method, path and headers (names lowercased).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `GET`, `HEAD`, ...
    pub method: String,
    /// The request target (path and query).
    pub path: String,
    /// Every header, name lowercased, value trimmed.
    pub headers: Vec<(String, String)>,
}

impl Request {
    /// The value of header `name` (lowercase), if sent.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// (path, Range header) of every request, in order.
pub type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

/// A running server; it lives (on its own threads) until the test process ends.
#[derive(Debug)]
pub struct Server {
    /// `http://127.0.0.1:PORT`, without a trailing slash.
    pub base: String,
    /// Every request received so far.
    pub log: RequestLog,
    /// Every request received so far, with its method and headers.
    pub requests: Arc<Mutex<Vec<Request>>>,
}

impl Server {
    /// Binds a free port on 127.0.0.1 and serves `routes` (path → answer; others get 404).
    pub fn start(routes: Vec<(&str, Route)>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let routes: Arc<HashMap<String, Route>> = Arc::new(
            routes
                .into_iter()
                .map(|(p, r)| (p.to_string(), r))
                .collect(),
        );
        let log = Arc::new(Mutex::new(Vec::new()));
        let requests = Arc::new(Mutex::new(Vec::new()));
        let log2 = Arc::clone(&log);
        let requests2 = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                let routes = Arc::clone(&routes);
                let log = Arc::clone(&log2);
                let requests = Arc::clone(&requests2);
                std::thread::spawn(move || handle(stream, &routes, &log, &requests));
            }
        });
        Server {
            base,
            log,
            requests,
        }
    }

    /// Every request so far, in order.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// The full URL of `path` (which starts with `/`).
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// The `Range` header of every request for `path`, in order (`None`: no `Range`).
    pub fn hits(&self, path: &str) -> Vec<Option<String>> {
        self.log
            .lock()
            .unwrap()
            .iter()
            .filter(|(p, _)| p == path)
            .map(|(_, r)| r.clone())
            .collect()
    }
}

fn handle(
    mut stream: TcpStream,
    routes: &HashMap<String, Route>,
    log: &Mutex<Vec<(String, Option<String>)>>,
    requests: &Mutex<Vec<Request>>,
) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut first = String::new();
    if reader.read_line(&mut first).is_err() {
        return;
    }
    let method = first.split_whitespace().next().unwrap_or("GET").to_string();
    let path = first.split_whitespace().nth(1).unwrap_or("/").to_string();
    let mut range = None;
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
            break;
        }
        if let Some((k, v)) = line.split_once(':') {
            if k.eq_ignore_ascii_case("range") {
                range = Some(v.trim().to_string());
            }
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let head = method == "HEAD";
    requests.lock().unwrap().push(Request {
        method,
        path: path.clone(),
        headers,
    });
    let nth = {
        let mut log = log.lock().unwrap();
        log.push((path.clone(), range.clone()));
        log.iter().filter(|(p, _)| *p == path).count()
    };
    let start: u64 = range
        .as_deref()
        .and_then(|r| r.strip_prefix("bytes="))
        .and_then(|r| r.trim_end_matches('-').parse().ok())
        .unwrap_or(0);
    let send_file = |stream: &mut TcpStream, body: &[u8], cut: Option<usize>, extra: &str| {
        let start = start as usize;
        if start > 0 {
            if start >= body.len() {
                let _ = write!(
                    stream,
                    "HTTP/1.1 416 Range Not Satisfiable\r\nContent-Range: bytes */{}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                return;
            }
            let _ = write!(
                stream,
                "HTTP/1.1 206 Partial Content\r\nContent-Range: bytes {start}-{}/{}\r\nContent-Length: {}\r\n{extra}Connection: close\r\n\r\n",
                body.len() - 1,
                body.len(),
                body.len() - start
            );
        } else {
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nAccept-Ranges: bytes\r\n{extra}Connection: close\r\n\r\n",
                body.len()
            );
        }
        if head {
            return;
        }
        let end = cut.map_or(body.len(), |c| c.min(body.len()));
        let _ = stream.write_all(&body[start.min(end)..end]);
        let _ = stream.flush();
    };
    match routes.get(&path) {
        None => {
            let _ = write!(
                stream,
                "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        Some(Route::Status(code)) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {code} Nope\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
            );
        }
        Some(Route::File(body)) => send_file(&mut stream, body, None, ""),
        Some(Route::DropFirst(body, n)) => {
            send_file(&mut stream, body, (nth == 1).then_some(*n), "")
        }
        Some(Route::Headers(extra, body)) => {
            send_file(&mut stream, body, None, &header_lines(extra))
        }
        Some(Route::Redirect(code, location, extra)) => {
            let _ = write!(
                stream,
                "HTTP/1.1 {code} Redirect\r\nLocation: {location}\r\n{}Content-Length: 0\r\nConnection: close\r\n\r\n",
                header_lines(extra)
            );
        }
        Some(Route::FailFirst(code, n, body)) => {
            if nth <= *n {
                let _ = write!(
                    stream,
                    "HTTP/1.1 {code} Busy\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
                );
            } else {
                send_file(&mut stream, body, None, "");
            }
        }
        Some(Route::Hang) => std::thread::sleep(Duration::from_secs(5)),
        Some(Route::Endless(chunk)) => send_endless(&mut stream, chunk, head),
    }
    let _ = stream.shutdown(std::net::Shutdown::Both);
}

/// [`Route::Endless`]: no announced length, the chunk over and over (bounded at 256 MiB).
fn send_endless(stream: &mut TcpStream, chunk: &[u8], head: bool) {
    let _ = write!(stream, "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n");
    let mut sent = 0usize;
    while !head && !chunk.is_empty() && sent < 256 << 20 {
        if stream.write_all(chunk).is_err() {
            break;
        }
        sent += chunk.len();
    }
}

fn header_lines(headers: &[(String, String)]) -> String {
    headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect()
}
