//! A ModemManager stand-in for tests, on a private bus: [`BusDaemon`]
//! runs a real `dbus-daemon` (a session-like configuration in a
//! temporary directory), and [`MmEmulator`] owns
//! `org.freedesktop.ModemManager1` on it, exporting the ObjectManager, one
//! modem (Modem, Modem3gpp, Modem.Signal, Modem.Messaging) and its SMS
//! objects as ModemManager does.
//!
//! It keeps what was sent (number, text, report request, TP-MR), takes
//! received messages (single or multipart: an Added signal, the object
//! RECEIVING, then RECEIVED once the client has looked at it) and status
//! reports, and records each Delete with what the test's check said at
//! that moment (was the inbox file there already?). Faults: the next
//! sends refused, the next Send's answer lost after the message went out,
//! the modem removed and added again (under a new index, its SMS objects
//! gone, as when a modem is unplugged).

use std::collections::{BTreeMap, HashMap};
use std::io::BufRead;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::watch;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{ObjectPath, OwnedObjectPath, OwnedValue};

const ROOT: &str = "/org/freedesktop/ModemManager1";

/// A private `dbus-daemon`, stopped when dropped.
#[derive(Debug)]
pub struct BusDaemon {
    child: std::process::Child,
    address: String,
    dir: PathBuf,
}

impl BusDaemon {
    /// Starts one in a fresh temporary directory; fails when
    /// `dbus-daemon` is not installed.
    pub fn start() -> std::io::Result<Self> {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("simgate-bus-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir)?;
        let config = dir.join("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<!DOCTYPE busconfig PUBLIC \"-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN\"\n \
                 \"http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd\">\n\
                 <busconfig>\n  <type>session</type>\n  <listen>unix:path={}</listen>\n  \
                 <auth>EXTERNAL</auth>\n  <policy context=\"default\">\n    \
                 <allow send_destination=\"*\" eavesdrop=\"true\"/>\n    \
                 <allow eavesdrop=\"true\"/>\n    <allow own=\"*\"/>\n  </policy>\n</busconfig>\n",
                dir.join("bus").display()
            ),
        )?;
        let mut child = std::process::Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg("--print-address")
            .arg("--nofork")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()?;
        let mut line = String::new();
        let stdout = child.stdout.take().ok_or_else(|| {
            std::io::Error::other("dbus-daemon gave no output to read its address from")
        })?;
        std::io::BufReader::new(stdout).read_line(&mut line)?;
        let address = line.trim().to_owned();
        if address.is_empty() {
            let _ = child.kill();
            let _ = child.wait();
            return Err(std::io::Error::other("dbus-daemon printed no address"));
        }
        Ok(Self {
            child,
            address,
            dir,
        })
    }

    /// Its address, for `[modem] bus`.
    pub fn address(&self) -> &str {
        &self.address
    }
}

impl Drop for BusDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// What the test's check says when a Delete comes: given the deleted
/// message's text, whether its inbox file is already there.
pub type DeleteCheck = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// How the stand-in starts.
#[derive(Clone)]
pub struct MmConfig {
    /// The modem's IMEI.
    pub equipment_identifier: String,
    /// Its manufacturer.
    pub manufacturer: String,
    /// Its model.
    pub model: String,
    /// `MMModemState` (8: registered).
    pub state: i32,
    /// `MMModemLock` (1: none; 2: the SIM wants its PIN).
    pub unlock_required: u32,
    /// Whether it exports the Messaging interface.
    pub messaging: bool,
    /// The operator's name.
    pub operator: String,
    /// Signal quality in percent.
    pub signal_percent: u32,
    /// The LTE RSSI in dBm.
    pub rssi: f64,
    /// The TP-MR the first sent part gets (each part counts one up).
    pub first_reference: u32,
    /// Called at each Delete (see [`DeleteCheck`]).
    pub on_delete: Option<DeleteCheck>,
}

impl std::fmt::Debug for MmConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmConfig")
            .field("equipment_identifier", &self.equipment_identifier)
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Default for MmConfig {
    fn default() -> Self {
        Self {
            equipment_identifier: "490154203237518".to_owned(),
            manufacturer: "Quectel".to_owned(),
            model: "EC25".to_owned(),
            state: 8,
            unlock_required: 1,
            messaging: true,
            operator: "Stand-in Mobile".to_owned(),
            signal_percent: 67,
            rssi: -71.0,
            first_reference: 40,
            on_delete: None,
        }
    }
}

/// A message that went out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SentSms {
    /// Its SMS object.
    pub path: String,
    /// The recipient.
    pub number: String,
    /// The whole text.
    pub text: String,
    /// Whether a delivery report was asked for.
    pub delivery_report: bool,
    /// The TP-MR of its last part.
    pub reference: u32,
}

/// A Delete that came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deletion {
    /// The object deleted.
    pub path: String,
    /// Its text.
    pub text: String,
    /// What the test's check said then (`None` without one).
    pub inbox_had_it: Option<bool>,
}

/// What the stand-in holds and did.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// What went out, in order.
    pub sent: Vec<SentSms>,
    /// Send calls taken (refused ones included).
    pub send_calls: u32,
    /// Create calls taken.
    pub creates: u32,
    /// Deletes, in order.
    pub deleted: Vec<Deletion>,
    /// The SMS objects there now: path, and state.
    pub objects: BTreeMap<String, u32>,
    /// The modem's path, while it is there.
    pub modem: Option<String>,
}

#[derive(Debug, Clone)]
struct SmsData {
    pdu_type: u32,
    state: u32,
    number: String,
    text: String,
    timestamp: String,
    delivery_report_request: bool,
    message_reference: u32,
    delivery_state: u32,
    discharge_timestamp: String,
    /// Times a client read its state.
    state_reads: u32,
}

struct State {
    config: MmConfig,
    snapshot: Snapshot,
    objects: BTreeMap<String, SmsData>,
    next_sms: u32,
    next_modem: u32,
    next_reference: u32,
    fail_sends: u32,
    lose_answers: u32,
}

struct Shared {
    state: Mutex<State>,
    changed: watch::Sender<u64>,
}

impl Shared {
    /// Looks without changing anything (no waiter is woken).
    fn read<R>(&self, f: impl FnOnce(&State) -> R) -> R {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        f(&state)
    }

    /// Changes the state and wakes the waiters.
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        let result = f(&mut state);
        state.snapshot.objects = state
            .objects
            .iter()
            .map(|(path, sms)| (path.clone(), sms.state))
            .collect();
        drop(state);
        self.changed.send_modify(|n| *n += 1);
        result
    }
}

fn iso_now() -> String {
    let seconds = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64);
    let stamp = jiff::Timestamp::from_second(seconds).unwrap_or_default();
    // As ModemManager writes it: an offset of hours.
    format!("{}+00", stamp.strftime("%Y-%m-%dT%H:%M:%S"))
}

/// The stand-in, serving until stopped.
pub struct MmEmulator {
    connection: zbus::Connection,
    shared: Arc<Shared>,
}

impl std::fmt::Debug for MmEmulator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MmEmulator").finish_non_exhaustive()
    }
}

struct ModemIface {
    shared: Arc<Shared>,
}

#[zbus::interface(name = "org.freedesktop.ModemManager1.Modem")]
impl ModemIface {
    #[zbus(property)]
    fn state(&self) -> i32 {
        self.shared.read(|s| s.config.state)
    }
    #[zbus(property)]
    fn state_failed_reason(&self) -> u32 {
        0
    }
    #[zbus(property)]
    fn manufacturer(&self) -> String {
        self.shared.read(|s| s.config.manufacturer.clone())
    }
    #[zbus(property)]
    fn model(&self) -> String {
        self.shared.read(|s| s.config.model.clone())
    }
    #[zbus(property)]
    fn equipment_identifier(&self) -> String {
        self.shared.read(|s| s.config.equipment_identifier.clone())
    }
    #[zbus(property)]
    fn signal_quality(&self) -> (u32, bool) {
        self.shared.read(|s| (s.config.signal_percent, true))
    }
    #[zbus(property)]
    fn own_numbers(&self) -> Vec<String> {
        vec!["+4915100000000".to_owned()]
    }
    #[zbus(property)]
    fn unlock_required(&self) -> u32 {
        self.shared.read(|s| s.config.unlock_required)
    }
}

struct Modem3gppIface {
    shared: Arc<Shared>,
}

#[zbus::interface(name = "org.freedesktop.ModemManager1.Modem.Modem3gpp")]
impl Modem3gppIface {
    #[zbus(property)]
    fn registration_state(&self) -> u32 {
        1
    }
    #[zbus(property)]
    fn operator_name(&self) -> String {
        self.shared.read(|s| s.config.operator.clone())
    }
    #[zbus(property)]
    fn operator_code(&self) -> String {
        "26201".to_owned()
    }
}

struct SignalIface {
    shared: Arc<Shared>,
}

#[zbus::interface(name = "org.freedesktop.ModemManager1.Modem.Signal")]
impl SignalIface {
    fn setup(&self, _rate: u32) {}
    #[zbus(property)]
    fn lte(&self) -> HashMap<String, OwnedValue> {
        let rssi = self.shared.read(|s| s.config.rssi);
        HashMap::from([("rssi".to_owned(), OwnedValue::from(rssi))])
    }
    #[zbus(property)]
    fn umts(&self) -> HashMap<String, OwnedValue> {
        HashMap::new()
    }
    #[zbus(property)]
    fn gsm(&self) -> HashMap<String, OwnedValue> {
        HashMap::new()
    }
}

use messaging::MessagingIface;

/// The Messaging interface, in a module of its own: the interface macro
/// makes its signal a public item without the doc comment it has.
#[allow(missing_docs)]
mod messaging {
    use super::*;

    pub(super) struct MessagingIface {
        pub(super) shared: Arc<Shared>,
    }

    #[zbus::interface(name = "org.freedesktop.ModemManager1.Modem.Messaging")]
    impl MessagingIface {
        fn list(&self) -> Vec<OwnedObjectPath> {
            self.shared.read(|s| {
                s.objects
                    .keys()
                    .filter_map(|p| OwnedObjectPath::try_from(p.as_str()).ok())
                    .collect()
            })
        }

        async fn delete(
            &self,
            path: ObjectPath<'_>,
            #[zbus(object_server)] server: &zbus::ObjectServer,
        ) -> zbus::fdo::Result<()> {
            let path = path.to_string();
            let check = self.shared.read(|s| s.config.on_delete.clone());
            let text = self
                .shared
                .read(|s| s.objects.get(&path).map(|o| o.text.clone()));
            let Some(text) = text else {
                return Err(zbus::fdo::Error::Failed(format!(
                    "No SMS found with path '{path}'"
                )));
            };
            // Asked before the object goes: what the test sees at this moment.
            let inbox_had_it = check.map(|check| check(&text));
            self.shared.with(|s| {
                s.objects.remove(&path);
                s.snapshot.deleted.push(Deletion {
                    path: path.clone(),
                    text,
                    inbox_had_it,
                });
            });
            let _ = server.remove::<SmsIface, _>(path.as_str()).await;
            Ok(())
        }

        async fn create(
            &self,
            properties: HashMap<String, OwnedValue>,
            #[zbus(object_server)] server: &zbus::ObjectServer,
        ) -> zbus::fdo::Result<OwnedObjectPath> {
            let text = properties
                .get("text")
                .and_then(|v| String::try_from(v.clone()).ok());
            let number = properties
                .get("number")
                .and_then(|v| String::try_from(v.clone()).ok());
            let (Some(text), Some(number)) = (text, number) else {
                return Err(zbus::fdo::Error::InvalidArgs(
                    "number and text are mandatory".to_owned(),
                ));
            };
            let report = properties
                .get("delivery-report-request")
                .and_then(|v| bool::try_from(v).ok())
                .unwrap_or(false);
            let data = SmsData {
                pdu_type: 2,
                state: 1,
                number,
                text,
                timestamp: String::new(),
                delivery_report_request: report,
                message_reference: 0,
                delivery_state: 0x100,
                discharge_timestamp: String::new(),
                state_reads: 0,
            };
            let path = self.shared.with(|s| {
                s.snapshot.creates += 1;
                s.next_sms += 1;
                let path = format!("{ROOT}/SMS/{}", s.next_sms);
                s.objects.insert(path.clone(), data);
                path
            });
            server
                .at(
                    path.as_str(),
                    SmsIface {
                        shared: self.shared.clone(),
                        path: path.clone(),
                    },
                )
                .await
                .map_err(|e| zbus::fdo::Error::Failed(e.to_string()))?;
            OwnedObjectPath::try_from(path).map_err(|e| zbus::fdo::Error::Failed(e.to_string()))
        }

        /// A new SMS object, received or created.
        #[zbus(signal)]
        pub(super) async fn added(
            emitter: &SignalEmitter<'_>,
            path: ObjectPath<'_>,
            received: bool,
        ) -> zbus::Result<()>;

        #[zbus(property)]
        fn messages(&self) -> Vec<OwnedObjectPath> {
            self.list()
        }
    }
}

struct SmsIface {
    shared: Arc<Shared>,
    path: String,
}

impl SmsIface {
    fn get<R>(&self, f: impl FnOnce(&SmsData) -> R) -> R
    where
        R: Default,
    {
        self.shared
            .read(|s| s.objects.get(&self.path).map(f).unwrap_or_default())
    }
}

/// What the next Send does.
enum SendFault {
    Refuse,
    LoseAnswer,
    None,
}

#[zbus::interface(name = "org.freedesktop.ModemManager1.Sms")]
impl SmsIface {
    async fn send(
        &self,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> zbus::fdo::Result<()> {
        let fault = self.shared.with(|s| {
            s.snapshot.send_calls += 1;
            if s.fail_sends > 0 {
                s.fail_sends -= 1;
                SendFault::Refuse
            } else if s.lose_answers > 0 {
                s.lose_answers -= 1;
                SendFault::LoseAnswer
            } else {
                SendFault::None
            }
        });
        if matches!(fault, SendFault::Refuse) {
            return Err(zbus::fdo::Error::Failed(
                "the network refused the message (a stand-in fault)".to_owned(),
            ));
        }
        let sent = self.shared.with(|s| {
            let parts = {
                let Some(sms) = s.objects.get(&self.path) else {
                    return Err("no such SMS".to_owned());
                };
                if sms.state == 5 {
                    return Err("this message was sent already".to_owned());
                }
                let units: usize = sms.text.encode_utf16().count();
                let gsm = sms.text.is_ascii();
                let (single, multi) = if gsm { (160, 153) } else { (70, 67) };
                if units <= single {
                    1
                } else {
                    units.div_ceil(multi) as u32
                }
            };
            let last = s.next_reference.wrapping_add(parts - 1) & 0xFF;
            s.next_reference = s.next_reference.wrapping_add(parts);
            let Some(sms) = s.objects.get_mut(&self.path) else {
                return Err("no such SMS".to_owned());
            };
            sms.state = 5;
            sms.message_reference = last;
            let record = SentSms {
                path: self.path.clone(),
                number: sms.number.clone(),
                text: sms.text.clone(),
                delivery_report: sms.delivery_report_request,
                reference: last,
            };
            s.snapshot.sent.push(record);
            Ok(())
        });
        sent.map_err(zbus::fdo::Error::Failed)?;
        let _ = self.state_changed(&emitter).await;
        if matches!(fault, SendFault::LoseAnswer) {
            // It went out; the answer never comes.
            std::future::pending::<()>().await;
        }
        Ok(())
    }

    #[zbus(property)]
    fn state(&self) -> u32 {
        self.shared.with(|s| {
            s.objects.get_mut(&self.path).map_or(0, |sms| {
                sms.state_reads += 1;
                sms.state
            })
        })
    }
    #[zbus(property)]
    fn pdu_type(&self) -> u32 {
        self.get(|s| s.pdu_type)
    }
    #[zbus(property)]
    fn number(&self) -> String {
        self.get(|s| s.number.clone())
    }
    #[zbus(property)]
    fn text(&self) -> String {
        self.get(|s| s.text.clone())
    }
    #[zbus(property)]
    fn data(&self) -> Vec<u8> {
        Vec::new()
    }
    #[zbus(property)]
    fn timestamp(&self) -> String {
        self.get(|s| s.timestamp.clone())
    }
    #[zbus(property)]
    fn delivery_report_request(&self) -> bool {
        self.get(|s| s.delivery_report_request)
    }
    #[zbus(property)]
    fn message_reference(&self) -> u32 {
        self.get(|s| s.message_reference)
    }
    #[zbus(property)]
    fn delivery_state(&self) -> u32 {
        self.get(|s| s.delivery_state)
    }
    #[zbus(property)]
    fn discharge_timestamp(&self) -> String {
        self.get(|s| s.discharge_timestamp.clone())
    }
}

impl MmEmulator {
    /// Owns ModemManager's name on the bus at `address` and exports its
    /// modem.
    pub async fn start(address: &str, config: MmConfig) -> zbus::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                next_reference: config.first_reference,
                config,
                snapshot: Snapshot::default(),
                objects: BTreeMap::new(),
                next_sms: 0,
                next_modem: 0,
                fail_sends: 0,
                lose_answers: 0,
            }),
            changed: watch::channel(0).0,
        });
        let connection = zbus::connection::Builder::address(address)?
            .serve_at(ROOT, zbus::fdo::ObjectManager)?
            .build()
            .await?;
        let emulator = Self { connection, shared };
        emulator.add_modem().await?;
        emulator
            .connection
            .request_name(crate::modemmanager::SERVICE)
            .await?;
        Ok(emulator)
    }

    /// What it holds and did now.
    pub fn snapshot(&self) -> Snapshot {
        self.shared.read(|s| s.snapshot.clone())
    }

    /// Waits until `done` holds for the snapshot, at most `limit`; whether
    /// it did.
    pub async fn wait_for(&self, limit: Duration, done: impl Fn(&Snapshot) -> bool) -> bool {
        let mut changes = self.shared.changed.subscribe();
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if done(&self.snapshot()) {
                return true;
            }
            if tokio::time::Instant::now() >= deadline {
                return false;
            }
            if tokio::time::timeout_at(deadline, changes.changed())
                .await
                .is_err()
            {
                return done(&self.snapshot());
            }
        }
    }

    /// The next `count` Send calls are refused (the object stays STORED).
    pub fn fail_sends(&self, count: u32) {
        self.shared.with(|s| s.fail_sends = count);
    }

    /// The next Send sends, then never answers.
    pub fn lose_next_send_answer(&self) {
        self.shared.with(|s| s.lose_answers = 1);
    }

    fn modem_path(&self) -> Option<String> {
        self.shared.read(|s| s.snapshot.modem.clone())
    }

    /// Exports the modem (again) under the next index.
    pub async fn add_modem(&self) -> zbus::Result<String> {
        let (path, messaging) = self.shared.with(|s| {
            let path = format!("{ROOT}/Modem/{}", s.next_modem);
            s.next_modem += 1;
            (path, s.config.messaging)
        });
        let server = self.connection.object_server();
        let shared = &self.shared;
        server
            .at(
                path.as_str(),
                ModemIface {
                    shared: shared.clone(),
                },
            )
            .await?;
        server
            .at(
                path.as_str(),
                Modem3gppIface {
                    shared: shared.clone(),
                },
            )
            .await?;
        server
            .at(
                path.as_str(),
                SignalIface {
                    shared: shared.clone(),
                },
            )
            .await?;
        if messaging {
            server
                .at(
                    path.as_str(),
                    MessagingIface {
                        shared: shared.clone(),
                    },
                )
                .await?;
        }
        self.shared.with(|s| s.snapshot.modem = Some(path.clone()));
        Ok(path)
    }

    /// Takes the modem away, as when it is unplugged: its interfaces
    /// removed (InterfacesRemoved) and its SMS objects gone.
    pub async fn remove_modem(&self) -> zbus::Result<()> {
        let Some(path) = self.modem_path() else {
            return Ok(());
        };
        let server = self.connection.object_server();
        let objects: Vec<String> = self.shared.with(|s| {
            s.snapshot.modem = None;
            std::mem::take(&mut s.objects).into_keys().collect()
        });
        for object in objects {
            let _ = server.remove::<SmsIface, _>(object.as_str()).await;
        }
        let _ = server.remove::<MessagingIface, _>(path.as_str()).await;
        let _ = server.remove::<SignalIface, _>(path.as_str()).await;
        let _ = server.remove::<Modem3gppIface, _>(path.as_str()).await;
        server.remove::<ModemIface, _>(path.as_str()).await?;
        self.shared.with(|_| ());
        Ok(())
    }

    async fn add_received(&self, data: SmsData) -> zbus::Result<String> {
        let Some(modem) = self.modem_path() else {
            return Err(zbus::Error::Failure("no modem".to_owned()));
        };
        let path = self.shared.with(|s| {
            s.next_sms += 1;
            let path = format!("{ROOT}/SMS/{}", s.next_sms);
            s.objects.insert(path.clone(), data);
            path
        });
        self.connection
            .object_server()
            .at(
                path.as_str(),
                SmsIface {
                    shared: self.shared.clone(),
                    path: path.clone(),
                },
            )
            .await?;
        let emitter = SignalEmitter::new(&self.connection, modem)?;
        MessagingIface::added(&emitter, ObjectPath::try_from(path.as_str())?, true).await?;
        Ok(path)
    }

    async fn set_state(&self, path: &str, state: u32) -> zbus::Result<()> {
        self.shared.with(|s| {
            if let Some(sms) = s.objects.get_mut(path) {
                sms.state = state;
            }
        });
        let iface = self
            .connection
            .object_server()
            .interface::<_, SmsIface>(path)
            .await?;
        let emitter = iface.signal_emitter().clone();
        let changed = iface.get().await.state_changed(&emitter).await;
        changed
    }

    /// A message from `number` arrives: an Added signal for an object
    /// RECEIVING; once a client has read its state, the rest of its parts
    /// "arrive" and it becomes RECEIVED. Its path.
    pub async fn receive(&self, number: &str, text: &str, limit: Duration) -> zbus::Result<String> {
        let path = self
            .add_received(SmsData {
                pdu_type: 1,
                state: 2,
                number: number.to_owned(),
                text: text.to_owned(),
                timestamp: iso_now(),
                delivery_report_request: false,
                message_reference: 0,
                delivery_state: 0x100,
                discharge_timestamp: String::new(),
                state_reads: 0,
            })
            .await?;
        let key = path.clone();
        self.wait_for(limit, |_| {
            self.shared
                .read(|s| s.objects.get(&key).is_some_and(|sms| sms.state_reads > 0))
        })
        .await;
        self.set_state(&path, 3).await?;
        Ok(path)
    }

    /// A delivery report arrives for the part sent with TP-MR `reference`
    /// to `number`, with TP-ST `status` (0 delivered). Its path.
    pub async fn status_report(
        &self,
        reference: u32,
        number: &str,
        status: u32,
    ) -> zbus::Result<String> {
        let now = iso_now();
        self.add_received(SmsData {
            pdu_type: 3,
            state: 3,
            number: number.to_owned(),
            text: String::new(),
            timestamp: now.clone(),
            delivery_report_request: false,
            message_reference: reference,
            delivery_state: status,
            discharge_timestamp: now,
            state_reads: 0,
        })
        .await
    }

    /// Closes its connection, as ModemManager exiting: its name and every
    /// object it exported go at once.
    pub async fn close(self) {
        let _ = self.connection.close().await;
    }

    /// Leaves the bus.
    pub async fn stop(&self) {
        let _ = self
            .connection
            .release_name(crate::modemmanager::SERVICE)
            .await;
    }
}
