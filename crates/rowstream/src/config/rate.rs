//! Rate limiting for [`Limits`](crate::Limits): a GCRA limiter from the `governor` crate
//! on tokio's clock, so rates hold under `tokio::time::pause` as in real time.

use std::num::NonZeroU32;
use std::time::Duration;

use governor::clock::Clock;
use governor::middleware::NoOpMiddleware;
use governor::state::{InMemoryState, NotKeyed};
use governor::{Quota, RateLimiter as Governor};

/// tokio's clock, as time elapsed since the limiter was made.
#[derive(Debug, Clone, Copy)]
struct TokioClock(tokio::time::Instant);

impl Clock for TokioClock {
    type Instant = Duration;

    fn now(&self) -> Duration {
        self.0.elapsed()
    }
}

/// Units (items or bytes) per second, with bursts of up to a tenth of a second's worth:
/// the long-run rate is exact and no 100 ms window carries much more than its share.
pub(crate) struct RateLimiter {
    limiter: Governor<NotKeyed, InMemoryState, TokioClock, NoOpMiddleware<Duration>>,
    clock: TokioClock,
    burst: NonZeroU32,
}

impl std::fmt::Debug for RateLimiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RateLimiter")
            .field("per_second", &self.burst)
            .finish()
    }
}

impl RateLimiter {
    pub(crate) fn new(per_second: NonZeroU32) -> Self {
        let clock = TokioClock(tokio::time::Instant::now());
        let burst = NonZeroU32::new(per_second.get() / 10).unwrap_or(NonZeroU32::MIN);
        Self {
            limiter: Governor::direct_with_clock(
                Quota::per_second(per_second).allow_burst(burst),
                clock,
            ),
            clock,
            burst,
        }
    }

    /// Waits until `units` may pass. More units than one burst are taken in portions.
    pub(crate) async fn acquire(&self, units: usize) {
        let mut left = units;
        while left > 0 {
            let take = left.min(self.burst.get() as usize);
            left -= take;
            let Some(n) = NonZeroU32::new(take as u32) else {
                return;
            };
            loop {
                match self.limiter.check_n(n) {
                    Ok(Ok(())) => break,
                    Ok(Err(not_until)) => {
                        tokio::time::sleep(not_until.wait_time_from(self.clock.now())).await;
                    }
                    // `take` never exceeds the burst, so this cannot happen; let it pass.
                    Err(_) => break,
                }
            }
        }
    }
}
