//! The `simgate` command line: argument parsing (clap) and the subcommands
//! that exist so far. Each subcommand writes to a caller-supplied writer so
//! tests can read what a user would see.

use crate::pdu::{
    self, Address, Alphabet, Body, EncodingPolicy, Incoming, MessageClass, SmsSubmit,
    SubmitOptions, Validity,
};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::io::{self, Write};
use std::process::ExitCode;

/// SMS gateway daemon: a SIM in a USB modem behind a gammu-compatible spool.
#[derive(Debug, Parser)]
#[command(name = "simgate", version, about, after_help = EXIT_STATUS)]
pub(crate) struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The exit status every command shares (`send`, `status` and `inject`
/// say theirs in their own help); simgate(8) prints it too.
pub(crate) const EXIT_STATUS: &str = "Exit status: 0 done (the daemon: stopped on request); \
    1 failed, the reason on standard error; 2 the command line is wrong. \
    `send`, `status` and `inject` have their own (see their --help).";

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the gateway daemon (gammu-smsd compatible spool).
    #[command(
        after_help = "Exit status: 0 stopped on request (SIGTERM, SIGINT), or no modem \
                      configured and nothing to do; 1 an error, named on standard error \
                      and in the journal (another daemon has the state, the outbox or the \
                      modem; the configuration is invalid; the database cannot be opened)."
    )]
    Run(RunArgs),
    /// Run the daemon on the built-in modem emulator, in a local folder,
    /// printing what happens: the way to try simgate without hardware.
    Demo(DemoArgs),
    /// Validate a configuration and print the effective settings.
    #[command(
        after_help = "Exit status: 0 valid (the effective settings printed); 1 invalid, \
                      every problem named on standard error."
    )]
    CheckConfig(CheckConfigArgs),
    /// Print the simgate TOML equivalent to a gammu-smsdrc.
    ImportGammu(ImportGammuArgs),
    /// Work with SMS PDUs without a modem.
    #[command(subcommand)]
    Pdu(PduCommand),
    /// Talk to a modem.
    #[command(subcommand)]
    Modem(ModemCommand),
    /// Queue a message: write an outbox file (named as gammu-smsd-inject
    /// names them) for the running daemon to send, and optionally wait
    /// for the outcome.
    #[command(
        after_help = "Exit status: 0 queued (with --wait: sent); 1 not queued, or \
                             (with --wait) not sent, its file in the error folder; \
                             3 (with --wait) still queued when the time ran out."
    )]
    Send(SendArgs),
    /// Show what the daemon's database says: the modem (as the daemon last
    /// recorded it), the queue by why it waits, today's counts, the rate
    /// limits' use and the latest errors. Works whether the daemon runs or
    /// not.
    #[command(after_help = "Exit status: 0 shown; 1 the database cannot be read.")]
    Status(StatusArgs),
    /// gammu-smsd-inject's command line for TEXT and EMS messages: writes
    /// the outbox files gammu-smsd-inject writes (same names, same bytes),
    /// e.g. `simgate inject -c /etc/gammu-smsdrc TEXT +4912345 -text Hi`.
    #[command(
        after_help = "MESSAGE is gammu-smsd-inject's: TEXT RECIPIENT [-text TEXT | \
                             -textutf8 TEXT] [-unicode] [-len N | -autolen N] [-16bit] [-flash] \
                             [-report] [-reply] [-replacemessages N] [-maxsms N] \
                             [-smscnumber N] [-validity HOUR|6HOURS|DAY|3DAYS|WEEK|MAX] (text \
                             from standard input without -text), or EMS RECIPIENT [-unicode] \
                             [-16bit] (-text TEXT [-format lcrasbiut])...; options have one \
                             dash and any case. -smscnumber and -validity cannot be kept in \
                             outbox files (as with gammu). Exit status, as gammu-smsd-inject's: \
                             0 written (it prints Written message with ID <file>); 1 the \
                             message cannot be made (empty EMS, over -maxsms, text too long); \
                             2 the configuration cannot be read, or a number option is no \
                             number; 3 the outbox file cannot be written; 255 the message \
                             arguments are refused (unknown or unsupported option or type, \
                             missing value)."
    )]
    Inject(InjectArgs),
    /// Check an existing gammu-smsd setup and print the steps that put
    /// simgate in its place (changes nothing unless --apply is given).
    MigrateFromGammu(crate::migrate::MigrateArgs),
    /// Write the manual pages and shell completions into a folder (for
    /// packaging).
    #[command(hide = true)]
    GenerateDocs(GenerateDocsArgs),
}

#[derive(Debug, Args)]
struct SendArgs {
    /// simgate TOML or gammu-smsdrc: where the outbox is. Default: the one
    /// of /etc/simgate/simgate.toml and /etc/gammu-smsdrc a running daemon
    /// serves, else the first of them that loads.
    #[arg(short, long)]
    config: Option<std::path::PathBuf>,
    /// The destination number (international with +, or as the network
    /// expects it).
    number: String,
    /// The text (UTF-8); read from standard input when left out.
    text: Option<String>,
    /// Wait until the daemon has sent it (or failed to), at most SECONDS
    /// (300 when no value is given; at most a week); says at once when no
    /// simgate daemon is running for the outbox. Before the number, write
    /// `--wait=SECONDS`: a number is never taken for the seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        num_args = 0..=1,
        default_missing_value = "300",
        value_parser = wait_seconds
    )]
    wait: Option<u64>,
}

/// The longest `send --wait`: a week.
const MAX_WAIT_SECONDS: u64 = 7 * 24 * 3600;

/// `send --wait`'s SECONDS: plain digits, at most a week. What looks like
/// a phone number (a sign, a leading zero, more digits) is refused rather
/// than taken for seconds: `send --wait +49… TEXT` would otherwise wait
/// for ages and send to whatever came next.
fn wait_seconds(value: &str) -> Result<u64, String> {
    let plain = !value.is_empty()
        && value.bytes().all(|b| b.is_ascii_digit())
        && (value == "0" || !value.starts_with('0'));
    match value.parse::<u64>() {
        Ok(seconds) if plain && seconds <= MAX_WAIT_SECONDS => Ok(seconds),
        _ => Err(format!(
            "not a number of seconds up to {MAX_WAIT_SECONDS} (a week); to wait before the \
             number, write --wait=SECONDS, or put --wait after the text"
        )),
    }
}

#[derive(Debug, Args)]
struct StatusArgs {
    /// simgate TOML or gammu-smsdrc: whose daemon to look at. Default: the
    /// one of /etc/simgate/simgate.toml and /etc/gammu-smsdrc a running
    /// daemon serves, else the first of them that loads.
    #[arg(short, long)]
    config: Option<std::path::PathBuf>,
    /// Print JSON (one object per reading) for scripts.
    #[arg(long)]
    json: bool,
    /// Show it again every SECONDS (2 when no value is given) until
    /// interrupted.
    #[arg(long, value_name = "SECONDS", num_args = 0..=1, default_missing_value = "2")]
    watch: Option<u64>,
}

#[derive(Debug, Args)]
struct InjectArgs {
    /// simgate TOML or gammu-smsdrc: where the outbox is and its
    /// OutboxFormat (detail: one .smsbackup file; standard or unicode:
    /// a .txt file per part). Default: the one of /etc/gammu-smsdrc (as
    /// for gammu-smsd-inject) and /etc/simgate/simgate.toml a running
    /// daemon serves, else the first of them that loads.
    #[arg(short, long)]
    config: Option<std::path::PathBuf>,
    /// Accepted for gammu-smsd-inject's sake (its logging options); simgate
    /// inject logs nothing.
    #[arg(short = 'l', hide = true)]
    use_log: bool,
    /// Accepted for gammu-smsd-inject's sake.
    #[arg(short = 'L', hide = true)]
    no_use_log: bool,
    /// MSGTYPE RECIPIENT [options], as gammu-smsd-inject takes them.
    #[arg(
        value_name = "MESSAGE",
        num_args = 0..,
        trailing_var_arg = true,
        allow_hyphen_values = true
    )]
    message: Vec<std::ffi::OsString>,
}

#[derive(Debug, Args)]
struct GenerateDocsArgs {
    /// The folder to write simgate.8, simgate.toml.5 and completions/ into.
    #[arg(long)]
    out: std::path::PathBuf,
}

#[derive(Debug, Args)]
struct RunArgs {
    /// simgate TOML or gammu-smsdrc, told apart by content.
    #[arg(short, long, default_value = crate::config::DEFAULT_PATH)]
    config: std::path::PathBuf,
    /// Write the process id here (removed on a clean exit).
    #[arg(short, long)]
    pid: Option<std::path::PathBuf>,
    /// Run as this user (name or uid) once started.
    #[arg(short = 'U', long)]
    user: Option<String>,
    /// Run as this group (name or gid) once started.
    #[arg(short = 'G', long)]
    group: Option<String>,
    /// Serve the HTTP API on ADDR (ADDRESS:PORT, or a PORT alone for
    /// 127.0.0.1:PORT), whatever the configuration file says: also beside
    /// a gammu-smsdrc.
    #[arg(long, value_name = "ADDR", value_parser = http_address)]
    http: Option<std::net::SocketAddr>,
}

fn http_address(text: &str) -> Result<std::net::SocketAddr, String> {
    crate::config::parse_listen(text).ok_or_else(|| {
        format!(
            "{text:?} is not an address: write ADDRESS:PORT (127.0.0.1:8080, [::1]:8080) or a PORT"
        )
    })
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Folder for the demo's spool and database (created if needed).
    #[arg(long, default_value = "simgate-demo")]
    dir: std::path::PathBuf,
    /// Stop after this many messages went out (0: run until Ctrl-C).
    #[arg(long, default_value_t = 0)]
    stop_after: usize,
}

#[derive(Debug, Args)]
struct CheckConfigArgs {
    /// simgate TOML or gammu-smsdrc.
    #[arg(short, long, default_value = crate::config::DEFAULT_PATH)]
    config: std::path::PathBuf,
    /// Show the SIM PIN instead of redacting it.
    #[arg(long)]
    show_pin: bool,
}

#[derive(Debug, Args)]
struct ImportGammuArgs {
    /// The gammu-smsdrc to convert.
    file: std::path::PathBuf,
    /// Include the SIM PIN in the output.
    #[arg(long)]
    show_pin: bool,
}

#[derive(Debug, Subcommand)]
enum ModemCommand {
    /// Find out what a modem is, what state its SIM is in, and what is wrong.
    #[command(
        after_help = "Exit status: 0 the report printed (it says what is wrong with the \
                      modem or its SIM, if anything); 1 the device (without --device: one \
                      of the configured modems) cannot be opened at all."
    )]
    Probe(ProbeArgs),
}

#[derive(Debug, Args)]
struct ProbeArgs {
    /// The modem's AT port (/dev/serial/by-id/... or /dev/ttyUSB0), or a
    /// web stick's address (http://192.168.8.1 for HiLink, http://192.168.0.1
    /// for ZTE). Left out: every modem the configuration names.
    #[arg(long)]
    device: Option<std::path::PathBuf>,
    /// simgate TOML or gammu-smsdrc: the modems probed when no --device
    /// is given.
    #[arg(short, long, default_value = crate::config::DEFAULT_PATH, conflicts_with_all = ["device", "modemmanager"])]
    config: std::path::PathBuf,
    /// Which web interface an http:// address has: "hilink" (Huawei, the
    /// default for an address) or "zte" (the goform interface of the MF823
    /// family).
    #[arg(long, value_parser = ["hilink", "zte"])]
    transport: Option<String>,
    /// List ModemManager's modems instead, saying which simgate can use.
    #[arg(long, conflicts_with_all = ["device", "transport"])]
    modemmanager: bool,
    /// ModemManager: the D-Bus address of its bus (the system bus by
    /// default).
    #[arg(long, requires = "modemmanager")]
    bus: Option<String>,
    /// Baud rate (UART modules such as the SIM800 need the right one).
    #[arg(long, default_value_t = 115_200)]
    baud: u32,
    /// HiLink: the login name, when the stick asks for a login (ZTE sticks
    /// have none).
    #[arg(long, default_value = "admin")]
    user: String,
    /// Web sticks: a file whose first line is the login password.
    #[arg(long)]
    password_file: Option<std::path::PathBuf>,
}

#[derive(Debug, Subcommand)]
enum PduCommand {
    /// Plan a message and print its parts as the PDUs AT+CMGS would send.
    Encode(EncodeArgs),
    /// Decode a PDU as a modem lists it (SMSC field in front) and print it.
    Decode(DecodeArgs),
}

#[derive(Debug, Args)]
struct EncodeArgs {
    /// Destination number: +international, national or a short code.
    #[arg(long)]
    to: String,
    /// The message text.
    text: String,
    /// Alphabet choice: auto picks GSM 7-bit when every character fits.
    #[arg(long, value_enum, default_value_t = Encoding::Auto)]
    encoding: Encoding,
    /// Send as a flash message (class 0).
    #[arg(long)]
    flash: bool,
    /// Ask for a delivery report.
    #[arg(long)]
    report: bool,
    /// Validity period in minutes (relative); if absent, the longest
    /// (TP-VP FF, 63 weeks), which the daemon asks for unless `[send]
    /// validity` says otherwise.
    #[arg(long)]
    validity_minutes: Option<u32>,
    /// SMSC number to put in front; the SIM's SMSC if absent.
    #[arg(long)]
    smsc: Option<String>,
    /// Concatenation reference for long messages (0-255).
    #[arg(long, default_value_t = 0)]
    reference: u8,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum Encoding {
    Auto,
    Gsm7,
    Ucs2,
}

#[derive(Debug, Args)]
struct DecodeArgs {
    /// The PDU in hex.
    hex: String,
    /// The hex has no SMSC field in front (a bare TPDU).
    #[arg(long)]
    no_smsc: bool,
    /// Decode as an SMS-SUBMIT (a message stored for sending).
    #[arg(long)]
    submit: bool,
}

/// Errors a subcommand reports to the user.
#[derive(Debug, thiserror::Error)]
pub(crate) enum CliError {
    /// The destination or SMSC number is not usable.
    #[error("invalid number {number:?}: {source}")]
    Number {
        /// What the user typed.
        number: String,
        /// Why it is not usable.
        source: pdu::AddressError,
    },
    /// The text cannot be planned.
    #[error("cannot plan the message: {0}")]
    Plan(#[from] pdu::PlanError),
    /// A part cannot be encoded.
    #[error("cannot encode the message: {0}")]
    Encode(#[from] pdu::EncodeError),
    /// The PDU does not decode.
    #[error("cannot decode the PDU: {0}")]
    Decode(#[from] pdu::DecodeError),
    /// Writing the output failed.
    #[error("cannot write the output: {0}")]
    Io(#[from] io::Error),
    /// Talking to the modem failed.
    #[error("{0}")]
    Modem(#[from] crate::modem::ModemError),
    /// ModemManager could not be asked (`simgate modem probe
    /// --modemmanager`).
    #[error("{0}")]
    ModemManager(String),
    /// The configuration is not usable.
    #[error("{0}")]
    Config(#[from] crate::config::ConfigError),
    /// The daemon stopped with an error.
    #[error("{0}")]
    Daemon(#[from] crate::daemon::DaemonError),
    /// The state directory, or another daemon on the same state.
    #[error("{0}")]
    Instance(#[from] crate::instance::InstanceError),
    /// The demo failed.
    #[error("{0}")]
    Demo(#[from] crate::demo::DemoError),
    /// `simgate send` could not queue the message, or it was not sent.
    #[error("{0}")]
    Queue(#[from] crate::queue::QueueError),
    /// `simgate inject` wrote nothing.
    #[error("{0}")]
    Inject(#[from] crate::inject::InjectError),
    /// `migrate-from-gammu` found problems or could not make a change.
    #[error("{0}")]
    Migrate(#[from] crate::migrate::MigrateError),
    /// The database cannot be read (`simgate status`).
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    /// `simgate modem probe` named no modem and the configuration that
    /// would cannot be read.
    #[error(
        "{0}; name the modem with --device (ModemManager's with --modemmanager), \
         or its configuration with -c"
    )]
    NoModemToProbe(Box<crate::config::ConfigError>),
    /// Some of the configured modems could not be probed (`simgate modem
    /// probe` without `--device`); each says why in the report.
    #[error("{0} of the configured modems could not be probed (see above)")]
    ProbesFailed(usize),
    /// No database for this configuration yet.
    #[error("no database at {0}: the daemon has not run with this configuration")]
    NoDatabase(std::path::PathBuf),
    /// `simgate send --wait` on a configuration with sending off.
    #[error("{}: nothing was queued, since --wait would wait for a send that does not come", sending_off(.0))]
    WaitWithSendingOff(std::path::PathBuf),
    /// Dropping privileges failed.
    #[error("cannot switch to {what}: {reason}")]
    Privileges {
        /// The user or group asked for.
        what: String,
        /// Why not.
        reason: String,
    },
}

/// Parses the process arguments, runs the subcommand, maps errors to exit 1.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let stdout = io::stdout();
    match run(cli, &mut stdout.lock()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("simgate: {error}");
            match error {
                CliError::Queue(crate::queue::QueueError::StillWaiting { .. }) => ExitCode::from(3),
                CliError::Inject(error) => ExitCode::from(error.exit_code()),
                _ => ExitCode::FAILURE,
            }
        }
    }
}

/// Runs a parsed command line, writing what it prints to `out`.
pub(crate) fn run(cli: Cli, out: &mut dyn Write) -> Result<(), CliError> {
    match cli.command {
        Command::Pdu(PduCommand::Encode(args)) => encode(&args, out),
        Command::Pdu(PduCommand::Decode(args)) => decode(&args, out),
        Command::Modem(ModemCommand::Probe(args)) => probe(&args, out),
        Command::Run(args) => run_daemon(&args),
        Command::Demo(args) => Ok(crate::demo::run(&args.dir, args.stop_after, out)?),
        Command::CheckConfig(args) => check_config(&args, out),
        Command::ImportGammu(args) => import_gammu(&args, out),
        Command::MigrateFromGammu(args) => Ok(crate::migrate::run(&args, out)?),
        Command::Send(args) => send(&args, out),
        Command::Status(args) => status(&args, out),
        Command::Inject(args) => {
            let config = config_or_default(&args.config, Prefer::Gammu);
            crate::inject::run(&config, &args.message, out, &mut io::stderr())?;
            Ok(())
        }
        Command::GenerateDocs(args) => {
            use clap::CommandFactory;
            for path in crate::manual::write_all(&Cli::command(), &args.out)? {
                writeln!(out, "{}", path.display())?;
            }
            Ok(())
        }
    }
}

fn check_config(args: &CheckConfigArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let loaded = crate::config::load(&args.config)?;
    loaded.config.check_paths()?;
    let mut loaded = loaded;
    let state = match &loaded.config.database.path {
        Some(path) => format!("{} ([database] path)", path.display()),
        None => {
            let env = crate::instance::StateEnv::from_env();
            let path = crate::instance::planned_database(&args.config, &env)?;
            let note = if path.exists() {
                ""
            } else {
                " (created at the first start)"
            };
            let text = format!("{}{note}", path.display());
            loaded.config.database.path = Some(path);
            text
        }
    };
    writeln!(out, "# state: {state}")?;
    print_config(&loaded, args.show_pin, out)
}

/// Which default configuration a command looks at first.
#[derive(Clone, Copy)]
enum Prefer {
    /// simgate's own (`send`, `status`).
    Simgate,
    /// gammu's, as gammu-smsd-inject does (`inject`).
    Gammu,
}

/// The configuration named with `-c`, or the one in use
/// ([`crate::instance::config_in_use`]) of simgate's and gammu's defaults.
fn config_or_default(named: &Option<std::path::PathBuf>, prefer: Prefer) -> std::path::PathBuf {
    if let Some(path) = named {
        return path.clone();
    }
    let simgate = std::path::Path::new(crate::config::DEFAULT_PATH);
    let gammu = std::path::Path::new(crate::config::GAMMU_DEFAULT_PATH);
    match prefer {
        Prefer::Simgate => crate::instance::config_in_use(&[simgate, gammu]),
        Prefer::Gammu => crate::instance::config_in_use(&[gammu, simgate]),
    }
}

fn send(args: &SendArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let config_path = config_or_default(&args.config, Prefer::Simgate);
    let config = crate::config::load_without_secrets(&config_path)?.config;
    let text = match &args.text {
        Some(text) => text.clone(),
        None => {
            let mut text = String::new();
            io::Read::read_to_string(&mut io::stdin(), &mut text)?;
            text.strip_suffix('\n').map(str::to_owned).unwrap_or(text)
        }
    };
    if !config.send.enabled {
        if args.wait.is_some() {
            return Err(CliError::WaitWithSendingOff(config_path));
        }
        eprintln!(
            "simgate: {}; the file waits in the outbox until sending is on (then SIGHUP the daemon)",
            sending_off(&config_path)
        );
    }
    let queued = crate::queue::queue(&config, &args.number, &text)?;
    writeln!(out, "queued {}", queued.path.display())?;
    if let Some(seconds) = args.wait {
        let sent = crate::queue::wait(
            &config,
            &queued,
            std::time::Duration::from_secs(seconds),
            &mut io::stderr(),
        )?;
        writeln!(out, "sent {}", sent.display())?;
    }
    Ok(())
}

/// What a configuration with sending off means for a message queued.
fn sending_off(config: &std::path::Path) -> String {
    format!(
        "sending is off in {} (`Send = no`, or `[send] enabled = false`): the daemon does not look at the outbox",
        config.display()
    )
}

fn status(args: &StatusArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let config_path = config_or_default(&args.config, Prefer::Simgate);
    let config = crate::config::load_without_secrets(&config_path)?.config;
    let database = match &config.database.path {
        Some(path) => path.clone(),
        None => {
            crate::instance::planned_database(&config_path, &crate::instance::StateEnv::from_env())?
        }
    };
    if !database.exists() {
        return Err(CliError::NoDatabase(database));
    }
    loop {
        let report = crate::status::gather(&config, &database, || {
            crate::daemon::clock::Clock::now_ms(&crate::daemon::clock::SystemClock)
        })?;
        if args.json {
            writeln!(out, "{}", crate::status::to_json(&report))?;
        } else {
            if args.watch.is_some() {
                writeln!(out, "--- {}", database.display())?;
            }
            write!(out, "{}", crate::status::render_text(&report))?;
        }
        out.flush()?;
        match args.watch {
            Some(seconds) => std::thread::sleep(std::time::Duration::from_secs(seconds.max(1))),
            None => return Ok(()),
        }
    }
}

/// The gammu file as simgate TOML. A daemon that ran on the gammu file
/// kept its state in the database named after that file; the output names
/// it, so the limits' and budget's counts and the sends in doubt carry
/// over. What is redacted (without `--show-pin`) is said on stderr: the
/// output is usually redirected into a file.
fn import_gammu(args: &ImportGammuArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let mut loaded = crate::config::load(&args.file)?;
    if loaded.config.database.path.is_none() {
        let env = crate::instance::StateEnv::from_env();
        let database = crate::instance::planned_database(&args.file, &env)?;
        if database.exists() {
            loaded.config.database.path = Some(database);
        }
    }
    if !args.show_pin {
        let redacted: Vec<String> = loaded
            .config
            .to_toml()
            .lines()
            .filter(|line| line.ends_with("(set, redacted)"))
            .filter_map(|line| line.trim_start_matches("# ").split(' ').next())
            .map(str::to_owned)
            .collect();
        if !redacted.is_empty() {
            eprintln!(
                "simgate: left out of the output: {} (add --show-pin to include them, \
                 or put each in a file and name it: pin_file, password_file)",
                redacted.join(", ")
            );
        }
    }
    print_config(&loaded, args.show_pin, out)
}

/// The notices as comments, then the effective configuration as TOML.
fn print_config(
    loaded: &crate::config::Loaded,
    show_pin: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    for notice in &loaded.notices {
        writeln!(out, "# {notice}")?;
    }
    let text = if show_pin {
        loaded.config.to_toml_with_pin()
    } else {
        loaded.config.to_toml()
    };
    write!(out, "{text}")?;
    Ok(())
}

fn run_daemon(args: &RunArgs) -> Result<(), CliError> {
    let loaded = match crate::config::load(&args.config) {
        Ok(loaded) => loaded,
        Err(error) => match crate::unconfigured::what_to_set(&error, &args.config) {
            Some(line) => {
                crate::unconfigured::report(&line);
                return Ok(());
            }
            None => return Err(error.into()),
        },
    };
    let target = match &loaded.config.log.target {
        crate::config::LogTarget::File(path) => crate::daemon::logging::Target::File(path.clone()),
        crate::config::LogTarget::Syslog => crate::daemon::logging::Target::Syslog {
            facility: loaded.config.log.facility,
            socket: crate::daemon::logging::DEV_LOG.into(),
        },
        crate::config::LogTarget::Stdout => crate::daemon::logging::Target::Stdout,
        crate::config::LogTarget::Stderr => crate::daemon::logging::Target::Auto,
    };
    let level = format!("{:?}", loaded.config.log.level).to_ascii_lowercase();
    crate::daemon::logging::init(&level, &target)?;
    loaded.log_notices();
    loaded.config.check_paths()?;
    let mut config = loaded.config;
    if let Some(address) = args.http {
        config.http.listen = Some(address);
        config.check_listeners()?;
    }
    if let Some(mask) = config.spool.umask {
        nix::sys::stat::umask(nix::sys::stat::Mode::from_bits_truncate(mask));
    }
    let identity = Identity::resolve(args.user.as_deref(), args.group.as_deref())?;
    let owner = identity.as_ref().map(Identity::owner);
    // The state directory is made (and given to the user simgate switches
    // to) before the privileges go.
    let database = match &config.database.path {
        Some(path) => {
            crate::instance::prepare_parent(path, owner)?;
            path.clone()
        }
        None => crate::instance::prepare_database(
            &args.config,
            &crate::instance::StateEnv::from_env(),
            owner,
        )?,
    };
    tracing::info!(database = %database.display(), "state");
    config.database.path = Some(database);
    // One worker for the spawned tasks (the AT channel, the supervisor,
    // hook output), so they go on while the daemon's loop, on this
    // thread, is busy; a second worker only added a stack and a malloc
    // arena (about 0.1 MB). A blocking pool of two threads for blocking
    // work handed off with spawn_blocking.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .max_blocking_threads(2)
        .enable_all()
        .build()?;
    // The handlers go in before the pid file: a SIGTERM from here on (an
    // early `systemctl stop`) is a clean exit that removes it, never a
    // death by the default action that leaves it behind.
    let signals = {
        let _runtime = runtime.enter();
        crate::daemon::Signals::listen()?
    };
    let pid_file = match &args.pid {
        Some(path) => Some(PidFile::write(path, identity.is_some())?),
        None => None,
    };
    if let Some(identity) = &identity {
        identity.switch()?;
    }
    let options = crate::daemon::DaemonOptions {
        signals: Some(signals),
        config_path: Some(args.config.clone()),
        ..crate::daemon::DaemonOptions::new(config)
    };
    let result = runtime.block_on(crate::device::configured::serve(
        options,
        std::future::pending(),
    ));
    drop(runtime);
    if let Some(pid_file) = pid_file {
        pid_file.remove_on_clean_exit(result.is_ok());
    }
    Ok(result?)
}

/// The pid file: written at start, removed on a clean exit. When simgate
/// switches to another user it may no longer remove a file in a folder
/// such as `/run`, so a tiny helper started before the switch (a shell
/// that waits on a pipe, in a process group of its own) removes it once
/// simgate says it stopped cleanly; a crash leaves it, as a crash should.
struct PidFile {
    path: std::path::PathBuf,
    helper: Option<(std::process::Child, std::process::ChildStdin)>,
}

impl PidFile {
    fn write(path: &std::path::Path, switching_user: bool) -> Result<Self, CliError> {
        let pid = std::process::id();
        std::fs::write(path, format!("{pid}\n"))?;
        let helper = if switching_user {
            use std::os::unix::process::CommandExt;
            let mut child = std::process::Command::new("/bin/sh")
                .arg("-c")
                .arg(r#"read status && [ "$status" = clean ] && [ "$(cat -- "$1")" = "$2" ] && rm -f -- "$1""#)
                .arg("sh")
                .arg(path)
                .arg(pid.to_string())
                .stdin(std::process::Stdio::piped())
                .stdout(std::process::Stdio::null())
                .stderr(std::process::Stdio::null())
                .process_group(0)
                .spawn()?;
            let stdin = child.stdin.take().expect("piped");
            Some((child, stdin))
        } else {
            None
        };
        Ok(Self {
            path: path.to_owned(),
            helper,
        })
    }

    fn remove_on_clean_exit(self, clean: bool) {
        match self.helper {
            Some((mut child, mut stdin)) => {
                if clean {
                    let _ = stdin.write_all(b"clean\n");
                }
                drop(stdin);
                let _ = child.wait();
            }
            None => {
                if clean {
                    let _ = std::fs::remove_file(&self.path);
                }
            }
        }
    }
}

/// The user and group `-U`/`-G` ask for (names or numbers); a user without
/// a group also takes the user's primary group, as gammu-smsd does.
struct Identity {
    user: Option<nix::unistd::User>,
    gid: nix::unistd::Gid,
}

impl Identity {
    fn resolve(user: Option<&str>, group: Option<&str>) -> Result<Option<Self>, CliError> {
        use nix::unistd::{Gid, Group, Uid, User};
        let failed = |what: &str, reason: String| CliError::Privileges {
            what: what.to_owned(),
            reason,
        };
        let user = match user {
            None => None,
            Some(name) => Some(
                match name.parse::<u32>() {
                    Ok(uid) => User::from_uid(Uid::from_raw(uid)),
                    Err(_) => User::from_name(name),
                }
                .map_err(|e| failed(name, e.to_string()))?
                .ok_or_else(|| failed(name, "no such user".to_owned()))?,
            ),
        };
        let gid = match group {
            Some(name) => Some(match name.parse::<u32>() {
                Ok(gid) => Gid::from_raw(gid),
                Err(_) => {
                    Group::from_name(name)
                        .map_err(|e| failed(name, e.to_string()))?
                        .ok_or_else(|| failed(name, "no such group".to_owned()))?
                        .gid
                }
            }),
            None => user.as_ref().map(|u| u.gid),
        };
        Ok(gid.map(|gid| Self { user, gid }))
    }

    /// The uid and gid files made for the daemon should belong to.
    fn owner(&self) -> (u32, u32) {
        let uid = self
            .user
            .as_ref()
            .map_or_else(|| nix::unistd::getuid().as_raw(), |u| u.uid.as_raw());
        (uid, self.gid.as_raw())
    }

    /// Switches to the group and user.
    fn switch(&self) -> Result<(), CliError> {
        let failed = |what: &str, reason: String| CliError::Privileges {
            what: what.to_owned(),
            reason,
        };
        // The user's own supplementary groups (dialout, for the modem) stay:
        // the port is opened, and reopened after an unplug, as that user.
        match &self.user {
            Some(user) => {
                let name = std::ffi::CString::new(user.name.clone())
                    .map_err(|e| failed(&user.name, e.to_string()))?;
                nix::unistd::initgroups(&name, self.gid)
                    .map_err(|e| failed("supplementary groups", e.to_string()))?;
            }
            None => nix::unistd::setgroups(&[self.gid])
                .map_err(|e| failed("supplementary groups", e.to_string()))?,
        }
        nix::unistd::setgid(self.gid).map_err(|e| failed(&self.gid.to_string(), e.to_string()))?;
        if let Some(user) = &self.user {
            nix::unistd::setuid(user.uid).map_err(|e| failed(&user.name, e.to_string()))?;
        }
        Ok(())
    }
}

fn probe(args: &ProbeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    if args.modemmanager {
        return probe_target(&runtime, &ProbeTarget::ModemManager(args.bus.clone()), out);
    }
    if let Some(device) = &args.device {
        let password = match &args.password_file {
            Some(path) => Some(
                std::fs::read_to_string(path)?
                    .lines()
                    .next()
                    .unwrap_or("")
                    .to_owned(),
            ),
            None => None,
        };
        let target = match device.to_str().filter(|d| d.starts_with("http://")) {
            Some(url) => ProbeTarget::Web {
                kind: if args.transport.as_deref() == Some("zte") {
                    crate::config::WebKind::Zte
                } else {
                    crate::config::WebKind::Hilink
                },
                url: url.to_owned(),
                user: args.user.clone(),
                password,
                section: crate::config::ModemSection::First,
            },
            None => ProbeTarget::Serial {
                device: device.clone(),
                settings: crate::modem::PortSettings {
                    baud: args.baud,
                    ..crate::modem::PortSettings::default()
                },
            },
        };
        return probe_target(&runtime, &target, out);
    }
    // No device named: the modems of the configuration, each under its
    // name; one that cannot be probed does not keep the others from it.
    let config = crate::config::load(&args.config)
        .map_err(|source| CliError::NoModemToProbe(Box::new(source)))?
        .config;
    let modems: Vec<&crate::config::ModemSettings> = std::iter::once(&config.modem)
        .chain(&config.more_modems)
        .collect();
    let mut failed = 0;
    for (index, (name, modem)) in config.modem_names().into_iter().zip(modems).enumerate() {
        let target = ProbeTarget::of(modem);
        if index > 0 {
            writeln!(out)?;
        }
        writeln!(out, "modem {name:?}: {}", target.address())?;
        if let Err(error) = probe_target(&runtime, &target, out) {
            writeln!(out, "cannot probe it: {error}")?;
            if matches!(
                error,
                CliError::Modem(crate::modem::ModemError::Held { .. })
            ) {
                writeln!(
                    out,
                    "hint: a running daemon keeps its modem; `simgate status` shows what it \
                     knows, or stop it first (systemctl stop simgate)"
                )?;
            }
            failed += 1;
        }
    }
    match failed {
        0 => Ok(()),
        failed => Err(CliError::ProbesFailed(failed)),
    }
}

/// What `simgate modem probe` looks at.
enum ProbeTarget {
    /// An AT port.
    Serial {
        device: std::path::PathBuf,
        settings: crate::modem::PortSettings,
    },
    /// A web stick (HiLink or ZTE) or an Android phone.
    Web {
        kind: crate::config::WebKind,
        url: String,
        user: String,
        password: Option<String>,
        /// Where its keys are written, for the hints.
        section: crate::config::ModemSection,
    },
    /// ModemManager's modems, on the system bus or the one named.
    ModemManager(Option<String>),
}

impl ProbeTarget {
    /// The modem a configuration section names.
    fn of(modem: &crate::config::ModemSettings) -> Self {
        if let Some(mm) = &modem.modemmanager {
            return Self::ModemManager(mm.bus.clone());
        }
        match &modem.web {
            Some(web) => Self::Web {
                kind: web.kind,
                url: web.url.clone(),
                user: web.user.clone(),
                password: web.password.as_ref().map(|p| p.reveal().to_owned()),
                section: modem.section.clone(),
            },
            None => Self::Serial {
                device: modem.device.clone(),
                settings: crate::modem::PortSettings {
                    baud: modem.baud,
                    hardware_flow_control: modem.hardware_flow_control,
                },
            },
        }
    }

    /// Where it is, for the heading (the configuration keeps a web
    /// address without its password).
    fn address(&self) -> String {
        match self {
            Self::Serial { device, .. } => device.display().to_string(),
            Self::Web { kind, url, .. } => format!("{url} ({})", kind.as_str()),
            Self::ModemManager(_) => "ModemManager".to_owned(),
        }
    }
}

fn probe_target(
    runtime: &tokio::runtime::Runtime,
    target: &ProbeTarget,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    // A probe waits on the device for seconds: say what is going on.
    match target {
        ProbeTarget::ModemManager(_) => {
            eprintln!("simgate: asking ModemManager for its modems ...")
        }
        other => eprintln!("simgate: probing {} ...", other.address()),
    }
    match target {
        ProbeTarget::ModemManager(bus) => {
            let report = runtime
                .block_on(crate::modemmanager::probe::probe(bus.as_deref()))
                .map_err(CliError::ModemManager)?;
            write!(out, "{report}")?;
        }
        ProbeTarget::Web {
            kind: crate::config::WebKind::Zte,
            url,
            password,
            section,
            ..
        } => write!(
            out,
            "{}",
            runtime.block_on(crate::zte::probe::probe(url, password.clone(), section))
        )?,
        ProbeTarget::Web {
            kind: crate::config::WebKind::Hilink,
            url,
            user,
            password,
            section,
        } => write!(
            out,
            "{}",
            runtime.block_on(crate::hilink::probe::probe(
                url,
                user,
                password.clone(),
                section
            ))
        )?,
        ProbeTarget::Web {
            kind: crate::config::WebKind::Android,
            ..
        } => writeln!(
            out,
            "an Android phone is not probed: `simgate status` shows its battery, \
             connectivity and SIMs as the running daemon hears them from the app"
        )?,
        ProbeTarget::Serial { device, settings } => {
            let report = runtime.block_on(crate::modem::probe::probe(device, *settings))?;
            write!(out, "{report}")?;
        }
    }
    Ok(())
}

fn parse_number(number: &str) -> Result<Address, CliError> {
    Address::parse_number(number).map_err(|source| CliError::Number {
        number: number.to_owned(),
        source,
    })
}

fn alphabet_name(alphabet: Alphabet) -> &'static str {
    match alphabet {
        Alphabet::Gsm7 => "GSM 7-bit",
        Alphabet::Ucs2 => "UCS-2",
        Alphabet::Eight => "8-bit data",
    }
}

fn encode(args: &EncodeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let policy = match args.encoding {
        Encoding::Auto => EncodingPolicy::Auto,
        Encoding::Gsm7 => EncodingPolicy::Gsm7,
        Encoding::Ucs2 => EncodingPolicy::Ucs2,
    };
    let plan = pdu::plan_text(&args.text, policy)?;
    let mut options = SubmitOptions::new(parse_number(&args.to)?);
    options.class = args.flash.then_some(MessageClass::Flash);
    options.status_report = args.report;
    options.validity = args.validity_minutes.map_or(
        Validity::Relative(crate::config::MAX_RELATIVE_VALIDITY),
        Validity::relative_minutes,
    );
    options.concat_reference = u16::from(args.reference);
    let smsc = args.smsc.as_deref().map(parse_number).transpose()?;
    let unit = if plan.alphabet == Alphabet::Gsm7 {
        "septets"
    } else {
        "UTF-16 units"
    };
    writeln!(out, "to: {}", options.destination.to_display())?;
    writeln!(out, "encoding: {}", alphabet_name(plan.alphabet))?;
    writeln!(out, "length: {} {unit}", plan.units)?;
    writeln!(out, "parts: {}", plan.part_count())?;
    for (index, submit) in SmsSubmit::from_plan(&plan, &options).iter().enumerate() {
        let encoded = submit.encode(smsc.as_ref())?;
        let text = submit.user_data.body.text().unwrap_or_default();
        writeln!(out, "part {}: {text:?}", index + 1)?;
        writeln!(out, "  AT+CMGS={}", encoded.tpdu_length())?;
        writeln!(out, "  {}", encoded.to_hex())?;
    }
    Ok(())
}

fn decode(args: &DecodeArgs, out: &mut dyn Write) -> Result<(), CliError> {
    let bytes = pdu::hex::decode(&args.hex).map_err(pdu::DecodeError::from)?;
    let tpdu = if args.no_smsc {
        &bytes[..]
    } else {
        let (smsc, tpdu) = pdu::split_smsc(&bytes)?;
        let smsc = smsc.map_or_else(|| "(the SIM's)".to_owned(), |a| a.to_display());
        writeln!(out, "smsc: {smsc}")?;
        tpdu
    };
    if args.submit {
        let submit = SmsSubmit::decode(tpdu)?;
        writeln!(out, "type: SMS-SUBMIT")?;
        writeln!(out, "to: {}", submit.destination.to_display())?;
        writeln!(out, "message reference: {}", submit.message_reference)?;
        writeln!(
            out,
            "status report requested: {}",
            submit.status_report_request
        )?;
        write_content(out, &submit.dcs, &submit.user_data)?;
        return Ok(());
    }
    match Incoming::decode(tpdu)? {
        Incoming::Deliver(deliver) => {
            writeln!(out, "type: SMS-DELIVER")?;
            writeln!(out, "from: {}", deliver.originator.to_display())?;
            writeln!(out, "sent: {}", deliver.timestamp)?;
            write_content(out, &deliver.dcs, &deliver.user_data)?;
        }
        Incoming::StatusReport(report) => {
            writeln!(out, "type: SMS-STATUS-REPORT")?;
            writeln!(out, "recipient: {}", report.recipient.to_display())?;
            writeln!(out, "message reference: {}", report.message_reference)?;
            writeln!(out, "submitted: {}", report.timestamp)?;
            writeln!(out, "discharged: {}", report.discharge_time)?;
            writeln!(out, "status: {}", report.status)?;
            writeln!(out, "outcome: {:?}", report.status.outcome())?;
        }
    }
    Ok(())
}

fn write_content(
    out: &mut dyn Write,
    dcs: &pdu::DataCodingScheme,
    user_data: &pdu::UserData,
) -> Result<(), CliError> {
    writeln!(out, "encoding: {}", alphabet_name(dcs.alphabet))?;
    if let Some(class) = dcs.class {
        writeln!(out, "class: {}", class.number())?;
    }
    if let Some(concat) = user_data.header.as_ref().and_then(|h| h.concat()) {
        writeln!(
            out,
            "part: {} of {} (reference {})",
            concat.sequence, concat.total, concat.reference
        )?;
    }
    if let Some((destination, source)) = user_data.header.as_ref().and_then(|h| h.ports()) {
        writeln!(out, "ports: {source} -> {destination}")?;
    }
    if let Some(low) = user_data.split.leading {
        writeln!(
            out,
            "begins with the second half of a surrogate pair: {low:04X}"
        )?;
    }
    match &user_data.body {
        Body::Text(text) => writeln!(out, "text: {text:?}")?,
        Body::Binary(data) => writeln!(out, "data: {}", pdu::hex::encode(data))?,
        Body::Compressed(data) => writeln!(
            out,
            "compressed data (not decoded): {}",
            pdu::hex::encode(data)
        )?,
    }
    if let Some(high) = user_data.split.trailing {
        writeln!(
            out,
            "ends with the first half of a surrogate pair: {high:04X}"
        )?;
    }
    if let Some(why) = dcs.undecoded() {
        writeln!(out, "not decoded: {why}")?;
    }
    Ok(())
}
