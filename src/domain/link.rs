//! Links between tickets: an incident and the complaints it causes (parent and children),
//! tickets about the same thing (related), and a duplicate merged into its primary. A link is
//! kept on both tickets, each seeing it from its own side.

use serde::{Deserialize, Serialize};

use super::error::Refusal;
use super::ticket::{Ticket, named_enum};

/// Links one ticket may hold.
pub const MAX_LINKS: usize = 200;

/// How far up a chain of parents the check for a cycle looks.
pub const MAX_DEPTH: usize = 32;

named_enum!(
    /// What the other ticket is to this one.
    LinkKind {
        /// Its parent: the incident this ticket is one effect of.
        Parent = "PARENT",
        /// One of its children.
        Child = "CHILD",
        /// About the same thing, with no order between them.
        Related = "RELATED",
        /// This ticket was merged into the other (its primary).
        MergedInto = "MERGED_INTO",
        /// The other ticket was merged into this one.
        MergedFrom = "MERGED_FROM",
    }
);

impl LinkKind {
    /// The same link seen from the other ticket.
    pub fn inverse(self) -> LinkKind {
        match self {
            LinkKind::Parent => LinkKind::Child,
            LinkKind::Child => LinkKind::Parent,
            LinkKind::Related => LinkKind::Related,
            LinkKind::MergedInto => LinkKind::MergedFrom,
            LinkKind::MergedFrom => LinkKind::MergedInto,
        }
    }
}

/// One link, as one ticket holds it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub kind: LinkKind,
    pub ticket_id: i64,
    pub number: String,
}

impl Link {
    /// A link to `other`, which is `kind` to the ticket holding the link.
    pub fn to(other: &Ticket, kind: LinkKind) -> Link {
        Link {
            kind,
            ticket_id: other.id,
            number: other.number.clone(),
        }
    }
}

/// Links `ticket` to `other` as `kind` (what `other` is to `ticket`), and `other` back.
pub fn link(ticket: &mut Ticket, other: &mut Ticket, kind: LinkKind) -> Result<(), Refusal> {
    if ticket.id == other.id {
        return Err(Refusal::invalid(
            "other_ticket_id",
            "is this ticket: a ticket is not linked to itself",
        ));
    }
    if let Some(existing) = ticket.links.iter().find(|l| l.ticket_id == other.id) {
        return Err(Refusal::precondition(
            format!("ticket {}", ticket.number),
            format!(
                "is already linked to {} as {}: unlink it first",
                other.number, existing.kind
            ),
        ));
    }
    for (t, k) in [(&*ticket, kind), (&*other, kind.inverse())] {
        if k == LinkKind::Parent && parent(t).is_some() {
            return Err(Refusal::precondition(
                format!("ticket {}", t.number),
                "has a parent already: a ticket belongs to one incident",
            ));
        }
        if t.links.len() >= MAX_LINKS {
            return Err(Refusal::precondition(
                format!("ticket {}", t.number),
                format!("has {MAX_LINKS} links, the most a ticket holds"),
            ));
        }
    }
    ticket.links.push(Link::to(other, kind));
    other.links.push(Link::to(ticket, kind.inverse()));
    Ok(())
}

/// Removes the link between `ticket` and `other` from both; what `other` was to `ticket`.
/// A merge is history, not a link to undo.
pub fn unlink(ticket: &mut Ticket, other: &mut Ticket) -> Result<LinkKind, Refusal> {
    let Some(at) = ticket.links.iter().position(|l| l.ticket_id == other.id) else {
        return Err(Refusal::precondition(
            format!("ticket {}", ticket.number),
            format!("is not linked to {}", other.number),
        ));
    };
    let kind = ticket.links[at].kind;
    if matches!(kind, LinkKind::MergedInto | LinkKind::MergedFrom) {
        return Err(Refusal::precondition(
            format!("ticket {}", ticket.number),
            format!("was merged with {}: a merge is not undone", other.number),
        ));
    }
    ticket.links.remove(at);
    other.links.retain(|l| l.ticket_id != ticket.id);
    Ok(kind)
}

/// The ticket's parent, if it has one.
pub fn parent(ticket: &Ticket) -> Option<&Link> {
    ticket.links.iter().find(|l| l.kind == LinkKind::Parent)
}

/// The ticket's children.
pub fn children(ticket: &Ticket) -> impl Iterator<Item = &Link> {
    ticket.links.iter().filter(|l| l.kind == LinkKind::Child)
}

/// Refuses making `parent` the parent of `child` when `ancestors` (the chain of `parent`'s
/// parents, nearest first) already holds `child`: the link would close a circle.
pub fn check_no_cycle(child: &Ticket, ancestors: &[i64]) -> Result<(), Refusal> {
    if ancestors.contains(&child.id) {
        return Err(Refusal::invalid(
            "other_ticket_id",
            format!(
                "is a descendant of {}: making it the parent would close a circle",
                child.number
            ),
        ));
    }
    if ancestors.len() >= MAX_DEPTH {
        return Err(Refusal::invalid(
            "other_ticket_id",
            format!("sits {MAX_DEPTH} parents deep: the chain would be too long"),
        ));
    }
    Ok(())
}

/// A merge of `duplicate` into `primary`: the same customer, unless the caller says so; not
/// a ticket into itself, nor into one merged away already.
pub fn check_merge(
    duplicate: &Ticket,
    primary: &Ticket,
    across_customers: bool,
) -> Result<(), Refusal> {
    if duplicate.id == primary.id {
        return Err(Refusal::invalid(
            "primary_ticket_id",
            "is the duplicate itself: a ticket is not merged into itself",
        ));
    }
    if primary.merged_into.is_some() {
        return Err(Refusal::precondition(
            format!("ticket {}", primary.number),
            format!(
                "was merged into {} itself: merge into that one",
                primary.merged_into.as_deref().unwrap_or_default()
            ),
        ));
    }
    // Tickets without a customer id are nobody's in particular: not the same customer's.
    let same = !duplicate.customer.external_id.is_empty()
        && duplicate.customer.external_id == primary.customer.external_id;
    if !same && !across_customers {
        return Err(Refusal::precondition(
            format!("ticket {}", duplicate.number),
            format!(
                "belongs to another customer than {}: set allow_other_customer to merge anyway",
                primary.number
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::ticket::{Customer, Kind, sample};
    use chrono::Utc;

    fn ticket(id: i64, customer: &str) -> Ticket {
        let mut t = sample(
            Kind::Complaint,
            Customer {
                external_id: customer.into(),
                ..Customer::default()
            },
            Utc::now(),
        );
        t.id = id;
        t.number = format!("FB2026112300{id:02}");
        t
    }

    #[test]
    fn a_link_is_kept_on_both_sides() {
        let (mut incident, mut complaint) = (ticket(1, "a"), ticket(2, "b"));
        link(&mut complaint, &mut incident, LinkKind::Parent).unwrap();
        assert_eq!(parent(&complaint).unwrap().ticket_id, 1);
        assert_eq!(children(&incident).count(), 1);
        let again = link(&mut incident, &mut complaint, LinkKind::Related).unwrap_err();
        assert!(again.to_string().contains("already linked"), "{again}");
        assert_eq!(
            unlink(&mut incident, &mut complaint).unwrap(),
            LinkKind::Child
        );
        assert!(incident.links.is_empty() && complaint.links.is_empty());
    }

    #[test]
    fn one_parent_each_and_no_circles() {
        let (mut a, mut b, mut c) = (ticket(1, "x"), ticket(2, "x"), ticket(3, "x"));
        link(&mut b, &mut a, LinkKind::Parent).unwrap();
        let second = link(&mut b, &mut c, LinkKind::Parent).unwrap_err();
        assert!(second.to_string().contains("has a parent"), "{second}");
        // a is b's parent; making b the parent of a closes a circle.
        assert!(check_no_cycle(&a, &[1]).is_err());
        assert!(check_no_cycle(&c, &[1]).is_ok());
        let mut same = a.clone();
        assert!(link(&mut a, &mut same, LinkKind::Related).is_err());
    }

    #[test]
    fn merges_stay_and_need_leave_across_customers() {
        let (mut dup, mut primary) = (ticket(1, "x"), ticket(2, "y"));
        assert!(check_merge(&dup, &dup, false).is_err());
        let err = check_merge(&dup, &primary, false).unwrap_err();
        assert!(err.to_string().contains("allow_other_customer"), "{err}");
        assert!(check_merge(&dup, &primary, true).is_ok());
        link(&mut dup, &mut primary, LinkKind::MergedInto).unwrap();
        assert!(unlink(&mut primary, &mut dup).is_err());
    }
}
