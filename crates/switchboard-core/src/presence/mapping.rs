//! The admin-editable table from an entry's `showAs` to the status it sets.

use super::{ShowAs, Status};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MappingError {
    /// A calendar-set Business Trip could never be restored at the end of the entry (rule 3
    /// keeps it), so the calendar may not produce it.
    #[error("showAs {0} cannot map to business_trip: only a person sets Business Trip")]
    BusinessTrip(ShowAs),
}

/// `showAs` → the status it sets, or `None` for "no change" (such entries do not start or extend
/// a block at all).
///
/// Always valid: every way to build one ([`ShowAsMapping::set`], deserialization) checks it.
/// Its settings document names every `showAs` in Graph's spelling, `null` meaning no change;
/// a key left out keeps its default, an unknown key is refused so a typo is not silently ignored:
///
/// ```json
/// {"free": null, "tentative": null, "busy": "away", "oof": "do_not_disturb",
///  "workingElsewhere": "away", "unknown": null}
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "MappingDocument", into = "MappingDocument")]
pub struct ShowAsMapping {
    by_show_as: [Option<Status>; 6],
}

impl Default for ShowAsMapping {
    /// DESIGN §5: busy and workingElsewhere → Away, oof → Do Not Disturb, the rest no change.
    fn default() -> Self {
        MappingDocument::default().into_mapping()
    }
}

impl ShowAsMapping {
    /// A mapping under which the calendar changes nothing.
    pub fn no_changes() -> Self {
        Self {
            by_show_as: [None; 6],
        }
    }

    pub fn get(&self, show_as: ShowAs) -> Option<Status> {
        self.by_show_as[show_as.index()]
    }

    pub fn set(&mut self, show_as: ShowAs, status: Option<Status>) -> Result<(), MappingError> {
        if status == Some(Status::BusinessTrip) {
            return Err(MappingError::BusinessTrip(show_as));
        }
        self.by_show_as[show_as.index()] = status;
        Ok(())
    }

    /// [`set`](Self::set) for building one in a chain.
    pub fn with(mut self, show_as: ShowAs, status: Option<Status>) -> Result<Self, MappingError> {
        self.set(show_as, status)?;
        Ok(self)
    }

    /// Every row of the table, in [`ShowAs::ALL`] order (for the console's editor).
    pub fn rows(&self) -> impl Iterator<Item = (ShowAs, Option<Status>)> + '_ {
        ShowAs::ALL
            .into_iter()
            .map(|show_as| (show_as, self.get(show_as)))
    }
}

/// The serde form: one named field per `showAs`, so the JSON reads like the console's table.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields, rename_all = "camelCase")]
struct MappingDocument {
    free: Option<Status>,
    tentative: Option<Status>,
    busy: Option<Status>,
    oof: Option<Status>,
    working_elsewhere: Option<Status>,
    unknown: Option<Status>,
}

impl Default for MappingDocument {
    fn default() -> Self {
        Self {
            free: None,
            tentative: None,
            busy: Some(Status::Away),
            oof: Some(Status::DoNotDisturb),
            working_elsewhere: Some(Status::Away),
            unknown: None,
        }
    }
}

impl MappingDocument {
    fn into_mapping(self) -> ShowAsMapping {
        let mut by_show_as = [None; 6];
        for (show_as, status) in [
            (ShowAs::Free, self.free),
            (ShowAs::Tentative, self.tentative),
            (ShowAs::Busy, self.busy),
            (ShowAs::Oof, self.oof),
            (ShowAs::WorkingElsewhere, self.working_elsewhere),
            (ShowAs::Unknown, self.unknown),
        ] {
            by_show_as[show_as.index()] = status;
        }
        ShowAsMapping { by_show_as }
    }
}

impl TryFrom<MappingDocument> for ShowAsMapping {
    type Error = MappingError;

    fn try_from(doc: MappingDocument) -> Result<Self, Self::Error> {
        let unchecked = doc.into_mapping();
        let mut mapping = ShowAsMapping::no_changes();
        for (show_as, status) in unchecked.rows() {
            mapping.set(show_as, status)?;
        }
        Ok(mapping)
    }
}

impl From<ShowAsMapping> for MappingDocument {
    fn from(mapping: ShowAsMapping) -> Self {
        Self {
            free: mapping.get(ShowAs::Free),
            tentative: mapping.get(ShowAs::Tentative),
            busy: mapping.get(ShowAs::Busy),
            oof: mapping.get(ShowAs::Oof),
            working_elsewhere: mapping.get(ShowAs::WorkingElsewhere),
            unknown: mapping.get(ShowAs::Unknown),
        }
    }
}
