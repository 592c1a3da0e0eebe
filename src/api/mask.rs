//! Update masks: each resource declares the fields an update may name in one table, and an
//! update's mask is read against it into a [`Patch`] the use case applies.

use super::check::Check;
use crate::domain::patch::{Field, Patch};

/// Reads an update of `resource`: checks its mask against `fields`, then reads the caller's
/// values with `read`, keeping only complaints about the id and the fields the mask names.
pub fn patch<T, V>(
    check: &mut Check,
    resource: &str,
    mask: Option<&prost_types::FieldMask>,
    fields: &[Field<T, V>],
    read: impl FnOnce(&mut Check) -> V,
) -> Patch<T, V> {
    patch_explained(check, resource, mask, fields, |_| None, read)
}

/// [`patch`], with `why_not` saying why a field outside `fields` cannot be named, where there
/// is more to say than that.
pub fn patch_explained<T, V>(
    check: &mut Check,
    resource: &str,
    mask: Option<&prost_types::FieldMask>,
    fields: &[Field<T, V>],
    why_not: impl Fn(&str) -> Option<&'static str>,
    read: impl FnOnce(&mut Check) -> V,
) -> Patch<T, V> {
    let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
    let mut named: Vec<Field<T, V>> = Vec::new();
    if paths.is_empty() {
        check.add("update_mask", "is required: name the fields to change");
    } else if check.at_most("update_mask.paths", paths.len(), fields.len()) {
        for path in paths {
            match fields.iter().find(|(name, _)| *name == path.as_str()) {
                Some(field) if !named.iter().any(|(n, _)| *n == path.as_str()) => {
                    named.push(*field)
                }
                Some(_) => {}
                None => check.add(
                    format!("update_mask.paths[{}]", crate::domain::error::shorten(path)),
                    why_not(path).map(str::to_owned).unwrap_or_else(|| {
                        format!(
                            "cannot be changed; allowed: {}",
                            fields
                                .iter()
                                .map(|(name, _)| *name)
                                .collect::<Vec<_>>()
                                .join(", ")
                        )
                    }),
                ),
            }
        }
    }
    let mut whole = Check::new();
    let value = read(&mut whole);
    check.absorb(whole, |field| {
        let Some(field) = field
            .strip_prefix(resource)
            .and_then(|f| f.strip_prefix('.'))
        else {
            return false;
        };
        field == "id"
            || named.iter().any(|(p, _)| {
                field == *p
                    || field
                        .strip_prefix(p)
                        .is_some_and(|rest| rest.starts_with(['.', '[']))
            })
    });
    Patch::new(value, named)
}
