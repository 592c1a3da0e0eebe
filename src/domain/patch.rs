//! What an update asks to change: the caller's values and, for each field it names, how that
//! field is copied onto the stored value. The gRPC edge builds it from an update mask and a
//! table of fields per resource; the use case applies it under the row's lock.

/// A field an update may name, and how its new value is copied onto the stored one.
pub type Field<T, V> = (&'static str, fn(&mut T, &V));

/// The fields an update names, with the caller's values for them.
pub struct Patch<T, V = T> {
    pub value: V,
    fields: Vec<Field<T, V>>,
}

impl<T, V> Patch<T, V> {
    pub fn new(value: V, fields: Vec<Field<T, V>>) -> Self {
        Self { value, fields }
    }

    /// Copies every named field from the caller's value onto `target`.
    pub fn apply(&self, target: &mut T) {
        for (_, set) in &self.fields {
            set(target, &self.value);
        }
    }

    /// The fields the update names.
    pub fn fields(&self) -> Vec<&'static str> {
        self.fields.iter().map(|(name, _)| *name).collect()
    }

    /// Whether the update names `field`.
    pub fn names(&self, field: &str) -> bool {
        self.fields.iter().any(|(name, _)| *name == field)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default, PartialEq)]
    struct Pair {
        a: i32,
        b: i32,
    }

    #[test]
    fn only_named_fields_are_copied() {
        let fields: Vec<Field<Pair, Pair>> = vec![("a", |t, v| t.a = v.a)];
        let patch = Patch::new(Pair { a: 1, b: 2 }, fields);
        let mut stored = Pair { a: 0, b: 0 };
        patch.apply(&mut stored);
        assert_eq!(stored, Pair { a: 1, b: 0 });
        assert!(patch.names("a") && !patch.names("b"));
    }
}
