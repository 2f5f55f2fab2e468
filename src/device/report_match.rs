//! Which send a delivery report is for, when the device cannot say: a web
//! stick (HiLink, ZTE) lists a report as a number, an outcome and a date,
//! with no TP-MR naming the message. A report is taken for the oldest send
//! to that number that asked for a report and has none yet, within one run
//! of the daemon (a number is the same in national and international
//! form, as the daemon matches reports); with two messages to one number in flight their reports
//! may be swapped, as nothing tells them apart. Reports the stick held
//! before the run (at or below the baseline) and reports for no waiting
//! send are judged unmatched once, then left alone.
//!
//! Pure: the devices read their stick and hand over what they found, and
//! the time; this keeps what waits and what was handed to the daemon.

use crate::store::same_number;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::time::{Duration, Instant};

/// How long a send waits for its report at most.
pub(crate) const REPORT_WAIT: Duration = Duration::from_secs(48 * 3600);
/// Sends waiting for a report, at most (the oldest give way).
pub(crate) const AWAITED_KEPT: usize = 1024;

/// A send waiting for its delivery report.
#[derive(Debug, Clone)]
struct Awaited {
    /// Which send this is, unique in the run (references wrap at 256).
    serial: u64,
    /// The reference the daemon was given for it.
    reference: u8,
    /// The number it went to.
    phone: String,
    /// When it was sent.
    since: Instant,
}

/// A report as a stick lists it: its id there and the number it is for.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Found<'a> {
    /// Its id (index) on the stick.
    pub(crate) id: u32,
    /// The number the message went to.
    pub(crate) number: &'a str,
}

/// What to do with one listed report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// It is for the send given this reference: hand it to the daemon.
    For(u8),
    /// It is for no send this run waits for, and is seen for the first
    /// time: say so once, and leave it.
    Unmatched,
    /// Judged before and left, or recorded: nothing to do.
    Done,
}

/// The sends waiting for reports and the reports judged, for one run.
#[derive(Debug, Default)]
pub(crate) struct ReportMatcher {
    /// Sends waiting, oldest first.
    awaited: VecDeque<Awaited>,
    /// The next send's serial.
    next_serial: u64,
    /// Report ids at or below this were on the stick before this run.
    baseline: Option<u32>,
    /// Report ids handed to the daemon, and which send each is for.
    handed: HashMap<u32, u64>,
    /// Report ids done with.
    done: BTreeSet<u32>,
}

impl ReportMatcher {
    /// Whether a send waits for its report.
    pub(crate) fn awaiting(&self) -> bool {
        !self.awaited.is_empty()
    }

    /// Whether the reports the stick held before this run are known.
    pub(crate) fn has_baseline(&self) -> bool {
        self.baseline.is_some()
    }

    /// Sets the newest report id there was before this run (`None`: no
    /// report); once a run, later calls change nothing.
    pub(crate) fn set_baseline(&mut self, newest: Option<u32>) {
        self.baseline.get_or_insert(newest.unwrap_or(0));
    }

    /// A send given `reference` went to `phone` at `now` and asked for a
    /// report.
    pub(crate) fn expect(&mut self, reference: u8, phone: &str, now: Instant) {
        if self.awaited.len() >= AWAITED_KEPT {
            self.awaited.pop_front();
        }
        self.next_serial += 1;
        self.awaited.push_back(Awaited {
            serial: self.next_serial,
            reference,
            phone: phone.to_owned(),
            since: now,
        });
    }

    /// Forgets sends that waited [`REPORT_WAIT`] by `now`, unless their
    /// report was handed over.
    pub(crate) fn expire(&mut self, now: Instant) {
        let handed: Vec<u64> = self.handed.values().copied().collect();
        self.awaited.retain(|a| {
            handed.contains(&a.serial) || now.saturating_duration_since(a.since) < REPORT_WAIT
        });
    }

    /// Judges the reports a stick lists, oldest (lowest id) first; each
    /// verdict with its id, in that order.
    pub(crate) fn judge(&mut self, reports: &[Found<'_>]) -> Vec<(u32, Verdict)> {
        let mut sorted: Vec<Found<'_>> = reports.to_vec();
        sorted.sort_by_key(|r| r.id);
        sorted.dedup_by_key(|r| r.id);
        let mut verdicts = Vec::with_capacity(sorted.len());
        for report in sorted {
            let verdict = self.judge_one(report);
            verdicts.push((report.id, verdict));
        }
        verdicts
    }

    fn judge_one(&mut self, report: Found<'_>) -> Verdict {
        if self.done.contains(&report.id) {
            return Verdict::Done;
        }
        if let Some(serial) = self.handed.get(&report.id) {
            if let Some(awaited) = self.awaited.iter().find(|a| a.serial == *serial) {
                return Verdict::For(awaited.reference);
            }
        }
        let before_run = self.baseline.is_some_and(|b| report.id <= b);
        let claimed: Vec<u64> = self.handed.values().copied().collect();
        let matched = self.awaited.iter().find(|a| {
            !before_run && same_number(&a.phone, report.number) && !claimed.contains(&a.serial)
        });
        match matched {
            Some(awaited) => {
                let reference = awaited.reference;
                self.handed.insert(report.id, awaited.serial);
                Verdict::For(reference)
            }
            None => {
                self.done.insert(report.id);
                Verdict::Unmatched
            }
        }
    }

    /// The report `id` is recorded (and gone from the stick where the stick
    /// deletes): its send waits no longer.
    pub(crate) fn recorded(&mut self, id: u32) {
        if let Some(serial) = self.handed.remove(&id) {
            self.awaited.retain(|a| a.serial != serial);
        }
        self.done.insert(id);
    }

    /// The report `id` could not be handed over (it made no status
    /// report): left, and its send waits on.
    pub(crate) fn give_up(&mut self, id: u32) {
        self.handed.remove(&id);
        self.done.insert(id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn found(id: u32, number: &str) -> Found<'_> {
        Found { id, number }
    }

    #[test]
    fn a_report_is_for_the_oldest_send_to_its_number() {
        let now = Instant::now();
        let mut matcher = ReportMatcher::default();
        matcher.set_baseline(None);
        matcher.expect(7, "+4915112345678", now);
        matcher.expect(8, "+4917600000000", now);
        matcher.expect(9, "+4915112345678", now);
        // The network may give the national form of the number.
        assert_eq!(
            matcher.judge(&[found(3, "015112345678")]),
            vec![(3, Verdict::For(7))]
        );
        // Listed again before it was recorded: the same send.
        assert_eq!(
            matcher.judge(&[found(3, "015112345678"), found(4, "+4915112345678")]),
            vec![(3, Verdict::For(7)), (4, Verdict::For(9))]
        );
        matcher.recorded(3);
        matcher.recorded(4);
        assert_eq!(
            matcher.judge(&[found(3, "015112345678")]),
            vec![(3, Verdict::Done)]
        );
        assert!(matcher.awaiting(), "the send to the other number waits");
    }

    #[test]
    fn two_reports_to_one_number_go_in_order_whatever_order_they_are_listed() {
        let now = Instant::now();
        let mut matcher = ReportMatcher::default();
        matcher.expect(1, "+491", now);
        matcher.expect(2, "+491", now);
        assert_eq!(
            matcher.judge(&[found(41, "+491"), found(40, "+491")]),
            vec![(40, Verdict::For(1)), (41, Verdict::For(2))]
        );
    }

    #[test]
    fn a_report_for_nothing_waited_for_is_unmatched_once() {
        let now = Instant::now();
        let mut matcher = ReportMatcher::default();
        matcher.expect(1, "+491", now);
        assert_eq!(
            matcher.judge(&[found(5, "+492")]),
            vec![(5, Verdict::Unmatched)]
        );
        assert_eq!(matcher.judge(&[found(5, "+492")]), vec![(5, Verdict::Done)]);
        // A second report to a number whose one send has its report.
        assert_eq!(
            matcher.judge(&[found(6, "+491"), found(7, "+491")]),
            vec![(6, Verdict::For(1)), (7, Verdict::Unmatched)]
        );
    }

    #[test]
    fn reports_from_before_the_run_are_not_taken() {
        let now = Instant::now();
        let mut matcher = ReportMatcher::default();
        matcher.set_baseline(Some(10));
        matcher.set_baseline(Some(99));
        matcher.expect(1, "+491", now);
        assert_eq!(
            matcher.judge(&[found(10, "+491"), found(11, "+491")]),
            vec![(10, Verdict::Unmatched), (11, Verdict::For(1))]
        );
    }

    #[test]
    fn sends_wait_so_long_unless_their_report_was_handed_over() {
        let start = Instant::now();
        let mut matcher = ReportMatcher::default();
        matcher.expect(1, "+491", start);
        matcher.expect(2, "+492", start);
        assert_eq!(
            matcher.judge(&[found(1, "+491")]),
            vec![(1, Verdict::For(1))]
        );
        matcher.expire(start + REPORT_WAIT - Duration::from_secs(1));
        matcher.expire(start + REPORT_WAIT);
        assert_eq!(
            matcher.judge(&[found(2, "+492")]),
            vec![(2, Verdict::Unmatched)],
            "the send to +492 waited too long"
        );
        assert_eq!(
            matcher.judge(&[found(1, "+491")]),
            vec![(1, Verdict::For(1))]
        );
        matcher.recorded(1);
        assert!(!matcher.awaiting());
    }

    #[test]
    fn a_report_given_up_leaves_its_send_waiting() {
        let now = Instant::now();
        let mut matcher = ReportMatcher::default();
        matcher.expect(1, "+491", now);
        assert_eq!(
            matcher.judge(&[found(1, "+491")]),
            vec![(1, Verdict::For(1))]
        );
        matcher.give_up(1);
        assert_eq!(
            matcher.judge(&[found(2, "+491")]),
            vec![(2, Verdict::For(1))]
        );
    }

    #[test]
    fn the_oldest_sends_give_way_when_too_many_wait() {
        let now = Instant::now();
        let mut matcher = ReportMatcher::default();
        for n in 0..=AWAITED_KEPT {
            matcher.expect((n % 256) as u8, &format!("+49{n}"), now);
        }
        assert_eq!(
            matcher.judge(&[found(1, "+490")]),
            vec![(1, Verdict::Unmatched)]
        );
        assert_eq!(
            matcher.judge(&[found(2, "+491")]),
            vec![(2, Verdict::For(1))]
        );
    }
}
