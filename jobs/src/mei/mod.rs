//! MEI documents: a small XML tree read with `quick-xml` ([`Document::parse`]), written back the
//! way the Python libraries behind upstream's MEI jobs write it ([`write`]), and the MEI jobs'
//! algorithms: Volpiano conversion, facsimile resizing and MEI encoding from pitch-finding JSON.

pub mod encoding;
pub mod resize;
pub mod volpiano;
pub mod write;

use quick_xml::events::{BytesStart, Event};
use quick_xml::name::ResolveResult;
use quick_xml::reader::NsReader;

use crate::job::JobError;

/// The MEI namespace.
pub const MEI_NS: &str = "http://www.music-encoding.org/ns/mei";

/// The MEI version the jobs' own documents declare (`mei/@meiversion`). Upstream's MEI Encoding
/// writes "5.0.0-dev", a development label that no published MEI schema accepts (MEI 5.0's
/// `att.meiVersion` allows only "5.0"); the MEI written here is MEI 5.0 and says so. Neon and
/// Verovio read 5.0 (Verovio 4.x writes it).
pub const MEI_VERSION: &str = "5.0";

/// Why a document could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to parse the XML: {0}")]
pub struct ParseError(pub String);

/// One node of an element's content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A child element.
    Element(Element),
    /// Character data (references resolved, CDATA sections merged in, line ends normalised).
    Text(String),
    /// A comment's content.
    Comment(String),
    /// A processing instruction: target and data (leading whitespace removed).
    Pi(String, String),
}

/// An element: its name as written (`prefix:local`), its namespace, attributes in document order
/// (values unescaped and normalised as XML requires) and its content.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The qualified name as written.
    pub name: String,
    /// The namespace the name resolves to, if any.
    pub namespace: Option<String>,
    /// `(name as written, value)` in document order, namespace declarations included.
    pub attributes: Vec<(String, String)>,
    /// The content in document order.
    pub children: Vec<Node>,
}

impl Element {
    /// An element in no namespace, without attributes or content.
    pub fn new(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            ..Self::default()
        }
    }

    /// The local part of the name.
    pub fn local_name(&self) -> &str {
        self.name.rsplit(':').next().unwrap_or(&self.name)
    }

    /// Whether this is the MEI element `local`.
    pub fn is_mei(&self, local: &str) -> bool {
        self.namespace.as_deref() == Some(MEI_NS) && self.local_name() == local
    }

    /// The value of attribute `name` (as written).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// Sets attribute `name`, keeping its position when it exists (as ElementTree and lxml do).
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        let value = value.into();
        match self.attributes.iter_mut().find(|(k, _)| k == name) {
            Some((_, v)) => *v = value,
            None => self.attributes.push((name.to_owned(), value)),
        }
    }

    /// Removes attribute `name`, returning its value.
    pub fn remove(&mut self, name: &str) -> Option<String> {
        let i = self.attributes.iter().position(|(k, _)| k == name)?;
        Some(self.attributes.remove(i).1)
    }

    /// The child elements.
    pub fn elements(&self) -> impl Iterator<Item = &Element> {
        self.children.iter().filter_map(|n| match n {
            Node::Element(e) => Some(e),
            _ => None,
        })
    }

    /// The text before the first child node that is not text (ElementTree's `.text`).
    pub fn text(&self) -> Option<&str> {
        match self.children.first() {
            Some(Node::Text(t)) => Some(t),
            _ => None,
        }
    }

    /// This element and its descendants in document order (ElementTree's `iter()`).
    pub fn descendants(&self) -> Vec<&Element> {
        let mut out = Vec::new();
        let mut stack = vec![self];
        while let Some(e) = stack.pop() {
            out.push(e);
            let children: Vec<&Element> = e.elements().collect();
            stack.extend(children.into_iter().rev());
        }
        out
    }
}

/// A parsed XML document: what comes before the root (comments, processing instructions, the
/// document type declaration), the root element, and comments or processing instructions after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document {
    /// The `<!DOCTYPE ...>` content, if any.
    pub doctype: Option<String>,
    /// Comments and processing instructions before the root.
    pub prolog: Vec<Node>,
    /// The root element.
    pub root: Element,
    /// Comments and processing instructions after the root.
    pub epilog: Vec<Node>,
}

impl Document {
    /// Parses a UTF-8 XML document.
    pub fn parse(text: &str) -> Result<Self, ParseError> {
        let mut reader = NsReader::from_str(text);
        let mut stack: Vec<Element> = Vec::new();
        let mut doctype = None;
        let mut prolog = Vec::new();
        let mut epilog = Vec::new();
        let mut root: Option<Element> = None;
        loop {
            let (resolved, event) = match reader.read_resolved_event() {
                Ok(r) => r,
                Err(e) => {
                    let at = reader.buffer_position();
                    return Err(ParseError(format!("{e} at byte {at}")));
                }
            };
            let namespace = match resolved {
                ResolveResult::Bound(ns) => Some(ns.0.to_owned()),
                ResolveResult::Unbound => None,
                ResolveResult::Unknown(prefix) => {
                    return Err(ParseError(format!(
                        "undeclared namespace prefix '{prefix}'"
                    )));
                }
            };
            match event {
                Event::Start(start) => {
                    too_deep(&stack)?;
                    stack.push(element(&start, namespace)?);
                }
                Event::Empty(start) => {
                    too_deep(&stack)?;
                    let e = element(&start, namespace)?;
                    close(e, &mut stack, &mut root)?;
                }
                Event::End(_) => {
                    let e = stack
                        .pop()
                        .ok_or_else(|| ParseError("unbalanced end tag".into()))?;
                    close(e, &mut stack, &mut root)?;
                }
                Event::Text(t) => push_text(&mut stack, &t.xml10_content())?,
                Event::CData(t) => push_text(&mut stack, &t.xml10_content())?,
                Event::GeneralRef(r) => {
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        Ok(None) => quick_xml::escape::resolve_predefined_entity(&r)
                            .ok_or_else(|| {
                                ParseError(format!("undefined entity &{};", &*r.into_inner()))
                            })?
                            .to_owned(),
                        Err(e) => return Err(ParseError(e.to_string())),
                    };
                    push_text(&mut stack, &resolved)?;
                }
                Event::Comment(c) => {
                    let node = Node::Comment(c.xml10_content().into_owned());
                    place(node, &mut stack, &root, &mut prolog, &mut epilog);
                }
                Event::PI(pi) => {
                    let node =
                        Node::Pi(pi.target().to_owned(), pi.content().trim_start().to_owned());
                    place(node, &mut stack, &root, &mut prolog, &mut epilog);
                }
                Event::DocType(d) => doctype = Some(d.xml10_content().trim().to_owned()),
                Event::Decl(_) => {}
                Event::Eof => break,
            }
        }
        if !stack.is_empty() {
            return Err(ParseError("the document ends inside an element".into()));
        }
        let root = root.ok_or_else(|| ParseError("the document has no root element".into()))?;
        Ok(Self {
            doctype,
            prolog,
            root,
            epilog,
        })
    }
}

/// Python's `int(text)`: surrounding whitespace, an optional sign, decimal digits with single
/// underscores between them.
pub fn python_int(text: &str) -> Option<i128> {
    let t = text.trim();
    let (negative, digits) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
        || !digits.chars().all(|c| c.is_ascii_digit() || c == '_')
    {
        return None;
    }
    let n: i128 = digits.replace('_', "").parse().ok()?;
    Some(if negative { -n } else { n })
}

/// Reads and parses the XML file at `path`; a file that is not UTF-8 XML is bad input.
pub fn read_document(path: &std::path::Path) -> Result<Document, JobError> {
    let text = JobError::read_text(path, "the MEI file")?;
    Document::parse(text.trim_start_matches('\u{feff}')).map_err(|e| {
        JobError::bad_input(
            "the MEI file is not well-formed XML",
            format!("{}: {e}", path.display()),
        )
    })
}

fn element(start: &BytesStart<'_>, namespace: Option<String>) -> Result<Element, ParseError> {
    let name = start.name().as_ref().to_owned();
    let mut attributes = Vec::new();
    for attr in start.attributes() {
        let attr = attr.map_err(|e| ParseError(format!("in <{name}>: {e}")))?;
        let key = attr.key.as_ref().to_owned();
        let value = attr
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| ParseError(format!("in <{name}> attribute {key}: {e}")))?
            .into_owned();
        attributes.push((key, value));
    }
    Ok(Element {
        name,
        namespace,
        attributes,
        children: Vec::new(),
    })
}

/// How deeply elements may nest: lxml's default parser (libxml2 without `XML_PARSE_HUGE`)
/// refuses deeper documents, and the jobs walk the tree recursively.
pub const MAX_DEPTH: usize = 256;

fn too_deep(stack: &[Element]) -> Result<(), ParseError> {
    if stack.len() >= MAX_DEPTH {
        return Err(ParseError(format!(
            "elements nest more than {MAX_DEPTH} levels deep"
        )));
    }
    Ok(())
}

fn close(e: Element, stack: &mut [Element], root: &mut Option<Element>) -> Result<(), ParseError> {
    match stack.last_mut() {
        Some(parent) => parent.children.push(Node::Element(e)),
        None if root.is_none() => *root = Some(e),
        None => return Err(ParseError("more than one root element".into())),
    }
    Ok(())
}

fn push_text(stack: &mut [Element], text: &str) -> Result<(), ParseError> {
    let Some(parent) = stack.last_mut() else {
        if text.trim().is_empty() {
            return Ok(());
        }
        return Err(ParseError("text outside the root element".into()));
    };
    if let Some(Node::Text(t)) = parent.children.last_mut() {
        t.push_str(text);
    } else if !text.is_empty() {
        parent.children.push(Node::Text(text.to_owned()));
    }
    Ok(())
}

fn place(
    node: Node,
    stack: &mut [Element],
    root: &Option<Element>,
    prolog: &mut Vec<Node>,
    epilog: &mut Vec<Node>,
) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(node),
        None if root.is_none() => prolog.push(node),
        None => epilog.push(node),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_resolves_namespaces_references_and_keeps_order() {
        let doc = Document::parse(
            "<?xml version=\"1.0\"?>\n<?xml-model  href=\"a\"?>\n<mei xmlns=\"http://www.music-encoding.org/ns/mei\" \
             b='1&amp;2' a=\"x&#10;y\"><x:n xmlns:x=\"urn:x\">t&lt;<![CDATA[<c>]]>&#233;</x:n><!--k--></mei><!--after-->",
        )
        .expect("well-formed");
        assert_eq!(
            doc.prolog,
            vec![Node::Pi("xml-model".into(), "href=\"a\"".into())]
        );
        assert!(doc.root.is_mei("mei"));
        assert_eq!(doc.root.get("b"), Some("1&2"));
        assert_eq!(doc.root.get("a"), Some("x\ny"));
        let n = doc.root.elements().next().expect("a child");
        assert_eq!(
            (n.local_name(), n.namespace.as_deref()),
            ("n", Some("urn:x"))
        );
        assert_eq!(n.text(), Some("t<<c>é"));
        assert_eq!(doc.root.children[1], Node::Comment("k".into()));
        assert_eq!(doc.epilog, vec![Node::Comment("after".into())]);
    }

    #[test]
    fn malformed_documents_are_errors() {
        for bad in [
            "<a><b></a>",
            "<a>",
            "",
            "<a/><b/>",
            "<p:a/>",
            "<a>&nope;</a>",
        ] {
            assert!(Document::parse(bad).is_err(), "{bad:?} parsed");
        }
    }

    #[test]
    fn documents_nested_deeper_than_lxml_reads_are_errors() {
        let nested = |depth: usize, leaf: &str| {
            format!("{}{leaf}{}", "<a>".repeat(depth), "</a>".repeat(depth))
        };
        assert!(Document::parse(&nested(MAX_DEPTH, "")).is_ok());
        assert!(Document::parse(&nested(MAX_DEPTH - 1, "<b/>")).is_ok());
        for deep in [nested(MAX_DEPTH + 1, ""), nested(MAX_DEPTH, "<b/>")] {
            let e = Document::parse(&deep).expect_err("too deep");
            assert!(e.0.contains("nest"), "{e:?}");
        }
        // A million levels, which walking or dropping the tree recursively could not survive.
        assert!(Document::parse(&nested(1_000_000, "")).is_err());
    }

    #[test]
    fn every_prefix_of_a_document_parses_or_fails_without_panicking() {
        let xml = "<?xml version=\"1.0\"?><?xml-model href=\"a\"?><mei xmlns=\"http://www.music-encoding.org/ns/mei\" \
                   a=\"&amp;&#x41;\"><x:y xmlns:x=\"urn:x\"><![CDATA[c]]>t&lt;</x:y><!--c--><z/></mei>";
        for end in (0..=xml.len()).filter(|&i| xml.is_char_boundary(i)) {
            let parsed = Document::parse(&xml[..end]);
            assert_eq!(parsed.is_ok(), end == xml.len(), "prefix of {end} bytes");
        }
    }

    #[test]
    fn descendants_are_in_document_order() {
        let doc = Document::parse("<a><b><c/></b><d/></a>").expect("well-formed");
        let names: Vec<_> = doc
            .root
            .descendants()
            .iter()
            .map(|e| e.name.clone())
            .collect();
        assert_eq!(names, ["a", "b", "c", "d"]);
    }
}
