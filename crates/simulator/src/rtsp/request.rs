//! The RTSP 1.0 request parser of the simulated camera. It reads untrusted bytes from the
//! network, so it never panics, never allocates beyond [`MAX_HEADER`] + [`MAX_BODY`], and tells
//! "need more bytes" from "this is not RTSP" (property tests feed it arbitrary input).
//!
//! Besides requests, a client in TCP-interleaved mode sends `$`-framed RTP/RTCP packets on the
//! same connection (RFC 2326 §10.12): the parser reports their header and the caller skips the
//! payload, so a large packet never has to fit in the request buffer.

/// Most bytes of a request line plus headers (a flood of headers is refused, not buffered).
pub const MAX_HEADER: usize = 8 * 1024;
/// Largest request body accepted (GET_PARAMETER may carry a small one).
pub const MAX_BODY: usize = 4 * 1024;
/// Most header lines in one request.
const MAX_HEADERS: usize = 64;

/// What arrived.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// A request.
    Request(Request),
    /// The 4-byte header of an interleaved packet; `len` payload bytes follow.
    Interleaved {
        /// The channel (RTP or RTCP of a track).
        channel: u8,
        /// Payload length.
        len: usize,
    },
}

/// Why bytes are not a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    /// Header or body over the limits (answered 400 and closed: the threat is memory
    /// exhaustion by one connection).
    #[error("request too large")]
    TooLarge,
    /// Not an RTSP request.
    #[error("malformed request")]
    Malformed,
    /// An RTSP version other than 1.0 (answered 505).
    #[error("unsupported RTSP version")]
    Version,
}

/// One parsed request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// `OPTIONS`, `DESCRIBE`, …
    pub method: String,
    /// The request URI as sent (`rtsps://host:port/streaming/live/1`, or `*`).
    pub uri: String,
    /// Header lines in order (names as sent).
    pub headers: Vec<(String, String)>,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

impl Request {
    /// The first header of that name (case-insensitive).
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// `CSeq`, which every response must echo.
    #[must_use]
    pub fn cseq(&self) -> Option<u32> {
        self.header("CSeq")?.trim().parse().ok()
    }

    /// The URI's path without scheme, authority and query (`/streaming/live/1`), `*` for `*`;
    /// `None` for a URI that is neither.
    #[must_use]
    pub fn path(&self) -> Option<&str> {
        let uri = self.uri.as_str();
        if uri == "*" {
            return Some(uri);
        }
        let after_scheme = ["rtsp://", "rtsps://"].iter().find_map(|scheme| {
            uri.get(..scheme.len())
                .filter(|s| s.eq_ignore_ascii_case(scheme))
                .and_then(|_| uri.get(scheme.len()..))
        });
        let rest = match after_scheme {
            // The path starts at the first `/` after the authority (none: the root).
            Some(after) => after.find('/').and_then(|i| after.get(i..)).unwrap_or("/"),
            None if uri.starts_with('/') => uri,
            None => return None,
        };
        Some(rest.split(['?', '#']).next().unwrap_or(rest))
    }
}

fn is_token(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

/// Parses the next message at the start of `buf`: `Ok(None)` when more bytes are needed, else
/// the message and how many bytes it used (an interleaved packet: its 4-byte header only).
/// Blank lines between messages are skipped (counted in the bytes used).
pub fn parse(buf: &[u8]) -> Result<Option<(Incoming, usize)>, ParseError> {
    let skip = buf
        .iter()
        .position(|b| *b != b'\r' && *b != b'\n')
        .unwrap_or(buf.len());
    let rest = &buf[skip..];
    let Some(&first) = rest.first() else {
        return Ok(None);
    };
    if first == b'$' {
        let Some(header) = rest.get(..4) else {
            return Ok(None);
        };
        let len = usize::from(u16::from_be_bytes([header[2], header[3]]));
        return Ok(Some((
            Incoming::Interleaved {
                channel: header[1],
                len,
            },
            skip + 4,
        )));
    }
    let window = &rest[..rest.len().min(MAX_HEADER)];
    let Some(end) = window.windows(4).position(|w| w == b"\r\n\r\n") else {
        return if rest.len() >= MAX_HEADER {
            Err(ParseError::TooLarge)
        } else {
            Ok(None)
        };
    };
    let head = std::str::from_utf8(&rest[..end]).map_err(|_| ParseError::Malformed)?;
    let mut lines = head.split("\r\n");
    let line = lines.next().ok_or(ParseError::Malformed)?;
    let mut parts = line.split(' ');
    let (Some(method), Some(uri), Some(version), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(ParseError::Malformed);
    };
    if !is_token(method) || uri.is_empty() || uri.bytes().any(|b| b.is_ascii_control()) {
        return Err(ParseError::Malformed);
    }
    if !version.starts_with("RTSP/") {
        return Err(ParseError::Malformed);
    }
    if version != "RTSP/1.0" {
        return Err(ParseError::Version);
    }
    let mut headers = Vec::new();
    for line in lines {
        let (name, value) = line.split_once(':').ok_or(ParseError::Malformed)?;
        if !is_token(name) || value.bytes().any(|b| b.is_ascii_control() && b != b'\t') {
            return Err(ParseError::Malformed);
        }
        if headers.len() == MAX_HEADERS {
            return Err(ParseError::TooLarge);
        }
        headers.push((name.to_owned(), value.trim().to_owned()));
    }
    let mut request = Request {
        method: method.to_owned(),
        uri: uri.to_owned(),
        headers,
        body: Vec::new(),
    };
    let len = match request.header("Content-Length") {
        None => 0,
        Some(v) => v
            .trim()
            .parse::<usize>()
            .map_err(|_| ParseError::Malformed)?,
    };
    if len > MAX_BODY {
        return Err(ParseError::TooLarge);
    }
    let body_start = end + 4;
    let Some(body) = rest.get(body_start..body_start + len) else {
        return Ok(None);
    };
    request.body = body.to_vec();
    Ok(Some((Incoming::Request(request), skip + body_start + len)))
}

/// The parameters of a `Digest` `Authorization` header (`username="bblp", nonce="…", …`);
/// `None` for another scheme or a header that does not parse.
#[must_use]
pub fn digest_params(header: &str) -> Option<Vec<(String, String)>> {
    let (scheme, mut rest) = header.trim().split_once(' ')?;
    if !scheme.eq_ignore_ascii_case("Digest") {
        return None;
    }
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches([' ', ',']);
        if rest.is_empty() {
            return Some(params);
        }
        let (name, after) = rest.split_once('=')?;
        let name = name.trim();
        let after = after.trim_start();
        let (value, next) = if let Some(quoted) = after.strip_prefix('"') {
            let close = quoted.find('"')?;
            (&quoted[..close], &quoted[close + 1..])
        } else {
            let end = after.find(',').unwrap_or(after.len());
            (after[..end].trim(), &after[end..])
        };
        if !is_token(name) || params.len() == 16 {
            return None;
        }
        params.push((name.to_ascii_lowercase(), value.to_owned()));
        rest = next;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn request(bytes: &[u8]) -> (Request, usize) {
        match parse(bytes) {
            Ok(Some((Incoming::Request(r), used))) => (r, used),
            other => panic!("not a request: {other:?}"),
        }
    }

    #[test]
    fn parses_what_ffmpeg_sends() {
        let raw = b"DESCRIBE rtsps://127.0.0.1:4322/streaming/live/1 RTSP/1.0\r\nAccept: application/sdp\r\nCSeq: 2\r\nUser-Agent: Lavf59.27.100\r\n\r\nOPTIONS";
        let (r, used) = request(raw);
        assert_eq!(used, raw.len() - "OPTIONS".len());
        assert_eq!(r.method, "DESCRIBE");
        assert_eq!(r.cseq(), Some(2));
        assert_eq!(r.header("accept"), Some("application/sdp"));
        assert_eq!(r.path(), Some("/streaming/live/1"));
    }

    #[test]
    fn paths_of_every_uri_form() {
        let with = |uri: &str| Request {
            method: "OPTIONS".into(),
            uri: uri.into(),
            headers: vec![],
            body: vec![],
        };
        assert_eq!(with("*").path(), Some("*"));
        assert_eq!(with("RTSP://h").path(), Some("/"));
        assert_eq!(
            with("rtsps://h:322/streaming/live/1?device=X&version=1").path(),
            Some("/streaming/live/1")
        );
        assert_eq!(
            with("/streaming/live/1/track1").path(),
            Some("/streaming/live/1/track1")
        );
        assert_eq!(with("http://h/x").path(), None);
        assert_eq!(with("nonsense").path(), None);
    }

    #[test]
    fn waits_for_the_whole_message_and_body() {
        assert_eq!(parse(b"OPTIONS * RTSP/1.0\r\nCSeq: 1\r\n"), Ok(None));
        assert_eq!(
            parse(b"GET_PARAMETER * RTSP/1.0\r\nCSeq: 1\r\nContent-Length: 4\r\n\r\nab"),
            Ok(None)
        );
        let (r, _) = request(b"GET_PARAMETER * RTSP/1.0\r\nContent-Length: 2\r\n\r\nab");
        assert_eq!(r.body, b"ab");
        assert_eq!(parse(b"\r\n\r\n"), Ok(None));
        assert_eq!(parse(b"$\x01\x00"), Ok(None));
    }

    #[test]
    fn interleaved_packets_report_their_length() {
        assert_eq!(
            parse(b"\r\n$\x01\x01\x00rest"),
            Ok(Some((
                Incoming::Interleaved {
                    channel: 1,
                    len: 256
                },
                6
            )))
        );
    }

    #[test]
    fn refuses_oversized_and_foreign_input() {
        let mut big = b"OPTIONS * RTSP/1.0\r\nX: ".to_vec();
        big.resize(MAX_HEADER + 10, b'a');
        assert_eq!(parse(&big), Err(ParseError::TooLarge));
        assert_eq!(
            parse(b"OPTIONS * RTSP/1.0\r\nContent-Length: 99999\r\n\r\n"),
            Err(ParseError::TooLarge)
        );
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), Err(ParseError::Malformed));
        assert_eq!(
            parse(b"OPTIONS * RTSP/2.0\r\n\r\n"),
            Err(ParseError::Version)
        );
        assert_eq!(
            parse(b"OPTIONS  * RTSP/1.0\r\n\r\n"),
            Err(ParseError::Malformed)
        );
        assert_eq!(
            parse(b"OPTIONS * RTSP/1.0\r\nno colon\r\n\r\n"),
            Err(ParseError::Malformed)
        );
        assert_eq!(
            parse(b"OPTIONS * RTSP/1.0\r\nContent-Length: -1\r\n\r\n"),
            Err(ParseError::Malformed)
        );
    }

    #[test]
    fn digest_parameters() {
        let p = digest_params(
            r#"Digest username="bblp", realm="Streaming Server", nonce="ab,c", uri="rtsps://h/streaming/live/1", response="0123""#,
        )
        .unwrap_or_default();
        assert_eq!(p.len(), 5);
        assert!(p.contains(&("nonce".into(), "ab,c".into())));
        assert!(p.contains(&("username".into(), "bblp".into())));
        assert_eq!(digest_params("Basic YmJscDp4"), None);
        assert_eq!(digest_params(r#"Digest username="bblp"#), None);
        assert_eq!(
            digest_params("Digest algorithm=MD5"),
            Some(vec![("algorithm".into(), "MD5".into())])
        );
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
            if let Ok(Some((_, used))) = parse(&bytes) {
                prop_assert!(used <= bytes.len());
                prop_assert!(used > 0);
            }
        }

        #[test]
        fn request_like_input_never_panics(
            method in "[A-Z_]{0,12}",
            uri in "\\PC{0,40}",
            headers in proptest::collection::vec(("[A-Za-z-]{0,12}", "\\PC{0,30}"), 0..8),
            tail in proptest::collection::vec(any::<u8>(), 0..64),
        ) {
            let mut raw = format!("{method} {uri} RTSP/1.0\r\n");
            for (n, v) in &headers {
                raw.push_str(&format!("{n}: {v}\r\n"));
            }
            raw.push_str("\r\n");
            let mut bytes = raw.into_bytes();
            bytes.extend_from_slice(&tail);
            if let Ok(Some((Incoming::Request(r), used))) = parse(&bytes) {
                prop_assert!(used <= bytes.len());
                let _ = (r.path(), r.cseq());
                if let Some(a) = r.header("Authorization") {
                    let _ = digest_params(a);
                }
            }
        }

        #[test]
        fn arbitrary_authorization_never_panics(header in "\\PC{0,200}") {
            let _ = digest_params(&header);
            let _ = digest_params(&format!("Digest {header}"));
        }
    }
}
