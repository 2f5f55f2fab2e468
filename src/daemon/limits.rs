//! Rate limits (`[limits]`): whether the next message may go now, and if
//! not, until when it waits. Pure: the history of what was sent comes from
//! the store, the time from the caller.

use crate::config::{Limit, LimitScope, LimitUnit};

/// A message already counted: when its first attempt started, its parts,
/// and whether it went to the destination being checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Counted {
    /// When it started (ms since the epoch).
    pub at_ms: i64,
    /// Its parts.
    pub parts: u32,
    /// Whether it went to the same destination as the message checked.
    pub same_destination: bool,
    /// Whether the modem that checks sent it.
    pub same_modem: bool,
}

/// What the limits say about the next message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Within every limit.
    Go,
    /// Over a limit until `until_ms`.
    Wait {
        /// When every limit it is over lets it go (ms since the epoch).
        until_ms: i64,
        /// Which limit, for the log and the database.
        reason: String,
        /// Until when limits over everything sent hold every message
        /// (`None`: only limits per destination hold this one, and messages
        /// to others may go).
        all_until_ms: Option<i64>,
    },
    /// More parts than a parts limit allows in any window: it can never go.
    Never {
        /// Which limit.
        reason: String,
    },
}

/// Where the rules checked are written: the reasons name each key as
/// the user wrote it there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Written<'a> {
    /// `[limits]`: `limits.messages_per_minute = 2`.
    Limits,
    /// A modem's own section, as [`crate::config::ModemSection`] shows
    /// it: `messages_per_minute = 2`, the reason ending `(under [modem])`.
    Modem(&'a str),
}

impl Written<'_> {
    /// `rule`'s key and value as written, and what ends its reasons.
    fn setting(self, rule: &Limit) -> (String, String) {
        match self {
            Self::Limits => (
                format!("limits.{} = {}", rule.key(), rule.max),
                String::new(),
            ),
            Self::Modem(section) => (
                format!("{} = {}", rule.key(), rule.max),
                format!(" (under {section})"),
            ),
        }
    }
}

/// Checks a message of `parts` parts against `rules` (written as
/// `written` says), given `history` (everything counted in the last 24
/// hours, oldest first) at `now_ms`.
pub(crate) fn check(
    rules: &[Limit],
    history: &[Counted],
    parts: u32,
    now_ms: i64,
    written: Written<'_>,
) -> Verdict {
    let mut wait: Option<(i64, String)> = None;
    let mut all_until_ms: Option<i64> = None;
    for rule in rules {
        let window_ms = rule.window.length().as_millis() as i64;
        let counted: Vec<&Counted> = history
            .iter()
            .filter(|c| c.at_ms > now_ms - window_ms)
            .filter(|c| rule.scope == LimitScope::All || c.same_destination)
            .collect();
        let weight = |c: &Counted| match rule.unit {
            LimitUnit::Messages => 1,
            LimitUnit::Parts => u64::from(c.parts),
        };
        let this = match rule.unit {
            LimitUnit::Messages => 1,
            LimitUnit::Parts => u64::from(parts),
        };
        let max = u64::from(rule.max);
        if this > max {
            let (setting, end) = written.setting(rule);
            return Verdict::Never {
                reason: format!("{parts} parts, more than {setting} allows{end}"),
            };
        }
        let mut used: u64 = counted.iter().map(|c| weight(c)).sum();
        if used + this <= max {
            continue;
        }
        // The oldest counted leave the window one by one; the message may
        // go once enough of them have.
        let mut free_at = now_ms;
        for c in &counted {
            used -= weight(c);
            free_at = c.at_ms + window_ms;
            if used + this <= max {
                break;
            }
        }
        if rule.scope == LimitScope::All {
            all_until_ms = all_until_ms.max(Some(free_at));
        }
        if wait.as_ref().is_none_or(|(until, _)| free_at > *until) {
            let (setting, end) = written.setting(rule);
            wait = Some((free_at, format!("{setting} reached{end}")));
        }
    }
    match wait {
        None => Verdict::Go,
        Some((until_ms, reason)) => Verdict::Wait {
            until_ms,
            reason,
            all_until_ms,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::LimitWindow;

    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;

    /// The rules of `[limits]`.
    fn check(rules: &[Limit], history: &[Counted], parts: u32, now_ms: i64) -> Verdict {
        super::check(rules, history, parts, now_ms, Written::Limits)
    }

    fn limit(scope: LimitScope, unit: LimitUnit, window: LimitWindow, max: u32) -> Limit {
        Limit {
            scope,
            unit,
            window,
            max,
        }
    }

    fn sent(at_ms: i64, parts: u32, same_destination: bool) -> Counted {
        Counted {
            at_ms,
            parts,
            same_destination,
            same_modem: true,
        }
    }

    #[test]
    fn no_rules_or_room_left_lets_it_go() {
        assert_eq!(check(&[], &[sent(0, 5, true)], 3, 1), Verdict::Go);
        let rules = [limit(
            LimitScope::All,
            LimitUnit::Messages,
            LimitWindow::Minute,
            2,
        )];
        assert_eq!(check(&rules, &[sent(0, 1, false)], 1, 1_000), Verdict::Go);
    }

    #[test]
    fn a_full_window_waits_until_its_oldest_message_leaves_it() {
        let rules = [limit(
            LimitScope::All,
            LimitUnit::Messages,
            LimitWindow::Minute,
            2,
        )];
        let history = [sent(1_000, 1, false), sent(5_000, 1, false)];
        let verdict = check(&rules, &history, 1, 10_000);
        assert_eq!(
            verdict,
            Verdict::Wait {
                until_ms: 1_000 + MINUTE,
                reason: "limits.messages_per_minute = 2 reached".to_owned(),
                all_until_ms: Some(1_000 + MINUTE),
            }
        );
        // Once the oldest has left the window, the message goes.
        assert_eq!(check(&rules, &history, 1, 1_000 + MINUTE), Verdict::Go);
    }

    #[test]
    fn parts_count_and_a_long_message_waits_for_enough_room() {
        let rules = [limit(
            LimitScope::All,
            LimitUnit::Parts,
            LimitWindow::Hour,
            10,
        )];
        // 4 + 3 + 2 = 9 parts sent; a message of 4 needs 3 of them to
        // leave: the first (4 parts) is enough.
        let history = [sent(0, 4, false), sent(100, 3, false), sent(200, 2, false)];
        assert_eq!(
            check(&rules, &history, 4, 1_000),
            Verdict::Wait {
                until_ms: HOUR,
                reason: "limits.parts_per_hour = 10 reached".to_owned(),
                all_until_ms: Some(HOUR),
            }
        );
        assert_eq!(check(&rules, &history, 1, 1_000), Verdict::Go);
        assert_eq!(
            check(&rules, &history, 11, 1_000),
            Verdict::Never {
                reason: "11 parts, more than limits.parts_per_hour = 10 allows".to_owned()
            }
        );
    }

    #[test]
    fn a_destination_limit_counts_only_that_destination_and_says_so() {
        let rules = [limit(
            LimitScope::Destination,
            LimitUnit::Messages,
            LimitWindow::Day,
            1,
        )];
        assert_eq!(check(&rules, &[sent(0, 1, false)], 1, 10), Verdict::Go);
        assert_eq!(
            check(&rules, &[sent(0, 1, true)], 1, 10),
            Verdict::Wait {
                until_ms: 24 * HOUR,
                reason: "limits.destination_messages_per_day = 1 reached".to_owned(),
                all_until_ms: None,
            }
        );
    }

    #[test]
    fn the_latest_of_several_limits_decides() {
        let rules = [
            limit(LimitScope::All, LimitUnit::Messages, LimitWindow::Minute, 1),
            limit(
                LimitScope::Destination,
                LimitUnit::Messages,
                LimitWindow::Hour,
                1,
            ),
        ];
        let history = [sent(0, 1, true)];
        assert_eq!(
            check(&rules, &history, 1, 10),
            Verdict::Wait {
                until_ms: HOUR,
                reason: "limits.destination_messages_per_hour = 1 reached".to_owned(),
                all_until_ms: Some(MINUTE),
            }
        );
    }

    /// A modem's own limit was reported as `limits.messages_per_minute`,
    /// a key of `[limits]` the user had not set: its reasons name the key
    /// as written in the modem's section.
    #[test]
    fn a_modem_s_own_limit_is_named_as_written_in_its_section() {
        let rules = [limit(
            LimitScope::All,
            LimitUnit::Messages,
            LimitWindow::Minute,
            2,
        )];
        let history = [sent(1_000, 1, false), sent(5_000, 1, false)];
        let section = "the [[modems]] entry named \"b\"";
        match super::check(&rules, &history, 1, 10_000, Written::Modem(section)) {
            Verdict::Wait { reason, .. } => assert_eq!(
                reason,
                "messages_per_minute = 2 reached (under the [[modems]] entry named \"b\")"
            ),
            other => panic!("{other:?}"),
        }
        let parts = [limit(
            LimitScope::All,
            LimitUnit::Parts,
            LimitWindow::Hour,
            2,
        )];
        assert_eq!(
            super::check(&parts, &[], 3, 0, Written::Modem("[modem]")),
            Verdict::Never {
                reason: "3 parts, more than parts_per_hour = 2 allows (under [modem])".to_owned()
            }
        );
    }
}
