//! One conversation with a HiLink stick over plain HTTP: the session
//! cookie, the single-use `__RequestVerificationToken` for each POST
//! (renewed from each answer's headers), a new session when the stick
//! says the old one or its token is no longer valid (125001-125003, at
//! most twice per request, logged), the login when it asks for one
//! (100003), a wait when it is busy (100004), and a lockout (108007)
//! respected: no login is tried again until it is over.
//!
//! One request at a time: the tokens are a sequence, and the stick is a
//! small machine. Each request opens its own connection, so a refused
//! connection always means the request never reached the stick.

use super::api::{self, AnswerError, ErrorClass};
use super::xml::Element;
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::{Method, Request, StatusCode};
use std::collections::VecDeque;
use std::time::{Duration, Instant};
use tokio::sync::Mutex;

/// The header the stick takes (and hands out) tokens in.
pub const TOKEN_HEADER: &str = "__RequestVerificationToken";

/// How often a request is tried again while the stick says it is busy.
const BUSY_RETRIES: u32 = 10;
/// How long to wait between those tries.
const BUSY_WAIT: Duration = Duration::from_millis(500);
/// New sessions per request before giving up.
const SESSION_RETRIES: u32 = 2;
/// How long a lockout (108007) is waited out before the next login.
const LOCKOUT_WAIT: Duration = Duration::from_secs(300);

/// Why a request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HilinkError {
    /// No connection (refused, no route, timed out connecting): the
    /// request never reached the stick.
    #[error("cannot reach the stick at {url}: {reason}")]
    Unreachable {
        /// The stick's address.
        url: String,
        /// Why.
        reason: String,
    },
    /// The request went out but no complete answer came (timeout, the
    /// connection dropped): the stick may have acted on it.
    #[error("no answer from the stick to {path}: {reason}")]
    NoAnswer {
        /// The request.
        path: String,
        /// Why.
        reason: String,
    },
    /// An HTTP status other than 200.
    #[error("the stick answered HTTP {status} to {path}")]
    Http {
        /// The request.
        path: String,
        /// The status.
        status: u16,
    },
    /// An answer that is not the document expected.
    #[error("unreadable answer to {path}: {error}")]
    Answer {
        /// The request.
        path: String,
        /// What was wrong.
        error: AnswerError,
    },
    /// The stick answered an error code.
    #[error("the stick answered error {code} to {path}")]
    Code {
        /// The request.
        path: String,
        /// The code.
        code: u32,
    },
    /// The stick wants a password and none is configured.
    #[error("the stick requires a login: set password (or password_file) under {section}")]
    LoginRequired {
        /// Where the modem's keys are written (`[modem]`, ...).
        section: String,
    },
    /// The configured password was refused.
    #[error("the stick refused the password (error {code}): check password under {section}")]
    BadPassword {
        /// The stick's error code.
        code: u32,
        /// Where the modem's keys are written (`[modem]`, ...).
        section: String,
    },
    /// Too many failed logins: the stick refuses logins for a while.
    #[error("the stick locked logins after too many failures; next attempt in {0} s")]
    LockedOut(u64),
}

impl HilinkError {
    /// Whether the request may have reached the stick and been acted on.
    pub fn in_doubt(&self) -> bool {
        matches!(
            self,
            Self::NoAnswer { .. } | Self::Http { .. } | Self::Answer { .. }
        )
    }
}

/// What a session holds between requests.
#[derive(Debug, Default)]
struct Session {
    /// `SessionID=…`.
    cookie: String,
    /// Tokens for the next POSTs, oldest first.
    tokens: VecDeque<String>,
}

/// What the client learnt about logging in; it outlives sessions.
#[derive(Debug, Default, Clone, Copy)]
struct LoginMemory {
    /// When no login may be tried before.
    blocked_until: Option<Instant>,
    /// The password was refused: not tried again by this client (a
    /// reload makes a new one).
    bad_password: Option<u32>,
}

/// A client of one stick.
#[derive(Debug)]
pub struct Client {
    base: String,
    http: crate::http_client::Http,
    user: String,
    /// Kept out of debug output.
    password: Option<crate::config::Password>,
    /// Where the stick's keys are written, for the login errors.
    section: String,
    timeout: Duration,
    session: Mutex<Option<Session>>,
    login: std::sync::Mutex<LoginMemory>,
    /// Sessions begun (for tests and the status).
    sessions: std::sync::atomic::AtomicU32,
    /// When the stick last stopped taking the session or its token, and
    /// its error code (for the status).
    renewed: std::sync::Mutex<Option<(std::time::SystemTime, u32)>>,
}

impl Client {
    /// A client of the stick at `base` (`http://192.168.8.1`), logging in
    /// as `user` with `password` when the stick asks. `timeout` bounds
    /// each request.
    pub fn new(base: &str, user: &str, password: Option<String>, timeout: Duration) -> Self {
        let http = crate::http_client::client(timeout);
        Self {
            base: base.trim_end_matches('/').to_owned(),
            http,
            user: user.to_owned(),
            password: password.map(crate::config::Password::new),
            section: crate::config::ModemSection::First.to_string(),
            timeout,
            session: Mutex::new(None),
            login: std::sync::Mutex::new(LoginMemory::default()),
            sessions: std::sync::atomic::AtomicU32::new(0),
            renewed: std::sync::Mutex::new(None),
        }
    }

    /// The client of a stick whose keys are written in `section` (as
    /// [`crate::config::ModemSection`] shows it; `[modem]` unless told),
    /// which its login errors name.
    pub fn for_section(mut self, section: impl Into<String>) -> Self {
        self.section = section.into();
        self
    }

    /// The login errors name where the password is set.
    fn login_required(&self) -> HilinkError {
        HilinkError::LoginRequired {
            section: self.section.clone(),
        }
    }

    fn bad_password(&self, code: u32) -> HilinkError {
        HilinkError::BadPassword {
            code,
            section: self.section.clone(),
        }
    }

    /// The stick's address.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// When the stick last stopped taking the session or its token (the
    /// client began a new one), and the error code it answered.
    pub fn renewed(&self) -> Option<(std::time::SystemTime, u32)> {
        *self.renewed.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Sessions begun so far.
    pub fn sessions(&self) -> u32 {
        self.sessions.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Forgets the session (the next request begins a new one).
    pub async fn reset(&self) {
        *self.session.lock().await = None;
    }

    /// GETs `path`.
    pub async fn get(&self, path: &str) -> Result<Element, HilinkError> {
        self.call(Method::GET, path, None).await
    }

    /// POSTs `body` to `path`.
    pub async fn post(&self, path: &str, body: String) -> Result<Element, HilinkError> {
        self.call(Method::POST, path, Some(body)).await
    }

    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<String>,
    ) -> Result<Element, HilinkError> {
        let mut guard = self.session.lock().await;
        let mut new_sessions = 0;
        let mut busy = 0;
        let mut logged_in = false;
        loop {
            // A POST needs a token: without one left (an answer that
            // handed out none), a new session brings one.
            let tokenless =
                method == Method::POST && guard.as_ref().is_some_and(|s| s.tokens.is_empty());
            if guard.is_none() || tokenless {
                *guard = Some(self.begin().await?);
            }
            let session = guard.as_mut().expect("begun");
            let token = if method == Method::POST {
                session.tokens.pop_front()
            } else {
                None
            };
            let answer = self
                .exchange(session, method.clone(), path, body.clone(), token)
                .await;
            let code = match answer {
                Ok(response) => return Ok(response),
                Err(HilinkError::Code { code, .. }) => code,
                Err(error) => return Err(error),
            };
            match api::classify(code) {
                ErrorClass::NewSession if new_sessions < SESSION_RETRIES => {
                    new_sessions += 1;
                    tracing::info!(code, path, "the stick no longer takes the session or its token; beginning a new session");
                    *self.renewed.lock().unwrap_or_else(|e| e.into_inner()) =
                        Some((std::time::SystemTime::now(), code));
                    *guard = None;
                    *guard = Some(self.begin().await?);
                }
                ErrorClass::Busy if busy < BUSY_RETRIES => {
                    busy += 1;
                    tracing::debug!(code, path, "the stick is busy; trying again shortly");
                    tokio::time::sleep(BUSY_WAIT).await;
                }
                ErrorClass::LogIn if !logged_in => {
                    logged_in = true;
                    let session = guard.as_mut().expect("begun");
                    self.log_in(session).await?;
                }
                ErrorClass::LogIn => return Err(self.login_required()),
                _ => {
                    return Err(HilinkError::Code {
                        path: path.to_owned(),
                        code,
                    })
                }
            }
        }
    }

    /// Begins a session: a cookie and a token from `SesTokInfo`.
    async fn begin(&self) -> Result<Session, HilinkError> {
        let mut session = Session::default();
        let response = self
            .exchange(
                &mut session,
                Method::GET,
                "/api/webserver/SesTokInfo",
                None,
                None,
            )
            .await?;
        let info = api::session_token(&response).map_err(|error| HilinkError::Answer {
            path: "/api/webserver/SesTokInfo".to_owned(),
            error,
        })?;
        session.cookie = info.cookie;
        session.tokens = VecDeque::from([info.token]);
        self.sessions
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(session)
    }

    /// Logs in, as the stick's `state-login` says (password type 4 or 0).
    async fn log_in(&self, session: &mut Session) -> Result<(), HilinkError> {
        let Some(password) = &self.password else {
            return Err(self.login_required());
        };
        let memory = *self.login.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(code) = memory.bad_password {
            return Err(self.bad_password(code));
        }
        if let Some(until) = memory.blocked_until {
            let now = Instant::now();
            if until > now {
                return Err(HilinkError::LockedOut((until - now).as_secs()));
            }
        }
        let state = self
            .exchange(session, Method::GET, "/api/user/state-login", None, None)
            .await?;
        let state = api::login_state(&state).map_err(|error| HilinkError::Answer {
            path: "/api/user/state-login".to_owned(),
            error,
        })?;
        if state.logged_in {
            return Ok(());
        }
        if session.tokens.is_empty() {
            let fresh = self.begin().await?;
            session.cookie = fresh.cookie;
            session.tokens = fresh.tokens;
        }
        let token = session.tokens.pop_front();
        let request = api::login_request(
            state.password_type,
            &self.user,
            password.reveal(),
            token.as_deref().unwrap_or(""),
        );
        match self
            .exchange(
                session,
                Method::POST,
                "/api/user/login",
                Some(request),
                token,
            )
            .await
        {
            Ok(_) => {
                tracing::info!("logged in to the stick");
                Ok(())
            }
            Err(HilinkError::Code { code, .. }) => match api::classify(code) {
                ErrorClass::LockedOut => {
                    self.login
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .blocked_until = Some(Instant::now() + LOCKOUT_WAIT);
                    tracing::error!(
                        code,
                        wait_s = LOCKOUT_WAIT.as_secs(),
                        "the stick locked logins after too many failures; not trying again before the wait is over"
                    );
                    Err(HilinkError::LockedOut(LOCKOUT_WAIT.as_secs()))
                }
                ErrorClass::BadCredentials => {
                    self.login
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .bad_password = Some(code);
                    tracing::error!(code, "the stick refused the password; not trying it again until the configuration is reloaded");
                    Err(self.bad_password(code))
                }
                ErrorClass::Other if code == api::ERROR_ALREADY_LOGGED_IN => Ok(()),
                _ => Err(HilinkError::Code {
                    path: "/api/user/login".to_owned(),
                    code,
                }),
            },
            Err(error) => Err(error),
        }
    }

    /// One HTTP exchange: the request with the session's cookie and
    /// `token`, the answer's tokens and cookie taken into the session.
    async fn exchange(
        &self,
        session: &mut Session,
        method: Method,
        path: &str,
        body: Option<String>,
        token: Option<String>,
    ) -> Result<Element, HilinkError> {
        let url = format!("{}{path}", self.base);
        let mut request = Request::builder()
            .method(method)
            .uri(&url)
            .header("X-Requested-With", "XMLHttpRequest");
        if !session.cookie.is_empty() {
            request = request.header("Cookie", &session.cookie);
        }
        if let Some(token) = &token {
            request = request.header(TOKEN_HEADER, token);
        }
        if body.is_some() {
            request = request.header(
                "Content-Type",
                "application/x-www-form-urlencoded; charset=UTF-8",
            );
        }
        let request = request
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| HilinkError::Unreachable {
                url: self.base.clone(),
                reason: e.to_string(),
            })?;
        let (parts, bytes) = crate::http_client::exchange(&self.http, request, self.timeout)
            .await
            .map_err(|failed| match failed {
                crate::http_client::Failed::Unreachable(reason) => HilinkError::Unreachable {
                    url: self.base.clone(),
                    reason,
                },
                crate::http_client::Failed::NoAnswer(reason) => HilinkError::NoAnswer {
                    path: path.to_owned(),
                    reason,
                },
            })?;
        if let Some(value) = parts
            .headers
            .get(TOKEN_HEADER)
            .and_then(|v| v.to_str().ok())
        {
            let tokens = api::header_tokens(value);
            if !tokens.is_empty() {
                session.tokens = tokens.into();
            }
        }
        for cookie in parts.headers.get_all("set-cookie") {
            if let Some(id) = cookie
                .to_str()
                .ok()
                .and_then(|c| c.split(';').next())
                .filter(|c| c.trim_start().starts_with("SessionID="))
            {
                session.cookie = id.trim().to_owned();
            }
        }
        if parts.status != StatusCode::OK {
            return Err(HilinkError::Http {
                path: path.to_owned(),
                status: parts.status.as_u16(),
            });
        }
        let text = String::from_utf8_lossy(&bytes);
        api::answer(&text).map_err(|error| match error {
            AnswerError::Code(code) => HilinkError::Code {
                path: path.to_owned(),
                code,
            },
            error => HilinkError::Answer {
                path: path.to_owned(),
                error,
            },
        })
    }
}
