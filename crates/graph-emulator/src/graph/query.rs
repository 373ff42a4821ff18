//! OData query options: names are case-insensitive and the `$` is optional (§7).

use super::errors::GraphError;

#[derive(Debug, Default)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

impl Query {
    pub fn parse(raw: Option<&str>) -> Query {
        let pairs = raw
            .map(|q| {
                url::form_urlencoded::parse(q.as_bytes())
                    .map(|(k, v)| (k.into_owned(), v.into_owned()))
                    .collect()
            })
            .unwrap_or_default();
        Query { pairs }
    }

    /// Value of `$name` (or `name`), case-insensitive.
    pub fn option(&self, name: &str) -> Option<&str> {
        self.pairs.iter().find_map(|(k, v)| {
            let k = k.strip_prefix('$').unwrap_or(k);
            k.eq_ignore_ascii_case(name).then_some(v.as_str())
        })
    }

    /// Resolves `$select` against a type's properties: canonical names in request order,
    /// `None` without `$select`, 400 for an unknown property.
    pub fn select(
        &self,
        type_name: &str,
        properties: &[&'static str],
    ) -> Result<Option<Vec<&'static str>>, GraphError> {
        let Some(raw) = self.option("select") else {
            return Ok(None);
        };
        let mut out = Vec::new();
        for item in raw.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let Some(name) = properties.iter().find(|p| p.eq_ignore_ascii_case(item)) else {
                return Err(GraphError::bad_request(format!(
                    "Could not find a property named '{item}' on type '{type_name}'."
                )));
            };
            if !out.contains(name) {
                out.push(*name);
            }
        }
        Ok((!out.is_empty()).then_some(out))
    }
}
