//! Extension numbers: first free from a start, or taken from a user attribute.

use super::DirectoryUser;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum NumberSource {
    /// The extension part of `businessPhones[0]` ("+1 425 555 0100 x123" → 123), or the whole
    /// value when it is itself a short number.
    BusinessPhoneExtension,
    /// `employeeId` when it is all digits.
    EmployeeId,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "rule", content = "source", rename_all = "snake_case")]
pub enum NumberingRule {
    #[default]
    FirstFree,
    /// Users without a usable attribute get the first free number.
    FromAttribute(NumberSource),
}

const MIN_DIGITS: usize = 2;
const MAX_DIGITS: usize = 8;

fn plausible(digits: &str) -> bool {
    (MIN_DIGITS..=MAX_DIGITS).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
}

/// The number an attribute asks for, if it holds one.
pub fn number_from_attribute(user: &DirectoryUser, source: NumberSource) -> Option<String> {
    match source {
        NumberSource::EmployeeId => user
            .employee_id
            .as_deref()
            .map(str::trim)
            .filter(|s| plausible(s))
            .map(str::to_owned),
        NumberSource::BusinessPhoneExtension => {
            let phone = user.business_phones.first()?.trim().to_ascii_lowercase();
            let marker = ["extension", "ext.", "ext", "x"]
                .iter()
                .filter_map(|m| phone.rfind(m).map(|i| i + m.len()))
                .max();
            let candidate = match marker {
                Some(i) => phone[i..]
                    .trim()
                    .trim_start_matches(['.', ':', ' '])
                    .to_owned(),
                None => phone.clone(),
            };
            let digits: String = candidate
                .chars()
                .filter(|c| !matches!(c, ' ' | '-'))
                .collect();
            plausible(&digits).then_some(digits)
        }
    }
}

/// The numbers in use, for handing out free ones. Numbers in canonical decimal form (digits, no
/// leading zero) are kept as integers, a few bytes each; anything else ("0100", "12a") as text.
#[derive(Debug, Clone, Default)]
pub struct NumberPool {
    canonical: BTreeSet<u64>,
    other: BTreeSet<String>,
    start: u64,
    /// Every number below this is known to be used (keeps first-free O(1) amortised).
    cursor: u64,
}

/// `number` as an integer when it is its canonical decimal form (so the two convert both ways).
fn canonical(number: &str) -> Option<u64> {
    let b = number.as_bytes();
    let canonical = !b.is_empty()
        && b.len() <= 19
        && b.iter().all(u8::is_ascii_digit)
        && (b.len() == 1 || b[0] != b'0');
    canonical.then(|| number.parse().ok()).flatten()
}

impl NumberPool {
    pub fn new(start: u32, used: impl IntoIterator<Item = String>) -> Self {
        let mut pool = Self {
            canonical: BTreeSet::new(),
            other: BTreeSet::new(),
            start: u64::from(start),
            cursor: u64::from(start),
        };
        for n in used {
            match canonical(&n) {
                Some(v) => pool.canonical.insert(v),
                None => pool.other.insert(n),
            };
        }
        pool
    }

    pub fn is_used(&self, number: &str) -> bool {
        match canonical(number) {
            Some(v) => self.canonical.contains(&v),
            None => self.other.contains(number),
        }
    }

    /// Claims `number`; false when it is already taken.
    pub fn claim(&mut self, number: &str) -> bool {
        match canonical(number) {
            Some(v) => self.canonical.insert(v),
            None => self.other.insert(number.to_owned()),
        }
    }

    pub fn release(&mut self, number: &str) {
        match canonical(number) {
            Some(n) => {
                if self.canonical.remove(&n) && n >= self.start && n < self.cursor {
                    self.cursor = n;
                }
            }
            None => {
                self.other.remove(number);
            }
        }
    }

    /// The lowest free number at or above the start.
    pub fn take_first_free(&mut self) -> Option<String> {
        let max = 10u64.pow(MAX_DIGITS as u32);
        while self.cursor < max {
            let candidate = self.cursor;
            self.cursor += 1;
            if self.canonical.insert(candidate) {
                return Some(candidate.to_string());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_phone(p: &str) -> DirectoryUser {
        DirectoryUser {
            business_phones: vec![p.into()],
            ..Default::default()
        }
    }

    #[test]
    fn extension_part_of_business_phone() {
        let src = NumberSource::BusinessPhoneExtension;
        assert_eq!(
            number_from_attribute(&with_phone("+1 425 555 0100 x123"), src).as_deref(),
            Some("123")
        );
        assert_eq!(
            number_from_attribute(&with_phone("+49 30 1234-0 ext. 4711"), src).as_deref(),
            Some("4711")
        );
        assert_eq!(
            number_from_attribute(&with_phone("205"), src).as_deref(),
            Some("205")
        );
        assert_eq!(
            number_from_attribute(&with_phone("+44 20 7946 0000"), src),
            None,
            "a full number is not an extension"
        );
        assert_eq!(number_from_attribute(&DirectoryUser::default(), src), None);
    }

    #[test]
    fn employee_id_digits_only() {
        let u = DirectoryUser {
            employee_id: Some("00123".into()),
            ..Default::default()
        };
        assert_eq!(
            number_from_attribute(&u, NumberSource::EmployeeId).as_deref(),
            Some("00123")
        );
        let u = DirectoryUser {
            employee_id: Some("E123".into()),
            ..Default::default()
        };
        assert_eq!(number_from_attribute(&u, NumberSource::EmployeeId), None);
    }

    #[test]
    fn first_free_skips_used_and_reuses_released() {
        let mut pool = NumberPool::new(100, ["100".to_owned(), "102".to_owned(), "7".to_owned()]);
        assert_eq!(pool.take_first_free().as_deref(), Some("101"));
        assert_eq!(pool.take_first_free().as_deref(), Some("103"));
        pool.release("101");
        assert_eq!(pool.take_first_free().as_deref(), Some("101"));
        assert!(!pool.claim("103"));
        assert!(pool.claim("555"));
    }

    #[test]
    fn non_canonical_numbers_are_distinct_from_their_value() {
        let mut pool = NumberPool::new(100, ["0100".to_owned(), "12a".to_owned()]);
        assert!(pool.is_used("0100"));
        assert!(!pool.is_used("100"));
        assert!(pool.is_used("12a"));
        assert_eq!(pool.take_first_free().as_deref(), Some("100"));
        assert!(!pool.claim("0100"));
        assert!(pool.claim("00100"));
        assert!(pool.claim("0"));
        assert!(!pool.claim("0"));
        assert!(
            pool.claim("99999999999999999999"),
            "too long for u64: kept as text"
        );
        pool.release("0100");
        assert!(!pool.is_used("0100"));
        assert!(pool.is_used("100"));
        pool.release("100");
        assert_eq!(pool.take_first_free().as_deref(), Some("100"));
    }
}
