//! What the fronts see of each slot's traffic: requests by the class of
//! their answer, answers the front had to make itself because the slot did
//! not answer, and the time to the answer's head, as a histogram. Counted
//! with relaxed atomics on the request path (a few adds a request); read
//! whole for the admin API's JSON and Prometheus' text exposition format.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use pipeline_contracts::agent::Traffic;

/// The upper bounds of the latency buckets, in seconds (Prometheus'
/// default buckets).
pub const BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The counters of one slot, for as long as the agent runs.
#[derive(Debug, Default)]
pub struct SlotMetrics {
    /// Answers by class: 1xx to 5xx (index 0 to 4).
    classes: [AtomicU64; 5],
    /// Requests the slot did not answer (the front answered 502).
    failed: AtomicU64,
    /// Answers per latency bucket (not cumulative), the last one +Inf.
    buckets: [AtomicU64; BUCKETS.len() + 1],
    /// The sum of the latencies, in microseconds.
    sum_micros: AtomicU64,
}

impl SlotMetrics {
    /// Counts an answer of `status` whose head came after `latency`.
    pub fn answered(&self, status: u16, latency: Duration) {
        let class = usize::from(status / 100).clamp(1, 5) - 1;
        self.classes[class].fetch_add(1, Ordering::Relaxed);
        self.observe(latency);
    }

    /// Counts a request the slot did not answer.
    pub fn failed(&self, latency: Duration) {
        self.failed.fetch_add(1, Ordering::Relaxed);
        self.observe(latency);
    }

    fn observe(&self, latency: Duration) {
        let secs = latency.as_secs_f64();
        let i = BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(BUCKETS.len());
        self.buckets[i].fetch_add(1, Ordering::Relaxed);
        let micros = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
    }

    /// The counters now.
    pub fn read(&self) -> Traffic {
        let classes: Vec<u64> = self
            .classes
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        let failed = self.failed.load(Ordering::Relaxed);
        let mut cumulative = 0;
        let latency_buckets = self
            .buckets
            .iter()
            .map(|b| {
                cumulative += b.load(Ordering::Relaxed);
                cumulative
            })
            .collect();
        Traffic {
            requests: classes.iter().sum::<u64>() + failed,
            responses_1xx: classes[0],
            responses_2xx: classes[1],
            responses_3xx: classes[2],
            responses_4xx: classes[3],
            responses_5xx: classes[4],
            failed,
            latency_le_seconds: BUCKETS.to_vec(),
            latency_buckets,
            latency_sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

/// One slot's figures, with what names it, for [`exposition`].
#[derive(Debug, Clone)]
pub struct Sample<'a> {
    /// The environment.
    pub env: &'a str,
    /// `blue` or `green`.
    pub slot: &'a str,
    /// Whether it takes live traffic.
    pub live: bool,
    /// Requests in flight to it.
    pub in_flight: usize,
    /// Requests cut by stops past the drain timeout.
    pub cut: u64,
    /// Its traffic.
    pub traffic: &'a Traffic,
}

/// Prometheus' text exposition format (version 0.0.4) of `samples`.
pub fn exposition(samples: &[Sample<'_>]) -> String {
    let mut out = String::new();
    let family = |out: &mut String, name: &str, kind: &str, help: &str| {
        let _ = writeln!(out, "# HELP {name} {help}");
        let _ = writeln!(out, "# TYPE {name} {kind}");
    };
    let labels = |s: &Sample<'_>| format!("env=\"{}\",slot=\"{}\"", s.env, s.slot);
    family(
        &mut out,
        "pipeline_agent_requests_total",
        "counter",
        "Requests the front sent to the slot, by the class of their answer (failed: the slot did not answer and the front answered 502).",
    );
    for s in samples {
        let t = s.traffic;
        for (class, n) in [
            ("1xx", t.responses_1xx),
            ("2xx", t.responses_2xx),
            ("3xx", t.responses_3xx),
            ("4xx", t.responses_4xx),
            ("5xx", t.responses_5xx),
            ("failed", t.failed),
        ] {
            let _ = writeln!(
                out,
                "pipeline_agent_requests_total{{{},class=\"{class}\"}} {n}",
                labels(s)
            );
        }
    }
    family(
        &mut out,
        "pipeline_agent_response_seconds",
        "histogram",
        "Time from the request to the head of the slot's answer.",
    );
    for s in samples {
        let t = s.traffic;
        for (le, n) in t.latency_le_seconds.iter().zip(&t.latency_buckets) {
            let _ = writeln!(
                out,
                "pipeline_agent_response_seconds_bucket{{{},le=\"{le}\"}} {n}",
                labels(s)
            );
        }
        let count = t.latency_buckets.last().copied().unwrap_or(0);
        let _ = writeln!(
            out,
            "pipeline_agent_response_seconds_bucket{{{},le=\"+Inf\"}} {count}",
            labels(s)
        );
        let _ = writeln!(
            out,
            "pipeline_agent_response_seconds_sum{{{}}} {}",
            labels(s),
            t.latency_sum_seconds
        );
        let _ = writeln!(
            out,
            "pipeline_agent_response_seconds_count{{{}}} {count}",
            labels(s)
        );
    }
    family(
        &mut out,
        "pipeline_agent_requests_in_flight",
        "gauge",
        "Requests sent to the slot and not answered yet.",
    );
    for s in samples {
        let _ = writeln!(
            out,
            "pipeline_agent_requests_in_flight{{{}}} {}",
            labels(s),
            s.in_flight
        );
    }
    family(
        &mut out,
        "pipeline_agent_cut_requests_total",
        "counter",
        "Requests cut because the slot was stopped past the drain timeout.",
    );
    for s in samples {
        let _ = writeln!(
            out,
            "pipeline_agent_cut_requests_total{{{}}} {}",
            labels(s),
            s.cut
        );
    }
    family(
        &mut out,
        "pipeline_agent_slot_live",
        "gauge",
        "1 for the slot taking live traffic.",
    );
    for s in samples {
        let _ = writeln!(
            out,
            "pipeline_agent_slot_live{{{}}} {}",
            labels(s),
            u8::from(s.live)
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_classes_failures_and_cumulative_buckets() {
        let m = SlotMetrics::default();
        m.answered(200, Duration::from_millis(3));
        m.answered(204, Duration::from_millis(30));
        m.answered(503, Duration::from_secs(20));
        m.answered(99, Duration::from_millis(1)); // below 1xx: counted as 1xx
        m.failed(Duration::from_millis(7));
        let t = m.read();
        assert_eq!(t.requests, 5);
        assert_eq!(
            (t.responses_2xx, t.responses_5xx, t.responses_1xx),
            (2, 1, 1)
        );
        assert_eq!(t.failed, 1);
        // <= 5 ms: 2; <= 10 ms: 3; <= 50 ms: 4; +Inf: 5.
        assert_eq!(t.latency_buckets[0], 2);
        assert_eq!(t.latency_buckets[1], 3);
        assert_eq!(t.latency_buckets[3], 4);
        assert_eq!(*t.latency_buckets.last().unwrap(), 5);
        assert_eq!(t.latency_buckets[BUCKETS.len() - 1], 4);
        let text = exposition(&[Sample {
            env: "qa",
            slot: "blue",
            live: true,
            in_flight: 0,
            cut: 0,
            traffic: &t,
        }]);
        assert!(
            text.contains(
                "pipeline_agent_requests_total{env=\"qa\",slot=\"blue\",class=\"2xx\"} 2\n"
            )
        );
        assert!(text.contains(
            "pipeline_agent_response_seconds_bucket{env=\"qa\",slot=\"blue\",le=\"+Inf\"} 5\n"
        ));
        assert!(
            text.contains("pipeline_agent_response_seconds_count{env=\"qa\",slot=\"blue\"} 5\n")
        );
        assert!(text.contains("# TYPE pipeline_agent_response_seconds histogram\n"));
    }
}
