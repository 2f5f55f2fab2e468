//! Several modems in one daemon: each modem is a *lane* with its own loop,
//! device and TP-MR tracker, all sharing the keeper (one store, one
//! outbox, one inbox). A lane takes the next message due that its route
//! accepts, so the modems share the load as each becomes free, and a
//! modem that is not ready takes nothing (its share goes to the others).
//! A part handed to a modem is recorded with that modem's name, and only
//! that modem settles it when it is in doubt: a part that may have gone
//! out is never sent again through another.
//!
//! Routes are pure: which recipients a lane takes ([`Lane::takes`]) and
//! the same rule as an SQL condition on the `recipient` column
//! ([`Lane::route`]) for the store's queries.

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
    /// [`Lane::takes`] as an SQL condition on `recipient`.
    route: String,
    /// This modem's own rate limits.
    pub(crate) limits: Vec<crate::config::Limit>,
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
                    route: String::new(),
                    limits: modem.limits.clone(),
                };
                lane.route = lane.condition();
                lane
            })
            .collect()
    }

    /// Whether the daemon drives more than one modem.
    pub(crate) fn several(&self) -> bool {
        self.names.len() > 1
    }

    /// Whether this is the first modem's lane.
    pub(crate) fn is_first(&self) -> bool {
        self.slot == 1
    }

    /// Whether a message to `recipient` (as written) may go out through
    /// this modem: a number a prefix matches goes through the modems
    /// naming a matching prefix; any other through the modems that name
    /// none (or, when every modem names some, through any). The rule
    /// [`Lane::route`] states in SQL.
    #[cfg(test)]
    pub(crate) fn takes(&self, recipient: &str) -> bool {
        let matches = |prefixes: &[String]| prefixes.iter().any(|p| recipient.starts_with(p));
        if matches(&self.prefixes) {
            return true;
        }
        let unrouted = !matches(&self.routed);
        unrouted && (self.prefixes.is_empty() || !self.catch_all)
    }

    /// [`Lane::takes`] as an SQL condition on the `recipient` column.
    pub(crate) fn route(&self) -> &str {
        &self.route
    }

    fn condition(&self) -> String {
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
        let own = any(&self.prefixes);
        let unrouted = format!("NOT {}", any(&self.routed));
        if self.prefixes.is_empty() || !self.catch_all {
            format!("{own} OR {unrouted}")
        } else {
            own
        }
    }

    /// Whether this modem settles a part in doubt that was handed to
    /// `modem`: its own; the first modem also those of a modem no longer
    /// configured (or recorded before modems had names).
    pub(crate) fn settles(&self, modem: Option<&str>) -> bool {
        match modem {
            Some(modem) if modem == self.name => true,
            Some(modem) if self.names.iter().any(|n| n == modem) => false,
            _ => self.is_first(),
        }
    }
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

    /// What the SQL condition selects, from a real SQLite.
    fn selected(lane: &Lane, recipients: &[&str]) -> Vec<String> {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        db.execute("CREATE TABLE outgoing (recipient TEXT)", [])
            .unwrap();
        for r in recipients {
            db.execute("INSERT INTO outgoing VALUES (?1)", [r]).unwrap();
        }
        let mut statement = db
            .prepare(&format!(
                "SELECT recipient FROM outgoing WHERE ({}) ORDER BY rowid",
                lane.route()
            ))
            .unwrap();
        let rows = statement
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<Vec<String>, _>>()
            .unwrap();
        rows
    }

    const NUMBERS: [&str; 4] = ["+4917012", "+4330111", "0049170", "+49'1"];

    fn check(lanes: &[Lane], expected: &[&[&str]]) {
        for (lane, expected) in lanes.iter().zip(expected) {
            let taken: Vec<&str> = NUMBERS.iter().copied().filter(|n| lane.takes(n)).collect();
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
}
