//! The `$filter` and `$search` subset directory objects support (§2.1, §2.2).
//!
//! `$filter`: `eq`, `ne`, `not`, `in`, `startsWith`, `endsWith`, `and`, `or`, parentheses,
//! string/boolean/`null` literals. Which property takes which operator, and which operators
//! need `ConsistencyLevel: eventual`, comes from the resource's field table. String
//! comparisons ignore case, as the directory does.
//!
//! `$search`: `"property:term"` clauses joined by `AND`/`OR`; a term matches the start of
//! any word of the value (a word starts after a space or punctuation) [inf, Graph tokenises].

use axum::http::StatusCode;
use uuid::Uuid;

use super::errors::GraphError;
use crate::directory::eq_ignore_case;
use crate::directory::props::filter as ops;

/// How a resource's property may be filtered.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    /// Resource-specific field number, handed back to [`Record`].
    pub id: u8,
    pub kind: FieldKind,
    /// [`ops`] flags; 0 = not filterable.
    pub ops: u8,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FieldKind {
    Text,
    Bool,
    /// The object id (a GUID).
    Id,
}

/// A resource's filterable shape.
pub trait Schema {
    /// `microsoft.graph.user`, for "Could not find a property…".
    fn type_name(&self) -> &'static str;
    /// `User`, for "Unsupported or invalid query filter clause…".
    fn resource(&self) -> &'static str;
    /// Canonical name and field of a property (case-insensitive); `None` = no such property.
    fn field(&self, name: &str) -> Option<(&'static str, Field)>;
    /// Whether `$search` may use this field.
    fn searchable(&self, field: &Field) -> bool;
}

/// What a filter or search reads from an object.
pub trait Record {
    fn text(&self, field: u8) -> Option<&str>;
    fn boolean(&self, field: u8) -> Option<bool>;
    fn id(&self) -> Uuid;
}

#[derive(Debug, Clone, PartialEq)]
pub enum Lit {
    /// Lower-cased for comparison.
    Str(String),
    Bool(bool),
    Id(Uuid),
    Null,
}

#[derive(Debug, Clone)]
pub enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Eq(Field, Lit),
    Ne(Field, Lit),
    In(Field, Vec<Lit>),
    StartsWith(Field, String),
    EndsWith(Field, String),
    /// A `$search` clause: a word of the field starts with the (lower-case) term.
    Search(Field, String),
}

/// A parsed `$filter` or `$search`, with whether it needs advanced queries.
#[derive(Debug, Clone)]
pub struct Parsed {
    pub expr: Expr,
    pub advanced: bool,
}

pub fn invalid_filter() -> GraphError {
    // [obs] e.g. `accountEnabled eq 'true'` (a quoted boolean).
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "BadRequest",
        "Invalid filter clause",
    )
}

pub fn unsupported_query() -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        "Unsupported Query.",
    )
}

fn unsupported_property(schema: &dyn Schema, name: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "Request_UnsupportedQuery",
        format!(
            "Unsupported or invalid query filter clause specified for property '{name}' of resource '{}'.",
            schema.resource()
        ),
    )
}

pub fn unknown_property(type_name: &str, name: &str) -> GraphError {
    GraphError::new(
        StatusCode::BAD_REQUEST,
        "Request_BadRequest",
        format!("Could not find a property named '{name}' on type '{type_name}'."),
    )
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Ident(String),
    Str(String),
    Open,
    Close,
    Comma,
}

fn tokenize(text: &str) -> Result<Vec<Tok>, GraphError> {
    let mut out = Vec::new();
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            c if c.is_whitespace() => {}
            '(' => out.push(Tok::Open),
            ')' => out.push(Tok::Close),
            ',' => out.push(Tok::Comma),
            '\'' => {
                let mut s = String::new();
                loop {
                    match chars.next() {
                        Some((_, '\'')) => {
                            if chars.peek().is_some_and(|(_, c)| *c == '\'') {
                                chars.next();
                                s.push('\'');
                            } else {
                                break;
                            }
                        }
                        Some((_, c)) => s.push(c),
                        None => return Err(invalid_filter()),
                    }
                }
                out.push(Tok::Str(s));
            }
            c if c.is_alphanumeric() || c == '_' || c == '-' => {
                let mut end = i + c.len_utf8();
                while let Some((j, c)) = chars.peek().copied() {
                    if c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | '/' | ':') {
                        end = j + c.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                out.push(Tok::Ident(text[i..end].to_owned()));
            }
            _ => return Err(invalid_filter()),
        }
    }
    Ok(out)
}

struct Parser<'a> {
    toks: Vec<Tok>,
    pos: usize,
    schema: &'a dyn Schema,
    advanced: bool,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn keyword(&self, word: &str) -> bool {
        matches!(self.peek(), Some(Tok::Ident(w)) if w.eq_ignore_ascii_case(word))
    }

    fn expect(&mut self, tok: Tok) -> Result<(), GraphError> {
        if self.next() == Some(tok) {
            Ok(())
        } else {
            Err(invalid_filter())
        }
    }

    fn or(&mut self) -> Result<Expr, GraphError> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Expr, GraphError> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, GraphError> {
        if self.keyword("not") {
            self.pos += 1;
            self.advanced = true;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        if self.peek() == Some(&Tok::Open) {
            self.pos += 1;
            let e = self.or()?;
            self.expect(Tok::Close)?;
            return Ok(e);
        }
        let Some(Tok::Ident(word)) = self.next() else {
            return Err(invalid_filter());
        };
        if self.peek() == Some(&Tok::Open) {
            return self.function(&word);
        }
        let field = self.field(&word)?;
        let Some(Tok::Ident(op)) = self.next() else {
            return Err(invalid_filter());
        };
        let op = op.to_ascii_lowercase();
        if op == "in" {
            self.require(&word, field, ops::EQ)?;
            self.expect(Tok::Open)?;
            let mut values = Vec::new();
            loop {
                values.push(self.literal(field)?);
                match self.next() {
                    Some(Tok::Comma) => continue,
                    Some(Tok::Close) => break,
                    _ => return Err(invalid_filter()),
                }
            }
            return Ok(Expr::In(field, values));
        }
        match op.as_str() {
            "eq" | "ne" => {
                self.require(&word, field, ops::EQ)?;
                let value = self.literal(field)?;
                if op == "eq" {
                    Ok(Expr::Eq(field, value))
                } else {
                    self.advanced = true;
                    Ok(Expr::Ne(field, value))
                }
            }
            // Range operators exist in OData but not in this emulator [inf].
            "ge" | "le" | "gt" | "lt" => Err(unsupported_property(self.schema, &word)),
            _ => Err(invalid_filter()),
        }
    }

    fn function(&mut self, name: &str) -> Result<Expr, GraphError> {
        let lower = name.to_ascii_lowercase();
        if lower != "startswith" && lower != "endswith" {
            return Err(invalid_filter());
        }
        self.expect(Tok::Open)?;
        let Some(Tok::Ident(prop)) = self.next() else {
            return Err(invalid_filter());
        };
        let field = self.field(&prop)?;
        self.expect(Tok::Comma)?;
        let Some(Tok::Str(value)) = self.next() else {
            return Err(invalid_filter());
        };
        self.expect(Tok::Close)?;
        if field.kind != FieldKind::Text {
            return Err(invalid_filter());
        }
        if lower == "startswith" {
            self.require(&prop, field, ops::STARTS_WITH)?;
            Ok(Expr::StartsWith(field, value.to_lowercase()))
        } else {
            // endsWith always needs advanced queries (§2.2).
            self.advanced = true;
            self.require(&prop, field, ops::ENDS_WITH)?;
            Ok(Expr::EndsWith(field, value.to_lowercase()))
        }
    }

    fn field(&self, name: &str) -> Result<Field, GraphError> {
        self.schema
            .field(name)
            .map(|(_, f)| f)
            .ok_or_else(|| unknown_property(self.schema.type_name(), name))
    }

    fn require(&mut self, name: &str, field: Field, op: u8) -> Result<(), GraphError> {
        if field.ops & op == 0 {
            let canonical = self.schema.field(name).map_or(name, |(n, _)| n);
            return Err(unsupported_property(self.schema, canonical));
        }
        if field.ops & ops::ADVANCED_ONLY != 0 {
            self.advanced = true;
        }
        Ok(())
    }

    fn literal(&mut self, field: Field) -> Result<Lit, GraphError> {
        let lit = match self.next() {
            Some(Tok::Str(s)) => match field.kind {
                FieldKind::Text => Lit::Str(s.to_lowercase()),
                FieldKind::Id => match Uuid::parse_str(&s) {
                    Ok(id) => Lit::Id(id),
                    Err(_) => {
                        return Err(GraphError::new(
                            StatusCode::BAD_REQUEST,
                            "Request_BadRequest",
                            format!("Invalid object identifier '{s}'."),
                        ));
                    }
                },
                FieldKind::Bool => return Err(invalid_filter()),
            },
            Some(Tok::Ident(w)) if w.eq_ignore_ascii_case("null") => Lit::Null,
            Some(Tok::Ident(w)) if field.kind == FieldKind::Bool => match w.as_str() {
                "true" => Lit::Bool(true),
                "false" => Lit::Bool(false),
                _ => return Err(invalid_filter()),
            },
            _ => return Err(invalid_filter()),
        };
        Ok(lit)
    }
}

/// Parses `$filter`.
pub fn parse_filter(text: &str, schema: &dyn Schema) -> Result<Parsed, GraphError> {
    let toks = tokenize(text)?;
    if toks.is_empty() {
        return Err(invalid_filter());
    }
    let mut p = Parser {
        toks,
        pos: 0,
        schema,
        advanced: false,
    };
    let expr = p.or()?;
    if p.pos != p.toks.len() {
        return Err(invalid_filter());
    }
    Ok(Parsed {
        expr,
        advanced: p.advanced,
    })
}

fn search_error(message: &str) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "Request_UnsupportedQuery", message)
}

/// Parses `$search` (`"displayName:wa" OR "mail:wa"`).
pub fn parse_search(text: &str, schema: &dyn Schema) -> Result<Expr, GraphError> {
    let mut rest = text.trim();
    let mut clauses: Vec<Expr> = Vec::new();
    let mut joins: Vec<bool> = Vec::new(); // true = AND
    loop {
        let Some(body) = rest.strip_prefix('"') else {
            return Err(search_error(
                "Syntax error: the $search value must be one or more quoted \"property:term\" clauses.",
            ));
        };
        let Some(end) = body.find('"') else {
            return Err(search_error("Syntax error: unterminated quote in $search."));
        };
        let clause = &body[..end];
        let Some((prop, term)) = clause.split_once(':') else {
            return Err(search_error(
                "Syntax error: a $search clause is \"property:term\".",
            ));
        };
        let Some((_, field)) = schema.field(prop.trim()) else {
            return Err(unknown_property(schema.type_name(), prop.trim()));
        };
        if !schema.searchable(&field) {
            return Err(search_error(&format!(
                "The property '{}' does not support $search.",
                prop.trim()
            )));
        }
        clauses.push(Expr::Search(field, term.trim().to_lowercase()));
        rest = body[end + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        let (word, after) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
        match word {
            "AND" => joins.push(true),
            "OR" => joins.push(false),
            _ => {
                return Err(search_error(
                    "Syntax error: join $search clauses with AND or OR.",
                ));
            }
        }
        rest = after.trim_start();
    }
    // AND binds tighter than OR.
    let mut ors: Vec<Expr> = Vec::new();
    let mut clauses = clauses.into_iter();
    let mut current = clauses
        .next()
        .ok_or_else(|| search_error("Empty $search."))?;
    for (and, next) in joins.into_iter().zip(clauses) {
        if and {
            current = Expr::And(Box::new(current), Box::new(next));
        } else {
            ors.push(std::mem::replace(&mut current, next));
        }
    }
    Ok(ors
        .into_iter()
        .rev()
        .fold(current, |acc, e| Expr::Or(Box::new(e), Box::new(acc))))
}

fn starts_with_ci(hay: &str, lower_prefix: &str) -> bool {
    if hay.is_ascii() && lower_prefix.is_ascii() {
        return hay.len() >= lower_prefix.len()
            && hay.as_bytes()[..lower_prefix.len()].eq_ignore_ascii_case(lower_prefix.as_bytes());
    }
    let mut h = hay.chars().flat_map(char::to_lowercase);
    lower_prefix.chars().all(|c| h.next() == Some(c))
}

fn ends_with_ci(hay: &str, lower_suffix: &str) -> bool {
    hay.to_lowercase().ends_with(lower_suffix)
}

fn word_prefix(hay: &str, lower_term: &str) -> bool {
    if lower_term.is_empty() {
        return true;
    }
    let hay = hay.to_lowercase();
    let mut boundary = true;
    for (i, c) in hay.char_indices() {
        if boundary && hay[i..].starts_with(lower_term) {
            return true;
        }
        boundary = !c.is_alphanumeric();
    }
    false
}

fn lit_matches(record: &dyn Record, field: Field, lit: &Lit) -> bool {
    match (field.kind, lit) {
        (FieldKind::Id, Lit::Id(id)) => record.id() == *id,
        (FieldKind::Id, Lit::Null) => false,
        (FieldKind::Bool, Lit::Bool(b)) => record.boolean(field.id) == Some(*b),
        (FieldKind::Bool, Lit::Null) => record.boolean(field.id).is_none(),
        (FieldKind::Text, Lit::Str(s)) => {
            record.text(field.id).is_some_and(|v| eq_ignore_case(v, s))
        }
        (FieldKind::Text, Lit::Null) => record.text(field.id).is_none(),
        _ => false,
    }
}

pub fn eval(expr: &Expr, record: &dyn Record) -> bool {
    match expr {
        Expr::And(a, b) => eval(a, record) && eval(b, record),
        Expr::Or(a, b) => eval(a, record) || eval(b, record),
        Expr::Not(e) => !eval(e, record),
        Expr::Eq(f, lit) => lit_matches(record, *f, lit),
        Expr::Ne(f, lit) => !lit_matches(record, *f, lit),
        Expr::In(f, lits) => lits.iter().any(|l| lit_matches(record, *f, l)),
        Expr::StartsWith(f, p) => record.text(f.id).is_some_and(|v| starts_with_ci(v, p)),
        Expr::EndsWith(f, s) => record.text(f.id).is_some_and(|v| ends_with_ci(v, s)),
        Expr::Search(f, t) => record.text(f.id).is_some_and(|v| word_prefix(v, t)),
    }
}

/// The ids of a filter made only of `id eq '…'` joined by `or` (and `id in (…)`), the one
/// filter users delta accepts (§2.3); `None` for anything else.
pub fn id_list(expr: &Expr) -> Option<Vec<Uuid>> {
    match expr {
        Expr::Eq(f, Lit::Id(id)) if f.kind == FieldKind::Id => Some(vec![*id]),
        Expr::In(f, lits) if f.kind == FieldKind::Id => lits
            .iter()
            .map(|l| match l {
                Lit::Id(id) => Some(*id),
                _ => None,
            })
            .collect(),
        Expr::Or(a, b) => {
            let mut ids = id_list(a)?;
            ids.extend(id_list(b)?);
            Some(ids)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Schema1;
    impl Schema for Schema1 {
        fn type_name(&self) -> &'static str {
            "microsoft.graph.user"
        }
        fn resource(&self) -> &'static str {
            "User"
        }
        fn field(&self, name: &str) -> Option<(&'static str, Field)> {
            let f = |id, kind, o| Field { id, kind, ops: o };
            match name.to_ascii_lowercase().as_str() {
                "id" => Some(("id", f(0, FieldKind::Id, ops::EQ))),
                "displayname" => Some((
                    "displayName",
                    f(1, FieldKind::Text, ops::EQ | ops::STARTS_WITH),
                )),
                "mail" => Some((
                    "mail",
                    f(
                        2,
                        FieldKind::Text,
                        ops::EQ | ops::STARTS_WITH | ops::ENDS_WITH,
                    ),
                )),
                "accountenabled" => Some(("accountEnabled", f(3, FieldKind::Bool, ops::EQ))),
                "faxnumber" => Some(("faxNumber", f(4, FieldKind::Text, 0))),
                _ => None,
            }
        }
        fn searchable(&self, field: &Field) -> bool {
            field.kind == FieldKind::Text
        }
    }

    struct Rec(&'static str, Option<&'static str>, bool);
    impl Record for Rec {
        fn text(&self, field: u8) -> Option<&str> {
            match field {
                1 => Some(self.0),
                2 => self.1,
                _ => None,
            }
        }
        fn boolean(&self, _: u8) -> Option<bool> {
            Some(self.2)
        }
        fn id(&self) -> Uuid {
            Uuid::nil()
        }
    }

    fn check(filter: &str, rec: &Rec) -> Result<(bool, bool), String> {
        parse_filter(filter, &Schema1)
            .map(|p| (eval(&p.expr, rec), p.advanced))
            .map_err(|e| format!("{} {}", e.code, e.message))
    }

    #[test]
    fn filters() {
        let adele = Rec("Adele O'Vance", Some("adele@contoso.com"), true);
        assert_eq!(
            check("startswith(displayName,'adele')", &adele),
            Ok((true, false))
        );
        assert_eq!(
            check("displayName eq 'ADELE o''vance'", &adele),
            Ok((true, false))
        );
        assert_eq!(
            check(
                "accountEnabled eq true and (mail eq null or startsWith(mail,'a'))",
                &adele
            ),
            Ok((true, false))
        );
        assert_eq!(
            check("displayName in ('x', 'Adele O''Vance')", &adele),
            Ok((true, false))
        );
        assert_eq!(check("accountEnabled ne true", &adele), Ok((false, true)));
        assert_eq!(
            check("not(accountEnabled eq false)", &adele),
            Ok((true, true))
        );
        assert_eq!(check("endsWith(mail,'.COM')", &adele), Ok((true, true)));
        assert_eq!(
            check(
                "id eq '00000000-0000-0000-0000-000000000000' or id eq '00000000-0000-0000-0000-000000000001'",
                &adele
            ),
            Ok((true, false))
        );
        assert_eq!(
            check("accountEnabled eq 'true'", &adele),
            Err("BadRequest Invalid filter clause".into())
        );
        assert_eq!(
            check("displayName eq", &adele),
            Err("BadRequest Invalid filter clause".into())
        );
        assert!(
            check("nope eq 'x'", &adele)
                .is_err_and(|e| e.contains("Could not find a property named 'nope'"))
        );
        assert!(
            check("faxnumber eq 'x'", &adele)
                .is_err_and(|e| e.contains("property 'faxNumber' of resource 'User'"))
        );
        assert!(
            check("endsWith(displayName,'x')", &adele)
                .is_err_and(|e| e.starts_with("Request_UnsupportedQuery"))
        );
    }

    #[test]
    fn searches() {
        let adele = Rec("Adele Vance-Smith", Some("adele.vance@contoso.com"), true);
        let s = |q: &str| parse_search(q, &Schema1).map(|e| eval(&e, &adele));
        assert_eq!(s("\"displayName:van\"").ok(), Some(true));
        assert_eq!(s("\"displayName:smith\"").ok(), Some(true));
        assert_eq!(s("\"displayName:ance\"").ok(), Some(false));
        assert_eq!(s("\"displayName:zz\" OR \"mail:vance\"").ok(), Some(true));
        assert_eq!(s("\"displayName:zz\" AND \"mail:vance\"").ok(), Some(false));
        assert!(s("displayName:adele").is_err());
    }
}
