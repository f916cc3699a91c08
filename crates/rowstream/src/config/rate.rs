//! Rate limiting for [`Limits`](crate::Limits): the generic cell rate algorithm (GCRA,
//! ITU-T I.371) on tokio's clock, so rates hold under `tokio::time::pause` as in real
//! time.
//!
//! One limiter belongs to one stream's producer task, so it needs no atomics: it keeps
//! the theoretical arrival time (when the units let through so far have been "paid for"
//! at the rate) and lets `n` units through as soon as that time, after adding them, is at
//! most one burst ahead of now.

use std::num::NonZeroU32;
use std::time::Duration;

use tokio::time::Instant;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Units (items or bytes) per second, with bursts of up to a tenth of a second's worth:
/// the long-run rate is exact and no 100 ms window carries much more than its share.
#[derive(Debug)]
pub(crate) struct RateLimiter {
    per_second: NonZeroU32,
    /// What one unit costs: 1 s / rate, rounded up to a nanosecond.
    unit: Duration,
    /// How far the theoretical arrival time may run ahead of now: a burst's worth.
    tolerance: Duration,
    /// The theoretical arrival time: when the units let through so far are paid for.
    paid_until: Instant,
}

impl RateLimiter {
    pub(crate) fn new(per_second: NonZeroU32) -> Self {
        let burst = (per_second.get() / 10).max(1);
        let mut limiter = Self {
            per_second,
            unit: Duration::ZERO,
            tolerance: Duration::ZERO,
            paid_until: Instant::now(),
        };
        limiter.unit = limiter.cost(1);
        limiter.tolerance = limiter.cost(burst as usize);
        limiter
    }

    /// What `units` cost at the rate, rounded up to a nanosecond.
    fn cost(&self, units: usize) -> Duration {
        let nanos = u128::from(NANOS_PER_SECOND) * units as u128;
        let nanos = nanos.div_ceil(u128::from(self.per_second.get()));
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    /// Waits until `units` may pass. More units than one burst pass once the time they
    /// cost beyond the burst has gone by.
    pub(crate) async fn acquire(&mut self, units: usize) {
        let cost = if units == 1 {
            self.unit
        } else {
            self.cost(units)
        };
        let now = Instant::now();
        let start = self.paid_until.max(now);
        // A cost too large to add to a clock reading takes centuries at this rate: wait
        // as long as tokio's timer can (a deadline still ends the stream).
        let Some(paid_until) = start.checked_add(cost) else {
            return tokio::time::sleep(cost).await;
        };
        self.paid_until = paid_until;
        if let Some(allowed_at) = paid_until.checked_sub(self.tolerance) {
            if allowed_at > now {
                tokio::time::sleep_until(allowed_at).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limiter(per_second: u32) -> RateLimiter {
        RateLimiter::new(NonZeroU32::new(per_second).expect("a rate above 0"))
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_passes_then_the_rate_holds() {
        let mut rate = limiter(100);
        let start = Instant::now();
        for _ in 0..10 {
            rate.acquire(1).await;
        }
        assert_eq!(
            start.elapsed(),
            Duration::ZERO,
            "a tenth of a second's worth"
        );
        rate.acquire(1).await;
        assert_eq!(start.elapsed(), Duration::from_millis(10));
        for _ in 0..89 {
            rate.acquire(1).await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(900));
    }

    #[tokio::test(start_paused = true)]
    async fn many_units_at_once_wait_for_what_they_cost_beyond_the_burst() {
        let mut rate = limiter(1_000);
        let start = Instant::now();
        rate.acquire(5_100).await;
        assert_eq!(start.elapsed(), Duration::from_secs(5));
        rate.acquire(1).await;
        assert_eq!(start.elapsed(), Duration::from_millis(5_001));
    }

    #[tokio::test(start_paused = true)]
    async fn idle_time_earns_no_more_than_one_burst() {
        let mut rate = limiter(10);
        rate.acquire(1).await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        let start = Instant::now();
        rate.acquire(1).await;
        assert_eq!(start.elapsed(), Duration::ZERO);
        rate.acquire(1).await;
        assert_eq!(start.elapsed(), Duration::from_millis(100));
    }

    #[test]
    fn costs_round_up_so_the_rate_is_never_exceeded() {
        let rate = limiter(3);
        assert_eq!(rate.cost(1), Duration::from_nanos(333_333_334));
        assert_eq!(rate.cost(3), Duration::from_secs(1));
        assert_eq!(limiter(u32::MAX).cost(1), Duration::from_nanos(1));
        assert_eq!(limiter(1).cost(usize::MAX), Duration::from_nanos(u64::MAX));
    }
}
