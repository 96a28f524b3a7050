//! A flood of connections silences nothing: with the agent's open-file
//! limit at 1,024, thousands of connections to a front that send nothing
//! (or half a request's head), and hundreds to the admin API, leave both
//! answering a client that sends a request; half-sent heads and idle
//! connections are closed after their timeouts.

use std::io::{Read as _, Write as _};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::json;

use crate::harness::{Agent, ENV, assert_front, slot};

/// The open-file limit the agent runs with: the common default.
const AGENT_OPEN_FILES: u64 = 1024;

/// Raises this test's own soft open-file limit to its hard one, for the
/// thousands of sockets it opens; returns the limit.
fn raise_own_limit() -> u64 {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let max = limit.maximum.unwrap_or(1 << 20);
    setrlimit(
        Resource::Nofile,
        Rlimit {
            current: Some(max),
            maximum: limit.maximum,
        },
    )
    .unwrap();
    max
}

/// Opens up to `n` connections to `addr` and writes `send` on each;
/// returns those that connected.
fn flood(addr: SocketAddr, n: usize, send: &[u8]) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(n);
    for _ in 0..n {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(mut s) => {
                if !send.is_empty() {
                    let _ = s.write_all(send);
                }
                held.push(s);
            }
            Err(_) => continue,
        }
    }
    held
}

/// How many of `held` the other side has closed.
fn closed_by_peer(held: &mut [TcpStream]) -> usize {
    let mut closed = 0;
    for s in held.iter_mut() {
        s.set_nonblocking(true).unwrap();
        let mut buf = [0; 64];
        match s.read(&mut buf) {
            Ok(0) => closed += 1,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            // A reset, or bytes (an answer to half a head): closed either way
            // or about to be.
            _ => closed += 1,
        }
    }
    closed
}

#[test]
fn floods_of_idle_and_half_sent_connections_silence_neither_front_nor_admin() {
    let own = raise_own_limit();
    assert!(
        own >= 3000,
        "the test needs 3,000 sockets; hard limit {own}"
    );
    let agent = Agent::start_with(&[], Some(AGENT_OPEN_FILES));
    let front = agent.declare(ENV, &json!({}));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));

    let mut idle = flood(front, 2000, b"");
    let mut half = flood(front, 200, b"GET / HTTP/1.1\r\nHost: flood\r\nX-Slow: ");
    let mut admin = flood(agent.addr, 300, b"");
    assert!(
        idle.len() + half.len() >= 2000,
        "the flood did not happen: {} and {} connected",
        idle.len(),
        half.len()
    );

    // A client with a request is answered, on the front and by the API.
    assert_front(front, "1.0.0");
    let status = agent.status(ENV);
    assert_eq!(slot(&status, "blue")["state"], "live");
    agent.get("/v1/envs").expect(200);
    // And again, the flood still held.
    assert_front(front, "1.0.0");

    // The agent kept within its caps by closing the oldest idle ones.
    let closed = closed_by_peer(&mut idle) + closed_by_peer(&mut half);
    assert!(
        closed >= 1000,
        "the agent closed only {closed} of {} idle connections to the front",
        idle.len() + half.len()
    );
    assert!(closed_by_peer(&mut admin) >= 200);
    let log = agent.log();
    assert!(!log.contains("Too many open files"), "{log}");
}

#[test]
fn out_of_file_descriptors_the_agent_backs_off_logs_once_and_keeps_answering() {
    let own = raise_own_limit();
    assert!(
        own >= 3000,
        "the test needs 3,000 sockets; hard limit {own}"
    );
    // A cap above what the open-file limit allows: accepting runs out of
    // descriptors.
    let agent = Agent::start_with(
        &["--max-connections-per-front", "5000"],
        Some(AGENT_OPEN_FILES),
    );
    let front = agent.declare(ENV, &json!({}));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    let _idle = flood(front, 2000, b"");
    assert_front(front, "1.0.0");
    agent.get("/v1/envs").expect(200);
    assert_front(front, "1.0.0");
    let log = agent.log();
    let reports = log.matches("cannot accept a connection").count();
    assert!(reports >= 1, "no accept error reported:\n{log}");
    // Once per 10 s, not once per failed accept (791 lines were seen).
    assert!(reports <= 10, "{reports} reports of accept errors:\n{log}");
}

#[test]
fn half_sent_heads_and_idle_connections_are_closed_after_their_timeouts() {
    let agent = Agent::start_with(&["--header-timeout", "1", "--idle-timeout", "2"], None);
    let front = agent.declare(ENV, &json!({}));
    agent.deploy_and_swap(ENV, &agent.release("1.0.0", None));
    let timeout = Duration::from_secs(30);

    let mut half = TcpStream::connect(front).unwrap();
    half.set_read_timeout(Some(timeout)).unwrap();
    half.write_all(b"GET / HTTP/1.1\r\nHost: slow\r\nX-A: ")
        .unwrap();
    let mut kept = TcpStream::connect(front).unwrap();
    kept.set_read_timeout(Some(timeout)).unwrap();
    kept.write_all(b"GET /version HTTP/1.1\r\nHost: kept\r\n\r\n")
        .unwrap();
    let mut silent = TcpStream::connect(agent.addr).unwrap();
    silent.set_read_timeout(Some(timeout)).unwrap();

    // Each is closed by the agent (a read error would be the test's own
    // timeout: the connection stayed open).
    let mut buf = [0; 4096];
    assert_eq!(
        half.read(&mut buf).unwrap(),
        0,
        "the half-sent head was answered"
    );
    let n = kept.read(&mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 200"));
    let mut rest = Vec::new();
    kept.read_to_end(&mut rest).unwrap();
    assert_eq!(silent.read(&mut buf).unwrap(), 0);
    // A slow request is no idle connection: it is answered.
    let (status, _, _) = crate::http::request(front, "GET", "/slow?ms=3000", &[], b"").unwrap();
    assert_eq!(status, 200);
}
