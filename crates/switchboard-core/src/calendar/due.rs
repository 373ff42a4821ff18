//! When each extension's status next changes, ordered, so one timer serves everyone.

use jiff::Timestamp;
use std::collections::{BTreeSet, HashMap};

#[derive(Debug, Default)]
pub(super) struct DueIndex {
    by_time: BTreeSet<(Timestamp, String)>,
    by_number: HashMap<String, Timestamp>,
}

impl DueIndex {
    /// Records `number`'s next change (`None`: nothing due). True when the earliest due time
    /// moved earlier (or appeared), i.e. a timer set for the old earliest would be late.
    pub(super) fn set(&mut self, number: &str, until: Option<Timestamp>) -> bool {
        let earliest = self.earliest();
        if let Some(old) = self.by_number.remove(number) {
            self.by_time.remove(&(old, number.to_owned()));
        }
        let Some(until) = until else {
            return false;
        };
        self.by_number.insert(number.to_owned(), until);
        self.by_time.insert((until, number.to_owned()));
        earliest.is_none_or(|e| until < e)
    }

    pub(super) fn earliest(&self) -> Option<Timestamp> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Numbers whose change is due at or before `now`, earliest first.
    pub(super) fn due(&self, now: Timestamp) -> Vec<String> {
        self.by_time
            .iter()
            .take_while(|(at, _)| *at <= now)
            .map(|(_, number)| number.clone())
            .collect()
    }

    pub(super) fn replace(
        &mut self,
        entries: impl IntoIterator<Item = (String, Timestamp)>,
    ) -> bool {
        let earliest = self.earliest();
        self.by_time.clear();
        self.by_number.clear();
        for (number, until) in entries {
            self.by_time.insert((until, number.clone()));
            self.by_number.insert(number, until);
        }
        match (earliest, self.earliest()) {
            (_, None) => false,
            (None, Some(_)) => true,
            (Some(old), Some(new)) => new < old,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Timestamp {
        format!("2025-06-02T{s}:00Z").parse().unwrap_or_default()
    }

    #[test]
    fn earliest_moves() {
        let mut index = DueIndex::default();
        assert!(index.set("100", Some(t("10:00"))));
        assert!(!index.set("101", Some(t("11:00"))));
        assert!(index.set("101", Some(t("09:00"))));
        assert_eq!(index.earliest(), Some(t("09:00")));
        assert!(!index.set("101", None));
        assert_eq!(index.earliest(), Some(t("10:00")));
        assert_eq!(index.due(t("10:00")), vec!["100".to_owned()]);
        assert!(index.due(t("09:59")).is_empty());
    }
}
