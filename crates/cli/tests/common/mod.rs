//! What the CLI integration tests share: the binary, without the caller's environment, and the
//! check that a run was recorded in a case.

// Each test binary uses its own subset of these.
#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

/// The `hashward` binary, without `HASHWARD_CASE` or `RUST_LOG` from the environment.
pub fn hashward() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_hashward"));
    c.env_remove("HASHWARD_CASE").env_remove("RUST_LOG");
    c
}

/// Asserts that `case runs` of the case at `case` lists a run of `command`.
pub fn assert_run_recorded(case: &Path, command: &str) {
    let out = hashward()
        .args(["--format", "json", "--case"])
        .arg(case)
        .args(["case", "runs"])
        .output()
        .expect("run hashward case runs");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains(command),
        "no {command:?} run in the case"
    );
}
