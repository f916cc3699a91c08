//! Helpers shared by the format and HTTP tests: a strict RFC 4180 reader that keeps NULL
//! (unquoted empty) apart from the empty string (`""`), decoders for every format, and a
//! raw HTTP/1.1 client that reads chunked bodies and their trailers.

#![allow(dead_code, unreachable_pub)]

use std::net::SocketAddr;

use futures_util::TryStreamExt;
use rowstream::{ChunkConfig, Encoder, Identity, Streamer, fetch};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A CSV field as read strictly: `None` for an unquoted empty field (NULL).
pub type Field = Option<String>;

/// Reads RFC 4180 strictly: CRLF after every record (the last one too), quotes only
/// around whole fields with `""` inside, no bare CR or LF outside quotes, valid UTF-8.
pub fn parse_csv_strict(input: &[u8], delimiter: u8) -> Result<Vec<Vec<Field>>, String> {
    let mut records = Vec::new();
    let mut record = Vec::new();
    let mut i = 0;
    if input.is_empty() {
        return Ok(records);
    }
    loop {
        let field = if input.get(i) == Some(&b'"') {
            i += 1;
            let mut buf = Vec::new();
            loop {
                match input.get(i) {
                    None => return Err(format!("unterminated quoted field at byte {i}")),
                    Some(b'"') if input.get(i + 1) == Some(&b'"') => {
                        buf.push(b'"');
                        i += 2;
                    }
                    Some(b'"') => {
                        i += 1;
                        break;
                    }
                    Some(&b) => {
                        buf.push(b);
                        i += 1;
                    }
                }
            }
            Some(String::from_utf8(buf).map_err(|e| e.to_string())?)
        } else {
            let start = i;
            while let Some(&b) = input.get(i) {
                if b == delimiter || b == b'\r' || b == b'\n' {
                    break;
                }
                if b == b'"' {
                    return Err(format!("quote inside an unquoted field at byte {i}"));
                }
                i += 1;
            }
            if i == start {
                None
            } else {
                Some(String::from_utf8(input[start..i].to_vec()).map_err(|e| e.to_string())?)
            }
        };
        record.push(field);
        match input.get(i) {
            Some(&d) if d == delimiter => i += 1,
            Some(b'\r') if input.get(i + 1) == Some(&b'\n') => {
                i += 2;
                records.push(std::mem::take(&mut record));
                if i == input.len() {
                    return Ok(records);
                }
            }
            None => return Err("the last record does not end with CRLF".into()),
            Some(b) => return Err(format!("unexpected byte {b:#04x} after a field at {i}")),
        }
    }
}

/// Runs `items` through a streamer with `threshold`-byte chunks and `encoder`; returns the
/// body (panics on a stream error).
pub async fn encode_all<T, E>(items: Vec<T>, encoder: E, threshold: usize) -> Vec<u8>
where
    T: Serialize + Send + 'static,
    E: Encoder,
{
    Streamer::new(ChunkConfig::default().chunk_threshold(threshold))
        .unwrap()
        .stream(fetch::from_iter(items), Identity, encoder)
        .map_ok(Vec::from)
        .try_concat()
        .await
        .unwrap()
}

/// A JSON array.
pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Vec<T> {
    serde_json::from_slice(body)
        .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(body)))
}

/// NDJSON: every record ends with `\n`, holds no other `\n` or `\r`, and parses.
pub fn decode_ndjson<T: DeserializeOwned>(body: &[u8]) -> Vec<T> {
    assert!(
        body.is_empty() || body.ends_with(b"\n"),
        "NDJSON ends with LF"
    );
    assert!(!body.contains(&b'\r'), "no CR in NDJSON");
    body.split(|&b| b == b'\n')
        .filter(|line| !line.is_empty())
        .map(|line| {
            serde_json::from_slice(line).unwrap_or_else(|e| {
                panic!(
                    "invalid NDJSON line ({e}): {}",
                    String::from_utf8_lossy(line)
                )
            })
        })
        .collect()
}

/// RFC 7464: RS, text, LF for every text; nothing else.
pub fn decode_json_seq<T: DeserializeOwned>(body: &[u8]) -> Vec<T> {
    if body.is_empty() {
        return Vec::new();
    }
    assert_eq!(body[0], 0x1e, "a JSON text sequence starts with RS");
    body[1..]
        .split(|&b| b == 0x1e)
        .map(|text| {
            assert_eq!(text.last(), Some(&b'\n'), "every text ends with LF");
            let text = &text[..text.len() - 1];
            assert!(!text.contains(&b'\n'), "compact texts hold no LF");
            serde_json::from_slice(text).unwrap_or_else(|e| {
                panic!("invalid JSON text ({e}): {}", String::from_utf8_lossy(text))
            })
        })
        .collect()
}

/// Concatenated MessagePack values, decoded one after the other until the end.
pub fn decode_msgpack<T: DeserializeOwned>(body: &[u8]) -> Vec<T> {
    let mut reader = body;
    let mut values = Vec::new();
    while !reader.is_empty() {
        values.push(rmp_serde::from_read(&mut reader).expect("a complete MessagePack value"));
    }
    values
}

/// Serves `app` on a loopback port.
pub async fn serve(app: axum::Router) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// A raw HTTP/1.1 GET with extra header lines; returns everything the server sent until
/// it closed.
pub async fn raw_get(addr: SocketAddr, path: &str, headers: &[&str]) -> Vec<u8> {
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let mut request = format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n");
    for header in headers {
        request.push_str(header);
        request.push_str("\r\n");
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut raw = Vec::new();
    let _ = tcp.read_to_end(&mut raw).await; // a reset also ends the transfer
    raw
}

/// A response read off the wire.
#[derive(Debug)]
pub struct RawResponse {
    /// The status line and headers, lowercased.
    pub head: String,
    /// The dechunked body.
    pub body: Vec<u8>,
    /// Whether the terminating zero-length chunk (and the end of the trailer section)
    /// arrived.
    pub terminated: bool,
    /// Trailer fields after the last chunk, names lowercased.
    pub trailers: Vec<(String, String)>,
}

impl RawResponse {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.lines().find_map(|line| {
            let (n, v) = line.split_once(':')?;
            (n.trim() == name).then(|| v.trim())
        })
    }

    pub fn trailer(&self, name: &str) -> Option<&str> {
        self.trailers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Splits the head off and decodes a chunked body with its trailer section.
pub fn parse_response(raw: &[u8]) -> RawResponse {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head");
    let head = String::from_utf8_lossy(&raw[..end]).to_ascii_lowercase();
    let mut rest = &raw[end + 4..];
    let mut body = Vec::new();
    let response = |body, terminated, trailers| RawResponse {
        head: head.clone(),
        body,
        terminated,
        trailers,
    };
    loop {
        let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
            return response(body, false, Vec::new());
        };
        let size_text = std::str::from_utf8(&rest[..line_end]).unwrap();
        let size = usize::from_str_radix(size_text.split(';').next().unwrap().trim(), 16).unwrap();
        rest = &rest[line_end + 2..];
        if size == 0 {
            // The trailer section: field lines, then an empty line.
            let mut trailers = Vec::new();
            loop {
                let Some(line_end) = rest.windows(2).position(|w| w == b"\r\n") else {
                    return response(body, false, trailers);
                };
                if line_end == 0 {
                    return response(body, true, trailers);
                }
                let line = String::from_utf8_lossy(&rest[..line_end]);
                if let Some((name, value)) = line.split_once(':') {
                    trailers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
                }
                rest = &rest[line_end + 2..];
            }
        }
        if rest.len() < size + 2 {
            body.extend_from_slice(&rest[..rest.len().min(size)]);
            return response(body, false, Vec::new());
        }
        body.extend_from_slice(&rest[..size]);
        rest = &rest[size + 2..];
    }
}
