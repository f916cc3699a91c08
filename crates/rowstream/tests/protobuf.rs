//! Protocol Buffers through the streamer: length-delimited messages that prost reads back
//! exactly, across chunk boundaries and with a message larger than the chunk threshold;
//! a stream that fails after its first chunk ends inside a message.

#![cfg(feature = "protobuf")]

mod support;

use futures_util::StreamExt as _;
use proptest::prelude::*;
use prost::Message as _;
use rowstream::{ChunkConfig, Identity, Proto, Protobuf, Streamer};

#[derive(Clone, PartialEq, prost::Message)]
struct Flight {
    #[prost(int64, tag = "1")]
    id: i64,
    #[prost(string, optional, tag = "2")]
    origin: Option<String>,
    #[prost(double, optional, tag = "3")]
    dep_delay: Option<f64>,
    #[prost(bytes = "vec", tag = "4")]
    raw: Vec<u8>,
    #[prost(sint64, repeated, tag = "5")]
    legs: Vec<i64>,
}

fn flight(i: i64) -> Flight {
    Flight {
        id: i,
        origin: (i % 3 != 0).then(|| format!("JFK {i} 😀")),
        dep_delay: (i % 5 != 0).then_some(i as f64 / 7.0),
        raw: vec![(i % 256) as u8; (i % 17) as usize],
        legs: (0..i % 4).map(|l| l - i).collect(),
    }
}

fn decode_all(mut body: &[u8]) -> Result<Vec<Flight>, prost::DecodeError> {
    let mut out = Vec::new();
    while !body.is_empty() {
        out.push(Flight::decode_length_delimited(&mut body)?);
    }
    Ok(out)
}

#[tokio::test]
async fn messages_round_trip_through_the_streamer() {
    let mut flights: Vec<Flight> = (0..5000).map(flight).collect();
    // One message far larger than the chunk threshold.
    flights[100].origin = Some("x".repeat(200_000));
    let items: Vec<Proto<Flight>> = flights.iter().cloned().map(Proto).collect();
    let body = support::encode_all(items, Protobuf::new(), 1024).await;
    assert_eq!(decode_all(&body).expect("every message decodes"), flights);
    assert!(
        support::encode_all(Vec::<Proto<Flight>>::new(), Protobuf::new(), 1024)
            .await
            .is_empty()
    );
}

#[tokio::test]
async fn a_failed_stream_ends_inside_a_message() {
    let items = (0..3000).map(|i| {
        if i == 2500 {
            Err(std::io::Error::other("the database went away"))
        } else {
            Ok(Proto(flight(i)))
        }
    });
    let streamer = Streamer::new(ChunkConfig::default().chunk_threshold(1024)).expect("config");
    let mut chunks = streamer.stream(futures_util::stream::iter(items), Identity, Protobuf::new());
    let mut body = Vec::new();
    let mut failed = false;
    while let Some(chunk) = chunks.next().await {
        match chunk {
            Ok(bytes) => body.extend_from_slice(&bytes),
            Err(_) => failed = true,
        }
    }
    assert!(failed);
    let err = decode_all(&body).expect_err("the last message is cut");
    assert!(err.to_string().contains("buffer underflow"), "{err}");
    // Every message before the cut is intact.
    let mut rest = &body[..];
    let mut read = 0;
    while let Ok(message) = Flight::decode_length_delimited(&mut rest) {
        assert_eq!(message, flight(read));
        read += 1;
    }
    assert!(read > 0 && read <= 2500, "{read}");
    // A reader that does not check lengths (it decodes whatever bytes are left for the
    // last message, as a slice of a short buffer does) fails too: the cut message is not
    // an empty, valid one.
    let mut rest = &body[..];
    let mut naive = Vec::new();
    while !rest.is_empty() {
        let len = prost::encoding::decode_varint(&mut rest).expect("a length");
        let take = rest
            .len()
            .min(usize::try_from(len).expect("a small length"));
        naive.push(Flight::decode(&rest[..take]));
        rest = &rest[take..];
    }
    let whole = usize::try_from(read).expect("a count");
    assert_eq!(
        naive.len(),
        whole + 1,
        "one cut message after the whole ones"
    );
    assert!(naive[..whole].iter().all(Result::is_ok));
    assert!(naive[whole].is_err(), "{:?}", naive[whole]);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any messages, any threshold: read back exactly.
    #[test]
    fn any_messages_round_trip(
        ids in prop::collection::vec(any::<i64>(), 0..200),
        text in "\\PC{0,40}",
        threshold in 16usize..4096,
    ) {
        let flights: Vec<Flight> = ids
            .iter()
            .map(|&id| Flight { id, origin: Some(text.clone()), dep_delay: None, raw: text.as_bytes().to_vec(), legs: vec![id, -id] })
            .collect();
        let items: Vec<Proto<Flight>> = flights.iter().cloned().map(Proto).collect();
        let body = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(support::encode_all(items, Protobuf::new(), threshold));
        prop_assert_eq!(decode_all(&body).expect("decodes"), flights);
    }
}
