//! Several modems in one daemon: each modem is a *lane* with its own loop,
//! device and TP-MR tracker, all sharing the keeper (one store, one
//! outbox, one inbox). A lane takes the next message due that its route
//! accepts, so the modems share the load as each becomes free, and a
//! modem that is not ready takes nothing (its share goes to the others).
//! A part handed to a modem is recorded with that modem's name, and only
//! that modem settles it when it is in doubt: a part that may have gone
//! out is never sent again through another. The message stays bound to
//! that modem while a part of it went out, or may have, through it (the
//! store's `outgoing.modem`): its other parts follow from the same sender,
//! so the recipient's phone can join them.
//!
//! Routes are pure: which messages a lane takes ([`Lane::takes`]: by the
//! recipient's prefix, and by the parts the modem's own limits could ever
//! let through) and the same rule as an SQL condition on the `recipient`
//! and `parts_total` columns ([`Lane::route`]) for the store's queries,
//! which also keeps to the message's binding (the `modem` column).
//! A message longer than one modem's parts limit goes to the others; only
//! when none of the modems its number is routed to could ever take it
//! does a lane take it, to fail it with the reason.

use crate::config::Config;

/// One modem's place among the daemon's modems.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Lane {
    /// Its name (logs, `simgate status`, hooks' `PHONE_ID`).
    pub(crate) name: String,
    /// 1 for the first modem (`[modem]`), which also owns the outbox's
    /// watch, signals and systemd; 2 and on for `[[modems]]`.
    pub(crate) slot: u32,
    /// The destination prefixes it sends to (empty: any not routed
    /// elsewhere).
    prefixes: Vec<String>,
    /// Every prefix any modem names.
    routed: Vec<String>,
    /// Whether some modem takes what no prefix matches.
    catch_all: bool,
    /// Every modem's name.
    names: Vec<String>,
    /// The most parts this modem's own limits let through in any window
    /// (`None`: no such limit).
    cap: Option<u32>,
    /// Every modem's prefixes and cap, in order (this one's included).
    all: Vec<(Vec<String>, Option<u32>)>,
    /// [`Lane::takes`] as an SQL condition on `recipient` and
    /// `parts_total`.
    route: String,
    /// This modem's own rate limits.
    pub(crate) limits: Vec<crate::config::Limit>,
    /// Where its keys are written (`[modem]`, `the [[modems]] entry
    /// named "b"`), as its limits' reasons name them.
    pub(crate) section: String,
}

/// The most parts `limits` let through in any window: the smallest parts
/// limit, or none at all when a message limit is 0 (`None`: any number).
fn parts_cap(limits: &[crate::config::Limit]) -> Option<u32> {
    limits
        .iter()
        .filter_map(|limit| match limit.unit {
            crate::config::LimitUnit::Parts => Some(limit.max),
            crate::config::LimitUnit::Messages => (limit.max == 0).then_some(0),
        })
        .min()
}

impl Lane {
    /// The lanes of `config`: one per modem, in order.
    pub(crate) fn all(config: &Config) -> Vec<Lane> {
        let names = config.modem_names();
        let modems: Vec<&crate::config::ModemSettings> = std::iter::once(&config.modem)
            .chain(&config.more_modems)
            .collect();
        let routed: Vec<String> = modems
            .iter()
            .flat_map(|m| m.prefixes.iter().cloned())
            .collect();
        let catch_all = modems.iter().any(|m| m.prefixes.is_empty());
        let all: Vec<(Vec<String>, Option<u32>)> = modems
            .iter()
            .map(|m| (m.prefixes.clone(), parts_cap(&m.limits)))
            .collect();
        modems
            .iter()
            .zip(&names)
            .enumerate()
            .map(|(index, (modem, name))| {
                let mut lane = Lane {
                    name: name.clone(),
                    slot: index as u32 + 1,
                    prefixes: modem.prefixes.clone(),
                    routed: routed.clone(),
                    catch_all,
                    names: names.clone(),
                    cap: parts_cap(&modem.limits),
                    all: all.clone(),
                    route: String::new(),
                    limits: modem.limits.clone(),
                    section: config.modem_section(index).to_string(),
                };
                lane.route = lane.condition();
                lane
            })
            .collect()
    }

    /// Every modem's name, in order.
    pub(crate) fn names(&self) -> &[String] {
        &self.names
    }

    /// Whether this is the first modem's lane.
    pub(crate) fn is_first(&self) -> bool {
        self.slot == 1
    }

    /// Whether a message of `parts` parts to `recipient` (as written) may
    /// go out through this modem: a number a prefix matches goes through
    /// the modems naming a matching prefix; any other through the modems
    /// that name none (or, when every modem names some, through any).
    /// Among those, a message with more parts than a modem's own limits
    /// ever let through goes to the others; if none of them could take
    /// it, every one of them does (to fail it). The rule [`Lane::route`]
    /// states in SQL.
    #[cfg(test)]
    pub(crate) fn takes(&self, recipient: &str, parts: u32) -> bool {
        let routed_here = |prefixes: &[String]| {
            let matches = |prefixes: &[String]| prefixes.iter().any(|p| recipient.starts_with(p));
            if matches(prefixes) {
                return true;
            }
            !matches(&self.routed) && (prefixes.is_empty() || !self.catch_all)
        };
        let fits = |cap: Option<u32>| cap.is_none_or(|cap| parts <= cap);
        routed_here(&self.prefixes)
            && (fits(self.cap)
                || !self
                    .all
                    .iter()
                    .any(|(prefixes, cap)| routed_here(prefixes) && fits(*cap)))
    }

    /// [`Lane::takes`] as an SQL condition on the `recipient` and
    /// `parts_total` columns.
    pub(crate) fn route(&self) -> &str {
        &self.route
    }

    fn condition(&self) -> String {
        format!(
            "({}) AND {}",
            self.routed_and_fits(),
            self.bound_condition()
        )
    }

    /// Whether a message may go through this modem as far as its binding
    /// goes (see `store::outgoing`): unbound, bound to this modem, or, for
    /// the first modem, bound to one no longer configured.
    fn bound_condition(&self) -> String {
        let quoted = |name: &str| format!("'{}'", name.replace('\'', "''"));
        let own = format!("modem IS NULL OR modem = {}", quoted(&self.name));
        if !self.is_first() {
            return format!("({own})");
        }
        let names: Vec<String> = self.names.iter().map(|n| quoted(n)).collect();
        format!("({own} OR modem NOT IN ({}))", names.join(", "))
    }

    fn routed_and_fits(&self) -> String {
        let routed_here = self.routed_condition(&self.prefixes);
        let Some(cap) = self.cap else {
            return routed_here;
        };
        let fits = |cap: Option<u32>| {
            cap.map_or_else(|| "1".to_owned(), |cap| format!("parts_total <= {cap}"))
        };
        let elsewhere: Vec<String> = self
            .all
            .iter()
            .map(|(prefixes, cap)| {
                format!("(({}) AND {})", self.routed_condition(prefixes), fits(*cap))
            })
            .collect();
        format!(
            "({routed_here}) AND (parts_total <= {cap} OR NOT ({}))",
            elsewhere.join(" OR ")
        )
    }

    /// Whether a recipient goes to a modem naming `prefixes`, in SQL.
    fn routed_condition(&self, prefixes: &[String]) -> String {
        let any = |prefixes: &[String]| {
            if prefixes.is_empty() {
                return "0".to_owned();
            }
            let terms: Vec<String> = prefixes
                .iter()
                .map(|p| {
                    format!(
                        "substr(recipient, 1, {}) = '{}'",
                        p.chars().count(),
                        p.replace('\'', "''")
                    )
                })
                .collect();
            format!("({})", terms.join(" OR "))
        };
        let own = any(prefixes);
        let unrouted = format!("NOT {}", any(&self.routed));
        if prefixes.is_empty() || !self.catch_all {
            format!("{own} OR {unrouted}")
        } else {
            own
        }
    }

    /// What this modem does with a part in doubt that was handed to
    /// `modem` (see [`InDoubt`]): it settles its own (the first modem also
    /// those recorded before modems had names: it was the only one); the
    /// first modem gives up those of a modem no longer configured (nothing
    /// left can tell whether they went out: another modem's TP-MR counter
    /// says nothing of them); the other modems' are theirs.
    pub(crate) fn in_doubt(&self, modem: Option<&str>) -> InDoubt {
        match modem {
            Some(modem) if modem == self.name => InDoubt::Settles,
            Some(modem) if self.names.iter().any(|n| n == modem) => InDoubt::Theirs,
            Some(_) if self.is_first() => InDoubt::Orphaned,
            None if self.is_first() => InDoubt::Settles,
            _ => InDoubt::Theirs,
        }
    }

    /// Whether this modem has to deal with a part in doubt that was handed
    /// to `modem`: it settles it, or gives it up ([`Lane::in_doubt`]).
    pub(crate) fn settles(&self, modem: Option<&str>) -> bool {
        self.in_doubt(modem) != InDoubt::Theirs
    }
}

/// What a modem does with a part in doubt, by the modem it was handed to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InDoubt {
    /// It was handed to this modem: this modem's device settles it (its
    /// TP-MR counter, the stick's sent box, the phone's message id).
    Settles,
    /// It was handed to a modem no longer configured: no device here can
    /// tell whether it went out, so it is never settled by this one's nor
    /// handed to it as safe to resend; it follows `[send] ambiguous`.
    Orphaned,
    /// Another configured modem's: left to it.
    Theirs,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::ModemSettings;

    fn config(prefixes: &[&[&str]]) -> Config {
        let mut config = Config::new("/dev/ttyUSB0");
        let settings = |index: usize, p: &[&str]| {
            let mut m = ModemSettings::new(format!("/dev/ttyUSB{index}"));
            m.prefixes = p.iter().map(|s| (*s).to_owned()).collect();
            m
        };
        config.modem = settings(0, prefixes[0]);
        config.more_modems = prefixes[1..]
            .iter()
            .enumerate()
            .map(|(i, p)| settings(i + 1, p))
            .collect();
        config
    }

    /// What the SQL condition selects, from a real SQLite (messages of one
    /// part).
    fn selected(lane: &Lane, recipients: &[&str]) -> Vec<String> {
        let one_part: Vec<(&str, u32)> = recipients.iter().map(|r| (*r, 1)).collect();
        selected_parts(lane, &one_part)
            .into_iter()
            .map(|(recipient, _)| recipient)
            .collect()
    }

    /// Which of the messages `(recipient, parts, bound modem)` the SQL
    /// condition selects, from a real SQLite: their indexes, in order.
    fn selected_rows(lane: &Lane, messages: &[(&str, u32, Option<&str>)]) -> Vec<usize> {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute(
            "CREATE TABLE outgoing (recipient TEXT, parts_total INTEGER, modem TEXT)",
            [],
        )
        .unwrap();
        for (recipient, parts, modem) in messages {
            db.execute(
                "INSERT INTO outgoing VALUES (?1, ?2, ?3)",
                rusqlite::params![recipient, parts, modem],
            )
            .unwrap();
        }
        let mut statement = db
            .prepare(&format!(
                "SELECT rowid - 1 FROM outgoing WHERE ({}) ORDER BY rowid",
                lane.route()
            ))
            .unwrap();
        let rows = statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<Vec<usize>, _>>()
            .unwrap();
        rows
    }

    /// What the SQL condition selects of messages `(recipient, parts)`.
    fn selected_parts(lane: &Lane, messages: &[(&str, u32)]) -> Vec<(String, u32)> {
        let rows: Vec<(&str, u32, Option<&str>)> =
            messages.iter().map(|(r, p)| (*r, *p, None)).collect();
        selected_rows(lane, &rows)
            .into_iter()
            .map(|i| (messages[i].0.to_owned(), messages[i].1))
            .collect()
    }

    /// Which modems' bound messages a lane selects.
    fn selected_bound(lane: &Lane, bound: &[Option<&str>]) -> Vec<Option<String>> {
        let rows: Vec<(&str, u32, Option<&str>)> =
            bound.iter().map(|m| ("+4917012", 1, *m)).collect();
        selected_rows(lane, &rows)
            .into_iter()
            .map(|i| bound[i].map(str::to_owned))
            .collect()
    }

    #[test]
    fn a_bound_message_goes_only_through_its_modem() {
        let lanes = Lane::all(&config(&[&[], &[], &[]]));
        let bound = [
            None,
            Some("modem"),
            Some("modem2"),
            Some("gone"),
            Some("it's"),
        ];
        let names = |lane: &Lane| -> Vec<Option<String>> { selected_bound(lane, &bound) };
        let owned = |v: &[Option<&str>]| -> Vec<Option<String>> {
            v.iter().map(|m| m.map(str::to_owned)).collect()
        };
        // The first modem also takes those bound to a modem no longer
        // configured (their modem cannot take them any more).
        assert_eq!(
            names(&lanes[0]),
            owned(&[None, Some("modem"), Some("gone"), Some("it's")])
        );
        assert_eq!(names(&lanes[1]), owned(&[None, Some("modem2")]));
        assert_eq!(names(&lanes[2]), owned(&[None]));
    }

    const NUMBERS: [&str; 4] = ["+4917012", "+4330111", "0049170", "+49'1"];

    fn check(lanes: &[Lane], expected: &[&[&str]]) {
        for (lane, expected) in lanes.iter().zip(expected) {
            let taken: Vec<&str> = NUMBERS
                .iter()
                .copied()
                .filter(|n| lane.takes(n, 1))
                .collect();
            assert_eq!(taken, *expected, "{}", lane.name);
            assert_eq!(selected(lane, &NUMBERS), *expected, "{} (SQL)", lane.name);
        }
    }

    #[test]
    fn one_modem_takes_everything() {
        let lanes = Lane::all(&config(&[&[]]));
        assert_eq!(lanes.len(), 1);
        assert_eq!(lanes[0].name, "modem");
        check(&lanes, &[&NUMBERS]);
    }

    #[test]
    fn modems_without_prefixes_share_everything() {
        let lanes = Lane::all(&config(&[&[], &[]]));
        assert_eq!(lanes[1].name, "modem2");
        check(&lanes, &[&NUMBERS, &NUMBERS]);
    }

    #[test]
    fn a_prefix_keeps_its_numbers_to_its_modems() {
        let lanes = Lane::all(&config(&[&["+49"], &[], &["+49", "+43"]]));
        check(
            &lanes,
            &[
                &["+4917012", "+49'1"],
                &["0049170"],
                &["+4917012", "+4330111", "+49'1"],
            ],
        );
    }

    #[test]
    fn when_every_modem_names_prefixes_the_rest_goes_through_any() {
        let lanes = Lane::all(&config(&[&["+49"], &["+43"]]));
        check(
            &lanes,
            &[&["+4917012", "0049170", "+49'1"], &["+4330111", "0049170"]],
        );
    }

    #[test]
    fn a_quote_in_a_prefix_stays_a_quote() {
        let lanes = Lane::all(&config(&[&["+49'"], &[]]));
        check(&lanes, &[&["+49'1"], &["+4917012", "+4330111", "0049170"]]);
    }

    #[test]
    fn a_part_in_doubt_is_settled_by_the_modem_it_went_to() {
        let mut c = config(&[&[], &[]]);
        c.more_modems[0].name = Some("b".to_owned());
        let lanes = Lane::all(&c);
        assert!(lanes[0].settles(Some("modem")));
        assert!(!lanes[0].settles(Some("b")));
        assert!(lanes[1].settles(Some("b")));
        assert!(!lanes[1].settles(Some("modem")));
        // Recorded before modems had names, or by one since removed.
        assert!(lanes[0].settles(None));
        assert!(lanes[0].settles(Some("gone")));
        assert!(!lanes[1].settles(None));
        assert!(!lanes[1].settles(Some("gone")));
    }

    #[test]
    fn a_part_in_doubt_of_a_modem_taken_out_is_given_up_never_settled() {
        let mut c = config(&[&[], &[]]);
        c.more_modems[0].name = Some("b".to_owned());
        let lanes = Lane::all(&c);
        assert_eq!(lanes[0].in_doubt(Some("modem")), InDoubt::Settles);
        assert_eq!(lanes[1].in_doubt(Some("b")), InDoubt::Settles);
        assert_eq!(lanes[0].in_doubt(Some("b")), InDoubt::Theirs);
        // The only modem before modems had names was the first.
        assert_eq!(lanes[0].in_doubt(None), InDoubt::Settles);
        assert_eq!(lanes[1].in_doubt(None), InDoubt::Theirs);
        // Taken out of the configuration: the first modem gives it up,
        // never asks its own counter.
        assert_eq!(lanes[0].in_doubt(Some("gone")), InDoubt::Orphaned);
        assert_eq!(lanes[1].in_doubt(Some("gone")), InDoubt::Theirs);
        // With one modem left, the other's parts are orphaned.
        let alone = Lane::all(&config(&[&[]]));
        assert_eq!(alone[0].in_doubt(Some("b")), InDoubt::Orphaned);
    }

    fn parts_limit(max: u32) -> crate::config::Limit {
        crate::config::Limit {
            scope: crate::config::LimitScope::All,
            unit: crate::config::LimitUnit::Parts,
            window: crate::config::LimitWindow::Hour,
            max,
        }
    }

    /// Checks the pure rule and the SQL agree, and both give `expected`
    /// (what each lane takes of `messages`).
    fn check_parts(lanes: &[Lane], messages: &[(&str, u32)], expected: &[&[(&str, u32)]]) {
        for (lane, expected) in lanes.iter().zip(expected) {
            let taken: Vec<(String, u32)> = messages
                .iter()
                .filter(|(r, p)| lane.takes(r, *p))
                .map(|(r, p)| ((*r).to_owned(), *p))
                .collect();
            let expected: Vec<(String, u32)> = expected
                .iter()
                .map(|(r, p)| ((*r).to_owned(), *p))
                .collect();
            assert_eq!(taken, expected, "{}", lane.name);
            assert_eq!(
                selected_parts(lane, messages),
                expected,
                "{} (SQL)",
                lane.name
            );
        }
    }

    #[test]
    fn a_message_longer_than_one_modem_s_parts_limit_goes_to_the_others() {
        let mut c = config(&[&[], &[]]);
        c.modem.limits = vec![parts_limit(3)];
        let lanes = Lane::all(&c);
        let messages = [("+4917012", 1), ("+4917012", 3), ("+4917012", 4)];
        check_parts(
            &lanes,
            &messages,
            &[
                &[("+4917012", 1), ("+4917012", 3)],
                &[("+4917012", 1), ("+4917012", 3), ("+4917012", 4)],
            ],
        );
    }

    #[test]
    fn a_message_no_modem_could_take_is_taken_by_every_one_to_fail_it() {
        let mut c = config(&[&[], &[]]);
        c.modem.limits = vec![parts_limit(3)];
        c.more_modems[0].limits = vec![parts_limit(2)];
        let lanes = Lane::all(&c);
        let messages = [("+4917012", 2), ("+4917012", 3), ("+4917012", 4)];
        check_parts(
            &lanes,
            &messages,
            &[
                &[("+4917012", 2), ("+4917012", 3), ("+4917012", 4)],
                &[("+4917012", 2), ("+4917012", 4)],
            ],
        );
    }

    #[test]
    fn a_parts_limit_looks_only_at_the_modems_the_number_is_routed_to() {
        // +49 goes only through the first modem: its long messages have
        // nowhere else to go, so it takes them (to fail them); the rest
        // goes through the second, which has no limit.
        let mut c = config(&[&["+49"], &[]]);
        c.modem.limits = vec![parts_limit(2)];
        let lanes = Lane::all(&c);
        let messages = [("+4917012", 1), ("+4917012", 5), ("+4330111", 5)];
        check_parts(
            &lanes,
            &messages,
            &[&[("+4917012", 1), ("+4917012", 5)], &[("+4330111", 5)]],
        );
    }

    #[test]
    fn a_message_limit_of_zero_takes_nothing_another_modem_could() {
        let mut c = config(&[&[], &[]]);
        c.modem.limits = vec![crate::config::Limit {
            unit: crate::config::LimitUnit::Messages,
            ..parts_limit(0)
        }];
        let lanes = Lane::all(&c);
        check_parts(&lanes, &[("+4917012", 1)], &[&[], &[("+4917012", 1)]]);
    }
}
