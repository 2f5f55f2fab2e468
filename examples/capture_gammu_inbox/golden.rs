//! What the receive acceptance test and its fixture capture tool share: the
//! PDU list format of `tests/fixtures/receive/pdus.txt`, the emulated modem
//! both daemons run on, the `RunOnReceive` recorder hook and the text form
//! of its records. Included by `examples/capture_gammu_inbox/main.rs` and,
//! through `#[path]`, by `tests/daemon_receive_golden.rs`.

#![allow(dead_code, unreachable_pub)]

use simgate::emulator::{EmulatorConfig, Profile};
use std::path::Path;
use std::time::Duration;

/// The multipart timeout both daemons run with (gammu's `MultipartTimeout`).
pub const MULTIPART_TIMEOUT: Duration = Duration::from_secs(4);

/// `PhoneID` of both daemons, exported to the hook as `PHONE_ID`.
pub const PHONE_ID: &str = "simgate-golden";

/// The three inbox formats, as the fixture directories are named.
pub const FORMATS: [&str; 3] = ["standard", "unicode", "detail"];

/// What an entry of the list is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An SMS-DELIVER (`Emulator::inject_deliver`).
    Deliver,
    /// An SMS-STATUS-REPORT (`Emulator::inject_status_report`).
    Report,
}

/// One line of `pdus.txt`: `<label> <deliver|report> <hex TPDU>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub label: String,
    pub kind: Kind,
    pub tpdu: Vec<u8>,
}

/// Parses the list: one entry a line, `#` starts a comment line, blank
/// lines are ignored. Entries are injected in this order.
pub fn parse_pdus(text: &str) -> Result<Vec<Entry>, String> {
    let mut entries = Vec::new();
    for (number, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = line.split_whitespace().collect();
        let [label, kind, hex] = fields[..] else {
            return Err(format!("line {}: want `label kind hex`", number + 1));
        };
        let kind = match kind {
            "deliver" => Kind::Deliver,
            "report" => Kind::Report,
            other => return Err(format!("line {}: unknown kind {other:?}", number + 1)),
        };
        let tpdu = simgate::pdu::hex::decode(hex)
            .map_err(|e| format!("line {}: bad hex: {e}", number + 1))?;
        entries.push(Entry {
            label: label.to_owned(),
            kind,
            tpdu,
        });
    }
    Ok(entries)
}

/// The emulated modem both daemons talk to: a Quectel EC25, which stores
/// status reports in `SM` (gammu 1.42 never reads the `SR` memory of the
/// generic profile), with room for every PDU of the list at once.
pub fn emulator_config() -> EmulatorConfig {
    let mut config = EmulatorConfig::new(Profile::QuectelEc25);
    config.storage_capacity = 100;
    config
}

/// A `RunOnReceive` hook that records each call into `dir` as a directory
/// `call-<time>-<pid>` holding `args` (the arguments, each ended by NUL)
/// and `env` (its environment as `/proc/<pid>/environ` shows it). Records
/// appear whole (renamed in), so they can be counted while hooks run.
pub fn hook_script(dir: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         d='{dir}'\n\
         t=\"$d/.tmp-$$\"\n\
         mkdir \"$t\"\n\
         for a in \"$@\"; do printf '%s\\0' \"$a\"; done > \"$t/args\"\n\
         cat /proc/$$/environ > \"$t/env\"\n\
         mv \"$t\" \"$d/call-$(date +%s%N)-$$\"\n",
        dir = dir.display()
    )
}

/// Installs [`hook_script`] as `<root>/hook.sh` recording into `<root>/hooks`;
/// returns the script's path.
pub fn install_hook(root: &Path) -> std::io::Result<std::path::PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let hooks = root.join("hooks");
    std::fs::create_dir_all(&hooks)?;
    let script = root.join("hook.sh");
    std::fs::write(&script, hook_script(&hooks))?;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755))?;
    Ok(script)
}

fn escape(value: &str) -> String {
    value
        .replace('\\', "\\\\")
        .replace('\n', "\\n")
        .replace('\r', "\\r")
}

/// The finished records in a hook directory, in the order they were made,
/// each as text: `ARGS=<arguments joined by spaces>`, then every `SMS_*`,
/// `DECODED_*` and `PHONE_ID` variable as `KEY=value`, sorted, values
/// escaped (`\\`, `\n`, `\r`).
pub fn hook_records(dir: &Path) -> std::io::Result<Vec<String>> {
    let mut calls: Vec<_> = std::fs::read_dir(dir)?
        .filter_map(Result::ok)
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|name| name.starts_with("call-"))
        .collect();
    calls.sort();
    calls
        .iter()
        .map(|call| {
            let args = std::fs::read(dir.join(call).join("args"))?;
            let env = std::fs::read(dir.join(call).join("env"))?;
            Ok(record_text(&args, &env))
        })
        .collect()
}

/// The text form of one record (see [`hook_records`]).
pub fn record_text(args: &[u8], env: &[u8]) -> String {
    let args: Vec<String> = args
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let mut vars: Vec<(String, String)> = env
        .split(|b| *b == 0)
        .filter_map(|entry| {
            let entry = String::from_utf8_lossy(entry);
            let (key, value) = entry.split_once('=')?;
            let wanted =
                key.starts_with("SMS_") || key.starts_with("DECODED_") || key == "PHONE_ID";
            wanted.then(|| (key.to_owned(), value.to_owned()))
        })
        .collect();
    vars.sort();
    let mut text = format!("ARGS={}\n", escape(&args.join(" ")));
    for (key, value) in vars {
        text.push_str(&format!("{key}={}\n", escape(&value)));
    }
    text
}

/// Parses a record's text back into its arguments line and variables.
pub fn parse_record(text: &str) -> (String, std::collections::BTreeMap<String, String>) {
    let mut args = String::new();
    let mut vars = std::collections::BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("ARGS=") {
            args = rest.to_owned();
        } else if let Some((key, value)) = line.split_once('=') {
            vars.insert(key.to_owned(), value.to_owned());
        }
    }
    (args, vars)
}
