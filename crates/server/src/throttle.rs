//! Client quotas enforced: each produce and consumer fetch records its bytes, and each
//! request the time spent handling it, against the quota that applies to the client (user and
//! client id, as `brook_security::quota` resolves it); a client over its quota is told how long
//! to back off (`throttle_time_ms`) and its connection is not read from for that long, as Kafka
//! mutes it (KIP-219).

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use brook_security::quota::{self, REQUEST_PERCENTAGE, RateMeter};

use crate::broker::Broker;

/// Meters kept before idle ones are swept.
const SWEEP_AT: usize = 10_000;

/// A quota sensor's key: (user, client id, quota key), a part empty when the quota is not
/// specific to it.
type Sensor = (String, String, &'static str);

/// The byte-rate meters of the clients that have quotas, by (user, client id, key) as Kafka
/// keys its quota sensors: a quota set for a user is shared by all of that user's clients, a
/// default quota applies to each user (or client id) separately.
#[derive(Default)]
pub struct Throttles {
    /// Each sensor's meter and when it was last used (ms).
    meters: Mutex<HashMap<Sensor, (RateMeter, u64)>>,
}

impl Throttles {
    /// Records `bytes` of `key` (a byte-rate quota key) for the client; how long it must back
    /// off, zero when it has no quota or is within it.
    pub fn record(&self, broker: &Broker, user: &str, client_id: &str, key: &'static str, bytes: usize) -> Duration {
        self.with_meter(broker, user, client_id, key, |meter, now_ms, limit| meter.record(now_ms, bytes as f64, limit))
    }

    /// How long the client is still over its quota beyond the throttle it was told: a fetch
    /// waits this long before it is served, so a client whose responses are larger than its
    /// quota's window still gets no more than its quota.
    pub fn overdue(&self, broker: &Broker, user: &str, client_id: &str, key: &'static str) -> Duration {
        self.with_meter(broker, user, client_id, key, |meter, now_ms, _| meter.overdue(now_ms))
    }

    /// Records `busy`, the time spent handling one of the client's requests, against its
    /// `request_percentage` quota (percent of one thread's time); how long it must back off.
    pub fn record_time(&self, broker: &Broker, user: &str, client_id: &str, busy: Duration) -> Duration {
        self.with_meter(broker, user, client_id, REQUEST_PERCENTAGE, |meter, now_ms, percent| {
            // `percent` of a thread is `percent` × 10 ms of handling per second.
            meter.record(now_ms, busy.as_secs_f64() * 1000.0, percent * 10.0)
        })
    }

    fn with_meter(
        &self,
        broker: &Broker,
        user: &str,
        client_id: &str,
        key: &'static str,
        f: impl FnOnce(&mut RateMeter, u64, f64) -> Duration,
    ) -> Duration {
        let (limit, sensor) = {
            let image = broker.image();
            if image.client_quotas.is_empty() {
                return Duration::ZERO;
            }
            let Some((limit, entity)) = quota::resolve(&image.client_quotas, user, client_id, key) else {
                return Duration::ZERO;
            };
            let part = |set: bool, name: &str| if set { name.to_string() } else { String::new() };
            (limit, (part(entity.user.is_some(), user), part(entity.client_id.is_some(), client_id), key))
        };
        let now_ms = broker.clock.now_ms().max(0) as u64;
        let mut meters = self.meters.lock().unwrap_or_else(|e| e.into_inner());
        let (samples, seconds) = (broker.config.quota_window_samples, broker.config.quota_window_sample_seconds);
        // Meters idle for a whole window are dropped when the table grows.
        let window_ms = samples as u64 * seconds * 1000;
        if meters.len() >= SWEEP_AT {
            meters.retain(|_, (_, last)| now_ms.saturating_sub(*last) < window_ms);
        }
        let (meter, last) =
            meters.entry(sensor).or_insert_with(|| (RateMeter::new(Duration::from_millis(window_ms)), now_ms));
        *last = now_ms;
        f(meter, now_ms, limit)
    }
}

/// A request's handling, timed: the time spent inside its polls, which is what a request
/// handler thread spends on it in Kafka (the time it waits, for data to fetch or replicas to
/// acknowledge, is not counted).
pub struct Busy<F> {
    inner: F,
    busy: Duration,
}

impl<F> Busy<F> {
    /// `already` is the time spent before the future was made (dispatching the request).
    pub fn new(inner: F, already: Duration) -> Busy<F> {
        Busy { inner, busy: already }
    }
}

impl<F: Future + Unpin> Future for Busy<F> {
    type Output = (F::Output, Duration);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let started = Instant::now();
        let polled = Pin::new(&mut self.inner).poll(cx);
        self.busy += started.elapsed();
        polled.map(|output| (output, self.busy))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn busy_counts_work_not_waiting() {
        let waiting = Box::pin(tokio::time::sleep(Duration::from_millis(60)));
        let ((), busy) = Busy::new(waiting, Duration::ZERO).await;
        assert!(busy < Duration::from_millis(30), "{busy:?} counted while waiting");
        let working = Box::pin(async {
            let until = Instant::now() + Duration::from_millis(40);
            while Instant::now() < until {
                std::hint::spin_loop();
            }
        });
        let ((), busy) = Busy::new(working, Duration::from_millis(5)).await;
        assert!(busy >= Duration::from_millis(45), "{busy:?}");
    }
}
