//! The two HTTP/1.1 requests Tang answers (`GET /adv`, `POST /rec/<kid>`), over plain TCP, with
//! one deadline for the whole request and a size limit on the answer. Responses are parsed by
//! `httparse`; anything but `200` with a `Content-Length` body is refused.

use crate::bail;
use crate::error::{Context, Error, Result};
use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

/// Tang's answers are a few KiB; anything larger is not Tang.
const MAX_RESPONSE: usize = 64 * 1024;
const MAX_HEADERS: usize = 32;

/// `http://HOST[:PORT][/PATH]` split into where to connect and the path prefix.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Url {
    pub host: String,
    pub port: u16,
    /// The path without a trailing `/` (`""` for the root), as clevis joins `$url/adv`.
    pub base: String,
}

impl Url {
    pub(crate) fn parse(url: &str) -> Result<Url> {
        // The URL comes from the JWE header and goes into the request line: nothing but
        // visible ASCII, so it cannot smuggle a header or a second request.
        if !url.bytes().all(|b| b.is_ascii_graphic()) {
            bail!("the URL has spaces, control or non-ASCII characters");
        }
        let Some(rest) = url.strip_prefix("http://") else {
            if url.starts_with("https://") {
                bail!("https is not supported (Tang serves plain HTTP; its answers are signed)");
            }
            bail!("not an http:// URL");
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        if authority.contains('@') || path.contains(['?', '#', ' ']) {
            bail!("unsupported URL form (user info, query or fragment)");
        }
        let (host, port) = split_host_port(authority)?;
        if host.is_empty() {
            bail!("no host");
        }
        Ok(Url { host, port, base: path.trim_end_matches('/').to_string() })
    }

    fn host_header(&self) -> String {
        let host = if self.host.contains(':') { format!("[{}]", self.host) } else { self.host.clone() };
        if self.port == 80 {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }

    fn addresses(&self) -> Result<Vec<SocketAddr>> {
        if let Ok(ip) = self.host.parse::<IpAddr>() {
            return Ok(vec![SocketAddr::new(ip, self.port)]);
        }
        let found = (self.host.as_str(), self.port)
            .to_socket_addrs()
            .map_err(|e| Error::msg(format!("resolving {}: {e}", self.host)))?;
        Ok(found.collect())
    }
}

fn split_host_port(authority: &str) -> Result<(String, u16)> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let Some((host, after)) = v6.split_once(']') else { bail!("unclosed [ in the host") };
        match after {
            "" => (host, None),
            _ => match after.strip_prefix(':') {
                Some(p) => (host, Some(p)),
                None => bail!("junk after ]"),
            },
        }
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => 80,
        Some(p) => {
            p.parse::<u16>().ok().filter(|p| *p > 0).ok_or_else(|| Error::msg(format!("bad port {p:?}")))?
        }
    };
    Ok((host.to_string(), port))
}

/// `GET <base><path>`; returns the body of a `200` answer.
pub(crate) fn get(url: &Url, path: &str, timeout: Duration) -> Result<Vec<u8>> {
    let head = format!(
        "GET {}{path} HTTP/1.1\r\nHost: {}\r\nAccept: application/jose+json\r\nConnection: close\r\n\r\n",
        url.base,
        url.host_header()
    );
    exchange(url, head.as_bytes(), timeout).with_context(|| format!("GET {}{path}", url.base))
}

/// `POST <base><path>` with a JSON body; returns the body of a `200` answer.
pub(crate) fn post(
    url: &Url,
    path: &str,
    content_type: &str,
    body: &[u8],
    timeout: Duration,
) -> Result<Vec<u8>> {
    let mut request = format!(
        "POST {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        url.base,
        url.host_header(),
        body.len()
    )
    .into_bytes();
    request.extend_from_slice(body);
    exchange(url, &request, timeout).with_context(|| format!("POST {}{path}", url.base))
}

fn exchange(url: &Url, request: &[u8], timeout: Duration) -> Result<Vec<u8>> {
    let deadline = Instant::now() + timeout;
    let mut stream = connect(url, deadline)?;
    stream.set_write_timeout(Some(remaining(deadline)?))?;
    stream.write_all(request).map_err(|e| timed_out(e, "sending the request", timeout))?;
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 4096];
    loop {
        if let Some(body) = parse_response(&buf)? {
            return Ok(body);
        }
        stream.set_read_timeout(Some(remaining(deadline).map_err(|_| no_answer(timeout))?))?;
        let n = match stream.read(&mut chunk) {
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(timed_out(e, "reading the answer", timeout)),
        };
        if n == 0 {
            bail!("the server closed the connection before a complete answer ({} bytes)", buf.len());
        }
        if buf.len() + n > MAX_RESPONSE {
            bail!("the answer is larger than {} KiB", MAX_RESPONSE / 1024);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn connect(url: &Url, deadline: Instant) -> Result<TcpStream> {
    let mut last = None;
    for addr in url.addresses()? {
        match TcpStream::connect_timeout(&addr, remaining(deadline)?) {
            Ok(s) => return Ok(s),
            Err(e) => last = Some(format!("connecting to {addr}: {e}")),
        }
    }
    Err(Error::msg(last.unwrap_or_else(|| format!("{} has no address", url.host))))
}

fn remaining(deadline: Instant) -> Result<Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        bail!("timed out");
    }
    Ok(left)
}

fn no_answer(timeout: Duration) -> Error {
    Error::msg(format!("no complete answer within {} s", timeout.as_secs_f32()))
}

fn timed_out(e: std::io::Error, what: &str, timeout: Duration) -> Error {
    match e.kind() {
        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => no_answer(timeout),
        _ => Error::msg(format!("{what}: {e}")),
    }
}

/// `Ok(None)` while the answer is incomplete; the body once it is whole.
pub(crate) fn parse_response(buf: &[u8]) -> Result<Option<Vec<u8>>> {
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut response = httparse::Response::new(&mut headers);
    let head_len = match response.parse(buf) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(e) => bail!("not an HTTP answer: {e}"),
    };
    let code = response.code.unwrap_or(0);
    if code != 200 {
        bail!("the server answered {code} {}", response.reason.unwrap_or(""));
    }
    let mut length = None;
    for h in response.headers.iter() {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            bail!("unsupported Transfer-Encoding in the answer");
        }
        if h.name.eq_ignore_ascii_case("content-length") {
            let n = std::str::from_utf8(h.value).ok().and_then(|v| v.trim().parse::<usize>().ok());
            match n {
                Some(n) if length.is_none() || length == Some(n) => length = Some(n),
                _ => bail!("bad Content-Length in the answer"),
            }
        }
    }
    let Some(length) = length else { bail!("the answer has no Content-Length") };
    if length > MAX_RESPONSE {
        bail!("the answer is larger than {} KiB", MAX_RESPONSE / 1024);
    }
    let body = &buf[head_len..];
    if body.len() < length {
        return Ok(None);
    }
    if body.len() > length {
        bail!("the answer has {} bytes after its body", body.len() - length);
    }
    Ok(Some(body.to_vec()))
}
