//! What a request says and what is wrong with it, decided without I/O:
//! the body of `POST /sms/send`, the `Idempotency-Key`, the bearer token.
//! Every refusal is an [`ApiError`]: a status and a message for a JSON
//! body `{"error": "..."}`.

use axum::http::StatusCode;

/// A refusal: the status and what the JSON body's `error` says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// The message.
    pub message: String,
    /// Seconds for a `Retry-After` header (429, 503).
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
            retry_after: None,
        }
    }
}

/// The original gateway's answer to a request without both fields.
pub(crate) const MISSING: &str = "Missing number or message";

/// The original gateway's answer when the message was not sent.
pub(crate) const FAILED: &str = "Failed to send SMS";

/// A message to queue, as `POST /sms/send` asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SendRequest {
    /// The destination.
    pub number: String,
    /// The text.
    pub message: String,
}

/// Reads the body of `POST /sms/send`: a JSON object with non-empty
/// strings `number` and `message` (the original's contract: either
/// missing or empty is "Missing number or message"); a number simgate
/// cannot send to, or a text its outbox file cannot carry (a NUL), is
/// refused here, before anything counts.
pub(crate) fn send_request(body: &[u8]) -> Result<SendRequest, ApiError> {
    let bad = |message: String| ApiError::new(StatusCode::BAD_REQUEST, message);
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(bad(format!("{MISSING} (the body is empty; send JSON)")));
    }
    let value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|error| bad(format!("The body is not valid JSON: {error}")))?;
    let Some(object) = value.as_object() else {
        return Err(bad(
            "The body must be a JSON object: {\"number\": \"...\", \"message\": \"...\"}"
                .to_owned(),
        ));
    };
    let field = |name: &str| -> Result<Option<String>, ApiError> {
        match object.get(name) {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(serde_json::Value::String(text)) if text.is_empty() => Ok(None),
            Some(serde_json::Value::String(text)) => Ok(Some(text.clone())),
            Some(_) => Err(bad(format!("\"{name}\" must be a string"))),
        }
    };
    let (Some(number), Some(message)) = (field("number")?, field("message")?) else {
        return Err(bad(MISSING.to_owned()));
    };
    crate::queue::check_number(&number)
        .and_then(|()| crate::queue::check_text(&message))
        .map_err(|error| bad(capitalised(&error.to_string())))?;
    Ok(SendRequest { number, message })
}

fn capitalised(text: &str) -> String {
    let mut chars = text.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// The longest `Idempotency-Key` kept.
pub(crate) const MAX_KEY_LENGTH: usize = 200;

/// Reads an `Idempotency-Key` header value: printable ASCII, 1 to
/// [`MAX_KEY_LENGTH`] characters.
pub(crate) fn idempotency_key(value: Option<&[u8]>) -> Result<Option<String>, ApiError> {
    let Some(value) = value else {
        return Ok(None);
    };
    let valid = !value.is_empty()
        && value.len() <= MAX_KEY_LENGTH
        && value.iter().all(|b| b.is_ascii_graphic() || *b == b' ');
    if !valid {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            format!("Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters"),
        ));
    }
    Ok(Some(String::from_utf8_lossy(value).into_owned()))
}

/// Checks an `Authorization` header (`Bearer <token>`, the scheme in any
/// case) against the token (when there is one), comparing in constant
/// time.
pub(crate) fn authorised(token: Option<&str>, header: Option<&[u8]>) -> Result<(), ApiError> {
    let Some(token) = token else {
        return Ok(());
    };
    let refused = || {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "Missing or wrong bearer token (send Authorization: Bearer <token>)",
        )
    };
    let given = header.and_then(bearer_credentials).ok_or_else(refused)?;
    let expected = token.as_bytes();
    let differs = given.len() != expected.len()
        || given
            .iter()
            .zip(expected)
            .fold(0u8, |acc, (a, b)| acc | (a ^ b))
            != 0;
    if differs {
        return Err(refused());
    }
    Ok(())
}

/// The token of an `Authorization` header of the `Bearer` scheme, which
/// is matched in any case (RFC 9110 §11.1) and followed by one or more
/// spaces (§11.4).
fn bearer_credentials(header: &[u8]) -> Option<&[u8]> {
    const SCHEME: &[u8] = b"Bearer";
    let (scheme, rest) = header.split_at_checked(SCHEME.len())?;
    if !scheme.eq_ignore_ascii_case(SCHEME) || rest.first() != Some(&b' ') {
        return None;
    }
    Some(rest.trim_ascii_start())
}

/// gammu's bit error rate in percent for a `+CSQ` class (RXQUAL 0..=7),
/// rounded down as gammu reports it; -1 when unknown.
pub(crate) fn bit_error_percent(class: Option<u8>) -> i32 {
    match class {
        Some(0 | 1) => 0,
        Some(2 | 3) => 1,
        Some(4) => 2,
        Some(5) => 5,
        Some(6) => 9,
        Some(7) => 18,
        _ => -1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(body: &str) -> ApiError {
        send_request(body.as_bytes()).unwrap_err()
    }

    #[test]
    fn a_complete_request_is_read() {
        let request = send_request(br#"{"number": "+4917600000001", "message": "Hi"}"#).unwrap();
        assert_eq!(
            request,
            SendRequest {
                number: "+4917600000001".into(),
                message: "Hi".into()
            }
        );
    }

    #[test]
    fn missing_or_empty_fields_get_the_originals_answer() {
        for body in [
            r#"{"number": "+491"}"#,
            r#"{"message": "Hi"}"#,
            r#"{"number": "", "message": "Hi"}"#,
            r#"{"number": "+491", "message": ""}"#,
            r#"{"number": null, "message": "Hi"}"#,
            "{}",
        ] {
            let error = refused(body);
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{body}");
            assert_eq!(error.message, MISSING, "{body}");
        }
        assert!(refused("").message.starts_with(MISSING));
    }

    #[test]
    fn malformed_bodies_and_numbers_say_what_is_wrong() {
        assert!(refused("{nope")
            .message
            .starts_with("The body is not valid JSON"));
        assert!(refused("[1]").message.contains("JSON object"));
        assert_eq!(
            refused(r#"{"number": 491, "message": "Hi"}"#).message,
            "\"number\" must be a string"
        );
        let error = refused(r#"{"number": "call me", "message": "Hi"}"#);
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert!(
            error.message.starts_with("Invalid number"),
            "{}",
            error.message
        );
    }

    #[test]
    fn texts_an_outbox_file_cannot_carry_are_refused_naming_the_character() {
        for (text, says) in [
            ("a\u{0}b", "U+0000"),
            ("ab\u{0}", "U+0000"),
            ("\u{feff}hi", "U+FEFF"),
        ] {
            let body = serde_json::json!({ "number": "+4917600000001", "message": text });
            let error = refused(&body.to_string());
            assert_eq!(error.status, StatusCode::BAD_REQUEST, "{text:?}");
            assert!(
                error.message.starts_with("The text") && error.message.contains(says),
                "{text:?}: {}",
                error.message
            );
        }
        // Inside the text, U+FEFF is an ordinary (zero-width) character.
        let body = serde_json::json!({ "number": "+4917600000001", "message": "a\u{feff}b" });
        assert!(send_request(body.to_string().as_bytes()).is_ok());
    }

    #[test]
    fn idempotency_keys_are_printable_and_bounded() {
        assert_eq!(idempotency_key(None).unwrap(), None);
        assert_eq!(
            idempotency_key(Some(b"order-17")).unwrap().as_deref(),
            Some("order-17")
        );
        assert!(idempotency_key(Some(b"")).is_err());
        assert!(idempotency_key(Some(b"tab\there")).is_err());
        assert!(idempotency_key(Some(&[b'k'; MAX_KEY_LENGTH + 1])).is_err());
    }

    #[test]
    fn the_token_must_match_exactly() {
        assert!(authorised(None, None).is_ok());
        assert!(authorised(Some("s3cret"), Some(b"Bearer s3cret")).is_ok());
        // The scheme is case-insensitive (RFC 9110 §11.1), the token is not.
        for header in [&b"bearer s3cret"[..], b"BEARER s3cret", b"bEaReR s3cret"] {
            assert!(
                authorised(Some("s3cret"), Some(header)).is_ok(),
                "{}",
                String::from_utf8_lossy(header)
            );
        }
        for header in [
            None,
            Some(&b"Bearer s3cre"[..]),
            Some(b"Bearer s3cret2"),
            Some(b"s3cret"),
            Some(b"Bearer S3CRET"),
            Some(b"Bearers3cret"),
            Some(b"Basic s3cret"),
        ] {
            let error = authorised(Some("s3cret"), header).unwrap_err();
            assert_eq!(error.status, StatusCode::UNAUTHORIZED);
        }
    }

    #[test]
    fn bit_error_rates_are_gammus_percentages() {
        let table: Vec<i32> = (0..=7).map(|c| bit_error_percent(Some(c))).collect();
        assert_eq!(table, [0, 0, 1, 1, 2, 5, 9, 18]);
        assert_eq!(bit_error_percent(None), -1);
        assert_eq!(bit_error_percent(Some(99)), -1);
    }
}
