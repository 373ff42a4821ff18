#![allow(clippy::unwrap_used)] // test code: a panic is the failure report
//! Properties of the user sync plan over random tenants, stored states and settings.

use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use switchboard_core::users::*;

fn user() -> impl Strategy<Value = DirectoryUser> {
    (
        0..40u32,
        "[A-Z][a-z]{0,6}",
        proptest::option::of("[a-z]{1,5}"),
        any::<bool>(),
        prop_oneof![8 => Just(false), 1 => Just(true)],
        proptest::option::of(prop_oneof![
            Just("+1 425 555 0100 x1".to_owned()),
            "[0-9]{2,4}",
            Just("+44 20 7946 0000".to_owned())
        ]),
        proptest::option::of("[0-9]{3}"),
    )
        .prop_map(
            |(n, name, mobile, enabled, guest, phone, emp)| DirectoryUser {
                id: format!("id-{n}"),
                display_name: Some(name.clone()),
                given_name: Some(name),
                user_principal_name: Some(format!("u{n}@contoso.com")),
                mobile_phone: mobile,
                business_phones: phone.into_iter().collect(),
                account_enabled: Some(enabled || n % 3 != 0),
                user_type: Some(if guest { "Guest" } else { "Member" }.into()),
                employee_id: emp,
                ..Default::default()
            },
        )
}

fn local_extensions() -> impl Strategy<Value = Vec<Extension>> {
    proptest::collection::vec((100..130u32, 0..40u32), 0..6).prop_map(|v| {
        v.into_iter()
            .map(|(num, who)| Extension {
                number: num.to_string(),
                origin: Origin::Local,
                graph_user_id: None,
                fields: SyncedFields {
                    email: format!("U{who}@contoso.com"),
                    display_name: "Local".into(),
                    ..Default::default()
                },
                enabled: true,
                excluded: false,
            })
            .collect()
    })
}

fn settings() -> impl Strategy<Value = UserSyncSettings> {
    (
        prop_oneof![
            Just(Scope::All),
            proptest::collection::btree_set((0..40u32).prop_map(|n| format!("id-{n}")), 0..10)
                .prop_map(Scope::AllExcept),
            proptest::collection::btree_set((0..40u32).prop_map(|n| format!("id-{n}")), 0..30)
                .prop_map(Scope::Only),
        ],
        any::<bool>(),
        prop_oneof![
            Just(RemovalPolicy::Keep),
            Just(RemovalPolicy::Disable),
            Just(RemovalPolicy::Delete)
        ],
        prop_oneof![
            Just(NumberingRule::FirstFree),
            Just(NumberingRule::FromAttribute(
                NumberSource::BusinessPhoneExtension
            )),
            Just(NumberingRule::FromAttribute(NumberSource::EmployeeId)),
        ],
    )
        .prop_map(
            |(scope, include_guests, removal, numbering)| UserSyncSettings {
                scope,
                include_guests,
                numbering_start: 100,
                numbering,
                removal,
                ..Default::default()
            },
        )
}

fn tenant() -> impl Strategy<Value = Vec<(DirectoryUser, bool)>> {
    proptest::collection::vec(user().prop_map(|u| (u, true)), 0..30)
}

fn to_map(v: Vec<Extension>) -> BTreeMap<String, Extension> {
    // Local numbers may collide in the generator; keep one per number.
    v.into_iter().map(|e| (e.number.clone(), e)).collect()
}

fn run(
    tenant: &[(DirectoryUser, bool)],
    state: &mut BTreeMap<String, Extension>,
    settings: &UserSyncSettings,
    remembered: &mut HashMap<String, String>,
) -> Vec<Action> {
    let stored: Vec<Extension> = state.values().cloned().collect();
    let plan = plan_full_sync(tenant, &stored, settings.clone(), remembered.clone());
    for (id, number) in apply(state, &plan) {
        remembered.insert(id, number);
    }
    plan
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// After one run, a second plan over the same tenant changes nothing.
    #[test]
    fn a_run_converges(t in tenant(), locals in local_extensions(), s in settings()) {
        let mut state = to_map(locals);
        let mut remembered = HashMap::new();
        run(&t, &mut state, &s, &mut remembered);
        let again = run(&t, &mut state, &s, &mut remembered);
        let changing: Vec<_> = again.iter().filter(|a| a.changes_anything()).collect();
        prop_assert!(changing.is_empty(), "second run still plans {changing:?}");
    }

    /// Applying the same plan twice gives the same extensions as applying it once.
    #[test]
    fn applying_twice_is_applying_once(t in tenant(), locals in local_extensions(), s in settings()) {
        let stored = to_map(locals);
        let plan = plan_full_sync(&t, &stored.values().cloned().collect::<Vec<_>>(), s, HashMap::new());
        let mut once = stored.clone();
        apply(&mut once, &plan);
        let mut twice = once.clone();
        apply(&mut twice, &plan);
        prop_assert_eq!(once, twice);
    }

    /// One extension per user, every wanted enabled member has one, and nobody unwanted is created.
    #[test]
    fn extensions_match_the_tenant(t in tenant(), locals in local_extensions(), s in settings()) {
        let mut state = to_map(locals);
        let plan = run(&t, &mut state, &s, &mut HashMap::new());
        let mut owners = BTreeSet::new();
        for e in state.values() {
            if let Some(id) = &e.graph_user_id {
                prop_assert!(owners.insert(id.clone()), "two extensions for {id}");
            }
        }
        let mut firsts = HashMap::new();
        for (u, _) in &t { firsts.entry(u.id.clone()).or_insert(u); }
        for u in firsts.values() {
            let wanted = (!u.is_guest() || s.include_guests) && s.scope.includes(&u.id, true);
            let has = owners.contains(&u.id);
            if !wanted { prop_assert!(!has, "unwanted {} got an extension", u.id); }
            if wanted && u.is_enabled() && !has {
                let skipped = plan.iter().any(|a| matches!(a, Action::Skip { user_id, reason: SkipReason::NumberConflict { .. } | SkipReason::NoFreeNumber, .. } if user_id == &u.id));
                prop_assert!(skipped, "{} is wanted but has no extension and no reason", u.id);
            }
        }
    }

    /// Whatever came before, synced extensions show the latest tenant: fields and enabled state.
    #[test]
    fn state_reflects_the_latest_tenant(t1 in tenant(), t2 in tenant(), locals in local_extensions(), s in settings()) {
        let mut state = to_map(locals);
        let mut remembered = HashMap::new();
        run(&t1, &mut state, &s, &mut remembered);
        run(&t2, &mut state, &s, &mut remembered);
        let mut latest = HashMap::new();
        for (u, _) in &t2 { latest.entry(u.id.clone()).or_insert(u); }
        for e in state.values() {
            let Some(u) = e.graph_user_id.as_ref().and_then(|id| latest.get(id)) else { continue };
            if (!u.is_guest() || s.include_guests) && s.scope.includes(&u.id, true) {
                prop_assert_eq!(&e.fields, &SyncedFields::from_user(u));
                prop_assert_eq!(e.enabled, u.is_enabled(), "{} enabled state", u.id);
            }
        }
    }

    /// Renames never renumber; removed users follow the policy and come back with the same number.
    #[test]
    fn numbers_are_for_life(t in tenant(), s in settings()) {
        let mut state = BTreeMap::new();
        let mut remembered = HashMap::new();
        run(&t, &mut state, &s, &mut remembered);
        let numbers: BTreeMap<String, String> = state.values().filter_map(|e| Some((e.graph_user_id.clone()?, e.number.clone()))).collect();

        let renamed: Vec<_> = t.iter().map(|(u, g)| {
            let mut u = u.clone();
            u.display_name = Some(format!("{} Renamed", u.label()));
            u.user_principal_name = Some(format!("new.{}", u.user_principal_name.clone().unwrap_or_default()));
            (u, *g)
        }).collect();
        run(&renamed, &mut state, &s, &mut remembered);
        for e in state.values() {
            if let Some(id) = &e.graph_user_id && let Some(n) = numbers.get(id) {
                prop_assert_eq!(n, &e.number);
            }
        }

        // Everyone leaves, then everyone comes back.
        run(&[], &mut state, &s, &mut remembered);
        for e in state.values().filter(|e| e.origin == Origin::AzureAd) {
            match s.removal {
                RemovalPolicy::Delete => prop_assert!(false, "deleted policy left {}", e.number),
                RemovalPolicy::Disable => prop_assert!(!e.enabled),
                RemovalPolicy::Keep => {}
            }
        }
        // They come back in another order, after a newcomer who must not take their numbers.
        let newcomer = DirectoryUser { id: "id-new".into(), account_enabled: Some(true), ..Default::default() };
        let back: Vec<_> = std::iter::once((newcomer, true)).chain(renamed.iter().rev().cloned()).collect();
        run(&back, &mut state, &s, &mut remembered);
        for e in state.values() {
            if let Some(id) = &e.graph_user_id && let Some(n) = numbers.get(id) {
                prop_assert_eq!(n, &e.number, "restored user got another number");
            }
        }
    }
}

#[test]
fn skip_reasons_read_like_the_console_shows_them() {
    assert_eq!(
        SkipReason::NumberConflict {
            number: "105".into()
        }
        .to_string(),
        "number conflict with 105"
    );
    assert_eq!(SkipReason::DisabledMember.to_string(), "disabled member");
}

#[test]
fn adoption_by_email_instead_of_duplicate() {
    let local = Extension {
        number: "200".into(),
        origin: Origin::Local,
        graph_user_id: None,
        fields: SyncedFields {
            email: "Ada@Contoso.com".into(),
            display_name: "Ada (desk)".into(),
            ..Default::default()
        },
        enabled: true,
        excluded: false,
    };
    let ada = DirectoryUser {
        id: "a".into(),
        display_name: Some("Ada Lovelace".into()),
        mail: Some("ada@contoso.com".into()),
        ..Default::default()
    };
    let plan = plan_full_sync(
        &[(ada, true)],
        &[local],
        UserSyncSettings::default(),
        HashMap::new(),
    );
    assert!(
        matches!(&plan[..], [Action::Adopt { number, .. }] if number == "200"),
        "{plan:?}"
    );
}

#[test]
fn attribute_number_conflict_is_reported_not_renumbered() {
    let holder = Extension {
        number: "105".into(),
        origin: Origin::Local,
        graph_user_id: None,
        fields: SyncedFields::default(),
        enabled: true,
        excluded: false,
    };
    let u = DirectoryUser {
        id: "a".into(),
        employee_id: Some("105".into()),
        ..Default::default()
    };
    let settings = UserSyncSettings {
        numbering: NumberingRule::FromAttribute(NumberSource::EmployeeId),
        ..Default::default()
    };
    let plan = plan_full_sync(&[(u, true)], &[holder], settings, HashMap::new());
    assert!(
        matches!(&plan[..], [Action::Skip { reason: SkipReason::NumberConflict { number }, .. }] if number == "105"),
        "{plan:?}"
    );
}

#[test]
fn settings_saved_before_the_department_and_caller_id_options_still_load() {
    let stored = serde_json::json!({
        "enabled": true,
        "scope": {"mode": "all"},
        "include_guests": false,
        "numbering_start": 100,
        "numbering": {"rule": "first_free"},
        "removal": "disable",
        "poll_interval_secs": 60,
        "daily_full_sync_at": "02:00",
        "time_zone": "UTC"
    });
    let config: switchboard_core::users::UserSyncConfig = serde_json::from_value(stored).unwrap();
    assert_eq!(config, switchboard_core::users::UserSyncConfig::default());
    assert!(!config.plan.department_groups);
    assert!(!config.plan.business_phone_as_caller_id);
}
