//! A custom encoder: tab-separated values with its own media type.
//!
//! Run: `cargo run -p rowstream --example custom_encoder`

use bytes::{BufMut, BytesMut};
use futures_util::TryStreamExt;
use rowstream::{EncodeError, Encoder, Identity, Streamer, fetch};
use serde::Serialize;

/// Each item as one line of tab-separated fields, with a header line of field names.
///
/// Items serialize to JSON objects (any `Serialize` struct); each value is written as its
/// JSON text with tabs and newlines escaped, so a line is always one record.
#[derive(Debug, Default)]
pub struct Tsv {
    header_written: bool,
    scratch: Vec<u8>,
}

impl Encoder for Tsv {
    fn content_type(&self) -> &str {
        "text/tab-separated-values; charset=utf-8"
    }

    fn item<T: Serialize + ?Sized>(
        &mut self,
        item: &T,
        out: &mut BytesMut,
    ) -> Result<(), EncodeError> {
        let value = serde_json::to_value(item)?;
        let serde_json::Value::Object(fields) = value else {
            return Err(EncodeError::msg("a TSV record must be an object"));
        };
        self.scratch.clear();
        if !self.header_written {
            let names: Vec<&str> = fields.keys().map(String::as_str).collect();
            self.scratch.extend_from_slice(names.join("\t").as_bytes());
            self.scratch.push(b'\n');
        }
        for (i, value) in fields.values().enumerate() {
            if i > 0 {
                self.scratch.push(b'\t');
            }
            let text = match value {
                serde_json::Value::String(s) => s.clone(),
                serde_json::Value::Null => String::new(),
                other => other.to_string(),
            };
            let escaped = text
                .replace('\\', "\\\\")
                .replace('\t', "\\t")
                .replace('\n', "\\n");
            self.scratch.extend_from_slice(escaped.as_bytes());
        }
        self.scratch.push(b'\n');
        out.put_slice(&self.scratch);
        self.header_written = true; // state changes only once the item encoded
        Ok(())
    }
}

#[derive(Serialize)]
struct Ticket {
    id: u32,
    subject: String,
}

/// The TSV document for `count` tickets.
pub async fn tsv(count: u32) -> Result<Vec<u8>, rowstream::StreamError> {
    let tickets = (1..=count).map(|id| Ticket {
        id,
        subject: format!("ticket\t{id}"),
    });
    Streamer::default()
        .stream(fetch::from_iter(tickets), Identity, Tsv::default())
        .map_ok(Vec::from)
        .try_concat()
        .await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), rowstream::StreamError> {
    let body = tsv(3).await?;
    print!("{}", String::from_utf8_lossy(&body));
    Ok(())
}
