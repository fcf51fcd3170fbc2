//! One module per command: each turns validated arguments into library calls and an envelope.

pub mod case;
pub mod demo;
pub mod diff;
pub mod emulate;
pub mod firmware;
pub mod fleet;
pub mod inspect;
pub mod rules;

/// What a finished command hands back to `main` for the exit status.
pub struct Outcome {
    pub findings: Vec<hashward_model::Finding>,
}
