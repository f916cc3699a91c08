//! Invariants 1 and 2 as properties: for arbitrary items and chunk thresholds, the chunks
//! concatenate to a JSON array equal to the input (every item exactly once, in order), and
//! no chunk overshoots the threshold by more than one item.

use futures_util::TryStreamExt;
use proptest::prelude::*;
use rowstream::{ChunkConfig, Identity, JsonArray, Streamer, fetch};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Item {
    text: String,
    n: i64,
    u: u64,
    f: f64,
    maybe: Option<String>,
    list: Vec<i32>,
}

fn hard_text() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<String>(),
        // Quotes, backslashes, every control character, non-BMP and combining characters.
        "[\"\\\\\u{0}-\u{1f}\u{7f}\u{2028}\u{2029}😀𝄞é\u{301}a-z ]{0,40}",
    ]
}

fn item() -> impl Strategy<Value = Item> {
    (
        hard_text(),
        any::<i64>(),
        any::<u64>(),
        any::<f64>().prop_filter("finite", |f| f.is_finite()),
        proptest::option::of(hard_text()),
        proptest::collection::vec(any::<i32>(), 0..4),
    )
        .prop_map(|(text, n, u, f, maybe, list)| Item {
            text,
            n,
            u,
            f,
            maybe,
            list,
        })
}

/// Items, sometimes with one far larger than the threshold.
fn items() -> impl Strategy<Value = Vec<Item>> {
    (
        proptest::collection::vec(item(), 0..60),
        proptest::option::of((any::<prop::sample::Index>(), 1usize..8)),
    )
        .prop_map(|(mut items, huge)| {
            if let Some((at, factor)) = huge {
                if !items.is_empty() {
                    let i = at.index(items.len());
                    items[i].text = "x\"😀".repeat(400 * factor);
                }
            }
            items
        })
}

fn run(items: Vec<Item>, threshold: usize) -> Vec<bytes::Bytes> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async move {
        let streamer = Streamer::new(ChunkConfig::default().chunk_threshold(threshold)).unwrap();
        streamer
            .stream(fetch::from_iter(items), Identity, JsonArray::new())
            .try_collect::<Vec<_>>()
            .await
            .unwrap()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn json_array_round_trips(items in items(), threshold in 16usize..2048) {
        let chunks = run(items.clone(), threshold);
        let body: Vec<u8> = chunks.concat();
        let parsed: Vec<Item> = serde_json::from_slice(&body)
            .unwrap_or_else(|e| panic!("invalid JSON ({e}): {}", String::from_utf8_lossy(&body)));
        prop_assert_eq!(parsed, items.clone());
        // Independent check: exactly the bytes serde_json produces for the whole list.
        prop_assert_eq!(body, serde_json::to_vec(&items).unwrap());
    }

    #[test]
    fn chunks_overshoot_by_at_most_one_item(items in items(), threshold in 16usize..2048) {
        let chunks = run(items.clone(), threshold);
        let lens: Vec<usize> = items.iter().map(|i| serde_json::to_vec(i).unwrap().len()).collect();
        // Byte offset in the body where item i ends: `[`, then items joined by `,`.
        let mut ends = Vec::new();
        let mut at = 1;
        for (i, len) in lens.iter().enumerate() {
            at += len + usize::from(i > 0);
            ends.push(at);
        }
        let mut start = 0;
        let last = chunks.len() - 1;
        for (c, chunk) in chunks.iter().enumerate() {
            prop_assert!(!chunk.is_empty());
            let end = start + chunk.len();
            if c < last {
                // Every chunk but the tail is cut right after an item ...
                let k = ends.iter().position(|&e| e == end);
                prop_assert!(k.is_some(), "chunk {} ends inside an item", c);
                let k = k.unwrap();
                // ... and was below the threshold before its last item was added (the
                // first chunk too: it takes every item ready, up to the threshold).
                let sep = usize::from(k > 0);
                let before_last = chunk.len() - lens[k] - sep;
                prop_assert!(
                    before_last < threshold,
                    "chunk {} had {} bytes before its last item (threshold {})", c, before_last, threshold
                );
                // A chunk is cut below the threshold only to let an item larger than
                // the threshold travel in a chunk of its own.
                let next_is_huge = lens.get(k + 1).is_some_and(|&len| len + 1 > threshold);
                prop_assert!(
                    chunk.len() >= threshold || next_is_huge,
                    "chunk {} cut below the threshold", c
                );
            } else {
                // The tail holds less than the threshold plus the closing bracket.
                prop_assert!(chunk.len() <= threshold, "tail of {} bytes", chunk.len());
            }
            start = end;
        }
    }
}
