//! The `microsoft.graph.user` properties the emulator knows (G `resources/user.md`, §2.1).
//!
//! Every name here is accepted by `$select`; the modelled ones are stored per user, the rest
//! answer a fixed value (`null`, `[]`) like an unused property in a real tenant would. Names
//! Graph does not know give 400, and the ones that cannot be read from a collection give 501.

use std::sync::LazyLock;

use super::packed::Slot;

/// Index into [`PROPS`].
pub type PropId = u8;

/// Bit set of [`PropId`]s (there are fewer than 128 properties).
pub type PropMask = u128;

/// Stored string slots.
pub mod slot {
    use super::Slot;
    pub const DISPLAY_NAME: Slot = 0;
    pub const GIVEN_NAME: Slot = 1;
    pub const SURNAME: Slot = 2;
    pub const USER_PRINCIPAL_NAME: Slot = 3;
    pub const MAIL: Slot = 4;
    pub const MAIL_NICKNAME: Slot = 5;
    pub const JOB_TITLE: Slot = 6;
    pub const DEPARTMENT: Slot = 7;
    pub const OFFICE_LOCATION: Slot = 8;
    pub const MOBILE_PHONE: Slot = 9;
    pub const BUSINESS_PHONES: Slot = 10;
    pub const PREFERRED_LANGUAGE: Slot = 11;
    pub const EMPLOYEE_ID: Slot = 12;
    pub const EMPLOYEE_TYPE: Slot = 13;
    pub const COMPANY_NAME: Slot = 14;
    pub const USAGE_LOCATION: Slot = 15;
    pub const CITY: Slot = 16;
    pub const COUNTRY: Slot = 17;
    pub const STATE: Slot = 18;
    pub const STREET_ADDRESS: Slot = 19;
    pub const POSTAL_CODE: Slot = 20;
    pub const FAX_NUMBER: Slot = 21;
    pub const USER_TYPE: Slot = 22;
    pub const ON_PREMISES_IMMUTABLE_ID: Slot = 23;
    pub const PROXY_ADDRESSES: Slot = 24;
    pub const OTHER_MAILS: Slot = 25;
    pub const IM_ADDRESSES: Slot = 26;
    pub const EXTERNAL_USER_STATE: Slot = 27;
    pub const CREATION_TYPE: Slot = 28;
    /// `onPremisesExtensionAttributes.extensionAttribute1` … `15` are 32 … 46.
    pub const EXTENSION_ATTRIBUTE_1: Slot = 32;
}

/// Separator of the values of a string collection inside one slot.
pub const LIST_SEPARATOR: char = '\u{1f}';

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Id,
    Text(Slot),
    /// String collection (values joined by [`LIST_SEPARATOR`]); `[]` when absent.
    List(Slot),
    AccountEnabled,
    CreatedDateTime,
    DeletedDateTime,
    /// `onPremisesExtensionAttributes`: fifteen nullable strings.
    ExtensionAttributes,
    /// Known to Graph but not modelled: always this JSON text.
    Fixed(&'static str),
    /// Stored outside the directory (SharePoint, Exchange); 501 on `/users` and delta (§2.1, §2.3).
    NotInCollection,
}

/// `$filter` support (§2.1 table; asterisked operators need advanced queries, §2.2).
pub mod filter {
    /// `eq`, `in`, `eq null`; `ne`/`not` with advanced queries.
    pub const EQ: u8 = 1;
    pub const STARTS_WITH: u8 = 2;
    /// `endsWith`, advanced queries only.
    pub const ENDS_WITH: u8 = 4;
    /// Every operator on this property needs advanced queries [obs: officeLocation, companyName].
    pub const ADVANCED_ONLY: u8 = 8;
}

#[derive(Debug, Clone, Copy)]
pub struct Prop {
    pub name: &'static str,
    pub kind: Kind,
    pub filter: u8,
    /// `$search` can tokenise it.
    pub searchable: bool,
}

const fn p(name: &'static str, kind: Kind, filter: u8) -> Prop {
    Prop {
        name,
        kind,
        filter,
        searchable: false,
    }
}

const fn s(name: &'static str, kind: Kind, filter: u8) -> Prop {
    Prop {
        name,
        kind,
        filter,
        searchable: true,
    }
}

use Kind::*;
use filter::{ADVANCED_ONLY as ADV, ENDS_WITH as ENDS, EQ, STARTS_WITH as STARTS};

/// All user properties, modelled ones first.
pub static PROPS: &[Prop] = &[
    p("id", Id, EQ),
    p("accountEnabled", AccountEnabled, EQ),
    p("businessPhones", List(slot::BUSINESS_PHONES), 0),
    p("city", Text(slot::CITY), EQ | STARTS),
    p("companyName", Text(slot::COMPANY_NAME), EQ | STARTS | ADV),
    p("country", Text(slot::COUNTRY), EQ | STARTS),
    p("createdDateTime", CreatedDateTime, 0),
    p("creationType", Text(slot::CREATION_TYPE), EQ),
    p("deletedDateTime", DeletedDateTime, 0),
    s("department", Text(slot::DEPARTMENT), EQ),
    s("displayName", Text(slot::DISPLAY_NAME), EQ | STARTS),
    p("employeeId", Text(slot::EMPLOYEE_ID), EQ | STARTS),
    p("employeeType", Text(slot::EMPLOYEE_TYPE), EQ | STARTS | ADV),
    p("externalUserState", Text(slot::EXTERNAL_USER_STATE), EQ),
    p("faxNumber", Text(slot::FAX_NUMBER), EQ | STARTS | ADV),
    s("givenName", Text(slot::GIVEN_NAME), EQ | STARTS),
    p("imAddresses", List(slot::IM_ADDRESSES), 0),
    s("jobTitle", Text(slot::JOB_TITLE), EQ | STARTS),
    s("mail", Text(slot::MAIL), EQ | STARTS | ENDS),
    s("mailNickname", Text(slot::MAIL_NICKNAME), EQ | STARTS),
    p("mobilePhone", Text(slot::MOBILE_PHONE), EQ | STARTS),
    s(
        "officeLocation",
        Text(slot::OFFICE_LOCATION),
        EQ | STARTS | ADV,
    ),
    p("onPremisesExtensionAttributes", ExtensionAttributes, 0),
    p(
        "onPremisesImmutableId",
        Text(slot::ON_PREMISES_IMMUTABLE_ID),
        EQ,
    ),
    p("otherMails", List(slot::OTHER_MAILS), 0),
    p("postalCode", Text(slot::POSTAL_CODE), EQ | STARTS | ADV),
    p("preferredLanguage", Text(slot::PREFERRED_LANGUAGE), EQ),
    p("proxyAddresses", List(slot::PROXY_ADDRESSES), 0),
    p("state", Text(slot::STATE), EQ | STARTS),
    p(
        "streetAddress",
        Text(slot::STREET_ADDRESS),
        EQ | STARTS | ADV,
    ),
    s("surname", Text(slot::SURNAME), EQ | STARTS),
    p("usageLocation", Text(slot::USAGE_LOCATION), EQ),
    s(
        "userPrincipalName",
        Text(slot::USER_PRINCIPAL_NAME),
        EQ | STARTS | ENDS,
    ),
    p("userType", Text(slot::USER_TYPE), EQ),
    // Known, not modelled.
    p("ageGroup", Fixed("null"), 0),
    p("assignedLicenses", Fixed("[]"), 0),
    p("assignedPlans", Fixed("[]"), 0),
    p("authorizationInfo", Fixed("null"), 0),
    p("consentProvidedForMinor", Fixed("null"), 0),
    p("employeeHireDate", Fixed("null"), 0),
    p("employeeLeaveDateTime", Fixed("null"), 0),
    p("employeeOrgData", Fixed("null"), 0),
    p("externalUserStateChangeDateTime", Fixed("null"), 0),
    p("identities", Fixed("[]"), 0),
    p("isResourceAccount", Fixed("null"), 0),
    p("lastPasswordChangeDateTime", Fixed("null"), 0),
    p("legalAgeGroupClassification", Fixed("null"), 0),
    p("licenseAssignmentStates", Fixed("[]"), 0),
    p("onPremisesDistinguishedName", Fixed("null"), 0),
    p("onPremisesDomainName", Fixed("null"), 0),
    p("onPremisesLastSyncDateTime", Fixed("null"), 0),
    p("onPremisesProvisioningErrors", Fixed("[]"), 0),
    p("onPremisesSamAccountName", Fixed("null"), 0),
    p("onPremisesSecurityIdentifier", Fixed("null"), 0),
    p("onPremisesSyncEnabled", Fixed("null"), 0),
    p("onPremisesUserPrincipalName", Fixed("null"), 0),
    p("passwordPolicies", Fixed("null"), 0),
    p("passwordProfile", Fixed("null"), 0),
    p("preferredDataLocation", Fixed("null"), 0),
    p("provisionedPlans", Fixed("[]"), 0),
    p("securityIdentifier", Fixed("null"), 0),
    p("serviceProvisioningErrors", Fixed("[]"), 0),
    p("showInAddressList", Fixed("null"), 0),
    p("signInSessionsValidFromDateTime", Fixed("null"), 0),
    // Not in a collection (§2.1).
    p("aboutMe", NotInCollection, 0),
    p("birthday", NotInCollection, 0),
    p("hireDate", NotInCollection, 0),
    p("interests", NotInCollection, 0),
    p("mailboxSettings", NotInCollection, 0),
    p("mySite", NotInCollection, 0),
    p("pastProjects", NotInCollection, 0),
    p("preferredName", NotInCollection, 0),
    p("responsibilities", NotInCollection, 0),
    p("schools", NotInCollection, 0),
    p("skills", NotInCollection, 0),
];

/// Returned without `$select`, in Graph's order (§2.1).
const DEFAULT_NAMES: [&str; 11] = [
    "businessPhones",
    "displayName",
    "givenName",
    "jobTitle",
    "mail",
    "mobilePhone",
    "officeLocation",
    "preferredLanguage",
    "surname",
    "userPrincipalName",
    "id",
];

pub static DEFAULT_SET: LazyLock<Vec<PropId>> =
    LazyLock::new(|| DEFAULT_NAMES.iter().filter_map(|n| by_name(n)).collect());

pub static ID: LazyLock<PropId> = LazyLock::new(|| by_name("id").unwrap_or(0));

/// Case-insensitive lookup.
pub fn by_name(name: &str) -> Option<PropId> {
    PROPS
        .iter()
        .position(|p| p.name.eq_ignore_ascii_case(name))
        .and_then(|i| PropId::try_from(i).ok())
}

pub fn prop(id: PropId) -> &'static Prop {
    &PROPS[usize::from(id)]
}

/// Every property whose value can change (the default tracking set of delta, §2.3).
pub fn all_mask() -> PropMask {
    PROPS.iter().enumerate().fold(0, |m, (i, p)| match p.kind {
        Fixed(_) | NotInCollection => m,
        _ => m | (1u128 << i),
    })
}

pub fn mask_of(ids: &[PropId]) -> PropMask {
    ids.iter().fold(0, |m, i| m | (1u128 << i))
}

/// The property a stored slot belongs to.
pub fn prop_of_slot(slot: Slot) -> Option<PropId> {
    if (slot::EXTENSION_ATTRIBUTE_1..slot::EXTENSION_ATTRIBUTE_1 + 15).contains(&slot) {
        return by_name("onPremisesExtensionAttributes");
    }
    PROPS
        .iter()
        .position(|p| matches!(p.kind, Text(s) | List(s) if s == slot))
        .and_then(|i| PropId::try_from(i).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registry_fits_the_mask_and_names_are_unique() {
        assert!(PROPS.len() < 128);
        for (i, a) in PROPS.iter().enumerate() {
            assert_eq!(by_name(a.name), PropId::try_from(i).ok(), "{}", a.name);
        }
        assert_eq!(DEFAULT_SET.len(), 11);
        assert_eq!(by_name("USERPRINCIPALNAME"), by_name("userPrincipalName"));
        assert_eq!(prop_of_slot(slot::MAIL), by_name("mail"));
        assert_eq!(
            prop_of_slot(slot::EXTENSION_ATTRIBUTE_1 + 14),
            by_name("onPremisesExtensionAttributes")
        );
    }
}
