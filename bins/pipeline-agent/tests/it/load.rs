//! The headline: clients keep sending requests through the front while
//! the slots are switched back and forth, and while new releases are
//! deployed into the slot that was live a moment before, and not one
//! request fails; every answer comes from a release that was live while it
//! was under way.

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

/// What one request of [`mixed_client`] was and what came back.
#[derive(Debug)]
struct Exchange {
    what: String,
    status: u16,
    version: Option<String>,
    error: Option<String>,
}

/// Bodies of up to 300 KB, the same every run.
fn body_of(n: usize) -> Vec<u8> {
    let len = (n * 37_013) % 300_000 + 1;
    (0..len).map(|i| b'a' + ((i * 7 + n) % 26) as u8).collect()
}

/// Requests of one kind until `stop`: `slow` ones (100 to 1,500 ms) or
/// quick ones, on one kept-alive connection or a fresh connection each
/// (then every other one a `POST /echo` of up to 300 KB).
fn mixed_client(
    front: SocketAddr,
    slow: bool,
    fresh: bool,
    stop: &AtomicBool,
    done: &AtomicUsize,
) -> Vec<Exchange> {
    let mut out = Vec::new();
    let mut conn = None;
    let mut n = 0usize;
    while !stop.load(Ordering::Acquire) {
        n += 1;
        let path = if slow {
            format!("/slow?ms={}", 100 + (n * 347) % 1_401)
        } else {
            "/version".to_owned()
        };
        let (what, result) = if fresh && !slow && n % 2 == 0 {
            let body = body_of(n);
            let result = http::post(front, "/echo", &[], &body).map(|(status, headers, got)| {
                let error = (got != body)
                    .then(|| format!("echo of {} bytes: {} back", body.len(), got.len()));
                (status, headers, error)
            });
            (format!("POST /echo ({} bytes)", body.len()), result)
        } else if fresh {
            let result = http::get(front, &path).map(|(s, h, _)| (s, h, None));
            (format!("GET {path} (fresh)"), result)
        } else {
            if conn.is_none() {
                conn = Some(KeepAlive::connect(front).unwrap());
            }
            let result = conn
                .as_mut()
                .map(|c| c.get(&path))
                .unwrap_or_else(|| Err(std::io::Error::other("no connection")));
            if result.as_ref().map_or(true, |(_, h, _)| {
                h.get("connection")
                    .is_some_and(|c| c.eq_ignore_ascii_case("close"))
            }) {
                conn = None;
            }
            (
                format!("GET {path} (kept alive)"),
                result.map(|(s, h, _)| (s, h, None)),
            )
        };
        out.push(match result {
            Ok((status, headers, error)) => Exchange {
                what,
                status,
                version: headers.get("x-pipeline-version").map(str::to_owned),
                error,
            },
            Err(e) => Exchange {
                what,
                status: 0,
                version: None,
                error: Some(e.to_string()),
            },
        });
        done.fetch_add(1, Ordering::AcqRel);
    }
    out
}

/// The promise the issue tracker once saw broken: releases deployed and
/// switched to one after another while clients keep sending requests,
/// quick and slow (up to 1.5 s), kept alive and on fresh connections, with
/// bodies up to 300 KB; the apps exit at once on SIGTERM, as most do. A
/// slow request that started on a slot is still running when the next
/// deploy into that slot begins, every round: the deploy waits for it.
/// Not one request fails.
#[test]
fn deploys_under_load_with_slow_requests_cut_no_request() {
    const ROUNDS: usize = 5;
    let agent = Agent::start();
    let front = agent.declare(ENV, &json!({ "keep_warm_secs": 600 }));
    let abrupt = Some("TESTAPP_SIGTERM=exit\n");
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", abrupt));
    agent
        .deploy(ENV, &agent.release("2.0.0", abrupt))
        .expect(200);

    let stop = AtomicBool::new(false);
    let done = AtomicUsize::new(0);
    // (the slow request's answer, when the deploy into its slot began, when
    // the slow request was answered)
    let mut straddlers = Vec::new();
    let exchanges: Vec<Exchange> = std::thread::scope(|s| {
        let _stop = StopOnDrop(&stop);
        let kinds = [
            (false, false),
            (false, false),
            (false, true),
            (true, false),
            (true, true),
        ];
        let threads: Vec<_> = kinds
            .iter()
            .map(|&(slow, fresh)| {
                let (stop, done) = (&stop, &done);
                s.spawn(move || mixed_client(front, slow, fresh, stop, done))
            })
            .collect();
        settle(&done, SETTLE);
        for round in 0..ROUNDS {
            let status = agent.status(ENV);
            let live = status["live"].as_str().unwrap().to_owned();
            let live_version = slot(&status, &live)["version"].as_str().unwrap().to_owned();
            // A slow request on the live slot: in flight there, and routed
            // (written before many answers came back).
            let mut slow = http::send(front, "GET", "/slow?ms=1500", &[], b"").unwrap();
            agent.wait_status(ENV, "a slow request in flight", |st| {
                slot(st, &live)["requests_in_flight"].as_u64() >= Some(1)
            });
            settle(&done, SETTLE);
            agent.swap(ENV).expect(200);
            // The next deploy goes into the slot the slow request runs on.
            let version = format!("{}.0.0", round + 3);
            let release = agent.release(&version, abrupt);
            let deploying = Instant::now();
            let reply = agent.deploy(ENV, &release).expect(200);
            assert_eq!(reply.body["slot"], live.as_str(), "{}", reply.text);
            let answer = http::read_response(&mut slow);
            straddlers.push((answer, live_version, deploying, Instant::now()));
            settle(&done, SETTLE);
        }
        agent.swap(ENV).expect(200);
        settle(&done, SETTLE);
        stop.store(true, Ordering::Release);
        threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect()
    });

    let failed: Vec<&Exchange> = exchanges
        .iter()
        .filter(|e| e.status != 200 || e.error.is_some() || e.version.is_none())
        .collect();
    assert!(
        failed.is_empty(),
        "{} of {} requests failed; the first: {:?}",
        failed.len(),
        exchanges.len(),
        &failed[..failed.len().min(5)]
    );
    let slow_ones = exchanges
        .iter()
        .filter(|e| e.what.contains("/slow"))
        .count();
    let echoes = exchanges
        .iter()
        .filter(|e| e.what.contains("/echo"))
        .count();
    assert!(
        slow_ones > 0 && echoes > 0,
        "{slow_ones} slow, {echoes} echoes"
    );
    let mut straddled = 0;
    for (k, (answer, old, deploying, answered)) in straddlers.iter().enumerate() {
        let (status, headers, _) = answer
            .as_ref()
            .unwrap_or_else(|e| panic!("the slow request of round {k} was cut: {e}"));
        assert_eq!(*status, 200, "round {k}");
        let version = headers.get("x-pipeline-version");
        assert!(version.is_some(), "round {k}");
        if version == Some(old.as_str()) && deploying < answered {
            straddled += 1;
        }
    }
    // The deploys did wait for them: a slow request answered by the slot
    // the next deploy went into, after that deploy began (the test checks
    // something).
    assert!(
        straddled > 0,
        "no deploy began while a slow request ran in its slot"
    );
    let status = agent.status(ENV);
    for color in ["blue", "green"] {
        assert_eq!(slot(&status, color)["cut_requests"], 0, "{status:#}");
    }
    assert!(
        !agent.log().contains("cuts them"),
        "the agent cut requests:\n{}",
        agent.log()
    );
}

/// Past the environment's drain timeout a deploy stops the slot anyway:
/// the request still running there is cut, logged and counted.
#[test]
fn past_the_drain_timeout_a_request_is_cut_logged_and_counted() {
    let agent = Agent::start();
    let front = agent.declare(
        ENV,
        &json!({ "keep_warm_secs": 600, "drain_timeout_secs": 1 }),
    );
    let abrupt = Some("TESTAPP_SIGTERM=exit\n");
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", abrupt));
    agent
        .deploy(ENV, &agent.release("2.0.0", abrupt))
        .expect(200);
    let mut slow = http::send(front, "GET", "/slow?ms=60000", &[], b"").unwrap();
    agent.wait_status(ENV, "the slow request in flight", |st| {
        slot(st, "blue")["requests_in_flight"] == 1
    });
    agent.swap(ENV).expect(200);
    let reply = agent
        .deploy(ENV, &agent.release("3.0.0", abrupt))
        .expect(200);
    assert_eq!(reply.body["slot"], "blue");
    // Cut: a 502, or no answer at all.
    if let Ok((status, _, _)) = http::read_response(&mut slow) {
        assert_eq!(status, 502, "the cut request's answer");
    }
    let status = agent.status(ENV);
    assert_eq!(slot(&status, "blue")["cut_requests"], 1, "{status:#}");
    assert_eq!(slot(&status, "blue")["requests_in_flight"], 0, "{status:#}");
    assert_eq!(slot(&status, "green")["cut_requests"], 0, "{status:#}");
    let log = agent.log();
    assert!(
        log.contains("1 requests still in flight after the drain timeout of 1s"),
        "{log}"
    );
}
