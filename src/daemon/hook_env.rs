//! Every hook invocation the daemon makes, built in one place: which
//! command, which arguments, which environment (spec §8). Pure: the
//! daemon spawns what these return.
//!
//! - `RunOnReceive`: the inbox file names; gammu's full environment of the
//!   message (built by [`crate::spool::inbox::receive_environment`], with
//!   `DECODED_*` and gammu 1.44's time variables).
//! - `RunOnSent`: the file's name in `sent/` (the outbox name, unless a
//!   file of that name was there: see `spool::fs::move_to_dir`); the environment of the sent message:
//!   `SMS_MESSAGES`, `SMS_n_NUMBER` (the recipient), `SMS_n_REFERENCE` (the
//!   real TP-MR, where gammu 1.42 passes 0), `SMS_n_CLASS`, `SMS_n_TEXT`
//!   for text parts, `PHONE_ID`; `DECODED_PARTS=1` with the whole text in
//!   `DECODED_1_TEXT` for a long (concatenated) text, as gammu's decoder
//!   gives it, `DECODED_PARTS=0` for a single part.
//! - `RunOnFailure`: the outbox file name; `PHONE_ID`, `SMS_MESSAGES=0` and
//!   `DECODED_PARTS=0`, as gammu 1.44 sets them.
//! - `RunOnIncomingCall`: the caller; the same three variables.

use super::hooks::{Hook, HookKind};
use crate::config::HookSettings;
use crate::spool::inbox::{receive_environment, ReceivedPart};
use std::collections::BTreeMap;

/// One part that went out, for `RunOnSent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SentPart {
    /// The TP-MR the network gave it.
    pub reference: u8,
    /// Its text, for a text part.
    pub text: Option<String>,
    /// Its class as gammu numbers it (-1 none, 0 flash, ...).
    pub class: i32,
}

fn base(hooks: &HookSettings) -> BTreeMap<String, String> {
    let mut env = BTreeMap::new();
    env.insert(
        "PHONE_ID".to_owned(),
        hooks.phone_id.clone().unwrap_or_default(),
    );
    env
}

fn hook(
    hooks: &HookSettings,
    kind: HookKind,
    command: Option<&String>,
    args: Vec<String>,
    env: BTreeMap<String, String>,
) -> Option<Hook> {
    Some(Hook {
        kind,
        command: command?.clone(),
        args,
        env,
        timeout: hooks.timeout,
    })
}

/// `RunOnReceive` for a message written to `files`.
pub(crate) fn on_receive(
    hooks: &HookSettings,
    files: &[String],
    parts: &[ReceivedPart],
) -> Option<Hook> {
    let env = receive_environment(parts, hooks.phone_id.as_deref());
    hook(
        hooks,
        HookKind::Receive,
        hooks.run_on_receive.as_ref(),
        files.to_vec(),
        env,
    )
}

/// `RunOnSent` for the file `file` (its name in `sent/`), sent to `recipient` in `parts`.
pub(crate) fn on_sent(
    hooks: &HookSettings,
    file: &str,
    recipient: &str,
    parts: &[SentPart],
) -> Option<Hook> {
    let mut env = base(hooks);
    env.insert("SMS_MESSAGES".to_owned(), parts.len().to_string());
    // gammu runs the sent message through the decoder RunOnReceive's
    // environment comes from: a concatenated text is one decoded entry.
    let whole_text: Option<String> = (parts.len() > 1)
        .then(|| parts.iter().map(|part| part.text.as_deref()).collect())
        .flatten();
    match whole_text {
        Some(text) => {
            env.insert("DECODED_PARTS".to_owned(), "1".to_owned());
            env.insert("DECODED_1_TEXT".to_owned(), text);
        }
        None => {
            env.insert("DECODED_PARTS".to_owned(), "0".to_owned());
        }
    }
    for (index, part) in parts.iter().enumerate() {
        let n = index + 1;
        env.insert(format!("SMS_{n}_NUMBER"), recipient.to_owned());
        env.insert(format!("SMS_{n}_REFERENCE"), part.reference.to_string());
        env.insert(format!("SMS_{n}_CLASS"), part.class.to_string());
        if let Some(text) = &part.text {
            env.insert(format!("SMS_{n}_TEXT"), text.clone());
        }
    }
    hook(
        hooks,
        HookKind::Sent,
        hooks.run_on_sent.as_ref(),
        vec![file.to_owned()],
        env,
    )
}

/// `RunOnFailure` for the outbox file `file`.
pub(crate) fn on_failure(hooks: &HookSettings, file: &str) -> Option<Hook> {
    let mut env = base(hooks);
    env.insert("SMS_MESSAGES".to_owned(), "0".to_owned());
    env.insert("DECODED_PARTS".to_owned(), "0".to_owned());
    hook(
        hooks,
        HookKind::Failure,
        hooks.run_on_failure.as_ref(),
        vec![file.to_owned()],
        env,
    )
}

/// `run_on_budget_warning`: the month `month` (`YYYY-MM`) has used `used`
/// of `budget` parts, reaching the warning threshold of `threshold`.
pub(crate) fn on_budget_warning(
    hooks: &HookSettings,
    month: &str,
    used: u64,
    budget: u32,
    threshold: u64,
) -> Option<Hook> {
    let mut env = base(hooks);
    env.insert("SIMGATE_BUDGET_MONTH".to_owned(), month.to_owned());
    env.insert("SIMGATE_BUDGET_USED".to_owned(), used.to_string());
    env.insert("SIMGATE_BUDGET_PARTS".to_owned(), budget.to_string());
    env.insert("SIMGATE_BUDGET_THRESHOLD".to_owned(), threshold.to_string());
    hook(
        hooks,
        HookKind::BudgetWarning,
        hooks.run_on_budget_warning.as_ref(),
        Vec::new(),
        env,
    )
}

/// `RunOnIncomingCall` for a call from `caller` that was hung up.
pub(crate) fn on_incoming_call(hooks: &HookSettings, caller: &str) -> Option<Hook> {
    let mut env = base(hooks);
    env.insert("SMS_MESSAGES".to_owned(), "0".to_owned());
    env.insert("DECODED_PARTS".to_owned(), "0".to_owned());
    hook(
        hooks,
        HookKind::IncomingCall,
        hooks.run_on_incoming_call.as_ref(),
        vec![caller.to_owned()],
        env,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn settings() -> HookSettings {
        HookSettings {
            run_on_receive: Some("/bin/in".to_owned()),
            run_on_sent: Some("/bin/sent --flag".to_owned()),
            run_on_failure: Some("/bin/failed".to_owned()),
            run_on_incoming_call: Some("/bin/call".to_owned()),
            run_on_budget_warning: Some("/bin/budget".to_owned()),
            timeout: Duration::from_secs(7),
            hangup_calls: true,
            phone_id: Some("gw1".to_owned()),
        }
    }

    fn env(hook: &Hook) -> Vec<(&str, &str)> {
        hook.env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn run_on_sent_describes_the_message_that_went_out() {
        let parts = [
            SentPart {
                reference: 17,
                text: Some("Hello, ".to_owned()),
                class: -1,
            },
            SentPart {
                reference: 18,
                text: Some("world".to_owned()),
                class: -1,
            },
        ];
        let hook = on_sent(&settings(), "OUT+491.txt", "+491", &parts).unwrap();
        assert_eq!(hook.kind, HookKind::Sent);
        assert_eq!(hook.command, "/bin/sent --flag");
        assert_eq!(hook.args, ["OUT+491.txt"]);
        assert_eq!(hook.timeout, Duration::from_secs(7));
        assert_eq!(
            env(&hook),
            [
                ("DECODED_1_TEXT", "Hello, world"),
                ("DECODED_PARTS", "1"),
                ("PHONE_ID", "gw1"),
                ("SMS_1_CLASS", "-1"),
                ("SMS_1_NUMBER", "+491"),
                ("SMS_1_REFERENCE", "17"),
                ("SMS_1_TEXT", "Hello, "),
                ("SMS_2_CLASS", "-1"),
                ("SMS_2_NUMBER", "+491"),
                ("SMS_2_REFERENCE", "18"),
                ("SMS_2_TEXT", "world"),
                ("SMS_MESSAGES", "2"),
            ]
        );
        // A binary part has no text; a flash message class 0.
        let binary = [SentPart {
            reference: 1,
            text: None,
            class: 0,
        }];
        let hook = on_sent(&settings(), "OUT+491.smsbackup", "+491", &binary).unwrap();
        assert!(!hook.env.contains_key("SMS_1_TEXT"));
        assert_eq!(hook.env["SMS_1_CLASS"], "0");
        assert_eq!(hook.env["DECODED_PARTS"], "0");
        // One text part decodes to nothing more (gammu: 0); two binary
        // parts have no text to join.
        let single = &parts[..1];
        let hook = on_sent(&settings(), "OUT+491.txt", "+491", single).unwrap();
        assert_eq!(hook.env["DECODED_PARTS"], "0");
        assert!(!hook.env.contains_key("DECODED_1_TEXT"));
        let two_binary = [binary[0].clone(), binary[0].clone()];
        let hook = on_sent(&settings(), "OUT+491.txt", "+491", &two_binary).unwrap();
        assert_eq!(hook.env["DECODED_PARTS"], "0");
    }

    #[test]
    fn run_on_failure_and_calls_get_the_file_or_caller_and_phone_id() {
        let hook = on_failure(&settings(), "OUT+492.txt").unwrap();
        assert_eq!(
            (hook.kind, hook.args.as_slice()),
            (HookKind::Failure, &["OUT+492.txt".to_owned()][..])
        );
        assert_eq!(
            env(&hook),
            [
                ("DECODED_PARTS", "0"),
                ("PHONE_ID", "gw1"),
                ("SMS_MESSAGES", "0")
            ]
        );
        let hook = on_incoming_call(&settings(), "+4915").unwrap();
        assert_eq!(
            (hook.kind, hook.args.as_slice()),
            (HookKind::IncomingCall, &["+4915".to_owned()][..])
        );
        assert_eq!(hook.env["PHONE_ID"], "gw1");
    }

    #[test]
    fn the_budget_warning_hook_gets_the_month_and_its_counts() {
        let hook = on_budget_warning(&settings(), "2027-01", 801, 1000, 800).unwrap();
        assert_eq!((hook.kind, hook.args.len()), (HookKind::BudgetWarning, 0));
        assert_eq!(
            env(&hook),
            [
                ("PHONE_ID", "gw1"),
                ("SIMGATE_BUDGET_MONTH", "2027-01"),
                ("SIMGATE_BUDGET_PARTS", "1000"),
                ("SIMGATE_BUDGET_THRESHOLD", "800"),
                ("SIMGATE_BUDGET_USED", "801"),
            ]
        );
        assert!(on_budget_warning(&HookSettings::default(), "2027-01", 1, 1, 1).is_none());
    }

    #[test]
    fn no_command_no_hook() {
        let none = HookSettings::default();
        assert!(on_sent(&none, "f", "+1", &[]).is_none());
        assert!(on_failure(&none, "f").is_none());
        assert!(on_incoming_call(&none, "").is_none());
        assert!(on_receive(&none, &[], &[]).is_none());
        // PHONE_ID is always set, empty when not configured.
        let only_failure = HookSettings {
            run_on_failure: Some("x".to_owned()),
            ..HookSettings::default()
        };
        assert_eq!(on_failure(&only_failure, "f").unwrap().env["PHONE_ID"], "");
    }
}
