//! What the state store keeps: one record per change of an environment,
//! the newest being what runs there now.

pub use pipeline_contracts::promote::{Outcome, Record};
