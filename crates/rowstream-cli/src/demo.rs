//! The demo `tickets` data: a deterministic generator of support tickets whose text holds
//! what breaks naive exporters — quotes, commas, newlines, non-ASCII and emoji — and some
//! NULL assignees.
//!
//! Ticket `n` depends only on `n`, so any range can be generated independently and two
//! runs produce the same rows.

use serde::Serialize;

/// One support ticket, as stored in the demo `tickets` table.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Ticket {
    /// 1-based id, the table's `INTEGER PRIMARY KEY`.
    pub id: i64,
    /// One line; may contain quotes, commas, non-ASCII and emoji.
    pub subject: String,
    /// Several lines separated by `\n`.
    pub body: String,
    /// `open`, `pending`, `solved` or `closed`.
    pub status: &'static str,
    /// 1 (highest) to 4.
    pub priority: i64,
    /// The agent's e-mail address, or `None` (NULL) for an unassigned ticket.
    pub assignee: Option<String>,
    /// The customer's e-mail address.
    pub reporter: String,
    /// Comma-separated tags.
    pub tags: String,
    /// Satisfaction score from 0.0 to 5.0.
    pub score: f64,
    /// RFC 3339 UTC timestamp.
    pub created_at: String,
    /// RFC 3339 UTC timestamp, not before `created_at`.
    pub updated_at: String,
}

const SUBJECTS: &[&str] = &[
    "Can't log in after password reset",
    "Invoice #{n} shows the wrong amount, again",
    "Export to \"CSV\" cuts off at row {n}",
    "Zahlung fehlgeschlagen – bitte prüfen",
    "Le tableau de bord ne se charge plus 😕",
    "请帮忙：无法上传文件",
    "App crashes on launch 💥 (version 3.{n})",
    "Feature request: dark mode, keyboard shortcuts, and \"undo\"",
    "Refund for order {n}; charged twice",
    "Ошибка синхронизации календаря",
    "Tab\tseparated\tsubject from an old client",
    "🚀 Upgrade to the \"Pro\" plan, please",
];

const BODIES: &[&str] = &[
    "Hi team,\nsince this morning I get \"error 500\" when I open the dashboard.\nThanks, {name}",
    "Hello,\n\nsteps to reproduce:\n1. open settings\n2. click \"save\"\n3. nothing happens\n\nBest,\n{name}",
    "The report says 1,234.56 but the invoice says 1.234,56 — which one is right?\n{name}",
    "Grüße aus München! Die Synchronisierung hängt seit Tagen. 🙏\n— {name}",
    "Quick one: can you add me to the \"beta\" list?\r\nCheers, {name}",
    "We have 3 offices, 12 users, and one admin; billing shows 15 seats.\n\n{name}",
];

const STATUSES: &[&str] = &["open", "pending", "solved", "closed"];
const NAMES: &[&str] = &[
    "ana", "bjorn", "chen", "dana", "élodie", "farid", "gus", "hana", "ivan", "joão", "kim", "lena",
];
const TAGS: &[&str] = &[
    "billing", "login", "bug", "export", "mobile", "refund", "feature", "sync", "vip", "urgent",
];

/// SplitMix64: a small, fast, well-mixed generator; its output is fixed by its seed
/// forever, which keeps the demo data the same across versions.
#[derive(Debug, Clone)]
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// 2024-01-01T00:00:00Z as seconds since the Unix epoch.
const EPOCH_2024: i64 = 1_704_067_200;

/// Ticket number `id` (1-based).
///
/// Each text field is written once into a `String` of its final size: the generator
/// feeds the load test and the demo database, where it runs a million times a second.
pub fn ticket(id: i64) -> Ticket {
    let mut rng = SplitMix64(id as u64 ^ 0x0005_EED0_F71C_4E75);
    let n = rng.below(100_000);
    let mut digits = itoa::Buffer::new();
    let n_text = digits.format(n);
    let name = NAMES[rng.below(NAMES.len())];
    let subject = fill(SUBJECTS[rng.below(SUBJECTS.len())], "{n}", n_text);
    let body = fill(BODIES[rng.below(BODIES.len())], "{name}", name);
    let status = STATUSES[rng.below(STATUSES.len())];
    let priority = 1 + rng.below(4) as i64;
    let assignee = if rng.below(5) == 0 {
        None
    } else {
        Some(concat(&[
            NAMES[rng.below(NAMES.len())],
            "@support.example.com",
        ]))
    };
    let reporter = concat(&[name, ".", n_text, "@customer.example.org"]);
    let tag_count = 1 + rng.below(3);
    let mut tags = String::with_capacity(tag_count * 8);
    for i in 0..tag_count {
        if i > 0 {
            tags.push(',');
        }
        tags.push_str(TAGS[rng.below(TAGS.len())]);
    }
    let score = (rng.below(501) as f64) / 100.0;
    let created = EPOCH_2024 + (id * 37) % (365 * 86_400) + rng.below(3_600) as i64;
    let updated = created + rng.below(30 * 86_400) as i64;
    Ticket {
        id,
        subject,
        body,
        status,
        priority,
        assignee,
        reporter,
        tags,
        score,
        created_at: rfc3339(created),
        updated_at: rfc3339(updated),
    }
}

/// `template` with its `hole` replaced by `value`: every template has at most one, and no
/// other `{`.
fn fill(template: &str, hole: &str, value: &str) -> String {
    let split = template.find('{').and_then(|at| {
        let (before, rest) = template.split_at(at);
        rest.strip_prefix(hole).map(|after| (before, after))
    });
    match split {
        Some((before, after)) => concat(&[before, value, after]),
        None => template.to_owned(),
    }
}

/// The parts joined, in one allocation of the exact size.
fn concat(parts: &[&str]) -> String {
    let mut out = String::with_capacity(parts.iter().map(|p| p.len()).sum());
    for part in parts {
        out.push_str(part);
    }
    out
}

/// Tickets `1..=count`, generated lazily.
pub fn tickets(count: u64) -> impl Iterator<Item = Ticket> + Send {
    (1..=count as i64).map(ticket)
}

/// Formats Unix seconds as an RFC 3339 UTC timestamp (`2024-03-01T12:00:00Z`), for
/// years 0 to 9999.
fn rfc3339(secs: i64) -> String {
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400) as u32;
    let (y, m, d) = civil_from_days(days);
    let y = y.clamp(0, 9999) as u32;
    let mut out = [0u8; 20];
    let two = |out: &mut [u8], v: u32| {
        out[0] = b'0' + (v / 10) as u8;
        out[1] = b'0' + (v % 10) as u8;
    };
    two(&mut out[0..2], y / 100);
    two(&mut out[2..4], y % 100);
    out[4] = b'-';
    two(&mut out[5..7], m);
    out[7] = b'-';
    two(&mut out[8..10], d);
    out[10] = b'T';
    two(&mut out[11..13], rem / 3600);
    out[13] = b':';
    two(&mut out[14..16], rem % 3600 / 60);
    out[16] = b':';
    two(&mut out[17..19], rem % 60);
    out[19] = b'Z';
    String::from_utf8_lossy(&out).into_owned()
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic() {
        assert_eq!(ticket(42), ticket(42));
        assert_ne!(ticket(42), ticket(43));
    }

    #[test]
    fn output_is_pinned() {
        // The demo data must not change between versions.
        assert_eq!(
            serde_json::to_string(&ticket(1)).unwrap_or_default(),
            r#"{"id":1,"subject":"Can't log in after password reset","body":"Quick one: can you add me to the \"beta\" list?\r\nCheers, chen","status":"pending","priority":1,"assignee":null,"reporter":"chen.27300@customer.example.org","tags":"urgent,mobile","score":4.55,"created_at":"2024-01-01T00:13:25Z","updated_at":"2024-01-11T16:52:20Z"}"#
        );
    }

    /// The generator as first written, with `str::replace` and `format!`: the demo data
    /// is defined by it, so the fast one must produce the same tickets.
    fn reference_ticket(id: i64) -> Ticket {
        let mut rng = SplitMix64(id as u64 ^ 0x0005_EED0_F71C_4E75);
        let n = rng.below(100_000);
        let name = NAMES[rng.below(NAMES.len())];
        let subject = SUBJECTS[rng.below(SUBJECTS.len())].replace("{n}", &n.to_string());
        let body = BODIES[rng.below(BODIES.len())].replace("{name}", name);
        let status = STATUSES[rng.below(STATUSES.len())];
        let priority = 1 + rng.below(4) as i64;
        let assignee = if rng.below(5) == 0 {
            None
        } else {
            Some(format!(
                "{}@support.example.com",
                NAMES[rng.below(NAMES.len())]
            ))
        };
        let reporter = format!("{name}.{n}@customer.example.org");
        let tag_count = 1 + rng.below(3);
        let tags = (0..tag_count)
            .map(|_| TAGS[rng.below(TAGS.len())])
            .collect::<Vec<_>>()
            .join(",");
        let score = (rng.below(501) as f64) / 100.0;
        let created = EPOCH_2024 + (id * 37) % (365 * 86_400) + rng.below(3_600) as i64;
        let updated = created + rng.below(30 * 86_400) as i64;
        let stamp = |secs: i64| {
            let days = secs.div_euclid(86_400);
            let rem = secs.rem_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60
            )
        };
        Ticket {
            id,
            subject,
            body,
            status,
            priority,
            assignee,
            reporter,
            tags,
            score,
            created_at: stamp(created),
            updated_at: stamp(updated),
        }
    }

    #[test]
    fn same_tickets_as_the_reference_generator() {
        for id in (1..=50_000).chain([0, 999_999, 10_000_000, 123_456_789]) {
            assert_eq!(ticket(id), reference_ticket(id), "ticket {id}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(EPOCH_2024), "2024-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_709_294_400), "2024-03-01T12:00:00Z");
    }

    #[test]
    fn hard_text_and_nulls_occur() {
        let all: Vec<Ticket> = tickets(2_000).collect();
        assert!(all.iter().any(|t| t.assignee.is_none()));
        assert!(all.iter().any(|t| t.assignee.is_some()));
        assert!(all.iter().any(|t| t.subject.contains('"')));
        assert!(all.iter().any(|t| t.subject.contains(',')));
        assert!(all.iter().any(|t| t.body.contains('\n')));
        assert!(
            all.iter()
                .any(|t| t.subject.chars().any(|c| c as u32 > 0xFFFF))
        );
        assert!(all.iter().any(|t| !t.subject.is_ascii()));
        let avg = all
            .iter()
            .map(|t| serde_json::to_vec(t).unwrap().len())
            .sum::<usize>()
            / all.len();
        assert!((300..=500).contains(&avg), "average JSON size {avg}");
    }
}
