//! The markdown report: the machine, one table per kind of case, and the targets.

use std::fmt::Write as _;

use crate::run::{FlightsResult, Results, TicketsResult};

const MIB: f64 = 1024.0;

fn mib(kib: Option<u64>) -> String {
    kib.map_or("–".into(), |k| format!("{:.1}", k as f64 / MIB))
}

fn num(value: Option<f64>, decimals: usize) -> String {
    value.map_or("–".into(), |v| format!("{v:.decimals$}"))
}

/// `1234567` → `1,234,567`.
fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn ratio(r: Option<f64>) -> String {
    r.map_or("–".into(), |r| format!("{r:.2}×"))
}

fn met(ok: Option<bool>) -> &'static str {
    match ok {
        Some(true) => "met",
        Some(false) => "**not met**",
        None => "not measured",
    }
}

pub fn markdown(results: &Results) -> String {
    let mut md = String::new();
    let m = &results.machine;
    let _ = writeln!(md, "Command: `{}`\n", results.command_line);
    let _ = writeln!(
        md,
        "Machine: {} cores ({}), {:.0} GiB, Linux {}; started {}, took {:.0} min. \
         Load average (1, 5, 15 min) at the start {}, at the end {}: the machine is shared \
         and other builds ran during the run, so compare rows within one run only.\n",
        m.nproc,
        m.cpu,
        m.memory_gib,
        m.kernel,
        m.started,
        m.duration_s / 60.0,
        m.load_start,
        m.load_end
    );
    let _ = writeln!(
        md,
        "Every case runs on a fresh server process (so its `VmHWM` is the case's own peak; \
         the ticket servers answer one 10-ticket request before they are measured, since a \
         process's first request pays for the first use of its code and runtime), \
         over loopback, read by a one-thread hyper client that counts and drops the bytes. \
         Wall time and TTFB (request sent → first body byte) are the median of {} \
         interleaved runs (the single large runs: one); peak RSS is the highest of the runs; \
         server CPU is utime + stime from `/proc/PID/stat` over the request.\n",
        results.repeat
    );
    tickets_table(&mut md, results);
    latency_table(&mut md, results);
    concurrent_table(&mut md, results);
    flights_table(&mut md, results);
    targets_table(&mut md, results);
    md
}

fn find<'a>(results: &'a Results, kind: &str, items: u64) -> Option<&'a TicketsResult> {
    results
        .tickets
        .iter()
        .find(|t| t.kind == kind && t.items == items)
}

/// The ticket count the comparisons use: 1,000,000 if measured, else the first.
fn main_items(results: &Results) -> Option<u64> {
    let counts: Vec<u64> = results.tickets.iter().map(|t| t.items).collect();
    counts
        .iter()
        .copied()
        .find(|&n| n == 1_000_000)
        .or(counts.first().copied())
}

fn tickets_table(md: &mut String, results: &Results) {
    if results.tickets.is_empty() {
        return;
    }
    let _ = writeln!(
        md,
        "#### Tickets as one JSON array, generated while served (`GET /tickets?n=N`)\n"
    );
    let _ = writeln!(
        md,
        "| case | tickets | bytes | wall s | MB/s | TTFB ms | idle RSS MiB | peak RSS MiB | peak − idle MiB | server CPU s | rowstream ÷ case (MB/s) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|---|");
    for t in &results.tickets {
        let m = &t.measured;
        let rowstream = find(results, "rowstream", t.items).and_then(|r| r.measured.mb_per_s());
        let growth = m
            .peak_rss_kib
            .zip(m.idle_rss_kib)
            .map(|(p, i)| p.saturating_sub(i));
        let body_note = match t.same_body {
            Some(false) => " ¹",
            _ => "",
        };
        let _ = writeln!(
            md,
            "| {}{} | {} | {} | {:.2} | {} | {} | {} | {} | {} | {} | {} |",
            t.kind,
            body_note,
            thousands(t.items),
            m.bytes.map_or("–".into(), thousands),
            m.wall_s,
            num(m.mb_per_s(), 0),
            num(m.ttfb_ms, 2),
            mib(m.idle_rss_kib),
            mib(m.peak_rss_kib),
            mib(growth),
            num(m.cpu_s, 2),
            ratio(rowstream.zip(m.mb_per_s()).map(|(r, c)| r / c)),
        );
    }
    if results.tickets.iter().any(|t| t.same_body == Some(false)) {
        let _ = writeln!(
            md,
            "\n¹ The body holds the same tickets as `serde_json::to_vec` of them, in other bytes."
        );
    }
    let _ = writeln!(md);
}

fn latency_table(md: &mut String, results: &Results) {
    let Some(first) = results.latency.first() else {
        return;
    };
    let _ = writeln!(
        md,
        "#### {}-ticket requests, {} in a row on one kept-alive connection\n",
        first.items, first.requests
    );
    let _ = writeln!(
        md,
        "| case | median µs | p99 µs | max µs | median TTFB µs | server CPU µs/request | peak RSS MiB | case ÷ rowstream (median) |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|");
    for l in &results.latency {
        // Compared with rowstream under the same TCP_NODELAY setting.
        let rowstream = results
            .latency
            .iter()
            .find(|r| r.kind == "rowstream" && r.nodelay == l.nodelay)
            .map(|r| r.median_us);
        let kind = if l.nodelay {
            l.kind.to_owned()
        } else {
            format!("{} (no `TCP_NODELAY`)", l.kind)
        };
        let _ = writeln!(
            md,
            "| {} | {:.0} | {:.0} | {:.0} | {:.0} | {:.0} | {} | {} |",
            kind,
            l.median_us,
            l.p99_us,
            l.max_us,
            l.median_ttfb_us,
            l.cpu_us_per_request,
            mib(Some(l.peak_rss_kib)),
            ratio(rowstream.map(|r| l.median_us / r)),
        );
    }
    let _ = writeln!(md);
}

fn concurrent_table(md: &mut String, results: &Results) {
    let Some(first) = results.concurrent.first() else {
        return;
    };
    let single_items = main_items(results);
    let _ = writeln!(
        md,
        "#### {} concurrent streams of {} tickets, one connection each\n",
        first.streams,
        thousands(first.items)
    );
    let _ = writeln!(
        md,
        "| case | wall s | bytes | aggregate MB/s | single stream MB/s ({} tickets) | aggregate ÷ single | max TTFB ms | idle RSS MiB | peak RSS MiB | server CPU s |",
        single_items.map_or("–".into(), thousands)
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    for c in &results.concurrent {
        let single = single_items
            .and_then(|n| find(results, c.kind, n))
            .and_then(|t| t.measured.mb_per_s());
        let _ = writeln!(
            md,
            "| {} | {:.2} | {} | {:.0} | {} | {} | {:.1} | {} | {} | {:.2} |",
            c.kind,
            c.wall_s,
            thousands(c.bytes),
            c.mb_per_s(),
            num(single, 0),
            ratio(single.map(|s| c.mb_per_s() / s)),
            c.max_ttfb_ms,
            mib(Some(c.idle_rss_kib)),
            mib(Some(c.peak_rss_kib)),
            c.cpu_s,
        );
    }
    let _ = writeln!(md);
}

fn flights_peer<'a>(results: &'a Results, f: &FlightsResult) -> Option<&'a FlightsResult> {
    let peer = f.peer.as_deref()?;
    results.flights.iter().find(|p| p.case == peer)
}

fn flights_table(md: &mut String, results: &Results) {
    let Some(first) = results.flights.first() else {
        return;
    };
    let _ = writeln!(
        md,
        "#### nycflights13 flights ({} rows): `rowstream serve` beside the databases' own clients\n",
        thousands(first.rows)
    );
    let _ = writeln!(
        md,
        "| case | bytes | wall s | rows/s | MB/s | TTFB ms | peak RSS MiB | CPU s | rows/s ÷ peer |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|");
    for f in &results.flights {
        let m = &f.measured;
        let versus = flights_peer(results, f).map(|p| f.rows_per_s() / p.rows_per_s());
        let _ = writeln!(
            md,
            "| {} | {} | {:.2} | {} | {} | {} | {} | {} | {} |",
            f.case.replace('|', "\\|"),
            m.bytes.map_or("–".into(), thousands),
            m.wall_s,
            thousands(f.rows_per_s().round() as u64),
            num(m.mb_per_s(), 0),
            num(m.ttfb_ms, 1),
            mib(m.peak_rss_kib),
            num(m.cpu_s, 2),
            ratio(versus),
        );
    }
    let _ = writeln!(
        md,
        "\nFor `rowstream serve` rows, RSS and CPU are the server's; for the tools, the tool \
         process's own (`/usr/bin/time`), without the database server's work. `psql` writes \
         to /dev/null itself, so its bytes are not counted; `sqlite3` writes into a pipe the \
         load test reads, as the HTTP client reads the socket.\n"
    );
}

fn targets_table(md: &mut String, results: &Results) {
    let mut rows: Vec<(String, String, Option<bool>)> = Vec::new();
    let n = main_items(results);
    let rowstream = n.and_then(|n| find(results, "rowstream", n));
    let rs_mb = rowstream.and_then(|r| r.measured.mb_per_s());
    for (peer, want) in [("axum-streams-32k", 1.6), ("go-design", 1.2)] {
        let peer_mb = n
            .and_then(|n| find(results, peer, n))
            .and_then(|p| p.measured.mb_per_s());
        let r = rs_mb.zip(peer_mb).map(|(a, b)| a / b);
        rows.push((
            format!(
                "{} tickets: rowstream ≥ {want}× {peer} (MB/s)",
                n.map_or("–".into(), thousands)
            ),
            ratio(r),
            r.map(|r| r >= want),
        ));
    }
    for t in results.tickets.iter().filter(|t| t.kind == "rowstream") {
        let growth = t
            .measured
            .peak_rss_kib
            .zip(t.measured.idle_rss_kib)
            .map(|(p, i)| p.saturating_sub(i));
        rows.push((
            format!(
                "{} tickets: server peak RSS ≤ 8 MiB above idle",
                thousands(t.items)
            ),
            format!(
                "{} MiB above idle ({} → {})",
                mib(growth),
                mib(t.measured.idle_rss_kib),
                mib(t.measured.peak_rss_kib)
            ),
            growth.map(|g| g as f64 / MIB <= 8.0),
        ));
    }
    let ttfb = rowstream.and_then(|r| r.measured.ttfb_ms);
    rows.push((
        "TTFB ≤ 1 ms in memory".into(),
        format!("{} ms", num(ttfb, 2)),
        ttfb.map(|t| t <= 1.0),
    ));
    let flight = |prefix: &str| results.flights.iter().find(|f| f.case.starts_with(prefix));
    for case in [
        "rowstream serve, SQLite → JSON",
        "rowstream serve, SQLite → CSV",
    ] {
        let t = flight(case).and_then(|f| f.measured.ttfb_ms);
        rows.push((
            format!(
                "TTFB ≤ 5 ms from SQLite ({})",
                case.trim_start_matches("rowstream serve, ")
            ),
            format!("{} ms", num(t, 1)),
            t.map(|t| t <= 5.0),
        ));
    }
    let latency = |kind: &str, nodelay: bool| {
        results
            .latency
            .iter()
            .find(|l| l.kind == kind && l.nodelay == nodelay)
    };
    let ours = latency("rowstream", true);
    let peers = ["go-design", "vec-json"].map(|kind| latency(kind, true));
    let below_peers = ours.map(|o| peers.iter().flatten().all(|p| o.median_us < p.median_us));
    rows.push((
        format!(
            "{}-item request ≤ 130 µs median, below go-design and vec-json",
            ours.map_or(100, |l| l.items)
        ),
        ours.map_or("–".into(), |o| {
            let peers = peers
                .iter()
                .flatten()
                .map(|p| format!("{} {:.0} µs", p.kind, p.median_us))
                .collect::<Vec<_>>()
                .join(", ");
            format!("{:.0} µs ({peers})", o.median_us)
        }),
        ours.zip(below_peers)
            .map(|(o, below)| o.median_us <= 130.0 && below),
    ));
    let (ours, go) = (latency("rowstream", false), latency("go-design", false));
    rows.push((
        "the same without `TCP_NODELAY`: no slower than go-design's batch".into(),
        match (ours, go) {
            (Some(o), Some(g)) => format!("{:.0} µs vs {:.0} µs", o.median_us, g.median_us),
            _ => "–".into(),
        },
        ours.zip(go).map(|(o, g)| o.median_us <= g.median_us),
    ));
    for (case, want) in [
        ("rowstream serve, SQLite → JSON", 3.0),
        ("rowstream serve, SQLite → CSV", 3.0),
        ("rowstream serve, PostgreSQL → JSON (keyset pages)", 3.5),
        ("rowstream serve, PostgreSQL → JSON (one query)", 3.5),
        ("rowstream serve, PostgreSQL → CSV (keyset pages)", 1.0),
        ("rowstream serve, PostgreSQL → CSV (one query)", 1.0),
    ] {
        let Some(f) = flight(case) else {
            if !case.ends_with("(one query)") {
                rows.push((
                    format!("flights {case} ≥ {want}× its peer"),
                    "–".into(),
                    None,
                ));
            }
            continue;
        };
        let peer = flights_peer(results, f);
        let r = peer.map(|p| f.rows_per_s() / p.rows_per_s());
        rows.push((
            format!(
                "flights: {} ≥ {want}× {} (rows/s)",
                case.trim_start_matches("rowstream serve, "),
                f.peer.as_deref().unwrap_or("–")
            ),
            format!(
                "{} ({} vs {} rows/s)",
                ratio(r),
                thousands(f.rows_per_s().round() as u64),
                peer.map_or("–".into(), |p| thousands(p.rows_per_s().round() as u64))
            ),
            r.map(|r| r >= want),
        ));
    }
    if let Some(c) = results.concurrent.iter().find(|c| c.kind == "rowstream") {
        let single = n
            .and_then(|n| find(results, "rowstream", n))
            .and_then(|t| t.measured.mb_per_s());
        let want = single.map(|s| 1.9 * s);
        rows.push((
            format!(
                "{} concurrent streams: aggregate ≥ 1.9 × single-stream MB/s",
                c.streams
            ),
            format!(
                "{:.0} MB/s vs {} MB/s wanted (single {})",
                c.mb_per_s(),
                num(want, 0),
                num(single, 0)
            ),
            want.map(|w| c.mb_per_s() >= w),
        ));
        rows.push((
            format!("{} concurrent streams: peak RSS ≤ 32 MiB", c.streams),
            format!("{} MiB", mib(Some(c.peak_rss_kib))),
            Some(c.peak_rss_kib as f64 / MIB <= 32.0),
        ));
    }
    let _ = writeln!(md, "#### Targets\n");
    let _ = writeln!(md, "| target | measured | |");
    let _ = writeln!(md, "|---|---|---|");
    for (target, measured, ok) in rows {
        let _ = writeln!(md, "| {target} | {measured} | {} |", met(ok));
    }
    let _ = writeln!(md);
}
