//! The manual shipped with the Debian package, made from what the program
//! already says, so the two cannot drift apart:
//!
//! - simgate(8) from the command-line definitions that `--help` prints
//!   (every visible subcommand with its arguments, help texts, defaults and
//!   choices), plus the files, environment and signals;
//! - simgate.toml(5) from the annotated default configuration
//!   `etc/simgate.toml` (the package's conffile): its header, and each
//!   section and key with the comment above it and its default;
//! - bash, zsh and fish completions (clap_complete).
//!
//! Everything but [`write_all`] is pure: pages are strings of roff.

use clap::{Arg, Command};
use std::fmt::Write as _;
use std::path::Path;

/// The annotated default configuration the simgate.toml(5) page is made of.
pub(crate) const DEFAULT_CONFIG: &str = include_str!("../etc/simgate.toml");

/// Escapes text for roff: backslashes, and a line that would start a
/// request (`.` or `'`); minus signs in words are left as hyphens.
fn escape(text: &str) -> String {
    let text = text.replace('\\', "\\e");
    text.lines()
        .map(|line| {
            if line.starts_with('.') || line.starts_with('\'') {
                format!("\\&{line}")
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Option names and other literal dashes: `\-` so they stay ASCII minus.
fn literal(text: &str) -> String {
    escape(text).replace('-', "\\-")
}

/// Text as paragraphs: blank lines in clap's long help become `.PP`.
fn paragraphs(text: &str) -> String {
    text.split("\n\n")
        .map(|p| escape(p.trim()))
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("\n.PP\n")
}

fn help_of(arg: &Arg) -> String {
    arg.get_long_help()
        .or_else(|| arg.get_help())
        .map(ToString::to_string)
        .unwrap_or_default()
}

/// `.TP` entry for one argument.
fn render_arg(out: &mut String, arg: &Arg) {
    let value_name = arg
        .get_value_names()
        .and_then(|names| names.first())
        .map(ToString::to_string)
        .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
    let takes_value = arg.get_action().takes_values();
    let mut head = Vec::new();
    if let Some(short) = arg.get_short() {
        head.push(format!("\\fB{}\\fR", literal(&format!("-{short}"))));
    }
    if let Some(long) = arg.get_long() {
        head.push(format!("\\fB{}\\fR", literal(&format!("--{long}"))));
    }
    let mut head = head.join(", ");
    if arg.is_positional() {
        head = format!("\\fI{}\\fR", escape(&value_name));
    } else if takes_value {
        head.push_str(&format!(" \\fI{}\\fR", escape(&value_name)));
    }
    let _ = writeln!(out, ".TP\n{head}");
    let mut text = help_of(arg).trim().to_owned();
    // clap drops the final period of a one-line help; sentences follow.
    if !text.is_empty() && !text.ends_with(['.', '!', '?', ')']) {
        text.push('.');
    }
    let defaults: Vec<String> = arg
        .get_default_values()
        .iter()
        .map(|v| v.to_string_lossy().into_owned())
        .collect();
    let choices: Vec<String> = arg
        .get_possible_values()
        .iter()
        .filter(|v| !v.is_hide_set())
        .map(|v| v.get_name().to_owned())
        .collect();
    if takes_value && !choices.is_empty() && choices != ["true", "false"] {
        text.push_str(&format!(" One of: {}.", choices.join(", ")));
    }
    if takes_value && !defaults.is_empty() {
        text.push_str(&format!(" Default: {}.", defaults.join(", ")));
    }
    let _ = writeln!(out, "{}", paragraphs(&text));
}

fn visible_args(command: &Command) -> impl Iterator<Item = &Arg> {
    command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && a.get_id() != "help" && a.get_id() != "version")
}

/// The usage line of a subcommand, e.g. `simgate pdu encode [OPTIONS] TEXT`.
fn synopsis(path: &str, command: &Command) -> String {
    let mut words = vec![format!("\\fB{}\\fR", literal(path))];
    if visible_args(command).any(|a| !a.is_positional()) {
        words.push("[\\fIOPTIONS\\fR]".to_owned());
    }
    for arg in visible_args(command).filter(|a| a.is_positional()) {
        let name = arg
            .get_value_names()
            .and_then(|n| n.first())
            .map(ToString::to_string)
            .unwrap_or_else(|| arg.get_id().to_string().to_uppercase());
        if arg.is_required_set() {
            words.push(format!("\\fI{}\\fR", escape(&name)));
        } else {
            words.push(format!("[\\fI{}\\fR]", escape(&name)));
        }
    }
    words.join(" ")
}

/// Each visible subcommand (depth first) as a `.SS` with its arguments.
fn render_commands(out: &mut String, path: &str, command: &Command) {
    let visible = command
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help");
    for sub in visible {
        let path = format!("{path} {}", sub.get_name());
        let has_children = sub
            .get_subcommands()
            .any(|s| !s.is_hide_set() && s.get_name() != "help");
        let _ = writeln!(out, ".SS \"{}\"", synopsis(&path, sub));
        if let Some(about) = sub.get_long_about().or_else(|| sub.get_about()) {
            let _ = writeln!(out, "{}", paragraphs(&about.to_string()));
        }
        for arg in visible_args(sub) {
            render_arg(out, arg);
        }
        // What --help prints after the options (a command's exit status).
        if let Some(after) = sub.get_after_long_help().or_else(|| sub.get_after_help()) {
            let _ = writeln!(out, ".PP\n{}", paragraphs(&after.to_string()));
        }
        if has_children {
            render_commands(out, &path, sub);
        }
    }
}

/// simgate(8), from the command-line definitions.
pub(crate) fn simgate_8(command: &Command) -> String {
    let mut command = command.clone();
    command.build();
    let version = command.get_version().unwrap_or("").to_owned();
    let mut out = String::new();
    let _ = writeln!(
        out,
        ".TH SIMGATE 8 \"\" \"simgate {version}\" \"System Administration\""
    );
    let about = command
        .get_about()
        .map(ToString::to_string)
        .unwrap_or_default();
    let _ = writeln!(
        out,
        ".SH NAME\nsimgate \\- {}",
        escape(about.trim_end_matches('.'))
    );
    let _ = writeln!(
        out,
        ".SH SYNOPSIS\n\\fBsimgate\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR]\n.br\n\\fBsimgate\\fR \
         \\fB\\-\\-help\\fR | \\fB\\-\\-version\\fR"
    );
    out.push_str(MANUAL_DESCRIPTION);
    out.push_str(".SH COMMANDS\n");
    render_commands(&mut out, "simgate", &command);
    out.push_str(MANUAL_TAIL);
    out
}

const MANUAL_DESCRIPTION: &str = r#".SH DESCRIPTION
simgate sends and receives SMS through a SIM card in a USB modem or a UART
module. Programs drop a file into the outbox folder and simgate sends it;
received messages appear in the inbox folder. Folders, file names and file
formats are those of gammu\-smsd's files backend, and simgate reads an
existing \fI/etc/gammu\-smsdrc\fR as it is, so it can take gammu\-smsd's place
on the same configuration and spool.
.PP
Its own configuration is \fI/etc/simgate/simgate.toml\fR, described in
\fBsimgate.toml\fR(5). Until a modem is named there, \fBsimgate run\fR says in
one line what to set and exits with status 0.
.PP
simgate keeps what it knows about each message in a database, one per
configuration file, so that no message is lost or sent twice across
restarts, crashes and unplugged modems.
"#;

const MANUAL_TAIL: &str = r#".SH FILES
.TP
\fI/etc/simgate/simgate.toml\fR
The configuration of \fBsimgate.service\fR.
.TP
\fI/etc/simgate/NAME.toml\fR
The configuration of \fBsimgate@NAME.service\fR, one more modem.
.TP
\fI/etc/simgate/pin\fR
The SIM PIN, when it is handed over as a systemd credential
(\fBLoadCredential=pin:/etc/simgate/pin\fR in a drop\-in); mode 0600, root.
.TP
\fI/var/spool/simgate/\fR{\fIoutbox\fR,\fIinbox\fR,\fIsent\fR,\fIerror\fR}
The spool. Members of group \fB_simgate\fR may drop files into the outbox.
.TP
\fI/var/lib/simgate/\fR
The state: one SQLite database per configuration file, named after it.
.TP
\fI/usr/share/doc/simgate/examples/77\-simgate\-modemmanager\-ignore.rules\fR
A udev rule that keeps ModemManager off the modem and gives it a stable name.
.SH ENVIRONMENT
.TP
\fBSTATE_DIRECTORY\fR
Where the database lives (set by systemd's \fBStateDirectory=\fR); otherwise
\fI/var/lib/simgate\fR, or \fI~/.local/state/simgate\fR for other users.
.TP
\fBCREDENTIALS_DIRECTORY\fR
A credential named \fBpin\fR there is the SIM PIN; it wins over the
configuration.
.TP
\fBNOTIFY_SOCKET\fR, \fBWATCHDOG_USEC\fR
systemd's readiness and watchdog protocol (\fBType=notify\fR).
.TP
\fBJOURNAL_STREAM\fR
Log to the journal when systemd connected standard error to it.
.TP
\fBRUST_LOG\fR
Overrides the log level, e.g. \fBRUST_LOG=debug\fR.
.SH SIGNALS
.TP
\fBSIGHUP\fR
Read the configuration again, apply it and reconnect to the modem
(\fBsystemctl reload simgate\fR). A new outbox or database path,
\fB[http]\fR, \fB[webhooks]\fR, the list of modems, a log target that
changes to or from stderr, stdout or syslog, and the syslog facility take
effect at the next restart; the log says so.
.TP
\fBSIGTERM\fR, \fBSIGINT\fR
Finish the message being sent, then stop.
.TP
\fBSIGUSR1\fR, \fBSIGUSR2\fR
Let go of the modem, and take it back, as gammu\-smsd does.
.SH EXIT STATUS
0 when the command did what it was asked (the daemon: stopped on request, or
no modem configured); 1 on an error, which it names on standard error; 2 when
the command line is wrong. \fBsend\fR, \fBstatus\fR and \fBinject\fR
have their own, given with each command above.
.SH SEE ALSO
\fBsimgate.toml\fR(5), \fBgammu\-smsd\fR(1), \fBgammu\-smsdrc\fR(5),
\fBsystemd.exec\fR(5), \fBsystemd\-analyze\fR(1)
"#;

/// One key of the annotated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Key {
    /// `key = value` lines as written (a commented example keeps no `#`).
    pub lines: Vec<(String, String)>,
    /// Whether the key is set in the file or only shown as an example.
    pub set: bool,
    /// The comment above it.
    pub text: Vec<String>,
}

/// One `[section]` of the annotated configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Section {
    /// The table name.
    pub name: String,
    /// Its keys in file order.
    pub keys: Vec<Key>,
}

/// The annotated configuration, read for the manual.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Annotated {
    /// The comment before the first section, paragraphs split at `#` lines.
    pub header: Vec<String>,
    /// The sections.
    pub sections: Vec<Section>,
}

/// `key = value` where the key is a bare TOML key.
fn key_line(line: &str) -> Option<(String, String)> {
    let (key, value) = line.split_once('=')?;
    let key = key.trim();
    if key.is_empty() || !key.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
        return None;
    }
    Some((key.to_owned(), value.trim().to_owned()))
}

/// Reads the annotated configuration: a comment block describes the key
/// (or keys) right below it; `# key = value` is a key shown as an example.
pub(crate) fn annotated(text: &str) -> Annotated {
    let mut doc = Annotated::default();
    let mut comment: Vec<String> = Vec::new();
    let mut last_was_key = false;
    for raw in text.lines() {
        let line = raw.trim();
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if doc.sections.is_empty() {
                doc.header = split_paragraphs(&comment);
            }
            doc.sections.push(Section {
                name: name.to_owned(),
                keys: Vec::new(),
            });
            comment.clear();
            last_was_key = false;
            continue;
        }
        let (entry, set) = match line.strip_prefix('#') {
            Some(rest) => (
                key_line(rest.trim()).filter(|_| !doc.sections.is_empty()),
                false,
            ),
            None => (key_line(line), true),
        };
        match (entry, doc.sections.last_mut()) {
            (Some(entry), Some(section)) => {
                // A key right under another, with no comment of its own,
                // shares the one above.
                match section.keys.last_mut() {
                    Some(previous) if last_was_key && comment.is_empty() => {
                        previous.lines.push(entry);
                        previous.set |= set;
                    }
                    _ => section.keys.push(Key {
                        lines: vec![entry],
                        set,
                        text: std::mem::take(&mut comment),
                    }),
                }
                last_was_key = true;
            }
            _ if line.starts_with('#') => {
                comment.push(line.trim_start_matches('#').trim().to_owned());
                last_was_key = false;
            }
            _ => {
                if !line.is_empty() {
                    comment.clear();
                }
                last_was_key = false;
            }
        }
    }
    doc
}

fn split_paragraphs(lines: &[String]) -> Vec<String> {
    lines
        .split(|l| l.is_empty())
        .map(|p| p.join(" "))
        .filter(|p| !p.is_empty())
        .collect()
}

/// simgate.toml(5), from the annotated default configuration.
pub(crate) fn simgate_toml_5(version: &str, annotated_config: &str) -> String {
    let doc = annotated(annotated_config);
    let mut out = String::new();
    let _ = writeln!(
        out,
        ".TH SIMGATE.TOML 5 \"\" \"simgate {version}\" \"File Formats\""
    );
    out.push_str(
        ".SH NAME\nsimgate.toml \\- configuration of the simgate SMS gateway daemon\n\
         .SH SYNOPSIS\n\\fI/etc/simgate/simgate.toml\\fR\n.br\n\\fI/etc/simgate/NAME.toml\\fR \
         (\\fBsimgate@NAME.service\\fR)\n.SH DESCRIPTION\n",
    );
    // The file's own first line names the path; the rest is the manual.
    let header: Vec<&String> = doc
        .header
        .iter()
        .filter(|p| !p.starts_with("simgate configuration:"))
        .collect();
    for (i, paragraph) in header.iter().enumerate() {
        if i > 0 {
            out.push_str(".PP\n");
        }
        let _ = writeln!(out, "{}", escape(paragraph));
    }
    out.push_str(
        ".PP\nThe keys below are shown as the default file has them: with their default \
         value, or, for keys that are unset by default, with an example.\n",
    );
    for section in &doc.sections {
        let _ = writeln!(out, ".SH \"[{}]\"", escape(&section.name));
        for key in &section.keys {
            // Several keys with one description: tags without space
            // between them (.PD 0), then the text.
            for (i, (name, value)) in key.lines.iter().enumerate() {
                if i == 1 {
                    out.push_str(".PD 0\n");
                }
                let _ = writeln!(out, ".TP\n\\fB{}\\fR = {}", escape(name), escape(value));
            }
            if key.lines.len() > 1 {
                out.push_str(".PD\n");
            }
            let mut text = key.text.join(" ");
            if !key.set {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str("(Not set in the shipped file; the value shown is an example.)");
            }
            let _ = writeln!(out, "{}", escape(text.trim()));
        }
    }
    out.push_str(TOML_TAIL);
    out
}

const TOML_TAIL: &str = r#".SH GAMMU-SMSDRC
Instead of this file, \fBsimgate run \-c /etc/gammu\-smsdrc\fR reads a
gammu\-smsd configuration as it is; \fBsimgate import\-gammu\fR prints the
equivalent of this file, and \fBsimgate check\-config\fR prints the
effective settings and every place simgate differs from gammu.
.SH FILES
\fI/etc/simgate/simgate.toml\fR, \fI/etc/simgate/NAME.toml\fR,
\fI/etc/simgate/pin\fR
.SH SEE ALSO
\fBsimgate\fR(8), \fBgammu\-smsdrc\fR(5)
"#;

/// The completion scripts: (file name, text) for bash, zsh and fish.
pub(crate) fn completions(command: &Command) -> Vec<(&'static str, String)> {
    use clap_complete::Shell;
    [
        (Shell::Bash, "simgate.bash"),
        (Shell::Zsh, "_simgate"),
        (Shell::Fish, "simgate.fish"),
    ]
    .into_iter()
    .map(|(shell, file)| {
        let mut command = command.clone();
        let mut out = Vec::new();
        clap_complete::generate(shell, &mut command, "simgate", &mut out);
        (file, String::from_utf8_lossy(&out).into_owned())
    })
    .collect()
}

/// Writes `simgate.8`, `simgate.toml.5` and `completions/*` into `dir`.
pub(crate) fn write_all(command: &Command, dir: &Path) -> std::io::Result<Vec<std::path::PathBuf>> {
    let version = command.get_version().unwrap_or("").to_owned();
    std::fs::create_dir_all(dir.join("completions"))?;
    let mut written = Vec::new();
    let mut write = |path: std::path::PathBuf, text: &str| -> std::io::Result<()> {
        std::fs::write(&path, text)?;
        written.push(path);
        Ok(())
    };
    write(dir.join("simgate.8"), &simgate_8(command))?;
    write(
        dir.join("simgate.toml.5"),
        &simgate_toml_5(&version, DEFAULT_CONFIG),
    )?;
    for (name, text) in completions(command) {
        write(dir.join("completions").join(name), &text)?;
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roff_escapes_backslashes_and_leading_dots() {
        assert_eq!(escape("a\\b"), "a\\eb");
        assert_eq!(
            escape(".hidden\n'quote\nplain"),
            "\\&.hidden\n\\&'quote\nplain"
        );
        assert_eq!(literal("--config"), "\\-\\-config");
    }

    #[test]
    fn comments_describe_the_keys_below_them() {
        let doc = annotated(
            "# title\n#\n# First paragraph\n# goes on.\n#\n# Second.\n\n[modem]\n\
             # The port.\n#device = \"/dev/ttyUSB0\"\n# Speed.\nbaud = 115200\n\
             # Resets.\nreset_interval = \"0s\"\nhard_reset_interval = \"0s\"\n\
             # (gammu: SMSC)\n# smsc = \"+49\"\n\n[log]\nlevel = \"info\"\n",
        );
        assert_eq!(
            doc.header,
            vec!["title", "First paragraph goes on.", "Second."]
        );
        let modem = &doc.sections[0];
        assert_eq!(modem.name, "modem");
        let names: Vec<Vec<&str>> = modem
            .keys
            .iter()
            .map(|k| k.lines.iter().map(|(k, _)| k.as_str()).collect())
            .collect();
        assert_eq!(
            names,
            vec![
                vec!["device"],
                vec!["baud"],
                vec!["reset_interval", "hard_reset_interval"],
                vec!["smsc"]
            ]
        );
        assert!(!modem.keys[0].set, "a commented key is an example");
        assert_eq!(modem.keys[0].text, vec!["The port."]);
        assert_eq!(modem.keys[1].lines[0].1, "115200");
        assert_eq!(modem.keys[3].text, vec!["(gammu: SMSC)"]);
        assert_eq!(doc.sections[1].keys[0].text, Vec::<String>::new());
    }

    #[test]
    fn every_key_of_the_default_configuration_is_in_the_manual() {
        let page = simgate_toml_5("0.1.0", DEFAULT_CONFIG);
        let doc = annotated(DEFAULT_CONFIG);
        let mut count = 0;
        for section in &doc.sections {
            assert!(
                page.contains(&format!(".SH \"[{}]\"", section.name)),
                "{}",
                section.name
            );
            for key in &section.keys {
                assert!(!key.text.is_empty(), "{:?} has no description", key.lines);
                for (name, _) in &key.lines {
                    assert!(page.contains(&format!("\\fB{name}\\fR = ")), "{name}");
                    count += 1;
                }
            }
        }
        // The keys the daemon documents (and `check-config` emits).
        for name in [
            "device",
            "pin_file",
            "pin",
            "umask",
            "ambiguous",
            "facility",
        ] {
            assert!(page.contains(&format!("\\fB{name}\\fR = ")), "{name}");
        }
        assert!(count > 40, "{count} keys");
    }

    #[test]
    fn the_command_page_has_every_visible_subcommand_and_option() {
        use clap::CommandFactory;
        let command = crate::cli::Cli::command();
        let page = simgate_8(&command);
        for needle in [
            ".SS \"\\fBsimgate run\\fR [\\fIOPTIONS\\fR]\"",
            ".SS \"\\fBsimgate migrate\\-from\\-gammu\\fR [\\fIOPTIONS\\fR] [\\fICONFIG\\fR]\"",
            ".SS \"\\fBsimgate pdu encode\\fR [\\fIOPTIONS\\fR] \\fITEXT\\fR\"",
            "\\fB\\-c\\fR, \\fB\\-\\-config\\fR \\fICONFIG\\fR",
            "Default: /etc/simgate/simgate.toml.",
            "One of: auto, gsm7, ucs2.",
            "\\fB\\-\\-apply\\fR",
            ".SS \"\\fBsimgate send\\fR [\\fIOPTIONS\\fR] \\fINUMBER\\fR [\\fITEXT\\fR]\"",
            "Exit status: 0 queued (with --wait: sent)",
        ] {
            assert!(page.contains(needle), "no {needle:?} in:\n{page}");
        }
        assert!(
            !page.contains("generate\\-docs"),
            "hidden commands stay hidden"
        );
        // No line may start a request by accident.
        let requests = [".TH ", ".SH ", ".SS ", ".TP", ".PP", ".br", ".PD"];
        for line in page.lines().filter(|l| l.starts_with('.')) {
            assert!(requests.iter().any(|r| line.starts_with(r)), "{line}");
        }
    }

    /// Every command a user runs says its exit status, in --help and in
    /// simgate(8): its own, or the one all commands share.
    #[test]
    fn every_command_documents_its_exit_status() {
        use clap::CommandFactory;
        let command = crate::cli::Cli::command();
        assert!(command
            .get_after_help()
            .is_some_and(|help| help.to_string() == crate::cli::EXIT_STATUS));
        for path in [
            &["run"][..],
            &["check-config"],
            &["modem", "probe"],
            &["send"],
            &["status"],
            &["inject"],
        ] {
            let mut sub = &command;
            for name in path {
                sub = sub.find_subcommand(name).unwrap();
            }
            let help = sub
                .get_after_help()
                .map(|h| h.to_string())
                .unwrap_or_default();
            assert!(help.contains("Exit status"), "{path:?}: {help:?}");
        }
        let page = simgate_8(&command);
        assert!(page.contains("2 when\nthe command line is wrong"), "{page}");
        assert_eq!(page.matches("Exit status").count(), 6, "{page}");
    }

    #[test]
    fn completions_cover_the_subcommands() {
        use clap::CommandFactory;
        let scripts = completions(&crate::cli::Cli::command());
        assert_eq!(scripts.len(), 3);
        for (name, text) in scripts {
            assert!(text.contains("migrate-from-gammu"), "{name}");
            assert!(text.contains("check-config"), "{name}");
        }
    }
}
