//! The headline: clients keep sending requests through the front on
//! kept-alive connections while the slots are switched back and forth, and
//! not one request fails; every answer comes from a release that was live
//! while it was under way.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

use serde_json::json;

use crate::harness::{Agent, ENV, POLL, WAIT, slot};
use crate::http::{self, KeepAlive};

const CLIENTS: usize = 8;
const SWITCHES: usize = 20;
/// Answers waited for between two switches (and before one), so that
/// every release gets traffic and a request written before the wait has
/// been routed by the front.
const SETTLE: usize = CLIENTS * 4;

#[derive(Debug)]
struct Answer {
    sent: Instant,
    received: Instant,
    status: u16,
    version: Option<String>,
    error: Option<String>,
}

#[derive(Debug)]
struct Client {
    answers: Vec<Answer>,
    connections: usize,
}

#[derive(Debug)]
struct Switch {
    requested: Instant,
    replied: Instant,
    live: String,
}

/// Sends `GET /version` on one kept-alive connection until `stop`,
/// recording every answer (a failure reconnects and is recorded too).
fn client(front: SocketAddr, stop: &AtomicBool, done: &AtomicUsize) -> Client {
    let mut conn = KeepAlive::connect(front).unwrap();
    let mut connections = 1;
    let mut answers = Vec::new();
    while !stop.load(Ordering::Acquire) {
        let sent = Instant::now();
        let result = conn.get("/version");
        let received = Instant::now();
        let reconnect = match result {
            Ok((status, headers, body)) => {
                let version = headers.get("x-pipeline-version").map(str::to_owned);
                let error = (version.as_deref().map(str::as_bytes) != Some(&body[..]))
                    .then(|| format!("body {:?}", String::from_utf8_lossy(&body)));
                answers.push(Answer {
                    sent,
                    received,
                    status,
                    version,
                    error,
                });
                // A server may close a kept-alive connection after saying so.
                headers
                    .get("connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case("close"))
            }
            Err(e) => {
                answers.push(Answer {
                    sent,
                    received,
                    status: 0,
                    version: None,
                    error: Some(e.to_string()),
                });
                true
            }
        };
        if reconnect {
            conn = KeepAlive::connect(front).unwrap();
            connections += 1;
        }
        done.fetch_add(1, Ordering::AcqRel);
    }
    Client {
        answers,
        connections,
    }
}

/// Waits until `n` more answers have come back.
fn settle(done: &AtomicUsize, n: usize) {
    let target = done.load(Ordering::Acquire) + n;
    let deadline = Instant::now() + WAIT;
    while done.load(Ordering::Acquire) < target {
        assert!(
            Instant::now() < deadline,
            "the clients got {} of {target} answers in {WAIT:?}",
            done.load(Ordering::Acquire)
        );
        std::thread::sleep(POLL / 5);
    }
}

/// The versions live at some instant of `[from, to]`: the first release
/// until the first switch's reply, then each switch's release from its
/// request to the next switch's reply.
fn live_during(first: &str, switches: &[Switch], from: Instant, to: Instant) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if switches.first().is_none_or(|s| from <= s.replied) {
        out.insert(first.to_owned());
    }
    for (k, s) in switches.iter().enumerate() {
        let end = switches.get(k + 1).map(|next| next.replied);
        if s.requested <= to && end.is_none_or(|end| from <= end) {
            out.insert(s.live.clone());
        }
    }
    out
}

/// Sets the flag when dropped, so that a failing main thread stops the
/// clients instead of waiting for them forever.
struct StopOnDrop<'a>(&'a AtomicBool);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Release);
    }
}

#[test]
fn switching_back_and_forth_under_load_fails_no_request() {
    let agent = Agent::start();
    let front = agent.declare(ENV, &json!({ "keep_warm_secs": 600 }));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    agent.deploy(ENV, &agent.release("2.0.0", None)).expect(200);
    let status = agent.status(ENV);
    assert_eq!(slot(&status, "blue")["state"], "live", "{status:#}");
    assert_eq!(slot(&status, "green")["state"], "idle", "{status:#}");

    let stop = AtomicBool::new(false);
    let done = AtomicUsize::new(0);
    let mut switches: Vec<Switch> = Vec::new();
    // (sent, swap replied, status, version, the version live when sent)
    let mut slow = Vec::new();
    let clients: Vec<Client> = std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        let threads: Vec<_> = (0..CLIENTS)
            .map(|_| s.spawn(|| client(front, &stop, &done)))
            .collect();
        settle(&done, SETTLE);
        let mut live = "1.0.0".to_owned();
        for k in 0..SWITCHES {
            // Every other switch, a slow request is in flight across it.
            let pending = (k % 2 == 0).then(|| {
                let sent = Instant::now();
                let stream = http::send(front, "GET", "/slow?ms=300", &[], b"").unwrap();
                settle(&done, SETTLE);
                (sent, stream, live.clone())
            });
            let requested = Instant::now();
            let reply = agent.swap(ENV).expect(200);
            let replied = Instant::now();
            let now_live = reply.body["live_version"].as_str().unwrap().to_owned();
            assert_ne!(now_live, live, "a swap alternates: {}", reply.text);
            switches.push(Switch {
                requested,
                replied,
                live: now_live.clone(),
            });
            if let Some((sent, mut stream, started_on)) = pending {
                let (status, headers, _) = http::read_response(&mut stream).unwrap();
                let version = headers.get("x-pipeline-version").map(str::to_owned);
                slow.push((sent, replied, status, version, started_on));
            }
            live = now_live;
            settle(&done, SETTLE);
        }
        stop.store(true, Ordering::Release);
        threads.into_iter().map(|t| t.join().unwrap()).collect()
    });

    // Not one request failed.
    let total: usize = clients.iter().map(|c| c.answers.len()).sum();
    let failed: Vec<&Answer> = clients
        .iter()
        .flat_map(|c| &c.answers)
        .filter(|a| a.status != 200 || a.error.is_some())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {total} requests failed; the first: {:?}",
        failed.len(),
        &failed[..failed.len().min(5)]
    );

    // Every answer came from a release live at some instant between its
    // request and its answer.
    let wrong: Vec<(&Answer, BTreeSet<String>)> = clients
        .iter()
        .flat_map(|c| &c.answers)
        .map(|a| (a, live_during("1.0.0", &switches, a.sent, a.received)))
        .filter(|(a, live)| !a.version.as_ref().is_some_and(|v| live.contains(v)))
        .collect();
    assert!(
        wrong.is_empty(),
        "{} of {total} answers came from a release that was not live: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(5)]
    );

    // The clients kept their connections across all the switches, and
    // each switch moved the next request on them.
    for (n, c) in clients.iter().enumerate() {
        assert_eq!(c.connections, 1, "client {n} had to reconnect");
        let seen: BTreeSet<&str> = c
            .answers
            .iter()
            .filter_map(|a| a.version.as_deref())
            .collect();
        assert_eq!(
            seen,
            BTreeSet::from(["1.0.0", "2.0.0"]),
            "client {n} saw {seen:?} on its one connection"
        );
    }
    // Every release between two switches got answers of its own (the test
    // checks something).
    for k in 0..SWITCHES - 1 {
        let (after, before) = (switches[k].replied, switches[k + 1].requested);
        let inside = clients
            .iter()
            .flat_map(|c| &c.answers)
            .filter(|a| a.sent >= after && a.received <= before)
            .count();
        assert!(inside > 0, "no answer between switches {k} and {}", k + 1);
    }

    // The slow requests finished where they started, though the traffic
    // moved while they ran.
    assert_eq!(slow.len(), SWITCHES / 2);
    for (sent, replied, status, version, started_on) in &slow {
        assert_eq!(
            (*status, version.as_deref()),
            (200, Some(started_on.as_str())),
            "a slow request sent {:?} before the switch's reply",
            replied.duration_since(*sent)
        );
    }
    let across = slow
        .iter()
        .filter(|(sent, replied, ..)| replied.duration_since(*sent).as_millis() < 300)
        .count();
    assert!(
        across > 0,
        "no slow request was still running when its switch was answered"
    );

    let status = agent.status(ENV);
    assert_eq!(status["live"], "blue", "20 switches end where they began");
    assert_eq!(slot(&status, "green")["state"], "warm");
    assert_eq!(slot(&status, "blue")["restarts"], 0);
    assert_eq!(slot(&status, "green")["restarts"], 0);
}
