//! The monthly budget (issue #12 §1): parts handed to the device are
//! counted per calendar month in the database; the warning comes once when
//! the threshold is reached; a message that would go over the budget waits
//! in the outbox until the next month, across a restart; one that needs
//! more than a whole budget goes to error/. On a paused clock whose
//! calendar starts near the end of a month.

use crate::scripted::{has, Rig};
use crate::support::until;
use simgate::daemon::DaemonEvent;
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::time::Instant;

fn with_budget(c: &mut simgate::config::Config) {
    c.budget.monthly_parts = Some(3);
    c.budget.warn_percent = 60;
}

fn sent(file: &'static str) -> impl Fn(&DaemonEvent) -> bool {
    move |e| matches!(e, DaemonEvent::Sent { file: f, .. } if f == file)
}

fn waits(file: &'static str) -> impl Fn(&DaemonEvent) -> bool {
    move |e| {
        matches!(e, DaemonEvent::Waiting { file: f, reason }
            if f == file && reason.starts_with("the monthly budget is used up"))
    }
}

/// Where the next month starts after `at`, in the system's time zone (the
/// daemon's), as milliseconds since the epoch.
fn next_month_ms(at: SystemTime) -> i64 {
    let zone = jiff::tz::TimeZone::try_system().unwrap_or(jiff::tz::TimeZone::UTC);
    let instant = jiff::Timestamp::try_from(at).unwrap();
    let local = instant.to_zoned_datetime(zone.clone());
    let next = local
        .date()
        .first_of_month()
        .checked_add(jiff::Span::new().months(1))
        .unwrap();
    next.to_zoned_datetime(zone)
        .unwrap()
        .start_of_day()
        .unwrap()
        .timestamp()
        .as_millisecond()
}

fn ms(at: SystemTime) -> i64 {
    at.duration_since(UNIX_EPOCH).unwrap().as_millis() as i64
}

#[tokio::test(flavor = "current_thread", start_paused = true)]
async fn the_monthly_budget_warns_once_stops_at_the_limit_and_resumes_next_month() {
    // 12:00 UTC on 30 January: 30 or 31 January in every time zone.
    let start = UNIX_EPOCH + Duration::from_secs(1_801_310_400);
    let mut rig = Rig::start_at("budget", start, with_budget).await;
    rig.drop_file("OUT+491760000501.txt", "one part");
    rig.next(sent("OUT+491760000501.txt")).await;
    rig.drop_file("OUT+491760000502.txt", "one more part");
    // 2 of 3 parts reach 60%: the warning, once.
    let warning = rig
        .next(|e| matches!(e, DaemonEvent::BudgetWarning { .. }))
        .await;
    let DaemonEvent::BudgetWarning { used, budget, .. } = warning else {
        unreachable!()
    };
    assert_eq!((used, budget), (2, 3));
    rig.next(sent("OUT+491760000502.txt")).await;
    // Two parts would make 4 of 3: it waits; a one-part message still fits.
    rig.drop_file("OUTA_+491760000503_1.txt", &"two parts ".repeat(20));
    rig.next(waits("OUTA_+491760000503_1.txt")).await;
    rig.drop_file("OUTB_+491760000504_2.txt", "the last part");
    rig.next(sent("OUTB_+491760000504_2.txt")).await;
    // More than a whole budget can never go.
    rig.drop_file("OUTC_+491760000505_3.txt", &"four parts ".repeat(50));
    let failed = rig
        .next(
            |e| matches!(e, DaemonEvent::Failed { file, .. } if file == "OUTC_+491760000505_3.txt"),
        )
        .await;
    assert!(
        matches!(&failed, DaemonEvent::Failed { reason, .. } if reason.contains("more than the whole monthly budget")),
        "{failed:?}"
    );
    assert!(has(&rig.dir("error"), "OUTC_+491760000505_3.txt"));

    // The count is in the database: after a restart the month is still
    // used up.
    let stopped = rig.stop_keeping().await;
    let mut rig = Rig::restart(stopped, with_budget).await;
    rig.drop_file("OUT+491760000506.txt", "after the restart");
    rig.next(waits("OUT+491760000506.txt")).await;
    let held_at = rig.calendar();
    let held = Instant::now();
    let next_month = next_month_ms(held_at);

    // The next month: both waiting messages go (2 + 1 parts), when it
    // starts and not before; no second warning is due yet (3 of 3 reach
    // the threshold again: once for the new month).
    let mut went = Vec::new();
    let mut warnings = 0;
    while went.len() < 2 {
        match rig
            .next_within(Duration::from_secs(3 * 86_400), |e| {
                matches!(
                    e,
                    DaemonEvent::Sent { .. } | DaemonEvent::BudgetWarning { .. }
                )
            })
            .await
        {
            DaemonEvent::Sent { file, .. } => went.push((file, ms(rig.calendar()))),
            _ => warnings += 1,
        }
    }
    went.sort();
    assert_eq!(
        went.iter().map(|(f, _)| f.as_str()).collect::<Vec<_>>(),
        ["OUT+491760000506.txt", "OUTA_+491760000503_1.txt"]
    );
    for (file, at) in &went {
        assert!(
            *at >= next_month,
            "{file} went at {at}, before {next_month}"
        );
    }
    assert_eq!(
        Instant::now() - held,
        Duration::from_millis((next_month - ms(held_at)) as u64),
        "sent the moment the month began"
    );
    assert_eq!(warnings, 1, "one warning for the new month");
    // The restarted device sent the 3 parts of the new month, each once.
    assert_eq!(rig.device.memory().send_attempts, 3);
    rig.stop().await;
}

fn drop_file(root: &std::path::Path, name: &str, text: &str) {
    let temp = root.join("dropping");
    std::fs::write(&temp, text).unwrap();
    std::fs::rename(&temp, root.join("outbox").join(name)).unwrap();
}

/// Through `simgate run`: the warning hook runs with the month's counts,
/// and a reload that raises the budget lets the waiting message go at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_warning_hook_runs_and_a_raised_budget_releases_what_waits() {
    use crate::support::{fresh_spool, spawn_simgate, write_spool_config};
    use simgate::emulator::{Emulator, EmulatorConfig, Profile};
    let emulator = Emulator::start(EmulatorConfig::new(Profile::Generic))
        .await
        .unwrap();
    let root = fresh_spool("budget-run");
    let warned = root.join("warned.env");
    let settings = |parts: u32| {
        format!(
            "[budget]\nmonthly_parts = {parts}\nwarn_percent = 100\n\n\
             [hooks]\nrun_on_budget_warning = \"env > {}\"\n",
            warned.display()
        )
    };
    let config = write_spool_config(&root, &emulator.path(), &settings(1));
    let log = root.join("simgate.log");
    let mut daemon = spawn_simgate(&config, &root.join("stderr.log"), None);
    drop_file(&root, "OUT+491760000601.txt", "the budget's only part");
    until("the warning hook's file", || {
        std::fs::read_to_string(&warned).is_ok_and(|env| env.contains("SIMGATE_BUDGET_USED"))
    })
    .await;
    let env = std::fs::read_to_string(&warned).unwrap();
    for line in ["SIMGATE_BUDGET_USED=1", "SIMGATE_BUDGET_PARTS=1"] {
        assert!(env.lines().any(|l| l == line), "{line} in\n{env}");
    }
    until("the first message in sent/", || {
        root.join("sent/OUT+491760000601.txt").exists()
    })
    .await;
    drop_file(&root, "OUT+491760000602.txt", "over the budget");
    until("the second message waiting for the budget", || {
        std::fs::read_to_string(&log).is_ok_and(|t| t.contains("the monthly budget is used up"))
    })
    .await;
    assert_eq!(emulator.sent().len(), 1);

    write_spool_config(&root, &emulator.path(), &settings(5));
    let pid = nix::unistd::Pid::from_raw(daemon.id().unwrap() as i32);
    nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGHUP).unwrap();
    // Held until the next month unless the reload releases it.
    until("the second message in sent/", || {
        root.join("sent/OUT+491760000602.txt").exists()
    })
    .await;
    assert_eq!(emulator.sent().len(), 2);
    daemon.start_kill().unwrap();
    daemon.wait().await.unwrap();
    let _ = std::fs::remove_dir_all(&root);
}
