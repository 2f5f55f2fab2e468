//! One HTTP conversation with a ZTE stick: the `Referer` it insists on,
//! the session cookie, and the login when an answer shows the session is
//! not (or no longer) logged in: an action answered `failure`, or a read
//! answered with empty values, is followed by a look at `loginfo`; when
//! that is not `ok` the client logs in (salt and lockout counters first)
//! and asks once more. A refused password is not tried again until the
//! configuration changes; a lockout is waited out, never hammered.
//!
//! One request at a time, each on its own connection, so a refused
//! connection always means the request never reached the stick.

use super::api::{self, AnswerError, LoginAnswer};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use serde_json::Value;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// How long a lockout is waited out when the stick does not say.
const LOCKOUT_WAIT: Duration = Duration::from_secs(300);

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ZteError {
    /// No connection: the request never reached the stick.
    #[error("cannot reach the stick at {url}: {reason}")]
    Unreachable {
        /// The stick's address.
        url: String,
        /// Why.
        reason: String,
    },
    /// The request went out but no complete answer came: the stick may
    /// have acted on it.
    #[error("no answer from the stick to {what}: {reason}")]
    NoAnswer {
        /// The request.
        what: String,
        /// Why.
        reason: String,
    },
    /// An HTTP status other than 200.
    #[error("the stick answered HTTP {status} to {what}")]
    Http {
        /// The request.
        what: String,
        /// The status.
        status: u16,
    },
    /// An answer that is not the JSON expected.
    #[error("unreadable answer to {what}: {error}")]
    Answer {
        /// The request.
        what: String,
        /// What was wrong.
        error: AnswerError,
    },
    /// An action the stick answered with something other than success
    /// while logged in.
    #[error("the stick refused {0}")]
    Refused(String),
    /// The stick wants a password and none is configured.
    #[error("the stick requires a login: set password (or password_file) under {section} (the factory password is often \"admin\")")]
    LoginRequired {
        /// Where the modem's keys are written (`[modem]`, ...).
        section: String,
    },
    /// The configured password was refused.
    #[error("the stick refused the password: check password under {section}")]
    BadPassword {
        /// Where the modem's keys are written (`[modem]`, ...).
        section: String,
    },
    /// Too many failed logins: the stick refuses logins for a while.
    #[error("the stick locked logins after too many failures; next attempt in {0} s")]
    LockedOut(u64),
    /// Someone else is logged in to the stick's web page.
    #[error("another user is logged in to the stick's web page")]
    OtherUser,
}

impl ZteError {
    /// Whether the request may have reached the stick and been acted on.
    pub fn in_doubt(&self) -> bool {
        matches!(
            self,
            Self::NoAnswer { .. } | Self::Http { .. } | Self::Answer { .. }
        )
    }

    fn answer(what: &str, error: AnswerError) -> Self {
        Self::Answer {
            what: what.to_owned(),
            error,
        }
    }
}

/// What the client learnt about logging in; it outlives sessions.
#[derive(Debug, Default, Clone, Copy)]
struct LoginMemory {
    blocked_until: Option<Instant>,
    bad_password: bool,
}

/// A client of one stick.
#[derive(Debug)]
pub struct Client {
    base: String,
    referer: String,
    http: crate::http_client::Http,
    password: Option<crate::config::Password>,
    /// Where the stick's keys are written, for the login errors.
    section: String,
    timeout: Duration,
    /// The session's cookies (`name=value`), one request at a time.
    cookies: Mutex<Vec<String>>,
    login: std::sync::Mutex<LoginMemory>,
    logins: std::sync::atomic::AtomicU32,
    /// When the stick last wanted a login again (its session had
    /// expired), for the status.
    relogged: std::sync::Mutex<Option<std::time::SystemTime>>,
}

/// The name of the goform an action names, for messages.
fn goform_of(form: &str) -> String {
    api::parse_form(form)
        .into_iter()
        .find(|(name, _)| name == "goformId")
        .map_or_else(|| "an action".to_owned(), |(_, value)| value)
}

/// The field a read asks for, for messages.
fn cmd_of(query: &str) -> String {
    api::parse_form(query)
        .into_iter()
        .find(|(name, _)| name == "cmd")
        .map_or_else(|| "a read".to_owned(), |(_, value)| value)
}

impl Client {
    /// A client of the stick at `base` (`http://192.168.0.1`), logging in
    /// with `password` when the stick asks. `timeout` bounds each request.
    pub fn new(base: &str, password: Option<String>, timeout: Duration) -> Self {
        let base = base.trim_end_matches('/').to_owned();
        Self {
            referer: api::referer(&base),
            http: crate::http_client::client(timeout),
            base,
            password: password.map(crate::config::Password::new),
            section: crate::config::ModemSection::First.to_string(),
            timeout,
            cookies: Mutex::new(Vec::new()),
            login: std::sync::Mutex::new(LoginMemory::default()),
            logins: std::sync::atomic::AtomicU32::new(0),
            relogged: std::sync::Mutex::new(None),
        }
    }

    /// The client of a stick whose keys are written in `section` (as
    /// [`crate::config::ModemSection`] shows it; `[modem]` unless told),
    /// which its login errors name.
    pub fn for_section(mut self, section: impl Into<String>) -> Self {
        self.section = section.into();
        self
    }

    fn bad_password(&self) -> ZteError {
        ZteError::BadPassword {
            section: self.section.clone(),
        }
    }

    /// The stick's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// When the stick last wanted a login again after a first one (its
    /// session had expired).
    pub fn relogged(&self) -> Option<std::time::SystemTime> {
        *self.relogged.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Logins so far.
    pub fn logins(&self) -> u32 {
        self.logins.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets the session (the next request that needs one logs in).
    pub async fn reset(&self) {
        self.cookies.lock().await.clear();
    }

    /// Reads `query` (from [`api::get_query`] and its kin) and `parse`s
    /// the answer; an answer `parse` finds empty is taken as a session
    /// that is not logged in (once).
    pub async fn read<T>(
        &self,
        query: &str,
        parse: impl Fn(&Value) -> Result<T, AnswerError>,
    ) -> Result<T, ZteError> {
        let mut cookies = self.cookies.lock().await;
        let what = cmd_of(query);
        let path = format!("{}?{query}", api::GET_PATH);
        let answer = self
            .exchange(&mut cookies, Method::GET, &path, None, &what)
            .await?;
        match parse(&answer) {
            Ok(value) => Ok(value),
            Err(error) => {
                if self.log_in_if_needed(&mut cookies).await? {
                    let answer = self
                        .exchange(&mut cookies, Method::GET, &path, None, &what)
                        .await?;
                    parse(&answer).map_err(|error| ZteError::answer(&what, error))
                } else {
                    Err(ZteError::answer(&what, error))
                }
            }
        }
    }

    /// Reads `query` and gives the answer as it is.
    pub async fn read_raw(&self, query: &str) -> Result<Value, ZteError> {
        self.read(query, |v| Ok(v.clone())).await
    }

    /// Posts the action `form`; an answer other than success from a session
    /// that is not logged in is followed by a login and the action once
    /// more (the stick did nothing with it), otherwise it is
    /// [`ZteError::Refused`].
    pub async fn act(&self, form: &str) -> Result<Value, ZteError> {
        let mut cookies = self.cookies.lock().await;
        let what = goform_of(form);
        let answer = self
            .exchange(&mut cookies, Method::POST, api::SET_PATH, Some(form), &what)
            .await?;
        if api::succeeded(&answer) {
            return Ok(answer);
        }
        if self.log_in_if_needed(&mut cookies).await? {
            let answer = self
                .exchange(&mut cookies, Method::POST, api::SET_PATH, Some(form), &what)
                .await?;
            if api::succeeded(&answer) {
                return Ok(answer);
            }
        }
        Err(ZteError::Refused(what))
    }

    /// Whether the session is logged in (`loginfo`).
    async fn logged_in(&self, cookies: &mut Vec<String>) -> Result<bool, ZteError> {
        let path = format!("{}?{}", api::GET_PATH, api::get_query(&["loginfo"], &[]));
        let answer = self
            .exchange(cookies, Method::GET, &path, None, "loginfo")
            .await?;
        Ok(api::text(&answer, "loginfo").is_some_and(|v| v.trim().eq_ignore_ascii_case("ok")))
    }

    /// Logs in when the session is not: whether it did (so the request is
    /// worth repeating). Errors when a login is needed and cannot be had.
    async fn log_in_if_needed(&self, cookies: &mut Vec<String>) -> Result<bool, ZteError> {
        if self.logged_in(cookies).await? {
            return Ok(false);
        }
        let Some(password) = &self.password else {
            return Err(ZteError::LoginRequired {
                section: self.section.clone(),
            });
        };
        let memory = *self.login.lock().unwrap_or_else(|e| e.into_inner());
        if memory.bad_password {
            return Err(self.bad_password());
        }
        if let Some(until) = memory.blocked_until {
            let now = Instant::now();
            if until > now {
                return Err(ZteError::LockedOut((until - now).as_secs()));
            }
        }
        let path = format!(
            "{}?{}",
            api::GET_PATH,
            api::get_query(&api::LOGIN_FIELDS, &[])
        );
        let info = self
            .exchange(cookies, Method::GET, &path, None, "the login state")
            .await?;
        let info = api::login_info(&info);
        if let Some(seconds) = info.locked() {
            return Err(self.locked(seconds));
        }
        let form = api::login_form(password.reveal(), info.salt.as_deref());
        let answer = self
            .exchange(cookies, Method::POST, api::SET_PATH, Some(&form), "LOGIN")
            .await?;
        match api::login_answer(&answer) {
            LoginAnswer::Done => {
                let before = self
                    .logins
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if before > 0 {
                    *self.relogged.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some(std::time::SystemTime::now());
                }
                tracing::info!("logged in to the ZTE stick");
                Ok(true)
            }
            LoginAnswer::BadPassword => {
                // A lockout may follow the wrong password: the counters say.
                self.login
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .bad_password = true;
                tracing::error!("the ZTE stick refused the password; not trying it again until the configuration is reloaded");
                Err(self.bad_password())
            }
            LoginAnswer::OtherUser => Err(ZteError::OtherUser),
            LoginAnswer::Refused => {
                // Refused without a reason: perhaps locked now.
                let info = self
                    .exchange(cookies, Method::GET, &path, None, "the login state")
                    .await
                    .map(|info| api::login_info(&info))
                    .unwrap_or_default();
                match info.locked() {
                    Some(seconds) => Err(self.locked(seconds)),
                    None => Err(ZteError::Refused("LOGIN".to_owned())),
                }
            }
        }
    }

    fn locked(&self, seconds: u64) -> ZteError {
        let wait = Duration::from_secs(seconds).max(Duration::from_secs(1));
        let wait = if seconds == 0 { LOCKOUT_WAIT } else { wait };
        self.login
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .blocked_until = Some(Instant::now() + wait);
        tracing::error!(
            wait_s = wait.as_secs(),
            "the ZTE stick locked logins after too many failures; not trying again before the wait is over"
        );
        ZteError::LockedOut(wait.as_secs())
    }

    /// One HTTP exchange with the session's cookies and the `Referer`; the
    /// answer's cookies taken into the session.
    async fn exchange(
        &self,
        cookies: &mut Vec<String>,
        method: Method,
        path: &str,
        form: Option<&str>,
        what: &str,
    ) -> Result<Value, ZteError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("Referer", &self.referer)
            .header("X-Requested-With", "XMLHttpRequest");
        if !cookies.is_empty() {
            request = request.header("Cookie", cookies.join("; "));
        }
        if form.is_some() {
            request = request.header(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            );
        }
        let request = request
            .body(Full::new(Bytes::from(form.unwrap_or("").to_owned())))
            .map_err(|e| ZteError::Unreachable {
                url: self.base.clone(),
                reason: e.to_string(),
            })?;
        let (parts, bytes) = crate::http_client::exchange(&self.http, request, self.timeout)
            .await
            .map_err(|failed| match failed {
                crate::http_client::Failed::Unreachable(reason) => ZteError::Unreachable {
                    url: self.base.clone(),
                    reason,
                },
                crate::http_client::Failed::NoAnswer(reason) => ZteError::NoAnswer {
                    what: what.to_owned(),
                    reason,
                },
            })?;
        for cookie in parts.headers.get_all("set-cookie") {
            let Some(pair) = cookie
                .to_str()
                .ok()
                .and_then(|c| c.split(';').next())
                .map(str::trim)
                .filter(|c| c.contains('='))
            else {
                continue;
            };
            let name = pair.split('=').next().unwrap_or("");
            cookies.retain(|c| c.split('=').next() != Some(name));
            cookies.push(pair.to_owned());
        }
        if parts.status != StatusCode::OK {
            return Err(ZteError::Http {
                what: what.to_owned(),
                status: parts.status.as_u16(),
            });
        }
        api::answer(&String::from_utf8_lossy(&bytes)).map_err(|error| ZteError::answer(what, error))
    }
}
