//! The handlers: each checks the token (all but `/health`), reads what it
//! needs, and answers JSON (or, for `/metrics`, the Prometheus text).
//! Every refusal is an [`ApiError`], rendered `{"error": "..."}`.

use super::health::{self, not_ready, ModemReading};
use super::request::{self, ApiError, SendRequest, FAILED};
use super::{limit, metrics, Api};
use crate::daemon::published::{Ending, Finished};
use crate::device::DeviceState;
use crate::store::http::{self as records, Admission, NewRequest, Request};
use crate::store::MessageState;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::sync::Arc;
use tokio::sync::broadcast;

type Shared = State<Arc<Api>>;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut response = (self.status, Json(json!({ "error": self.message }))).into_response();
        if let Some(seconds) = self.retry_after {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, seconds.into());
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
        response
    }
}

/// The routes, with JSON answers for unknown paths and methods.
pub(super) fn router(api: Arc<Api>) -> Router {
    Router::new()
        .route("/sms/send", post(send))
        .route("/sms/signal", get(signal))
        .route("/sms/status/{id}", get(status))
        .route("/health", get(health))
        .route("/metrics", get(metrics_text))
        .fallback(|| async {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "No such endpoint: see POST /sms/send, GET /sms/signal, GET /sms/status/{id}, \
                 GET /health, GET /metrics",
            )
        })
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "Method not allowed on this endpoint",
            )
        })
        .with_state(api)
}

fn internal(what: &str, error: impl std::fmt::Display) -> ApiError {
    tracing::error!(error = %crate::redact::Scrub(&error.to_string()), "HTTP API: {what}");
    ApiError::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("{what}: {error}"),
    )
}

impl Api {
    fn authorise(&self, headers: &HeaderMap) -> Result<(), ApiError> {
        request::authorised(
            self.token.as_deref(),
            headers.get(header::AUTHORIZATION).map(|v| v.as_bytes()),
        )
    }

    /// Runs a database job on the API's threads.
    async fn records<R: Send + 'static>(
        &self,
        job: impl FnOnce(&mut rusqlite::Connection) -> Result<R, crate::store::StoreError>
            + Send
            + 'static,
    ) -> Result<R, ApiError> {
        self.worker
            .run(job)
            .await
            .map_err(|stopped| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, stopped.to_string()))?
            .map_err(|error| internal("database error", error))
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Reads a body of at most `max` bytes.
async fn read_body(body: Body, max: usize) -> Result<axum::body::Bytes, ApiError> {
    use crate::http_server::{read_body_in_time, BodyError, BODY_TIMEOUT};
    read_body_in_time(body, max)
        .await
        .map_err(|error| match error {
            BodyError::TooLarge(_) => ApiError::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("The body is larger than {max} bytes ([http] max_body_bytes)"),
            ),
            BodyError::TooSlow => ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                format!(
                    "The body did not arrive within {} s",
                    BODY_TIMEOUT.as_secs()
                ),
            ),
            BodyError::CutShort => ApiError::new(StatusCode::BAD_REQUEST, "The body was cut short"),
        })
}

fn text_hash(text: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// What the worker did with a request.
enum Queued {
    /// Queued now, or before under its Idempotency-Key.
    Request { request: Request, replay: bool },
    /// Over the client's limit: seconds until the next may come.
    Limited(u64),
    /// The key came before with another message.
    KeyReused,
}

/// A job's error: the database, or the outbox file.
#[derive(Debug, thiserror::Error)]
enum QueueJobError {
    #[error("{0}")]
    Store(#[from] crate::store::StoreError),
    #[error("{0}")]
    Queue(#[from] crate::queue::QueueError),
    /// A retry came while the first request with its key failed to write
    /// the file, and found it withdrawn.
    #[error("the request first sent with this Idempotency-Key could not be queued; try again")]
    Withdrawn,
}

/// Held while a replay writes the file of an earlier request, and while a
/// request whose file could not be written is withdrawn: a replay never
/// writes the file of a withdrawn request, and a request whose file a
/// replay wrote is never withdrawn.
static WITHDRAWAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// Whether the file `name` was written: the daemon took it in, or it is
/// in the outbox, sent/ or error/.
fn file_written(
    db: &rusqlite::Connection,
    spool: &crate::config::SpoolSettings,
    name: &str,
) -> Result<bool, crate::store::StoreError> {
    Ok(records::message_of_file(db, name)?.is_some()
        || [
            Some(&spool.outbox),
            spool.sent.as_ref(),
            spool.error.as_ref(),
        ]
        .into_iter()
        .flatten()
        .any(|dir| dir.join(name).exists()))
}

/// `POST /sms/send`.
async fn send(
    State(api): Shared,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    body: Body,
) -> Result<Response, ApiError> {
    api.authorise(&headers)?;
    if !api.published.snapshot.borrow().send_enabled {
        return Err(ApiError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "Sending is disabled on this gateway ([send] enabled = false)",
        ));
    }
    let bytes = read_body(body, api.config.http.max_body_bytes as usize).await?;
    let SendRequest { number, message } = request::send_request(&bytes)?;
    let key = request::idempotency_key(headers.get("idempotency-key").map(|v| v.as_bytes()))?;
    // Subscribed before the file exists: its ending cannot be missed.
    let mut finished = api.published.finished();
    let client = peer.ip().to_canonical().to_string();
    let max = api.config.http.client_messages_per_hour;
    let spool = api.config.spool.clone();
    let hash = text_hash(&message);
    let job_number = number.clone();
    let queued = api
        .worker
        .run(move |db| -> Result<Queued, QueueJobError> {
            let now_ms = now_ms();
            let ask = NewRequest {
                client: &client,
                idempotency_key: key.as_deref(),
                number: &job_number,
                text_hash: &hash,
                now_ms,
            };
            let allowed = |times: &[i64]| limit::retry_after(max, times, now_ms).is_none();
            let name = |id| crate::queue::http_file_name(&job_number, now_ms, id);
            match records::admit(db, &ask, &allowed, &name)? {
                Admission::New(request) => {
                    let written =
                        crate::queue::queue_named(&spool.outbox, &request.file_name, &message);
                    if let Err(error) = written {
                        // Nothing queued: nothing counts or claims to be
                        // accepted, and a retry with its key starts anew.
                        let _held = WITHDRAWAL.lock().unwrap_or_else(|e| e.into_inner());
                        if !file_written(db, &spool, &request.file_name)? {
                            records::withdraw(db, request.id)?;
                            return Err(error.into());
                        }
                    }
                    Ok(Queued::Request {
                        request,
                        replay: false,
                    })
                }
                Admission::Replay(request) => {
                    if request.number != job_number || request.text_hash != hash {
                        return Ok(Queued::KeyReused);
                    }
                    // A restart between the row and the file: write it now
                    // (under the same name, never twice).
                    let _held = WITHDRAWAL.lock().unwrap_or_else(|e| e.into_inner());
                    if records::request(db, request.id)?.is_none() {
                        return Err(QueueJobError::Withdrawn);
                    }
                    if !file_written(db, &spool, &request.file_name)? {
                        crate::queue::queue_named(&spool.outbox, &request.file_name, &message)?;
                    }
                    Ok(Queued::Request {
                        request,
                        replay: true,
                    })
                }
                Admission::Limited(times) => Ok(Queued::Limited(
                    limit::retry_after(max, &times, now_ms).unwrap_or(1),
                )),
            }
        })
        .await
        .map_err(|stopped| ApiError::new(StatusCode::SERVICE_UNAVAILABLE, stopped.to_string()))?
        .map_err(|error| internal("cannot queue the message", error))?;
    let (request, replay) = match queued {
        Queued::Request { request, replay } => (request, replay),
        Queued::Limited(seconds) => {
            return Err(ApiError {
                retry_after: Some(seconds),
                ..ApiError::new(
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many messages: this client may queue {max} per hour; try again in \
                         {seconds} s"
                    ),
                )
            })
        }
        Queued::KeyReused => {
            return Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "This Idempotency-Key was used for another message",
            ))
        }
    };
    let ending = if replay {
        match ending_in_store(&api, &request.file_name).await? {
            Some(ending) => Some(ending),
            None => wait_for(&api, &mut finished, &request).await?,
        }
    } else {
        wait_for(&api, &mut finished, &request).await?
    };
    let id = request.id;
    let mut response = match ending {
        Some(Ending::Sent) => (
            StatusCode::OK,
            Json(json!({ "status": "sent", "number": number, "id": id })),
        )
            .into_response(),
        Some(ending) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            Json(json!({
                "error": FAILED,
                "id": id,
                "state": if ending == Ending::Cancelled { "cancelled" } else { "failed" },
            })),
        )
            .into_response(),
        None => (
            StatusCode::ACCEPTED,
            Json(json!({ "status": "queued", "number": number, "id": id })),
        )
            .into_response(),
    };
    if replay {
        response.headers_mut().insert(
            "idempotent-replayed",
            header::HeaderValue::from_static("true"),
        );
    }
    Ok(response)
}

/// How the message of `file_name` ended, as the store says (`None`: not
/// ended, or not taken in yet).
async fn ending_in_store(api: &Api, file_name: &str) -> Result<Option<Ending>, ApiError> {
    let file = file_name.to_owned();
    let history = api
        .records(move |db| records::message_of_file(db, &file))
        .await?;
    Ok(history.and_then(|h| match h.state {
        MessageState::Sent => Some(Ending::Sent),
        MessageState::Failed | MessageState::Ambiguous => Some(Ending::Failed),
        MessageState::Cancelled => Some(Ending::Cancelled),
        _ => None,
    }))
}

/// Waits up to `[http] wait_seconds` for the daemon to say the request's
/// message ended.
async fn wait_for(
    api: &Api,
    finished: &mut broadcast::Receiver<Finished>,
    request: &Request,
) -> Result<Option<Ending>, ApiError> {
    let deadline = tokio::time::Instant::now() + api.config.http.wait;
    let mut stopping = api.stopping.clone();
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(deadline) => return Ok(None),
            () = super::stopped(&mut stopping) => return Ok(None),
            next = finished.recv() => match next {
                Ok(Finished { file, ending }) if file == request.file_name => {
                    return Ok(Some(ending));
                }
                Ok(_) => {}
                // Fallen behind: what was missed is in the store.
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    if let Some(ending) = ending_in_store(api, &request.file_name).await? {
                        return Ok(Some(ending));
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return Ok(None),
            },
        }
    }
}

/// `GET /sms/signal`: the latest status poll's reading.
async fn signal(State(api): Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    api.authorise(&headers)?;
    let unavailable = |message: String| ApiError {
        retry_after: Some(10),
        ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, message)
    };
    let state = api.published.device().borrow().clone();
    if let Some(reason) = not_ready(&state) {
        return Err(unavailable(capitalise(&reason)));
    }
    let radio = api.published.snapshot.borrow().radio.clone();
    let Some(dbm) = radio.as_ref().and_then(|r| r.signal_dbm) else {
        return Err(unavailable(
            "No signal reading yet: the modem has not reported one".to_owned(),
        ));
    };
    let radio = radio.unwrap_or_default();
    Ok(Json(json!({
        "signal_strength": dbm,
        "signal_percent": radio.signal_percent.map_or(-1, i32::from),
        "bit_error_rate": request::bit_error_percent(radio.ber_class),
    }))
    .into_response())
}

fn capitalise(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A time as RFC 3339 in UTC, to the millisecond.
fn rfc3339(ms: i64) -> String {
    let t = crate::calendar::utc_from_unix_seconds(ms.div_euclid(1000));
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        t.year,
        t.month,
        t.day,
        t.hour,
        t.minute,
        t.second,
        ms.rem_euclid(1000)
    )
}

fn event(state: &str, ms: i64) -> Value {
    json!({ "state": state, "at": rfc3339(ms), "at_ms": ms })
}

/// `GET /sms/status/{id}`: a request's message and what it went through.
async fn status(
    State(api): Shared,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    api.authorise(&headers)?;
    let Ok(id) = id.parse::<i64>() else {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "The id must be a whole number (the id POST /sms/send answered with)",
        ));
    };
    let found = api
        .records(move |db| {
            let Some(request) = records::request(db, id)? else {
                return Ok(None);
            };
            let message = records::message_of_file(db, &request.file_name)?;
            Ok(Some((request, message)))
        })
        .await?;
    let Some((request, message)) = found else {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("No message with id {id}"),
        ));
    };
    let mut history = vec![event("accepted", request.created_ms)];
    let mut body = json!({
        "id": request.id,
        "number": request.number,
        "file": request.file_name,
    });
    let state = match &message {
        None => "accepted".to_owned(),
        Some(message) => {
            history.push(event("queued", message.created_ms));
            for (part, state, sent_ms) in &message.parts {
                if let Some(at) = sent_ms {
                    let mut sent = event(&format!("part {part} {state}"), *at);
                    sent["part"] = json!(part);
                    history.push(sent);
                }
            }
            let state = message.state.as_str();
            if let Some(at) = message.finished_ms {
                history.push(event(state, at));
            } else if message.state != MessageState::Queued {
                history.push(event(state, message.updated_ms));
            }
            body["attempts"] = json!(message.attempts);
            body["last_error"] = json!(message.last_error);
            if message.state == MessageState::Queued {
                body["next_attempt"] = json!(rfc3339(message.next_attempt_ms));
            }
            state.to_owned()
        }
    };
    body["state"] = json!(state);
    body["history"] = Value::Array(history);
    Ok(Json(body).into_response())
}

/// `GET /health`: live (the API and the database answer) and ready (a
/// modem can send), with the reasons it is not ([`health::verdict`]); with
/// several modems, each one's state. 503 when not ready.
async fn health(State(api): Shared) -> Result<Response, ApiError> {
    let database = api.records(|db| records::answers(db)).await.err();
    let states: Vec<_> = api
        .published
        .modems
        .iter()
        .map(|modem| (modem.name.as_str(), modem.state.borrow().clone()))
        .collect();
    // Registration is read by the status poll, for the first modem.
    let registered = api
        .published
        .snapshot
        .borrow()
        .radio
        .as_ref()
        .and_then(|r| r.registered);
    let readings: Vec<ModemReading<'_>> = states
        .iter()
        .enumerate()
        .map(|(index, (name, state))| ModemReading {
            name,
            state,
            registered: registered.filter(|_| index == 0),
        })
        .collect();
    let verdict = health::verdict(
        database.as_ref().map(|error| error.message.as_str()),
        api.published.snapshot.borrow().send_enabled,
        &readings,
    );
    let status = if verdict.ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let mut body = json!({
        "live": verdict.live,
        "ready": verdict.ready,
        "reasons": verdict.reasons,
    });
    if let Some(modems) = verdict.modems {
        body["modems"] = modems
            .into_iter()
            .map(|modem| {
                let mut entry = json!({ "name": modem.name, "ready": modem.not_ready.is_none() });
                if let Some(reason) = modem.not_ready {
                    entry["reason"] = reason.into();
                }
                entry
            })
            .collect();
    }
    Ok((status, Json(body)).into_response())
}

/// `GET /metrics`.
async fn metrics_text(State(api): Shared, headers: HeaderMap) -> Result<Response, ApiError> {
    api.authorise(&headers)?;
    let configured = 1 + api.config.more_modems.len();
    let (totals, modems) = api
        .records(move |db| {
            // One snapshot, the clock read once it is taken (as `simgate
            // status` does): no message taken in meanwhile counts as
            // scheduled.
            let snapshot = db.transaction()?;
            let mut modems = crate::store::status::modem_statuses(&snapshot)?;
            modems.truncate(configured);
            Ok((records::totals(&snapshot, now_ms())?, modems))
        })
        .await?;
    let ready = matches!(*api.published.device().borrow(), DeviceState::Ready(_));
    let snapshot = api.published.snapshot.borrow().clone();
    let mut text = metrics::render(&snapshot, ready, &totals);
    text.push_str(&metrics::modems(&modems));
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}
