//! Which users a sync applies to.

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "mode", content = "ids", rename_all = "snake_case")]
pub enum Scope {
    #[default]
    All,
    AllExcept(BTreeSet<String>),
    Only(BTreeSet<String>),
    /// Members (transitive) of these Entra groups; membership is resolved by the caller.
    Groups(BTreeSet<String>),
}

impl Scope {
    /// `member_of_selected_groups` is only consulted for [`Scope::Groups`].
    pub fn includes(&self, user_id: &str, member_of_selected_groups: bool) -> bool {
        match self {
            Scope::All => true,
            Scope::AllExcept(ids) => !ids.contains(user_id),
            Scope::Only(ids) => ids.contains(user_id),
            Scope::Groups(_) => member_of_selected_groups,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes() {
        let ids: BTreeSet<String> = ["a".to_owned()].into();
        assert!(Scope::All.includes("a", false));
        assert!(!Scope::AllExcept(ids.clone()).includes("a", true));
        assert!(Scope::AllExcept(ids.clone()).includes("b", false));
        assert!(Scope::Only(ids.clone()).includes("a", false));
        assert!(!Scope::Only(ids.clone()).includes("b", true));
        assert!(Scope::Groups(ids.clone()).includes("z", true));
        assert!(!Scope::Groups(ids).includes("a", false));
    }
}
