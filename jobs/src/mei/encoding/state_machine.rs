//! Where a glyph's element goes relative to its syllable (upstream `state_machine.py`): the
//! `<syllable>` enters the layer with its first neume; clefs, divisions and accidentals join it
//! while it is open; anything else (system and column breaks, custodes) breaks out, and a neume
//! after a break-out opens a continuation syllable linked with `@precedes` / `@follows`.

use super::new_element;
use crate::mei::{Element, Node};

/// The machine's states (upstream's `States`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    NoNeume,
    FirstNeume,
    AddInside,
    BreakOut,
    PrecedesFollows,
}

/// The kinds of element read (upstream's `Inputs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Input {
    Neume,
    InSyllable,
    OutOfSyllable,
}

/// One syllable's elements, placed as they are read.
#[derive(Debug)]
pub struct SylMachine {
    /// What goes into the layer, in order.
    layer: Vec<Element>,
    /// The open syllable while it is not yet in the layer.
    pending: Option<Element>,
    /// The open syllable's index in `layer` once it is there.
    open: Option<usize>,
    state: State,
}

impl SylMachine {
    /// A machine for a syllable whose `<syl>` holds `text` and points at zone `zone_id`.
    pub fn new(text: &str, zone_id: &str) -> Self {
        let mut syllable = new_element("syllable");
        let mut syl = new_element("syl");
        if !text.is_empty() {
            syl.children.push(Node::Text(text.to_owned()));
        }
        syl.set("facs", format!("#{zone_id}"));
        syllable.children.push(Node::Element(syl));
        Self {
            layer: Vec::new(),
            pending: Some(syllable),
            open: None,
            state: State::NoNeume,
        }
    }

    /// Reads an element whose tag is `element.name` and places it.
    pub fn read(&mut self, element: Element) {
        let input = match element.name.as_str() {
            "neume" => Input::Neume,
            "divLine" | "clef" | "accid" => Input::InSyllable,
            _ => Input::OutOfSyllable,
        };
        let next = match (self.state, input) {
            (State::NoNeume, Input::Neume) => State::FirstNeume,
            (State::NoNeume, _) => State::NoNeume,
            (State::BreakOut, Input::Neume) => State::PrecedesFollows,
            (State::BreakOut, _) => State::BreakOut,
            (_, Input::OutOfSyllable) => State::BreakOut,
            (_, _) => State::AddInside,
        };
        match next {
            State::NoNeume | State::BreakOut => self.layer.push(element),
            State::FirstNeume => {
                if let Some(mut syllable) = self.pending.take() {
                    syllable.children.push(Node::Element(element));
                    self.layer.push(syllable);
                    self.open = Some(self.layer.len() - 1);
                }
            }
            State::AddInside => {
                if let Some(syllable) = self.open.and_then(|i| self.layer.get_mut(i)) {
                    syllable.children.push(Node::Element(element));
                }
            }
            State::PrecedesFollows => {
                let mut next_syllable = new_element("syllable");
                let next_id = next_syllable.get("xml:id").unwrap_or_default().to_owned();
                if let Some(syllable) = self.open.and_then(|i| self.layer.get_mut(i)) {
                    syllable.set("precedes", format!("#{next_id}"));
                    let id = syllable.get("xml:id").unwrap_or_default().to_owned();
                    next_syllable.set("follows", format!("#{id}"));
                }
                next_syllable.children.push(Node::Element(element));
                self.layer.push(next_syllable);
                self.open = Some(self.layer.len() - 1);
            }
        }
        self.state = next;
    }

    /// Places an element after the syllable, whatever the state.
    pub fn read_outside_syllable(&mut self, element: Element) {
        self.layer.push(element);
    }

    /// The elements for the layer.
    pub fn into_layer(self) -> Vec<Element> {
        self.layer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(layer: &[Element]) -> Vec<String> {
        layer
            .iter()
            .map(|e| {
                let inner: Vec<_> = e.elements().map(|c| c.name.clone()).collect();
                format!("{}{inner:?}", e.name)
            })
            .collect()
    }

    #[test]
    fn the_syllable_enters_with_its_first_neume_and_breaks_make_linked_syllables() {
        let mut m = SylMachine::new("ky", "z1");
        for tag in [
            "clef", "neume", "divLine", "sb", "clef", "neume", "neume", "custos",
        ] {
            m.read(Element::new(tag));
        }
        m.read_outside_syllable(Element::new("accid"));
        let layer = m.into_layer();
        assert_eq!(
            names(&layer),
            [
                "clef[]",
                "syllable[\"syl\", \"neume\", \"divLine\"]",
                "sb[]",
                "clef[]",
                "syllable[\"neume\", \"neume\"]",
                "custos[]",
                "accid[]"
            ]
        );
        let first_id = layer[1].get("xml:id").expect("an id");
        let second_id = layer[4].get("xml:id").expect("an id");
        assert_eq!(
            layer[1].get("precedes"),
            Some(format!("#{second_id}").as_str())
        );
        assert_eq!(
            layer[4].get("follows"),
            Some(format!("#{first_id}").as_str())
        );
        let syl = layer[1].elements().next().expect("the syl");
        assert_eq!((syl.text(), syl.get("facs")), (Some("ky"), Some("#z1")));
    }

    #[test]
    fn a_syllable_without_neumes_never_enters_the_layer() {
        let mut m = SylMachine::new("", "z");
        m.read(Element::new("clef"));
        m.read(Element::new("sb"));
        assert_eq!(names(&m.into_layer()), ["clef[]", "sb[]"]);
    }
}
