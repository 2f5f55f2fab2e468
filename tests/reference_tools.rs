//! The checks against the real gammu when its tools are missing: skipped
//! with one banner on stderr naming them and how to install the tools, or,
//! with `SIMGATE_REQUIRE_GAMMU=1`, failed. The test runs this test binary
//! again for just those checks, with the tools' commands pointed at paths
//! that do not exist (`SIMGATE_REFERENCE_PYTHON`,
//! `SIMGATE_REFERENCE_INJECT`, read by `support::reference`).

use std::process::{Command, Output};

const CHECKS: [&str; 4] = [
    "gammu_crosscheck::simgate_decodes_gammu_pdus",
    "gammu_crosscheck::gammu_decodes_simgate_pdus",
    "smart_messages::recorded_expectations_are_gammus",
    "daemon_send::files_from_gammu_smsd_inject_are_sent_with_the_right_pdus",
];

fn run_checks(require: bool) -> Output {
    let mut command = Command::new(std::env::current_exe().unwrap());
    command
        .args(CHECKS)
        .args(["--exact", "--test-threads=2"])
        .env("SIMGATE_REFERENCE_PYTHON", "/nonexistent/python3")
        .env("SIMGATE_REFERENCE_INJECT", "/nonexistent/gammu-smsd-inject")
        .env_remove("SIMGATE_REQUIRE_GAMMU");
    if require {
        command.env("SIMGATE_REQUIRE_GAMMU", "1");
    }
    command.output().unwrap()
}

#[test]
fn missing_gammu_tools_skip_their_checks_with_one_banner() {
    let output = run_checks(false);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("test result: ok. 4 passed"), "{stdout}");
    assert_eq!(
        stderr.matches("SKIPPED").count(),
        1,
        "one banner for all:\n{stderr}"
    );
    for check in CHECKS {
        assert!(stderr.contains(&format!("skipped {check}\n")), "{stderr}");
    }
    for hint in [
        "/nonexistent/python3",
        "/nonexistent/gammu-smsd-inject",
        "apt-get install python3-gammu gammu-smsd",
        "SIMGATE_REQUIRE_GAMMU=1",
    ] {
        assert!(stderr.contains(hint), "no {hint:?} in:\n{stderr}");
    }
}

#[test]
fn missing_gammu_tools_fail_their_checks_when_required() {
    let output = run_checks(true);
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(!output.status.success(), "{stdout}");
    assert!(stdout.contains("0 passed; 4 failed"), "{stdout}");
    assert!(
        stdout.contains("SIMGATE_REQUIRE_GAMMU=1 requires it"),
        "{stdout}"
    );
}
