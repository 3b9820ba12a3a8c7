//! The `Host` check: a server on loopback answers only requests addressed to it by name,
//! so that a web page whose domain is re-pointed at 127.0.0.1 (DNS rebinding) cannot use
//! the browser to drive it. A request with more than one `Host` is refused on every
//! server, whether or not it checks the names.

use axum::extract::Request;
use axum::http::{StatusCode, header};

use crate::ServeOptions;
use crate::error::ApiError;

/// `Err` (400) when the request has more than one `Host` header: RFC 9112 (section 3.2)
/// makes such a request invalid, whichever value comes first and whether or not the names
/// are checked (a proxy and this server could each read a different one).
pub(crate) fn single_host(request: &Request) -> Result<(), ApiError> {
    let count = request.headers().get_all(header::HOST).iter().count();
    if count > 1 {
        return Err(ApiError::bad_request(format!(
            "the request has more than one `Host` header ({count}); send exactly one"
        )));
    }
    Ok(())
}

/// The `Host` values a server answers.
#[derive(Debug)]
pub(crate) struct AllowedHosts {
    /// The server's port, which the names of `local` must come with.
    port: u16,
    /// Names answered on the server's port: the loopback names and its own address.
    local: Vec<String>,
    /// Names from the options, each with any port or the one given.
    extra: Vec<(String, Option<u16>)>,
}

impl AllowedHosts {
    /// The check for `opts` (at `opts.addr`), or `None` when every `Host` is answered: a
    /// `*` among the allowed hosts, or a non-loopback address with none given.
    pub(crate) fn for_options(opts: &ServeOptions) -> Option<Self> {
        if opts.allowed_hosts.iter().any(|h| h.trim() == "*") {
            return None;
        }
        let loopback = opts.addr.ip().is_loopback();
        if !loopback && opts.allowed_hosts.is_empty() {
            return None;
        }
        let mut local = vec![match opts.addr.ip() {
            std::net::IpAddr::V4(ip) => ip.to_string(),
            std::net::IpAddr::V6(ip) => format!("[{ip}]"),
        }];
        if loopback {
            local.extend(["localhost", "127.0.0.1", "[::1]"].map(String::from));
        }
        let extra = opts
            .allowed_hosts
            .iter()
            .filter_map(|h| split_host(h))
            .collect();
        Some(Self {
            port: opts.addr.port(),
            local,
            extra,
        })
    }

    /// `Ok` when the request's `Host` (or absolute URI) names this server; a 421 otherwise.
    pub(crate) fn check(&self, request: &Request) -> Result<(), ApiError> {
        let given = request
            .headers()
            .get(header::HOST)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .or_else(|| request.uri().authority().map(|a| a.as_str().to_string()));
        let Some(given) = given else {
            return Err(self.refusal("no `Host` header"));
        };
        let allowed = split_host(&given).is_some_and(|(host, port)| {
            let port_or_default = port.unwrap_or(80);
            (self.local.contains(&host) && port_or_default == self.port)
                || self
                    .extra
                    .iter()
                    .any(|(h, p)| *h == host && p.is_none_or(|p| p == port_or_default))
        });
        if allowed {
            Ok(())
        } else {
            Err(self.refusal(&format!("the `Host` `{given}` is not this server's")))
        }
    }

    fn refusal(&self, what: &str) -> ApiError {
        let mut names: Vec<String> = self
            .local
            .iter()
            .skip(1)
            .map(|h| format!("{h}:{}", self.port))
            .collect();
        names.extend(self.extra.iter().map(|(h, p)| match p {
            Some(p) => format!("{h}:{p}"),
            None => h.clone(),
        }));
        if names.is_empty() {
            names.push(format!("{}:{}", self.local[0], self.port));
        }
        ApiError::new(
            StatusCode::MISDIRECTED_REQUEST,
            format!(
                "{what}: this server answers {} (a page on another site may be trying to \
                 reach it; to serve another name, add it to the allowed hosts)",
                names.join(", ")
            ),
        )
    }
}

/// `host[:port]` split into the lower-cased host (IPv6 in brackets) and its port; `None`
/// when it is not of that shape.
fn split_host(s: &str) -> Option<(String, Option<u16>)> {
    let s = s.trim();
    let (host, port) = if s.starts_with('[') {
        let end = s.find(']')?;
        let rest = &s[end + 1..];
        let port = match rest.strip_prefix(':') {
            Some(p) => Some(p),
            None if rest.is_empty() => None,
            None => return None,
        };
        (&s[..=end], port)
    } else {
        match s.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        }
    };
    if host.is_empty() {
        return None;
    }
    let port = match port {
        Some(p) => Some(p.parse::<u16>().ok()?),
        None => None,
    };
    Some((host.to_ascii_lowercase(), port))
}
