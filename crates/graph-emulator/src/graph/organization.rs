//! `GET /v1.0/organization` (G `api/organization-get.md`, `resources/organization.md`).

use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use serde_json::{Map, Value, json};

use super::auth;
use super::headers::GraphCtx;
use super::query::Query;
use crate::clock::graph_date_time;
use crate::state::{AppState, Tenant};

/// Any one of these lets an app read the organization.
const READ_ROLES: &[&str] = &[
    "Organization.Read.All",
    "Organization.ReadWrite.All",
    "Directory.Read.All",
    "Directory.ReadWrite.All",
    "User.Read.All",
];

const PROPERTIES: &[&str] = &[
    "id",
    "deletedDateTime",
    "assignedPlans",
    "businessPhones",
    "city",
    "country",
    "countryLetterCode",
    "createdDateTime",
    "defaultUsageLocation",
    "displayName",
    "marketingNotificationEmails",
    "onPremisesLastSyncDateTime",
    "onPremisesSyncEnabled",
    "postalCode",
    "preferredLanguage",
    "privacyProfile",
    "provisionedPlans",
    "securityComplianceNotificationMails",
    "securityComplianceNotificationPhones",
    "state",
    "street",
    "technicalNotificationMails",
    "tenantType",
    "verifiedDomains",
];

pub async fn list(
    State(state): State<AppState>,
    ctx: GraphCtx,
    headers: HeaderMap,
    RawQuery(raw): RawQuery,
) -> Response {
    if let Err(e) = auth::authorize(&state, &ctx, &headers, READ_ROLES) {
        return e.render(&ctx);
    }
    let query = Query::parse(raw.as_deref());
    let select = match query.select("microsoft.graph.organization", PROPERTIES) {
        Ok(s) => s,
        Err(e) => return e.render(&ctx),
    };
    let org = organization(&state.tenant());
    let (context, item) = match &select {
        None => (format!("{}/v1.0/$metadata#organization", ctx.base), org),
        Some(names) => {
            let picked: Map<String, Value> = names
                .iter()
                .map(|n| ((*n).to_owned(), org.get(*n).cloned().unwrap_or(Value::Null)))
                .collect();
            (
                format!(
                    "{}/v1.0/$metadata#organization({})",
                    ctx.base,
                    names.join(",")
                ),
                picked,
            )
        }
    };
    let body = json!({ "@odata.context": context, "value": [item] });
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn organization(tenant: &Tenant) -> Map<String, Value> {
    let value = json!({
        "id": tenant.id,
        "deletedDateTime": null,
        "businessPhones": ["+1 425 555 0100"],
        "city": "Redmond",
        "country": null,
        "countryLetterCode": "US",
        "createdDateTime": graph_date_time(tenant.created),
        "defaultUsageLocation": null,
        "displayName": tenant.display_name,
        "marketingNotificationEmails": [],
        "onPremisesLastSyncDateTime": null,
        "onPremisesSyncEnabled": null,
        "postalCode": "98052",
        "preferredLanguage": "en",
        "securityComplianceNotificationMails": [],
        "securityComplianceNotificationPhones": [],
        "state": "WA",
        "street": "1 Microsoft Way",
        "technicalNotificationMails": [format!("admin@{}", tenant.domain)],
        "tenantType": "AAD",
        "assignedPlans": [],
        "provisionedPlans": [],
        "privacyProfile": null,
        "verifiedDomains": [{
            "capabilities": "Email, OfficeCommunicationsOnline",
            "isDefault": true,
            "isInitial": true,
            "name": tenant.domain,
            "type": "Managed"
        }]
    });
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}
