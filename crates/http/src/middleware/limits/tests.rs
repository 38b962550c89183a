//! The limits, the counters and reservations, the slowdown and the client key.

use std::hash::Hash;
use std::time::Instant;

use super::*;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn counts_refuses_and_resets_per_window() {
    let limiter = Limiter::new(Limit::new(3, Duration::from_secs(60)));
    let t0 = Instant::now();
    let key = ip("192.0.2.1");
    for remaining in [2, 1, 0] {
        let v = limiter.hit(&key, t0).unwrap();
        assert!(!v.limited);
        assert_eq!(v.remaining, remaining);
    }
    let refused = limiter.hit(&key, t0 + Duration::from_secs(10)).unwrap();
    assert!(refused.limited);
    assert_eq!(refused.reset_seconds(), 50);
    assert!(
        !limiter.hit(&ip("192.0.2.2"), t0).unwrap().limited,
        "keys are separate"
    );
    let later = limiter.hit(&key, t0 + Duration::from_secs(60)).unwrap();
    assert!(!later.limited, "a new window starts");
    assert_eq!(later.remaining, 2);
}

fn granted<K: Hash + Eq + Clone + std::fmt::Debug>(r: Reserve<'_, K>) -> Reservation<'_, K> {
    match r {
        Reserve::Granted(r) => r,
        other => panic!("expected a slot, got {other:?}"),
    }
}

#[test]
fn a_reservation_counts_before_the_check_and_a_refund_gives_it_back() {
    let limiter = Limiter::new(Limit::new(2, Duration::from_secs(60)));
    let t0 = Instant::now();
    let key = ip("192.0.2.1");
    let first = granted(limiter.try_reserve(&key, t0));
    assert_eq!(first.count(), 1);
    assert_eq!(limiter.count(&key, t0), 1, "counted while the check runs");
    assert!(
        matches!(limiter.try_reserve(&key, t0), Reserve::Busy),
        "one check per key at a time"
    );
    assert!(
        matches!(
            limiter.try_reserve(&ip("192.0.2.2"), t0),
            Reserve::Granted(_)
        ),
        "other keys are free"
    );
    let after = first.refund().unwrap();
    assert_eq!(after.remaining, 2);
    assert_eq!(limiter.count(&key, t0), 0, "a right secret costs nothing");
    drop(granted(limiter.try_reserve(&key, t0)));
    assert_eq!(limiter.count(&key, t0), 1, "dropping counts");
    let verdict = granted(limiter.try_reserve(&key, t0)).charge().unwrap();
    assert_eq!(verdict.remaining, 0);
    match limiter.try_reserve(&key, t0) {
        Reserve::Limited(v) => assert!(v.limited && v.remaining == 0),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        limiter.try_reserve(&key, t0 + Duration::from_secs(60)),
        Reserve::Granted(_)
    ));
}

#[test]
fn a_window_does_not_roll_over_under_a_check_in_flight() {
    let limiter = Limiter::new(Limit::new(3, Duration::from_secs(60)));
    let t0 = Instant::now();
    let key = "carol".to_owned();
    let slow = granted(limiter.try_reserve(&key, t0));
    let later = t0 + Duration::from_secs(61);
    assert!(matches!(limiter.try_reserve(&key, later), Reserve::Busy));
    limiter.hit(&key, later);
    assert_eq!(limiter.count(&key, t0), 2, "still the old window");
    slow.refund();
    assert_eq!(
        limiter.count(&key, t0),
        1,
        "the refund went to the window it came from"
    );
    assert_eq!(
        granted(limiter.try_reserve(&key, later)).count(),
        1,
        "then a new one"
    );
}

#[test]
fn counting_only_never_refuses_but_keeps_one_check_at_a_time() {
    let limiter = Limiter::counting_only(Limit::new(2, Duration::from_secs(60)));
    let t0 = Instant::now();
    let key = "dave".to_owned();
    for n in 1..=5 {
        let r = granted(limiter.try_reserve(&key, t0));
        assert_eq!(r.count(), n);
        assert!(matches!(limiter.try_reserve(&key, t0), Reserve::Busy));
    }
}

#[test]
fn an_off_limit_grants_without_holding_anything() {
    let limiter = Limiter::<IpAddr>::new(Limit::OFF);
    let key = ip("192.0.2.9");
    let a = granted(limiter.try_reserve(&key, Instant::now()));
    let b = granted(limiter.try_reserve(&key, Instant::now()));
    assert_eq!((a.verdict(), b.count()), (None, 0));
    assert_eq!(limiter.tracked(), 0);
}

#[test]
fn a_busy_window_survives_a_flood_of_keys() {
    let limiter = Limiter::with_capacity(Limit::new(2, Duration::from_secs(1)), 100);
    let t0 = Instant::now();
    let victim = ip("198.51.100.9");
    let held = granted(limiter.try_reserve(&victim, t0));
    for n in 0..10_000u32 {
        limiter.hit(&IpAddr::V4(n.into()), t0 + Duration::from_secs(5));
    }
    assert!(
        matches!(
            limiter.try_reserve(&victim, t0 + Duration::from_secs(5)),
            Reserve::Busy
        ),
        "the check in flight still owns its key"
    );
    drop(held);
}

/// Forty attempts at once on one key: exactly five are checked, never two at a time.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn parallel_attempts_are_checked_one_at_a_time_and_at_most_max() {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let limiter = Arc::new(Limiter::new(Limit::new(5, Duration::from_secs(60))));
    let running = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let tasks: Vec<_> = (0..40)
        .map(|_| {
            let (limiter, running, most) = (limiter.clone(), running.clone(), most.clone());
            tokio::spawn(async move {
                match limiter.reserve(&"key".to_owned(), BUSY_WAIT).await {
                    Reserve::Granted(slot) => {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        // The "verification": slow enough that the others pile up.
                        tokio::time::sleep(Duration::from_millis(5)).await;
                        running.fetch_sub(1, Ordering::SeqCst);
                        drop(slot);
                        1
                    }
                    Reserve::Limited(_) => 0,
                    Reserve::Busy => panic!("waited too long"),
                }
            })
        })
        .collect();
    let mut checked = 0;
    for t in tasks {
        checked += t.await.unwrap();
    }
    assert_eq!(checked, 5);
    assert_eq!(most.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_waiting_attempt_gets_the_slot_when_the_check_ends_or_gives_up() {
    let limiter = Limiter::new(Limit::new(5, Duration::from_secs(60)));
    let key = "erin".to_owned();
    let first = granted(limiter.try_reserve(&key, Instant::now()));
    assert!(matches!(
        limiter.reserve(&key, Duration::from_millis(20)).await,
        Reserve::Busy
    ));
    let (second, ()) = tokio::join!(limiter.reserve(&key, BUSY_WAIT), async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        first.refund();
    });
    assert_eq!(granted(second).count(), 1, "the first was refunded");
}

#[test]
fn off_limits_say_nothing() {
    let limiter = Limiter::<IpAddr>::new(Limit::OFF);
    assert_eq!(limiter.hit(&ip("127.0.0.1"), Instant::now()), None);
}

#[test]
fn loopback_is_limited_like_everyone() {
    let limiter = Limiter::new(Limit::new(1, Duration::from_secs(60)));
    let t0 = Instant::now();
    limiter.hit(&ip("127.0.0.1"), t0);
    assert!(limiter.hit(&ip("127.0.0.1"), t0).unwrap().limited);
}

#[test]
fn a_flood_of_keys_stays_bounded_and_keeps_recent_counters() {
    let limiter = Limiter::with_capacity(Limit::new(2, Duration::from_secs(60)), 1000);
    let t0 = Instant::now();
    let victim = ip("198.51.100.7");
    for n in 0..100_000u32 {
        let at = t0 + Duration::from_millis(u64::from(n) / 100);
        limiter.hit(&IpAddr::V4(n.into()), at);
        if n == 99_800 {
            limiter.hit(&victim, at);
            limiter.hit(&victim, at);
        }
        assert!(limiter.tracked() <= 1000);
    }
    assert!(
        limiter
            .hit(&victim, t0 + Duration::from_secs(1))
            .unwrap()
            .limited,
        "a recent counter survives eviction"
    );
}

#[test]
fn ipv6_counts_per_64_and_mapped_v4_as_v4() {
    assert_eq!(
        client_key(ip("2001:db8:1:2:aaaa::1")),
        client_key(ip("2001:db8:1:2:ffff::9"))
    );
    assert_ne!(
        client_key(ip("2001:db8:1:2::1")),
        client_key(ip("2001:db8:1:3::1"))
    );
    assert_eq!(client_key(ip("::ffff:192.0.2.1")), ip("192.0.2.1"));
}

#[test]
fn limits_parse_and_print() {
    assert_eq!(
        "200/1m".parse::<Limit>(),
        Ok(Limit::new(200, Duration::from_secs(60)))
    );
    assert_eq!(
        "5/15m".parse::<Limit>().unwrap().window,
        Duration::from_secs(900)
    );
    assert_eq!("10/h".parse::<Limit>().unwrap().to_string(), "10/1h");
    assert_eq!("0".parse::<Limit>(), Ok(Limit::OFF));
    assert_eq!("off".parse::<Limit>(), Ok(Limit::OFF));
    assert_eq!("30/45s".parse::<Limit>().unwrap().to_string(), "30/45s");
    for bad in ["", "5", "5/", "5/0m", "x/1m", "5/1d", "-1/1m"] {
        assert!(bad.parse::<Limit>().is_err(), "{bad:?} parsed");
    }
}

#[test]
fn headers_carry_the_window_and_retry_after_only_when_refused() {
    let mut headers = HeaderMap::new();
    let v = Verdict {
        limit: 5,
        remaining: 0,
        reset: Duration::from_millis(1500),
        limited: false,
    };
    v.write_headers(&mut headers);
    assert_eq!(headers["x-ratelimit-limit"], "5");
    assert_eq!(headers["x-ratelimit-reset"], "2");
    assert!(headers.get(RETRY_AFTER).is_none());
    Verdict { limited: true, ..v }.write_headers(&mut headers);
    assert_eq!(headers[RETRY_AFTER], "2");
}

#[test]
fn slowdown_grows_only_past_the_threshold_and_is_capped() {
    assert_eq!(slowdown(5, 5), Duration::ZERO);
    assert_eq!(slowdown(6, 5), Duration::from_secs(1));
    assert_eq!(slowdown(7, 5), Duration::from_secs(2));
    assert_eq!(slowdown(9, 5), MAX_SLOWDOWN);
    assert_eq!(slowdown(u32::MAX, 5), MAX_SLOWDOWN);
    assert_eq!(slowdown(100, 0), Duration::ZERO, "off");
}
