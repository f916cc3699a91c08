//! [`Trace`]: where a [`NonFinite::Error`](super::NonFinite::Error) violation happened,
//! for an error that names the field.

use std::cell::RefCell;
use std::fmt;

use serde::Serialize;

/// Where a [`NonFinite::Error`](super::NonFinite::Error) violation happened; filled in
/// while the error unwinds, so a successful serialization never touches it.
#[derive(Default)]
pub(super) struct Trace(RefCell<Option<Box<Violation>>>);

impl Trace {
    /// Forgets the violation of an earlier serialization.
    pub(super) fn clear(&self) {
        *self.0.borrow_mut() = None;
    }

    /// The violation's text, e.g. `non-finite float NaN in field values[1]`, if there was
    /// one.
    pub(super) fn violation(&self) -> Option<String> {
        self.0.borrow().as_ref().map(|v| v.to_string())
    }

    /// Adds a path segment if a violation is unwinding; called only on error paths.
    #[cold]
    pub(super) fn push(&self, segment: impl FnOnce() -> Segment) {
        if let Some(violation) = self.0.borrow_mut().as_mut() {
            violation.path.push(segment());
        }
    }

    /// Records a violation by the non-finite `value`, at the innermost level.
    #[cold]
    pub(super) fn record(&self, value: f64) {
        *self.0.borrow_mut() = Some(Box::new(Violation {
            value,
            path: Vec::new(),
        }));
    }
}

struct Violation {
    value: f64,
    /// Innermost segment first.
    path: Vec<Segment>,
}

/// One step of a violation's path.
pub(super) enum Segment {
    /// A struct field, map key or enum variant.
    Field(String),
    /// A sequence or tuple position.
    Index(usize),
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = if self.value.is_nan() {
            "NaN"
        } else if self.value > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        };
        write!(f, "non-finite float {name} ")?;
        if self.path.is_empty() {
            return f.write_str("as the item");
        }
        f.write_str("in field ")?;
        for (i, segment) in self.path.iter().rev().enumerate() {
            match segment {
                Segment::Field(name) if i == 0 => f.write_str(name)?,
                Segment::Field(name) => write!(f, ".{name}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// The text of a map key, for a violation's path (error path only).
#[cold]
pub(super) fn key_text<K: Serialize + ?Sized>(key: &K) -> String {
    match serde_json::to_string(key) {
        Ok(json) => serde_json::from_str::<String>(&json).unwrap_or(json),
        Err(_) => "?".to_owned(),
    }
}
