//! A pick + release through the safe API against the same two calls made raw (what a C
//! program does: one call each into liblb.so), in the same run: Maglev, 100 targets, one
//! thread, alternating runs, the median of 7. One JSON line, like bench/.
//!
//!     cargo run --release --example bench_pick [-- ITERATIONS]
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

static SINK: AtomicU64 = AtomicU64::new(0);

const GOLDEN: u64 = 0x9E3779B97F4A7C15;

fn safe(b: &liblb::Balancer, n: u64) -> u64 {
    let mut acc = 0u64;
    for i in 0..n {
        if let Ok(id) = b.pick(i.wrapping_mul(GOLDEN)) {
            acc += u64::from(id);
            let _ = b.release(id, 0);
        }
    }
    acc
}

fn raw(b: &liblb::Balancer, n: u64) -> u64 {
    let mut acc = 0u64;
    let p = b.as_ptr();
    for i in 0..n {
        let mut id = 0u32;
        // SAFETY: p is a live balancer; id outlives the call.
        if unsafe { liblb_sys::lb_balancer_pick(p, i.wrapping_mul(GOLDEN), &mut id) } == 0 {
            acc += u64::from(id);
            unsafe { liblb_sys::lb_balancer_release(p, id, 0) };
        }
    }
    acc
}

fn ns_per_op(f: fn(&liblb::Balancer, u64) -> u64, b: &liblb::Balancer, n: u64) -> f64 {
    let t = Instant::now();
    SINK.fetch_add(f(b, n), Ordering::Relaxed);
    t.elapsed().as_nanos() as f64 / n as f64
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[v.len() / 2]
}

fn main() {
    let n: u64 = std::env::args().nth(1).map(|s| s.parse().unwrap()).unwrap_or(2_000_000);
    let cfg = liblb::balancer_config(); // liblb's defaults, as bench/bench_balancer.c
    let b = liblb::Balancer::new(&cfg).unwrap();
    for i in 1..=100u32 {
        b.add(i, format!("10.0.{}.{}:80", i / 256, i % 256).as_bytes(), 1, 0, 0, 0).unwrap();
    }
    ns_per_op(safe, &b, n / 10);
    ns_per_op(raw, &b, n / 10);
    let (mut s, mut r) = (Vec::new(), Vec::new());
    for _ in 0..7 {
        s.push(ns_per_op(safe, &b, n));
        r.push(ns_per_op(raw, &b, n));
    }
    let (s, r) = (median(s), median(r));
    println!(
        "{{\"bench\": \"rust_pick_release_n100_t1\", \"params\": {{\"n\": 100, \"threads\": 1}}, \"ns_per_op\": {:.3}, \"baseline\": \"raw_c_calls_pick_release_n100_t1\", \"baseline_ns_per_op\": {:.3}, \"ratio\": {:.3}}}",
        s, r, s / r
    );
}
