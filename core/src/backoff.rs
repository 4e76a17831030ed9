//! Reconnect delays: exponential with "equal jitter" (AWS's name: half the delay fixed,
//! half random), so a thousand clients cut off by one restart do not come back in one wave,
//! and none retries in a tight loop. Unlimited attempts: a
//! board tab left open overnight must reconnect whenever the server is back.

/// Delays start at `BASE_MS` and double per failed attempt up to `CAP_MS`.
pub const BASE_MS: f64 = 250.0;
pub const CAP_MS: f64 = 10_000.0;

#[derive(Clone, Copy, Debug)]
pub struct Backoff {
    attempt: u32,
    /// The first delay's ceiling, in ms.
    base_ms: f64,
    /// The largest ceiling, in ms.
    cap_ms: f64,
}

/// The browser's reconnects: from [`BASE_MS`] up to [`CAP_MS`].
impl Default for Backoff {
    fn default() -> Self {
        Backoff::new(BASE_MS, CAP_MS)
    }
}

impl Backoff {
    /// Delays whose ceiling starts at `base_ms` and doubles per failed attempt up to
    /// `cap_ms` (a server's link between replicas comes back sooner than a tab need).
    pub fn new(base_ms: f64, cap_ms: f64) -> Self {
        Backoff { attempt: 0, base_ms, cap_ms }
    }

    /// The delay before the next attempt; `random` is uniform in [0, 1).
    pub fn next_delay_ms(&mut self, random: f64) -> u32 {
        let ceiling = (self.base_ms * 2f64.powi(self.attempt.min(16) as i32)).min(self.cap_ms);
        self.attempt = self.attempt.saturating_add(1);
        // Half fixed, half random: never zero (a tight loop), never all at once.
        (ceiling * (0.5 + random.clamp(0.0, 1.0) * 0.5)) as u32
    }

    /// How many attempts failed in a row since the last reset.
    pub fn failures(&self) -> u32 {
        self.attempt
    }

    /// A connection that worked starts the sequence over.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_grow_are_capped_and_jittered() {
        let mut b = Backoff::default();
        let low: Vec<u32> = (0..8).map(|_| b.next_delay_ms(0.0)).collect();
        assert_eq!(low, [125, 250, 500, 1000, 2000, 4000, 5000, 5000]);
        let mut b = Backoff::default();
        let high: Vec<u32> = (0..8).map(|_| b.next_delay_ms(0.999_999)).collect();
        assert!(high.iter().zip(&low).all(|(h, l)| h >= l));
        assert!(high.iter().all(|&d| d as f64 <= CAP_MS));
        b.reset();
        assert_eq!(b.next_delay_ms(0.0), 125);
    }

    #[test]
    fn a_server_link_has_its_own_range() {
        let mut b = Backoff::new(200.0, 4_000.0);
        let low: Vec<u32> = (0..7).map(|_| b.next_delay_ms(0.0)).collect();
        assert_eq!(low, [100, 200, 400, 800, 1600, 2000, 2000]);
        assert!((0..20).map(|_| b.next_delay_ms(0.999_999)).all(|d| d <= 4_000));
    }
}
