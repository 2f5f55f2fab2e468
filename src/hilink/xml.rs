//! The little XML the HiLink web API speaks: a `<request>` or `<response>`
//! (or `<error>`) element holding named values, at most two levels deep
//! (`<Messages><Message>…`), no attributes that matter, no namespaces.
//! A hand-written reader and writer for that subset, pure: a general XML
//! crate would add more code to the binary than the whole subset needs.
//!
//! Reading is strict about structure (unclosed or mismatched tags are an
//! error, never a guess) and decodes the five predefined entities,
//! numeric character references and CDATA sections. Attributes are
//! skipped. Writing escapes `&`, `<` and `>` in values.

use std::fmt::Write as _;

/// One element: its name, its text (for a leaf) and its children.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Element {
    /// The tag name.
    pub name: String,
    /// The text directly inside (concatenated, entities decoded).
    pub text: String,
    /// The child elements, in order.
    pub children: Vec<Element>,
}

/// Why a document is not the XML expected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum XmlError {
    /// The document ended inside something.
    #[error("the XML document ends inside {0}")]
    Truncated(&'static str),
    /// A closing tag does not match the open one.
    #[error("the XML closes <{found}> where <{expected}> is open")]
    Mismatched {
        /// The open element.
        expected: String,
        /// The closing tag found.
        found: String,
    },
    /// No root element.
    #[error("the answer holds no XML element")]
    Empty,
    /// An entity or character reference that is not one.
    #[error("unknown XML entity &{0};")]
    Entity(String),
    /// Something that is not XML.
    #[error("not XML at byte {0}")]
    Syntax(usize),
}

impl Element {
    /// The first child named `name`.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// The text of the first child named `name`.
    pub fn value(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// The children named `name`.
    pub fn all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }
}

/// Parses a document: its root element.
pub fn parse(input: &str) -> Result<Element, XmlError> {
    let mut reader = Reader { input, at: 0 };
    reader.skip_misc()?;
    if reader.at >= input.len() {
        return Err(XmlError::Empty);
    }
    let root = reader.element()?;
    reader.skip_misc()?;
    Ok(root)
}

struct Reader<'a> {
    input: &'a str,
    at: usize,
}

impl<'a> Reader<'a> {
    fn rest(&self) -> &'a str {
        &self.input[self.at..]
    }

    /// Skips white space, the XML declaration, comments and processing
    /// instructions between elements.
    fn skip_misc(&mut self) -> Result<(), XmlError> {
        loop {
            let trimmed = self.rest().trim_start();
            self.at = self.input.len() - trimmed.len();
            if trimmed.starts_with("<?") {
                self.skip_past("?>", "a processing instruction")?;
            } else if trimmed.starts_with("<!--") {
                self.skip_past("-->", "a comment")?;
            } else if trimmed.starts_with("<!") {
                self.skip_past(">", "a declaration")?;
            } else {
                return Ok(());
            }
        }
    }

    fn skip_past(&mut self, end: &str, what: &'static str) -> Result<(), XmlError> {
        match self.rest().find(end) {
            Some(i) => {
                self.at += i + end.len();
                Ok(())
            }
            None => Err(XmlError::Truncated(what)),
        }
    }

    /// Reads an element starting at `<`.
    fn element(&mut self) -> Result<Element, XmlError> {
        if !self.rest().starts_with('<') {
            return Err(XmlError::Syntax(self.at));
        }
        let end = self
            .rest()
            .find('>')
            .ok_or(XmlError::Truncated("a start tag"))?;
        let tag = &self.rest()[1..end];
        let self_closing = tag.ends_with('/');
        let tag = tag.trim_end_matches('/');
        let name = tag
            .split(|c: char| c.is_ascii_whitespace())
            .next()
            .unwrap_or("");
        if name.is_empty() || name.starts_with('/') {
            return Err(XmlError::Syntax(self.at));
        }
        let mut element = Element {
            name: name.to_owned(),
            ..Element::default()
        };
        self.at += end + 1;
        if self_closing {
            return Ok(element);
        }
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Err(XmlError::Truncated("an element"));
            }
            if let Some(after) = rest.strip_prefix("</") {
                let close = after.find('>').ok_or(XmlError::Truncated("an end tag"))?;
                let found = after[..close].trim();
                if found != element.name {
                    return Err(XmlError::Mismatched {
                        expected: element.name,
                        found: found.to_owned(),
                    });
                }
                self.at += 2 + close + 1;
                return Ok(element);
            }
            if let Some(after) = rest.strip_prefix("<![CDATA[") {
                let close = after
                    .find("]]>")
                    .ok_or(XmlError::Truncated("a CDATA section"))?;
                element.text.push_str(&after[..close]);
                self.at += 9 + close + 3;
            } else if rest.starts_with("<!--") || rest.starts_with("<?") {
                self.skip_misc()?;
            } else if rest.starts_with('<') {
                let child = self.element()?;
                element.children.push(child);
            } else {
                let len = rest.find('<').unwrap_or(rest.len());
                unescape_into(&rest[..len], &mut element.text)?;
                self.at += len;
            }
        }
    }
}

/// Decodes entities and character references in `text` onto `out`.
fn unescape_into(text: &str, out: &mut String) -> Result<(), XmlError> {
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let after = &rest[amp + 1..];
        let semi = after
            .find(';')
            .ok_or_else(|| XmlError::Entity(after.chars().take(8).collect()))?;
        let entity = &after[..semi];
        let decoded = match entity {
            "lt" => Some('<'),
            "gt" => Some('>'),
            "amp" => Some('&'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            _ => {
                let code = if let Some(hex) = entity
                    .strip_prefix("#x")
                    .or_else(|| entity.strip_prefix("#X"))
                {
                    u32::from_str_radix(hex, 16).ok()
                } else if let Some(decimal) = entity.strip_prefix('#') {
                    decimal.parse().ok()
                } else {
                    None
                };
                code.and_then(char::from_u32)
            }
        };
        out.push(decoded.ok_or_else(|| XmlError::Entity(entity.to_owned()))?);
        rest = &after[semi + 1..];
    }
    out.push_str(rest);
    Ok(())
}

/// `text` with `&`, `<` and `>` escaped, for an element's content.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            _ => out.push(c),
        }
    }
    out
}

/// A `<request>` (or other root) document from named values, escaped.
pub fn document(root: &str, fields: &[(&str, &str)]) -> String {
    let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = write!(out, "<{root}>");
    for (name, value) in fields {
        let _ = write!(out, "<{name}>{}</{name}>", escape(value));
    }
    let _ = write!(out, "</{root}>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_response_is_read() {
        let doc = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\r\n<response>\r\n<SesInfo>SessionID=abc</SesInfo>\r\n<TokInfo>tok</TokInfo>\r\n</response>\r\n";
        let root = parse(doc).unwrap();
        assert_eq!(root.name, "response");
        assert_eq!(root.value("SesInfo"), Some("SessionID=abc"));
        assert_eq!(root.value("TokInfo"), Some("tok"));
        assert_eq!(root.value("Missing"), None);
    }

    #[test]
    fn nested_lists_entities_cdata_and_empty_elements() {
        let doc = "<response><Count>2</Count><Messages>\
            <Message><Index>40001</Index><Content>a &lt;b&gt; &amp; &#233;&#x1F600;</Content><Sca/></Message>\
            <Message><Index>40002</Index><Content><![CDATA[x<y]]></Content><Sca></Sca></Message>\
            </Messages></response>";
        let root = parse(doc).unwrap();
        let messages: Vec<_> = root.child("Messages").unwrap().all("Message").collect();
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].value("Content"), Some("a <b> & é😀"));
        assert_eq!(messages[0].value("Sca"), Some(""));
        assert_eq!(messages[1].value("Content"), Some("x<y"));
    }

    #[test]
    fn a_plain_ok_response() {
        let root = parse("<?xml version=\"1.0\"?><response>OK</response>").unwrap();
        assert_eq!(root.text, "OK");
        assert!(root.children.is_empty());
    }

    #[test]
    fn broken_documents_are_errors() {
        assert_eq!(parse(""), Err(XmlError::Empty));
        assert_eq!(
            parse("<html><body>500"),
            Err(XmlError::Truncated("an element"))
        );
        assert!(matches!(
            parse("<a><b></a>"),
            Err(XmlError::Mismatched { .. })
        ));
        assert!(matches!(parse("<a>&bogus;</a>"), Err(XmlError::Entity(_))));
        assert!(matches!(parse("just text"), Err(XmlError::Syntax(0))));
    }

    #[test]
    fn what_is_written_reads_back() {
        let text = "1 < 2 & 3 > 2 \"quoted\" 😀";
        let doc = document("request", &[("Content", text), ("Index", "-1")]);
        let root = parse(&doc).unwrap();
        assert_eq!(root.name, "request");
        assert_eq!(root.value("Content"), Some(text));
        assert_eq!(root.value("Index"), Some("-1"));
    }
}
