//! A strict, streaming walk over an XML member: start/end tags with their attributes (unescaped)
//! and text, depth tracked, end tags checked against start tags, and a document that ends inside
//! an element refused. Any XML error becomes [`ErrorKind::MalformedXml`] naming the member. No
//! DTD or custom entity is ever expanded (quick-xml resolves only the five predefined entities and
//! character references), so entity-expansion bombs cannot grow.

use std::io::BufRead;

use quick_xml::Reader;
use quick_xml::events::{BytesRef, BytesStart, Event};

use crate::error::{Error, ErrorKind};

/// One step of the walk. `depth` is 1 for the root element.
#[derive(Debug)]
pub(crate) enum Ev<'a> {
    Open {
        name: &'a str,
        attrs: &'a [(String, String)],
        depth: usize,
    },
    Close {
        name: &'a str,
        depth: usize,
    },
    Text {
        text: &'a str,
        depth: usize,
    },
}

/// The value of attribute `key`, if present.
pub(crate) fn attr<'a>(attrs: &'a [(String, String)], key: &str) -> Option<&'a str> {
    attrs
        .iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
}

/// Walk `input`, calling `on` for every element boundary and text run.
pub(crate) fn walk(
    input: &mut dyn BufRead,
    entry: &str,
    mut on: impl FnMut(Ev<'_>),
) -> Result<(), Error> {
    let bad = |cause: String| {
        Error::with_cause(
            ErrorKind::MalformedXml {
                entry: entry.to_owned(),
            },
            cause,
        )
    };
    let mut reader = Reader::from_reader(input);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    let mut buf = Vec::new();
    let mut stack: Vec<String> = Vec::new();
    let mut attrs: Vec<(String, String)> = Vec::new();
    let mut saw_root = false;
    loop {
        buf.clear();
        let event = reader.read_event_into(&mut buf).map_err(|e| match e {
            // The member's bytes could not be inflated: damage (or a limit, which the archive
            // layer reports in place of this error), not bad XML.
            quick_xml::Error::Io(io) => Error::with_cause(ErrorKind::Corrupt, io),
            other => bad(other.to_string()),
        })?;
        match event {
            Event::Start(e) | Event::Empty(e) if stack.is_empty() && saw_root => {
                return Err(bad(format!("second root element {}", local(&e))));
            }
            Event::Start(e) => {
                saw_root = true;
                read_attrs(&e, &mut attrs).map_err(bad)?;
                let name = local(&e);
                stack.push(name.clone());
                on(Ev::Open {
                    name: &name,
                    attrs: &attrs,
                    depth: stack.len(),
                });
            }
            Event::Empty(e) => {
                saw_root = true;
                read_attrs(&e, &mut attrs).map_err(bad)?;
                let name = local(&e);
                let depth = stack.len() + 1;
                on(Ev::Open {
                    name: &name,
                    attrs: &attrs,
                    depth,
                });
                on(Ev::Close { name: &name, depth });
            }
            Event::End(_) => {
                let depth = stack.len();
                let Some(name) = stack.pop() else {
                    return Err(bad("end tag without start".into()));
                };
                on(Ev::Close { name: &name, depth });
            }
            Event::Text(t) => {
                let text = t.xml10_content();
                on(Ev::Text {
                    text: &text,
                    depth: stack.len(),
                });
            }
            Event::CData(t) => {
                let text = t.xml10_content();
                on(Ev::Text {
                    text: &text,
                    depth: stack.len(),
                });
            }
            Event::GeneralRef(r) => {
                let text = resolve(&r).map_err(bad)?;
                on(Ev::Text {
                    text: &text,
                    depth: stack.len(),
                });
            }
            Event::Eof => break,
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) | Event::DocType(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(bad(format!("document ends inside <{}>", stack.join("><"))));
    }
    if !saw_root {
        return Err(bad("no root element".into()));
    }
    Ok(())
}

fn local(e: &BytesStart<'_>) -> String {
    e.local_name().as_ref().to_owned()
}

fn read_attrs(e: &BytesStart<'_>, out: &mut Vec<(String, String)>) -> Result<(), String> {
    out.clear();
    for a in e.attributes() {
        let a = a.map_err(|e| e.to_string())?;
        let key = a.key.local_name().as_ref().to_owned();
        let value = a
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| e.to_string())?
            .into_owned();
        out.push((key, value));
    }
    Ok(())
}

fn resolve(r: &BytesRef<'_>) -> Result<String, String> {
    if r.is_char_ref() {
        return match r.resolve_char_ref() {
            Ok(Some(c)) => Ok(c.to_string()),
            Ok(None) => Err("empty character reference".into()),
            Err(e) => Err(e.to_string()),
        };
    }
    let name = r.xml10_content();
    match quick_xml::escape::resolve_predefined_entity(&name) {
        Some(s) => Ok(s.to_owned()),
        None => Err(format!("unknown entity &{name};")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(xml: &str) -> Result<Vec<String>, Error> {
        let mut out = Vec::new();
        walk(&mut xml.as_bytes(), "t.xml", |ev| match ev {
            Ev::Open { name, attrs, depth } => out.push(format!("+{name}@{depth}{attrs:?}")),
            Ev::Close { name, depth } => out.push(format!("-{name}@{depth}")),
            Ev::Text { text, .. } => {
                if !text.trim().is_empty() {
                    out.push(format!("'{text}'"));
                }
            }
        })?;
        Ok(out)
    }

    #[test]
    fn walks_and_unescapes() {
        let got = run(r#"<?xml version="1.0"?><a k="x&amp;y"><b/>t&lt;&#65;</a>"#).ok();
        assert_eq!(
            got,
            Some(vec![
                r#"+a@1[("k", "x&y")]"#.to_owned(),
                "+b@2[]".into(),
                "-b@2".into(),
                "'t'".into(),
                "'<'".into(),
                "'A'".into(),
                "-a@1".into(),
            ])
        );
    }

    #[test]
    fn malformed_documents_are_refused() {
        for bad in [
            "",
            "<a>",
            "<a></b>",
            "<a/><b/>",
            "</a>",
            "<a k='1' k='2'/>",
            "<a>&ent;</a>",
            "<a k='&x;'/>",
            "<a",
        ] {
            let e = run(bad).err().map(|e| e.kind().clone());
            assert_eq!(
                e,
                Some(ErrorKind::MalformedXml {
                    entry: "t.xml".into()
                }),
                "{bad}"
            );
        }
    }
}
