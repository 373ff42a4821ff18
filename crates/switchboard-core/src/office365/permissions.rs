//! The application permissions Switchboard asks the admin to grant, and why each is needed.

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Permission {
    /// The role name as it appears in the token's `roles` claim and in the portal.
    pub name: &'static str,
    pub reason: &'static str,
}

pub const REQUIRED_PERMISSIONS: [Permission; 5] = [
    Permission {
        name: "Calendars.Read",
        reason: "Calendar sync: read each user's calendar entries (start, end and Show as only) to set their status",
    },
    Permission {
        name: "Contacts.Read",
        reason: "Contact sync: read each user's personal Outlook contacts to build their phonebook",
    },
    Permission {
        name: "Directory.Read.All",
        reason: "User sync: read users, group membership and the organization to create extensions",
    },
    Permission {
        name: "User.Read.All",
        reason: "Near real-time user sync: Microsoft Graph only allows change notifications on /users with this permission",
    },
    // Appended, not sorted in: diagnosis.rs refers to entries by index.
    Permission {
        name: "MailboxSettings.Read",
        reason: "Calendar sync: read each user's Outlook time zone, so all-day entries run from their own midnight to midnight",
    },
];

/// The required permissions missing from a token's `roles` claim (exact, case-sensitive names,
/// as Entra emits them).
pub fn missing_permissions(roles: &[String]) -> Vec<Permission> {
    REQUIRED_PERMISSIONS
        .iter()
        .filter(|p| !roles.iter().any(|r| r == p.name))
        .copied()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_granted_means_nothing_missing() {
        let roles: Vec<String> = REQUIRED_PERMISSIONS
            .iter()
            .map(|p| p.name.to_owned())
            .collect();
        assert!(missing_permissions(&roles).is_empty());
    }

    #[test]
    fn names_exactly_the_missing_ones() {
        let roles = vec!["Contacts.Read".to_owned(), "Mail.Read".to_owned()];
        let names: Vec<_> = missing_permissions(&roles).iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "Calendars.Read",
                "Directory.Read.All",
                "User.Read.All",
                "MailboxSettings.Read"
            ]
        );
    }
}
