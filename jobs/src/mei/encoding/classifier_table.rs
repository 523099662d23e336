//! The MEI mapping CSV (upstream `parse_classifier_table.py`), as written by DDMAL's MEI mapping
//! tool: for each glyph classification, the MEI snippet it encodes to and its `width` column.

use std::collections::HashMap;

use crate::mei::{Document, Element};

/// Classification name → MEI snippet and widths.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClassifierTable {
    entries: HashMap<String, Entry>,
}

/// One row of the table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The parsed `mei` cell: a single element (clef, custos...) or a neume with its components.
    pub mei: Element,
    /// The digits of the `width` cell, one per character (`"[1, 2]"` gives `[1, 2]`): how many
    /// neume components each horizontal slice of the glyph holds.
    pub width: Vec<u32>,
}

/// Why a table cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TableError {
    /// The CSV itself is malformed.
    #[error("the CSV cannot be read: {0}")]
    Csv(String),
    /// A column the table needs is missing from the header.
    #[error("the header has no '{0}' column")]
    MissingColumn(&'static str),
    /// A row is shorter than the header's columns the table needs.
    #[error("row {0} has no '{1}' cell")]
    ShortRow(usize, &'static str),
}

impl ClassifierTable {
    /// Reads the CSV text. Rows whose `mei` cell is not well-formed XML are left out, as
    /// upstream does; empty rows are skipped.
    pub fn from_csv(text: &str) -> Result<Self, TableError> {
        let mut reader = csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        let mut rows = reader.records();
        let header = match rows.next() {
            Some(h) => h.map_err(|e| TableError::Csv(e.to_string()))?,
            None => return Err(TableError::MissingColumn("mei")),
        };
        let column = |name: &'static str| {
            header
                .iter()
                .position(|c| c == name)
                .ok_or(TableError::MissingColumn(name))
        };
        let (mei, class, width) = (column("mei")?, column("classification")?, column("width")?);
        let mut entries = HashMap::new();
        for (i, row) in rows.enumerate() {
            let row = row.map_err(|e| TableError::Csv(e.to_string()))?;
            if row.iter().all(str::is_empty) {
                continue;
            }
            let cell = |index: usize, name: &'static str| {
                row.get(index).ok_or(TableError::ShortRow(i + 2, name))
            };
            let (raw, name, widths) = (
                cell(mei, "mei")?,
                cell(class, "classification")?,
                cell(width, "width")?,
            );
            let Ok(doc) = Document::parse(raw) else {
                continue;
            };
            let width = widths.chars().filter_map(|c| c.to_digit(10)).collect();
            entries.insert(
                name.to_owned(),
                Entry {
                    mei: doc.root,
                    width,
                },
            );
        }
        Ok(Self { entries })
    }

    /// The entry of classification `name`.
    pub fn get(&self, name: &str) -> Option<&Entry> {
        self.entries.get(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_give_snippets_and_digit_widths_and_bad_xml_rows_are_left_out() {
        let csv = "name,classification,width,mei,\n\
                   C,clef.c,1,\"<clef shape=\"\"C\"\"/>\",\n\
                   P,neume.podatus2a,\"[1, 2]\",\"<neume>\n  <nc/>\n  <nc intm=\"\"1S\"\"/>\n</neume>\",\n\
                   \n\
                   B,broken,1,<neume>,\n";
        let table = ClassifierTable::from_csv(csv).expect("reads");
        let clef = table.get("clef.c").expect("the clef row");
        assert_eq!(
            (clef.mei.name.as_str(), clef.mei.get("shape")),
            ("clef", Some("C"))
        );
        assert_eq!(clef.width, [1]);
        let podatus = table.get("neume.podatus2a").expect("the podatus row");
        assert_eq!(podatus.width, [1, 2]);
        assert_eq!(podatus.mei.elements().count(), 2);
        assert!(table.get("broken").is_none());
    }

    #[test]
    fn a_table_without_the_needed_columns_is_an_error() {
        assert_eq!(
            ClassifierTable::from_csv("classification,mei\nx,<a/>\n"),
            Err(TableError::MissingColumn("width"))
        );
        assert_eq!(
            ClassifierTable::from_csv("classification,width,mei\nx,1\n"),
            Err(TableError::ShortRow(2, "mei"))
        );
    }
}
