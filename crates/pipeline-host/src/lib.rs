//! The local host agent: blue/green slots on one machine.
//!
//! - [`Agent`]: environments, each with two slots (blue, green) and one
//!   stable front address; deploy into the idle slot, switch, switch back,
//!   roll back; the apps supervised and restarted with backoff; the state
//!   kept atomically in the state directory and recovered after a restart
//!   (running apps adopted, others started again).
//! - [`proxy`]: the front, a reverse proxy that reads the live slot for
//!   every request, so a switch moves the next request at once and requests
//!   in flight finish where they started.
//! - [`api`]: the admin API on loopback, authenticated by a bearer token kept
//!   in the state directory with owner-only permissions (see `API.md`).
//! - [`conn`]: the connections of the fronts and the admin API: caps,
//!   header and idle timeouts, the oldest idle connection closed first
//!   when a listener is full.
//! - [`trust`]: the state directory and the token, refused unless they are
//!   the agent's user's alone.
//! - [`release`]: artifacts hashed while they arrive, kept only when the
//!   digest matches and they unpack whole.
//!
//! Unlike the other library crates this one is a server: it spawns tasks on
//! the caller's Tokio runtime and runs processes. It never prints and never
//! reads the environment (the apps get theirs from the spec).
#![warn(missing_docs)]

mod agent;
pub mod api;
pub mod conn;
mod error;
pub mod metrics;
pub mod process;
pub mod proxy;
pub mod release;
pub mod spec;
pub mod state;
pub mod time;
pub mod trust;
mod upstream;

/// The README's example, compiled and run as a doctest.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use agent::{
    Agent, AgentConfig, DeployReply, EnvView, OpView, SlotView, StartError, SwitchReply,
};
pub use error::{ApiError, chain};
pub use spec::EnvSpec;
pub use state::{Color, ReleaseRef, Role};
