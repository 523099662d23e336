//! Writing a [`Document`] or an [`Element`] with `quick-xml`'s writer, byte for byte as the
//! Python serialisers upstream's MEI jobs use:
//!
//! - [`lxml`]: lxml's `tree.write(path, xml_declaration=True, encoding="UTF-8")` without pretty
//!   printing (MEI Resizing). libxml2 writes namespace declarations before the other attributes,
//!   `<a/>` for an element without content, and top-level comments and processing instructions
//!   next to the root with nothing between them.
//! - [`etree`]: `xml.etree.ElementTree.tostring(root, encoding="utf8")` of Python 3.7, which
//!   upstream's MEI Encoding golden was made with: attributes sorted by name, `<a />` for an
//!   element without content, a single-quoted declaration naming `utf8`.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::attributes::Attribute;
use quick_xml::events::{BytesDecl, BytesEnd, BytesPI, BytesStart, BytesText, Event};
use quick_xml::name::QName;

use super::{Document, Element, Node};

/// How one serialiser escapes and orders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flavour {
    Lxml,
    Etree,
}

/// `doc` as lxml writes it with `xml_declaration=True, encoding="UTF-8"`.
pub fn lxml(doc: &Document) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    let result = (|| -> std::io::Result<()> {
        w.write_event(Event::Decl(declaration(
            "xml version='1.0' encoding='UTF-8'",
        )))?;
        w.write_event(Event::Text(BytesText::from_escaped("\n")))?;
        if let Some(doctype) = &doc.doctype {
            w.write_event(Event::DocType(BytesText::from_escaped(doctype.as_str())))?;
            w.write_event(Event::Text(BytesText::from_escaped("\n")))?;
        }
        for node in &doc.prolog {
            write_node(&mut w, node, Flavour::Lxml)?;
        }
        write_element(&mut w, &doc.root, Flavour::Lxml)?;
        for node in &doc.epilog {
            write_node(&mut w, node, Flavour::Lxml)?;
        }
        Ok(())
    })();
    // Writing into a Vec cannot fail.
    debug_assert!(result.is_ok());
    w.into_inner()
}

/// `root` as Python 3.7's `ElementTree.tostring(root, encoding="utf8")` writes it.
pub fn etree(root: &Element) -> Vec<u8> {
    let mut w = Writer::new(Vec::new());
    w.config_mut().add_space_before_slash_in_empty_elements = true;
    let result = (|| -> std::io::Result<()> {
        w.write_event(Event::Decl(declaration(
            "xml version='1.0' encoding='utf8'",
        )))?;
        w.write_event(Event::Text(BytesText::from_escaped("\n")))?;
        write_element(&mut w, root, Flavour::Etree)
    })();
    debug_assert!(result.is_ok());
    w.into_inner()
}

/// A declaration with single-quoted pseudo-attributes, as both Python serialisers write it
/// (`BytesDecl::new` would double-quote them).
fn declaration(content: &'static str) -> BytesDecl<'static> {
    BytesDecl::from_start(BytesStart::from_content(content, 3))
}

fn write_node(w: &mut Writer<Vec<u8>>, node: &Node, flavour: Flavour) -> std::io::Result<()> {
    match node {
        Node::Element(e) => write_element(w, e, flavour),
        Node::Text(t) => w.write_event(Event::Text(BytesText::from_escaped(escape_text(
            t, flavour,
        )))),
        Node::Comment(c) => w.write_event(Event::Comment(BytesText::from_escaped(c.as_str()))),
        Node::Pi(target, data) => {
            let content = if data.is_empty() {
                target.clone()
            } else {
                format!("{target} {data}")
            };
            w.write_event(Event::PI(BytesPI::new(content)))
        }
    }
}

fn write_element(w: &mut Writer<Vec<u8>>, e: &Element, flavour: Flavour) -> std::io::Result<()> {
    let mut start = BytesStart::new(e.name.as_str());
    let mut attributes: Vec<&(String, String)> = e.attributes.iter().collect();
    match flavour {
        // libxml2 keeps namespace declarations apart from attributes and writes them first.
        Flavour::Lxml => attributes.sort_by_key(|(k, _)| !is_namespace_declaration(k)),
        Flavour::Etree => attributes.sort_by(|a, b| a.0.cmp(&b.0)),
    }
    for (key, value) in attributes {
        start.push_attribute(Attribute {
            key: QName(key.as_str()),
            value: Cow::Owned(escape_attribute(value, flavour)),
        });
    }
    if e.children.is_empty() {
        return w.write_event(Event::Empty(start));
    }
    w.write_event(Event::Start(start))?;
    for child in &e.children {
        write_node(w, child, flavour)?;
    }
    w.write_event(Event::End(BytesEnd::new(e.name.as_str())))
}

fn is_namespace_declaration(key: &str) -> bool {
    key == "xmlns" || key.starts_with("xmlns:")
}

/// Character data as the serialiser escapes it: `&`, `<`, `>` always; libxml2 also writes a
/// carriage return as a reference.
fn escape_text(text: &str, flavour: Flavour) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '\r' if flavour == Flavour::Lxml => out.push_str("&#13;"),
            c => out.push(c),
        }
    }
    out
}

/// An attribute value as the serialiser escapes it (double-quoted): libxml2 writes tab, line
/// feed and carriage return as references; ElementTree turns carriage returns into line feeds
/// and writes those and tabs as references.
fn escape_attribute(value: &str, flavour: Flavour) -> String {
    let mut out = String::with_capacity(value.len());
    let mut chars = value.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, flavour) {
            ('&', _) => out.push_str("&amp;"),
            ('<', _) => out.push_str("&lt;"),
            ('>', _) => out.push_str("&gt;"),
            ('"', _) => out.push_str("&quot;"),
            ('\n', _) => out.push_str("&#10;"),
            ('\t', Flavour::Lxml) => out.push_str("&#9;"),
            ('\t', Flavour::Etree) => out.push_str("&#09;"),
            ('\r', Flavour::Lxml) => out.push_str("&#13;"),
            ('\r', Flavour::Etree) => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                out.push_str("&#10;");
            }
            (c, _) => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(bytes: Vec<u8>) -> String {
        String::from_utf8(bytes).expect("UTF-8")
    }

    #[test]
    fn lxml_writes_like_libxml2_without_pretty_printing() {
        // What lxml 6 wrote for this input (checked with `tree.write(..., xml_declaration=True,
        // encoding="UTF-8")`).
        let doc = Document::parse(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<?xml-model href=\"a\"?>\n<!-- c -->\n\
             <mei xml:id=\"x\"\n    xmlns=\"http://www.music-encoding.org/ns/mei\" meiversion=\"4.0.0\">\n  \
             <a b='q\"&lt;&#10;&#9;x' ></a>  <t>café &amp; &#233; \r\n x</t>\n</mei>\n<!-- after -->\n",
        )
        .expect("well-formed");
        assert_eq!(
            text(lxml(&doc)),
            "<?xml version='1.0' encoding='UTF-8'?>\n<?xml-model href=\"a\"?><!-- c --><mei \
             xmlns=\"http://www.music-encoding.org/ns/mei\" xml:id=\"x\" meiversion=\"4.0.0\">\n  \
             <a b=\"q&quot;&lt;&#10;&#9;x\"/>  <t>café &amp; é \n x</t>\n</mei><!-- after -->"
        );
    }

    #[test]
    fn lxml_keeps_the_doctype_on_its_own_line_and_turns_cdata_into_text() {
        let doc = Document::parse(
            "<?xml version=\"1.0\"?>\n<!DOCTYPE mei SYSTEM \"x.dtd\">\n<mei><a><![CDATA[x<y]]></a><?pi  data?></mei>",
        )
        .expect("well-formed");
        assert_eq!(
            text(lxml(&doc)),
            "<?xml version='1.0' encoding='UTF-8'?>\n<!DOCTYPE mei SYSTEM \"x.dtd\">\n\
             <mei><a>x&lt;y</a><?pi data?></mei>"
        );
    }

    #[test]
    fn etree_sorts_attributes_and_writes_a_space_before_the_empty_slash() {
        let mut root = Element::new("mei");
        root.set("xml:id", "m-1");
        root.set("xmlns", super::super::MEI_NS);
        root.set("meiversion", "5.0");
        let mut zone = Element::new("zone");
        for (k, v) in [("xml:id", "m-2"), ("ulx", "1"), ("lry", "4"), ("lrx", "3")] {
            zone.set(k, v);
        }
        let mut syl = Element::new("syl");
        syl.children.push(Node::Text("a<b&c".into()));
        let mut empty_syl = Element::new("syl");
        empty_syl.set("t", "x\"\r\ny\tz");
        root.children = vec![
            Node::Element(zone),
            Node::Element(syl),
            Node::Element(empty_syl),
        ];
        assert_eq!(
            text(etree(&root)),
            "<?xml version='1.0' encoding='utf8'?>\n<mei meiversion=\"5.0\" xml:id=\"m-1\" \
             xmlns=\"http://www.music-encoding.org/ns/mei\"><zone lrx=\"3\" lry=\"4\" ulx=\"1\" \
             xml:id=\"m-2\" /><syl>a&lt;b&amp;c</syl><syl t=\"x&quot;&#10;y&#09;z\" /></mei>"
        );
    }
}
