//! The XML of WebDAV: request bodies parsed into a small namespace-resolved tree (clients pick
//! their own prefixes, or none, so only namespace + local name count), and the multistatus
//! responses written with fixed prefixes.

use quick_xml::NsReader;
use quick_xml::XmlVersion;
use quick_xml::escape::{escape, partial_escape, resolve_predefined_entity};
use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use std::fmt::Write;

pub(crate) const DAV: &str = "DAV:";
pub(crate) const CARDDAV: &str = "urn:ietf:params:xml:ns:carddav";
/// Apple's CalendarServer namespace: `getctag` lives there.
pub(crate) const CALSERVER: &str = "http://calendarserver.org/ns/";
/// Deeper requests are refused (real ones are 5 levels deep); this also bounds recursion.
const MAX_DEPTH: usize = 32;

/// A namespace-qualified element name.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct Name {
    pub(crate) ns: String,
    pub(crate) local: String,
}

impl Name {
    pub(crate) fn new(ns: &str, local: &str) -> Self {
        Self {
            ns: ns.to_owned(),
            local: local.to_owned(),
        }
    }
    pub(crate) fn is(&self, ns: &str, local: &str) -> bool {
        self.ns == ns && self.local == local
    }
}

/// An element of a request body.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Element {
    pub(crate) name: Name,
    /// Attributes by local name (DAV attributes are unqualified).
    pub(crate) attrs: Vec<(String, String)>,
    pub(crate) children: Vec<Element>,
    /// The element's own text, concatenated.
    pub(crate) text: String,
}

impl Element {
    pub(crate) fn is(&self, ns: &str, local: &str) -> bool {
        self.name.is(ns, local)
    }
    pub(crate) fn child(&self, ns: &str, local: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.is(ns, local))
    }
    pub(crate) fn children_named<'a>(
        &'a self,
        ns: &'a str,
        local: &'a str,
    ) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.is(ns, local))
    }
    pub(crate) fn attr(&self, local: &str) -> Option<&str> {
        self.attrs
            .iter()
            .find(|(k, _)| k == local)
            .map(|(_, v)| v.as_str())
    }
}

/// Why a body is not usable XML (answered with `400`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct XmlError(String);

fn bad(message: impl Into<String>) -> XmlError {
    XmlError(message.into())
}

/// Parses a request body. No DTDs (and so no custom entities) are accepted.
pub(crate) fn parse(body: &[u8]) -> Result<Element, XmlError> {
    let text = std::str::from_utf8(body).map_err(|_| bad("the XML body is not UTF-8"))?;
    let mut reader = NsReader::from_str(text);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let (ns, event) = reader
            .read_resolved_event()
            .map_err(|e| bad(format!("the XML body is not well-formed: {e}")))?;
        let ns = match ns {
            ResolveResult::Bound(ns) => ns.as_ref().to_owned(),
            ResolveResult::Unbound => String::new(),
            ResolveResult::Unknown(prefix) => {
                return Err(bad(format!("undeclared namespace prefix `{prefix}`")));
            }
        };
        let empty = matches!(event, Event::Empty(_));
        match event {
            Event::Start(start) | Event::Empty(start) => {
                if root.is_some() && stack.is_empty() {
                    return Err(bad("the XML body has more than one root element"));
                }
                stack.push(open(&start, ns)?);
                if stack.len() > MAX_DEPTH {
                    return Err(bad("the XML body is nested too deeply"));
                }
                if empty {
                    close(&mut stack, &mut root);
                }
            }
            Event::End(_) => close(&mut stack, &mut root),
            Event::Text(t) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&t.xml10_content());
                }
            }
            Event::CData(c) => {
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&c.xml10_content());
                }
            }
            Event::GeneralRef(r) => {
                let resolved = match r
                    .resolve_char_ref()
                    .map_err(|e| bad(format!("bad character reference: {e}")))?
                {
                    Some(c) => c.to_string(),
                    None => resolve_predefined_entity(&r)
                        .ok_or_else(|| bad(format!("unknown entity `&{};`", &*r)))?
                        .to_owned(),
                };
                if let Some(top) = stack.last_mut() {
                    top.text.push_str(&resolved);
                }
            }
            Event::DocType(_) => return Err(bad("DOCTYPE declarations are not accepted")),
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(bad("the XML body ends inside an element"));
    }
    root.ok_or_else(|| bad("the XML body has no root element"))
}

/// A new element from its start tag; `ns` is its resolved namespace.
fn open(start: &BytesStart<'_>, ns: String) -> Result<Element, XmlError> {
    let local = start.local_name().as_ref().to_owned();
    let mut attrs = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| bad(format!("bad attribute: {e}")))?;
        let key = attr.key.as_ref();
        if key == "xmlns" || key.starts_with("xmlns:") {
            continue;
        }
        let key = attr.key.local_name().as_ref().to_owned();
        let value = attr
            .normalized_value(XmlVersion::Implicit1_0)
            .map_err(|e| bad(format!("bad attribute value: {e}")))?
            .into_owned();
        attrs.push((key, value));
    }
    Ok(Element {
        name: Name { ns, local },
        attrs,
        children: Vec::new(),
        text: String::new(),
    })
}

/// Ends the innermost open element: into its parent, or as the root.
fn close(stack: &mut Vec<Element>, root: &mut Option<Element>) {
    if let Some(done) = stack.pop() {
        match stack.last_mut() {
            Some(parent) => parent.children.push(done),
            None => *root = Some(done),
        }
    }
}

/// Text for an XML body: characters XML 1.0 cannot carry are dropped, `&`, `<` and `>` are
/// escaped (quotes need not be in text, and ETags read better without), and CR is written as
/// `&#13;` so that vCard line ends (CRLF) survive the XML parser.
pub(crate) fn escape_text(value: &str) -> String {
    let kept: String = value
        .chars()
        .filter(|c| {
            !((*c < '\u{20}' && !matches!(c, '\t' | '\n' | '\r'))
                || matches!(c, '\u{fffe}' | '\u{ffff}'))
        })
        .collect();
    partial_escape(kept.as_str()).replace('\r', "&#13;")
}

/// The prefix used for a namespace in responses (declared on the root element).
fn prefix(ns: &str) -> Option<&'static str> {
    match ns {
        DAV => Some("d"),
        CARDDAV => Some("card"),
        CALSERVER => Some("cs"),
        _ => None,
    }
}

/// `<d:href>…</d:href>`.
pub(crate) fn href(path: &str) -> String {
    format!("<d:href>{}</d:href>", escape_text(path))
}

/// An element of a known namespace with inner XML (`""` for an empty element).
pub(crate) fn element(ns: &str, local: &str, inner: &str) -> String {
    let mut out = String::new();
    write_element(&mut out, &Name::new(ns, local), inner);
    out
}

/// Writes `name` with `inner`: known namespaces with their prefix, others with a local
/// declaration, so any property a client asked for can be echoed back.
fn write_element(out: &mut String, name: &Name, inner: &str) {
    let (open, close) = match prefix(&name.ns) {
        Some(p) => (format!("{p}:{}", name.local), format!("{p}:{}", name.local)),
        None if name.ns.is_empty() => (format!("{} xmlns=\"\"", name.local), name.local.clone()),
        None => (
            format!("x:{} xmlns:x=\"{}\"", name.local, escape(name.ns.as_str())),
            format!("x:{}", name.local),
        ),
    };
    if inner.is_empty() {
        let _ = write!(out, "<{open}/>");
    } else {
        let _ = write!(out, "<{open}>{inner}</{close}>");
    }
}

fn status_line(status: axum::http::StatusCode) -> String {
    format!(
        "<d:status>HTTP/1.1 {} {}</d:status>",
        status.as_u16(),
        status.canonical_reason().unwrap_or("")
    )
}

/// A `207 Multi-Status` body being written.
#[derive(Debug)]
pub(crate) struct Multistatus {
    out: String,
}

impl Default for Multistatus {
    fn default() -> Self {
        Self::new()
    }
}

impl Multistatus {
    pub(crate) fn new() -> Self {
        Self {
            out: format!(
                "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:multistatus xmlns:d=\"{DAV}\" xmlns:card=\"{CARDDAV}\" xmlns:cs=\"{CALSERVER}\">\n"
            ),
        }
    }

    /// One resource with the properties found (name, inner XML) and those it does not have.
    pub(crate) fn response(&mut self, path: &str, found: &[(Name, String)], missing: &[Name]) {
        let _ = write!(self.out, "<d:response>{}", href(path));
        for (props, status) in [
            (
                found
                    .iter()
                    .map(|(n, v)| (n, v.as_str()))
                    .collect::<Vec<_>>(),
                axum::http::StatusCode::OK,
            ),
            (
                missing.iter().map(|n| (n, "")).collect::<Vec<_>>(),
                axum::http::StatusCode::NOT_FOUND,
            ),
        ] {
            if props.is_empty() {
                continue;
            }
            self.out.push_str("<d:propstat><d:prop>");
            for (name, inner) in props {
                write_element(&mut self.out, name, inner);
            }
            let _ = write!(self.out, "</d:prop>{}</d:propstat>", status_line(status));
        }
        self.out.push_str("</d:response>\n");
    }

    /// A resource answered with a status only (e.g. `404` for an unknown multiget href).
    pub(crate) fn status(&mut self, path: &str, status: axum::http::StatusCode) {
        let _ = writeln!(
            self.out,
            "<d:response>{}{}</d:response>",
            href(path),
            status_line(status)
        );
    }

    /// The body, with the sync token of a sync-collection report when given.
    pub(crate) fn finish(mut self, sync_token: Option<&str>) -> String {
        if let Some(token) = sync_token {
            let _ = writeln!(
                self.out,
                "<d:sync-token>{}</d:sync-token>",
                escape_text(token)
            );
        }
        self.out.push_str("</d:multistatus>\n");
        self.out
    }
}

/// A `DAV:error` body naming the precondition that failed (RFC 4918 §16).
pub(crate) fn error_body(ns: &str, condition: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<d:error xmlns:d=\"{DAV}\" xmlns:card=\"{CARDDAV}\">{}</d:error>\n",
        element(ns, condition, "")
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn namespaces_resolve_whatever_the_prefixes() {
        for body in [
            r#"<propfind xmlns="DAV:"><prop><resourcetype/><C:getctag xmlns:C="http://calendarserver.org/ns/"/></prop></propfind>"#,
            r#"<?xml version="1.0"?><D:propfind xmlns:D="DAV:" xmlns:x="http://calendarserver.org/ns/"><D:prop><D:resourcetype/><x:getctag/></D:prop></D:propfind>"#,
        ] {
            let root = parse(body.as_bytes()).unwrap();
            assert!(root.is(DAV, "propfind"), "{body}");
            let prop = root.child(DAV, "prop").unwrap();
            let names: Vec<_> = prop.children.iter().map(|c| c.name.clone()).collect();
            assert_eq!(
                names,
                vec![
                    Name::new(DAV, "resourcetype"),
                    Name::new(CALSERVER, "getctag")
                ]
            );
        }
    }

    #[test]
    fn text_and_attributes_are_unescaped() {
        let root =
            parse(br#"<a xmlns="urn:x" m="a&amp;b"><b>x &lt; y &#233;<![CDATA[<raw>]]></b></a>"#)
                .unwrap();
        assert_eq!(root.attr("m"), Some("a&b"));
        assert_eq!(root.children[0].text, "x < y \u{e9}<raw>");
        assert_eq!(root.children[0].name, Name::new("urn:x", "b"));
    }

    #[test]
    fn bad_bodies_are_refused() {
        for body in [
            &b"<a><b></a>"[..],
            b"",
            b"not xml",
            b"<x:a/>",
            b"<a/><b/>",
            b"<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>",
            b"<a>&unknown;</a>",
            b"\xff\xfe",
        ] {
            assert!(parse(body).is_err(), "{}", String::from_utf8_lossy(body));
        }
        let deep = "<a>".repeat(100) + &"</a>".repeat(100);
        assert!(parse(deep.as_bytes()).is_err());
    }

    #[test]
    fn escaping_keeps_crlf_and_drops_control_characters() {
        assert_eq!(escape_text("a<b>&\r\n\u{1}"), "a&lt;b&gt;&amp;&#13;\n");
    }

    #[test]
    fn unknown_namespaces_are_declared_locally() {
        assert_eq!(
            element("urn:other", "x", ""),
            "<x:x xmlns:x=\"urn:other\"/>"
        );
        assert_eq!(element("", "x", ""), "<x xmlns=\"\"/>");
        assert_eq!(element(DAV, "href", "/a"), "<d:href>/a</d:href>");
    }
}
