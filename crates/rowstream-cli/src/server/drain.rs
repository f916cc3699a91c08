//! How many bytes a TCP socket still has to deliver: its send queue, written but not yet
//! acknowledged by the peer (what `ioctl(TIOCOUTQ)` returns), read from the kernel's
//! socket table (`/proc/net/tcp`, `/proc/net/tcp6`; Linux) without `unsafe`.

use std::net::SocketAddr;
use std::time::Duration;

/// Waits until the connection from `local` to `peer` has no unacknowledged bytes, it is
/// gone from the socket table, or `limit` has passed; on systems without the table,
/// returns at once.
pub(super) async fn wait(local: SocketAddr, peer: SocketAddr, limit: Duration) {
    let until = tokio::time::Instant::now() + limit;
    while let Some(queued) = send_queue(local, peer).await {
        if queued == 0 || tokio::time::Instant::now() >= until {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// The send queue of the connection from `local` to `peer`, in bytes; `None` when it is
/// not in the table or the table cannot be read.
async fn send_queue(local: SocketAddr, peer: SocketAddr) -> Option<u64> {
    let table = match local {
        SocketAddr::V4(_) => "/proc/net/tcp",
        SocketAddr::V6(_) => "/proc/net/tcp6",
    };
    let text = tokio::fs::read_to_string(table).await.ok()?;
    find(&text, &entry(local), &entry(peer))
}

/// The `tx_queue` of the row whose local and remote addresses are `local` and `peer`.
fn find(table: &str, local: &str, peer: &str) -> Option<u64> {
    table.lines().skip(1).find_map(|line| {
        let mut fields = line.split_whitespace().skip(1);
        let (l, r) = (fields.next()?, fields.next()?);
        if !l.eq_ignore_ascii_case(local) || !r.eq_ignore_ascii_case(peer) {
            return None;
        }
        let queues = fields.nth(1)?; // after the state
        let (tx, _rx) = queues.split_once(':')?;
        u64::from_str_radix(tx, 16).ok()
    })
}

/// An address as the table writes it: the address's 32-bit words in the machine's
/// byte order, in hex, then `:` and the port in hex.
fn entry(addr: SocketAddr) -> String {
    let words: Vec<[u8; 4]> = match addr {
        SocketAddr::V4(v4) => vec![v4.ip().octets()],
        SocketAddr::V6(v6) => v6
            .ip()
            .octets()
            .chunks_exact(4)
            .map(|w| [w[0], w[1], w[2], w[3]])
            .collect(),
    };
    let mut out = String::new();
    for word in words {
        out.push_str(&format!("{:08X}", u32::from_ne_bytes(word)));
    }
    out.push_str(&format!(":{:04X}", addr.port()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_send_queue_of_one_connection() {
        let table = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:0BB8 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1 1 0000000000000000 100 0 0 10 0
   1: 0100007F:0BB8 0100007F:D431 01 0001A2B0:00000000 01:00000014 00000000     0        0 2 1 0000000000000000 20 4 30 10 -1";
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let peer: SocketAddr = "127.0.0.1:54321".parse().unwrap();
        if cfg!(target_endian = "little") {
            assert_eq!(entry(local), "0100007F:0BB8");
            assert_eq!(find(table, &entry(local), &entry(peer)), Some(0x1A2B0));
        }
        let other: SocketAddr = "127.0.0.1:1".parse().unwrap();
        assert_eq!(find(table, &entry(local), &entry(other)), None);
    }

    #[tokio::test]
    async fn a_live_connection_is_in_the_table() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let client = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (server, peer) = listener.accept().await.unwrap();
        let local = server.local_addr().unwrap();
        if std::path::Path::new("/proc/net/tcp").exists() {
            assert_eq!(send_queue(local, peer).await, Some(0));
        }
        drop(client);
    }
}
