//! Who may do what. A credential names a [`Principal`]: a role, and the scope the role works
//! in (teams, an agent, a customer). Every RPC needs one [`Permission`], declared once in
//! [`RPCS`]; which roles hold a permission is declared once in [`Permission::roles`]. The
//! enforcement, the README's table and the tests all read these two.
//!
//! Row scope is decided here too ([`Principal::sees`], [`Principal::works_on`]) and checked
//! by the use cases on the row itself: a ticket outside the caller's scope answers as a
//! missing one, so that its existence does not leak.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::error::{Refusal, quote, versioned};
use super::event::{EventType, TicketEvent};
use super::notification::Recipient;
use super::ticket::{AuthorRole, NewComment, NewTicket, Ticket, Tier, Visibility, named_enum};

named_enum!(
    /// What a credential may do, before its scope narrows it.
    Role {
        /// Everything, including keys and configuration.
        Admin = "admin",
        /// Everything on the tickets of their teams; their agents' availability and capacity.
        Supervisor = "supervisor",
        /// Reads the tickets of their teams, works those of their teams and their own.
        Agent = "agent",
        /// A channel service: intake, customer messages, progress reads, surveys.
        Connector = "connector",
        /// One customer: their own tickets and surveys, public messages only.
        Customer = "customer",
        /// Reads tickets and reports, with contact details masked.
        Analyst = "analyst",
    }
);

named_enum!(
    /// What an RPC needs the caller's role to hold.
    Permission {
        TicketsCreate = "tickets.create",
        TicketsRead = "tickets.read",
        TicketsUpdate = "tickets.update",
        TicketsAssign = "tickets.assign",
        TicketsWork = "tickets.work",
        TicketsReopen = "tickets.reopen",
        TicketsComment = "tickets.comment",
        StaffRead = "staff.read",
        StaffManage = "staff.manage",
        AgentsUpdate = "agents.update",
        AgentsAvailability = "agents.availability",
        QueuesRead = "queues.read",
        RoutingRead = "routing.read",
        RoutingManage = "routing.manage",
        SlaRead = "sla.read",
        SlaManage = "sla.manage",
        SlaExplain = "sla.explain",
        SurveyTemplatesRead = "survey_templates.read",
        SurveyTemplatesManage = "survey_templates.manage",
        SurveysSend = "surveys.send",
        SurveysRead = "surveys.read",
        SurveysAnswer = "surveys.answer",
        ReportsRead = "reports.read",
        WebhooksManage = "webhooks.manage",
        AccessManage = "access.manage",
        AuditRead = "audit.read",
        AbuseReview = "abuse.review",
        AbuseBlock = "abuse.block",
        Whoami = "whoami",
        TasksRead = "tasks.read",
        TasksWork = "tasks.work",
        TicketsLink = "tickets.link",
        RepliesRead = "replies.read",
        RepliesManage = "replies.manage",
        RepliesApply = "replies.apply",
        AttachmentsUpload = "attachments.upload",
        AttachmentsRead = "attachments.read",
        AttachmentsDelete = "attachments.delete",
        ImprovementsManage = "improvements.manage",
    }
);

use Role::{Admin, Agent, Analyst, Connector, Customer, Supervisor};

impl Permission {
    /// The roles that hold this permission: the one declaration of who may do what.
    pub fn roles(self) -> &'static [Role] {
        use Permission::*;
        match self {
            TicketsCreate | TicketsComment | TicketsReopen => {
                &[Admin, Supervisor, Agent, Connector, Customer]
            }
            TicketsRead | Whoami => &[Admin, Supervisor, Agent, Connector, Customer, Analyst],
            TicketsUpdate | TicketsAssign | TicketsWork | SurveysSend | QueuesRead => {
                &[Admin, Supervisor, Agent]
            }
            // Staff read and apply the reply templates of their teams and the global ones; a
            // supervisor manages their teams' (the use case checks which).
            RepliesRead | RepliesApply => &[Admin, Supervisor, Agent],
            RepliesManage => &[Admin, Supervisor],
            StaffRead | SlaRead | SlaExplain => &[Admin, Supervisor, Agent, Analyst],
            AgentsUpdate => &[Admin, Supervisor],
            AgentsAvailability => &[Admin, Supervisor, Agent],
            RoutingRead | SurveyTemplatesRead | ReportsRead => &[Admin, Supervisor, Analyst],
            SurveysRead => &[Admin, Supervisor, Agent, Analyst],
            SurveysAnswer => &[Admin, Connector, Customer],
            AbuseReview => &[Admin, Supervisor],
            // Improvements are agreed by the people who run the floor.
            ImprovementsManage => &[Admin, Supervisor],
            TasksWork | TicketsLink => &[Admin, Supervisor, Agent],
            TasksRead => &[Admin, Supervisor, Agent, Analyst],
            // Files may show more of a person than masked contacts: not for analysts.
            AttachmentsUpload | AttachmentsRead => &[Admin, Supervisor, Agent, Connector, Customer],
            // Redaction is a supervisor's call.
            AttachmentsDelete => &[Admin, Supervisor],
            StaffManage
            | RoutingManage
            | SlaManage
            | SurveyTemplatesManage
            | WebhooksManage
            | AccessManage
            | AuditRead
            | AbuseBlock => &[Admin],
        }
    }

    pub fn held_by(self, role: Role) -> bool {
        self.roles().contains(&role)
    }
}

/// One RPC and the permission it needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rpc {
    /// `Service/Method`, within package `feedback.v1`.
    pub method: &'static str,
    pub permission: Permission,
}

const fn rpc(method: &'static str, permission: Permission) -> Rpc {
    Rpc { method, permission }
}

/// Every RPC of the API and the permission it needs. Health and reflection need none.
pub const RPCS: &[Rpc] = {
    use Permission::*;
    &[
        rpc("TicketService/CreateTicket", TicketsCreate),
        rpc("TicketService/GetTicket", TicketsRead),
        rpc("TicketService/ListTickets", TicketsRead),
        rpc("TicketService/UpdateTicket", TicketsUpdate),
        rpc("TicketService/AssignTicket", TicketsAssign),
        rpc("TicketService/AcknowledgeTicket", TicketsWork),
        rpc("TicketService/AddComment", TicketsComment),
        rpc("TicketService/ListComments", TicketsRead),
        rpc("TicketService/SetPending", TicketsWork),
        rpc("TicketService/ResumeTicket", TicketsWork),
        rpc("TicketService/ResolveTicket", TicketsWork),
        rpc("TicketService/CloseTicket", TicketsWork),
        rpc("TicketService/ReopenTicket", TicketsReopen),
        rpc("TicketService/ListTicketEvents", TicketsRead),
        rpc("TicketService/WatchTickets", TicketsRead),
        rpc("RoutingService/CreateTeam", StaffManage),
        rpc("RoutingService/GetTeam", StaffRead),
        rpc("RoutingService/ListTeams", StaffRead),
        rpc("RoutingService/UpdateTeam", StaffManage),
        rpc("RoutingService/DeleteTeam", StaffManage),
        rpc("RoutingService/ListTeamQueue", QueuesRead),
        rpc("RoutingService/CreateAgent", StaffManage),
        rpc("RoutingService/GetAgent", StaffRead),
        rpc("RoutingService/ListAgents", StaffRead),
        rpc("RoutingService/UpdateAgent", AgentsUpdate),
        rpc("RoutingService/SetAgentAvailability", AgentsAvailability),
        rpc("RoutingService/DeleteAgent", StaffManage),
        rpc("RoutingService/CreateRoutingRule", RoutingManage),
        rpc("RoutingService/GetRoutingRule", RoutingRead),
        rpc("RoutingService/ListRoutingRules", RoutingRead),
        rpc("RoutingService/UpdateRoutingRule", RoutingManage),
        rpc("RoutingService/DeleteRoutingRule", RoutingManage),
        rpc("RoutingService/ReorderRoutingRules", RoutingManage),
        rpc("RoutingService/RetrainClassifier", RoutingManage),
        rpc("RoutingService/GetClassifier", RoutingRead),
        rpc("RoutingService/ExplainRoute", RoutingRead),
        rpc("SlaService/CreateSlaPolicy", SlaManage),
        rpc("SlaService/GetSlaPolicy", SlaRead),
        rpc("SlaService/ListSlaPolicies", SlaRead),
        rpc("SlaService/UpdateSlaPolicy", SlaManage),
        rpc("SlaService/DeleteSlaPolicy", SlaManage),
        rpc("SlaService/CreateCalendar", SlaManage),
        rpc("SlaService/GetCalendar", SlaRead),
        rpc("SlaService/ListCalendars", SlaRead),
        rpc("SlaService/UpdateCalendar", SlaManage),
        rpc("SlaService/DeleteCalendar", SlaManage),
        rpc("SlaService/ExplainSla", SlaExplain),
        rpc("SurveyService/CreateSurveyTemplate", SurveyTemplatesManage),
        rpc("SurveyService/GetSurveyTemplate", SurveyTemplatesRead),
        rpc("SurveyService/ListSurveyTemplates", SurveyTemplatesRead),
        rpc("SurveyService/UpdateSurveyTemplate", SurveyTemplatesManage),
        rpc("SurveyService/DeleteSurveyTemplate", SurveyTemplatesManage),
        rpc("SurveyService/SendSurvey", SurveysSend),
        rpc("SurveyService/ListTicketSurveys", SurveysRead),
        rpc("SurveyService/GetSurvey", SurveysAnswer),
        rpc("SurveyService/SubmitSurveyResponse", SurveysAnswer),
        rpc("SurveyService/ListSurveyResponses", ReportsRead),
        rpc("SurveyService/GetSurveyStats", ReportsRead),
        rpc("WebhookService/CreateWebhook", WebhooksManage),
        rpc("WebhookService/GetWebhook", WebhooksManage),
        rpc("WebhookService/ListWebhooks", WebhooksManage),
        rpc("WebhookService/UpdateWebhook", WebhooksManage),
        rpc("WebhookService/DeleteWebhook", WebhooksManage),
        rpc("WebhookService/TestWebhook", WebhooksManage),
        rpc("WebhookService/ListDeliveries", WebhooksManage),
        rpc("WebhookService/RedeliverEvents", WebhooksManage),
        rpc("AccessService/CreateApiKey", AccessManage),
        rpc("AccessService/ListApiKeys", AccessManage),
        rpc("AccessService/RevokeApiKey", AccessManage),
        rpc("AccessService/ListAuditEntries", AuditRead),
        rpc("AccessService/GetCaller", Whoami),
        rpc("AbuseService/ReleaseTicket", AbuseReview),
        rpc("AbuseService/ConfirmAbuse", AbuseReview),
        rpc("AbuseService/BlockSender", AbuseBlock),
        rpc("AbuseService/UnblockSender", AbuseBlock),
        rpc("AbuseService/GetBlockedSender", AbuseReview),
        rpc("AbuseService/ListBlockedSenders", AbuseReview),
        rpc("TicketService/MergeTickets", TicketsLink),
        rpc("TicketService/LinkTickets", TicketsLink),
        rpc("TicketService/UnlinkTickets", TicketsLink),
        rpc("TicketService/ResolveWithChildren", TicketsWork),
        rpc("TicketService/GetTicketContext", TicketsRead),
        rpc("TaskService/CreateTask", TasksWork),
        rpc("TaskService/GetTask", TasksRead),
        rpc("TaskService/ListTasks", TasksRead),
        rpc("TaskService/AcceptTask", TasksWork),
        rpc("TaskService/CompleteTask", TasksWork),
        rpc("TaskService/DeclineTask", TasksWork),
        rpc("ReplyService/CreateReplyTemplate", RepliesManage),
        rpc("ReplyService/GetReplyTemplate", RepliesRead),
        rpc("ReplyService/ListReplyTemplates", RepliesRead),
        rpc("ReplyService/UpdateReplyTemplate", RepliesManage),
        rpc("ReplyService/DeleteReplyTemplate", RepliesManage),
        rpc("ReplyService/RenderReply", RepliesApply),
        rpc("ReplyService/ApplyReply", RepliesApply),
        rpc("AttachmentService/UploadAttachment", AttachmentsUpload),
        rpc("AttachmentService/DownloadAttachment", AttachmentsRead),
        rpc("AttachmentService/ListAttachments", AttachmentsRead),
        rpc("AttachmentService/DeleteAttachment", AttachmentsDelete),
        rpc("InsightsService/GetDashboard", ReportsRead),
        rpc("InsightsService/WatchDashboard", ReportsRead),
        rpc("InsightsService/QueryMetrics", ReportsRead),
        rpc("InsightsService/GetTopIssues", ReportsRead),
        rpc("InsightsService/CreateImprovement", ImprovementsManage),
        rpc("InsightsService/GetImprovement", ReportsRead),
        rpc("InsightsService/UpdateImprovement", ImprovementsManage),
        rpc("InsightsService/ListImprovements", ReportsRead),
        rpc("InsightsService/RenderReport", ReportsRead),
        rpc("InsightsService/ExportTickets", ReportsRead),
    ]
};

/// The permission the RPC at HTTP path `/feedback.v1.Service/Method` needs; `None` for a path
/// outside the API (health, reflection, or a method that does not exist).
pub fn permission_of(path: &str) -> Option<Permission> {
    let method = path.strip_prefix("/feedback.v1.")?;
    RPCS.iter()
        .find(|rpc| rpc.method == method)
        .map(|rpc| rpc.permission)
}

/// Who a credential says the caller is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    /// The key's name, or `jwt:` and the token's subject.
    pub name: String,
    pub role: Role,
    /// The agent the caller is (role agent), or that the credential names.
    pub agent: Option<String>,
    /// The teams a supervisor or agent works in.
    pub teams: Vec<String>,
    /// The customer (their external id) a customer credential is.
    pub customer: Option<String>,
}

/// Which tickets a caller may see, as a list or a stream filters them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Scope {
    /// Every ticket.
    #[default]
    All,
    /// Tickets of these teams, and those assigned to or owned by `agent`.
    Teams {
        teams: Vec<String>,
        agent: Option<String>,
    },
    /// One customer's tickets.
    Customer(String),
}

impl Scope {
    /// Whether a watcher in this scope receives `event`: its ticket is in the scope, or has
    /// just left it (as a team's watcher sees a ticket leave its queue).
    pub fn admits(&self, event: &TicketEvent) -> bool {
        match self {
            Scope::Teams { teams, agent } => {
                teams.iter().any(|t| event.in_team(t))
                    || agent.as_ref().is_some_and(|a| {
                        event.with_assignee(a) || event.ticket.owner.as_ref() == Some(a)
                    })
            }
            _ => self.contains(&event.ticket),
        }
    }

    /// Whether `ticket` is in this scope to read: its own tickets, and those that asked one
    /// of its teams for help (a task).
    pub fn contains(&self, ticket: &Ticket) -> bool {
        self.holds(ticket)
            || matches!(self, Scope::Teams { teams, .. }
                if ticket.task_teams.iter().any(|t| teams.contains(t)))
    }

    /// Whether `ticket` is in this scope to work on: its team's, its agent's, its customer's.
    pub fn holds(&self, ticket: &Ticket) -> bool {
        match self {
            Scope::All => true,
            Scope::Teams { teams, agent } => {
                ticket.team.as_ref().is_some_and(|t| teams.contains(t))
                    || agent.as_ref().is_some_and(|a| {
                        ticket.assignee.as_ref() == Some(a) || ticket.owner.as_ref() == Some(a)
                    })
            }
            Scope::Customer(id) => &ticket.customer.external_id == id,
        }
    }
}

/// Masks a phone number or an e-mail address but for what tells two apart at a glance:
/// `+•• ••• •••• ••00`, `l•••@example.com`.
pub fn mask(value: &str) -> String {
    if let Some((local, domain)) = value.split_once('@') {
        let first: String = local.chars().take(1).collect();
        return format!("{first}•••@{domain}");
    }
    let digits = value.chars().filter(char::is_ascii_digit).count();
    let mut seen = 0;
    value
        .chars()
        .map(|c| {
            if !c.is_ascii_digit() {
                return c;
            }
            seen += 1;
            if seen + 2 > digits { c } else { '•' }
        })
        .collect()
}

impl Principal {
    /// The service itself: the clock's passes and the command line.
    pub fn system() -> Principal {
        Principal {
            name: "system".to_owned(),
            role: Role::Admin,
            agent: None,
            teams: Vec::new(),
            customer: None,
        }
    }

    /// The name its changes are recorded under: an agent's id, a customer's `customer:ID`,
    /// else `key:NAME` (`jwt:…` names already say what they are).
    pub fn actor(&self) -> String {
        match (&self.agent, &self.customer) {
            (Some(agent), _) if self.role == Role::Agent => agent.clone(),
            (_, Some(customer)) if self.role == Role::Customer => format!("customer:{customer}"),
            _ if self.name.starts_with("jwt:") || self.name == "system" => self.name.clone(),
            _ => format!("key:{}", self.name),
        }
    }

    /// Refuses a role that lacks `permission`.
    pub fn require(&self, permission: Permission) -> Result<(), Refusal> {
        if permission.held_by(self.role) {
            Ok(())
        } else {
            Err(Refusal::Forbidden {
                permission: permission.as_str(),
                description: format!("role {} does not hold {permission}", self.role),
            })
        }
    }

    /// The tickets it may read.
    pub fn scope(&self) -> Scope {
        match self.role {
            Role::Admin | Role::Connector | Role::Analyst => Scope::All,
            Role::Supervisor => Scope::Teams {
                teams: self.teams.clone(),
                agent: None,
            },
            Role::Agent => Scope::Teams {
                teams: self.teams.clone(),
                agent: self.agent.clone(),
            },
            // A customer credential always names its customer; one that does not sees nothing.
            Role::Customer => Scope::Customer(self.customer.clone().unwrap_or_default()),
        }
    }

    /// Whether it may read `ticket`.
    pub fn sees(&self, ticket: &Ticket) -> bool {
        self.scope().contains(ticket)
    }

    /// Whether it may change `ticket` (given the permission for the change): the same scope
    /// as reading, except that analysts change nothing.
    pub fn works_on(&self, ticket: &Ticket) -> bool {
        self.role != Role::Analyst && self.scope().holds(ticket)
    }

    /// Whether it may read `task`: staff of the task's team or of its ticket (`ticket`), and
    /// those who read every ticket. Customers and connectors see no tasks.
    pub fn sees_task(&self, task: &super::task::Task, ticket: &Ticket) -> bool {
        self.sees_internal() && (self.scope().holds(ticket) || self.answers_for(task))
    }

    /// Whether it may accept, complete or decline `task`: its team's staff, or its agent.
    pub fn works_on_task(&self, task: &super::task::Task) -> bool {
        self.role != Role::Analyst && self.sees_internal() && self.answers_for(task)
    }

    /// Whether it may read `team`'s task queue: the team's staff, and those who read every
    /// ticket.
    pub fn sees_team_tasks(&self, team: &str) -> bool {
        match self.scope() {
            Scope::All => self.sees_internal(),
            Scope::Teams { teams, .. } => teams.iter().any(|t| t == team),
            Scope::Customer(_) => false,
        }
    }

    fn answers_for(&self, task: &super::task::Task) -> bool {
        match self.scope() {
            Scope::All => true,
            Scope::Teams { teams, agent } => {
                teams.contains(&task.team) || agent.is_some_and(|a| task.agent.as_ref() == Some(&a))
            }
            Scope::Customer(_) => false,
        }
    }

    /// Refuses a change of a ticket it reads but does not work on: a ticket that asked one of
    /// its teams for help stays its own team's to work.
    pub fn check_works_on(&self, ticket: &Ticket) -> Result<(), Refusal> {
        if self.works_on(ticket) {
            return Ok(());
        }
        Err(Refusal::Forbidden {
            permission: Permission::TicketsWork.as_str(),
            description: format!(
                "ticket {} is team {}'s to work; a task lets your team read it and answer the task",
                ticket.number,
                ticket.team.as_deref().unwrap_or("-")
            ),
        })
    }

    /// Whether it sees what staff write for each other (internal notes).
    pub fn sees_internal(&self) -> bool {
        !matches!(self.role, Role::Customer | Role::Connector)
    }

    /// Whether it receives survey tokens: those who deliver or answer surveys.
    pub fn sees_survey_tokens(&self) -> bool {
        matches!(self.role, Role::Admin | Role::Connector | Role::Customer)
    }

    /// Whether customers' phones and e-mail addresses are masked for it.
    pub fn masks_contacts(&self) -> bool {
        self.role == Role::Analyst
    }

    /// The actor a change is recorded under when the request names `named` (empty: none):
    /// the caller itself, or, for an admin, the named agent on whose behalf it acts (the
    /// event then records both). A supervisor's "on behalf of" is checked against the agent's
    /// teams by the use case, which knows them.
    pub fn acting(&self, field: &str, named: &str) -> Result<Acting, Refusal> {
        let own = self.actor();
        let longest = super::ticket::limits::ACTOR;
        if named.chars().count() > longest {
            return Err(Refusal::invalid(
                field,
                format!("{} is longer than {longest} characters", quote(named)),
            ));
        }
        if named.is_empty() || named == own {
            return Ok(Acting {
                actor: own,
                via: None,
            });
        }
        match self.role {
            Role::Admin | Role::Supervisor => Ok(Acting {
                actor: named.to_owned(),
                via: Some(own),
            }),
            _ => Err(Refusal::Forbidden {
                permission: "act_on_behalf",
                description: format!(
                    "{field} {} is not the caller ({own}); only admins and supervisors act \
                     on behalf of an agent",
                    quote(named)
                ),
            }),
        }
    }

    /// Refuses a supervisor acting for an agent outside their teams.
    pub fn check_supervises(&self, agent: &str, agent_teams: &[String]) -> Result<(), Refusal> {
        if self.role != Role::Supervisor || agent_teams.iter().any(|t| self.teams.contains(t)) {
            return Ok(());
        }
        Err(Refusal::Forbidden {
            permission: "act_on_behalf",
            description: format!(
                "agent {} is in none of the supervisor's teams",
                quote(agent)
            ),
        })
    }

    /// Refuses a report a supervisor asks for beyond their teams: theirs name one of them.
    pub fn check_report_team(&self, team: Option<&str>) -> Result<(), Refusal> {
        if self.role != Role::Supervisor
            || team.is_some_and(|t| self.teams.iter().any(|own| own == t))
        {
            return Ok(());
        }
        Err(Refusal::Forbidden {
            permission: Permission::ReportsRead.as_str(),
            description: format!(
                "a supervisor's reports are of their own teams: ask for one of {} as the team \
                 filter or scope (survey figures may instead be grouped by team)",
                self.teams.join(", ")
            ),
        })
    }

    /// The teams whose reply templates it sees besides the global ones; `None`: every
    /// template (admins). Staff see their teams'; other roles none.
    pub fn reply_teams(&self) -> Option<Vec<String>> {
        match self.role {
            Role::Admin => None,
            Role::Supervisor | Role::Agent => Some(self.teams.clone()),
            _ => Some(Vec::new()),
        }
    }

    /// Whether it sees (and, holding the permission, applies) a reply template of `team`
    /// (`None`: a global one).
    pub fn sees_replies_of(&self, team: Option<&str>) -> bool {
        match self.role {
            Role::Admin => true,
            Role::Supervisor | Role::Agent => {
                team.is_none_or(|t| self.teams.iter().any(|own| own == t))
            }
            _ => false,
        }
    }

    /// Refuses a change of a reply template of `team` (`None`: global) beyond the caller:
    /// global templates are the admins' to manage, a team's also its supervisors'.
    pub fn check_manages_replies_of(&self, team: Option<&str>) -> Result<(), Refusal> {
        let refuse = |description: String| {
            Err(Refusal::Forbidden {
                permission: Permission::RepliesManage.as_str(),
                description,
            })
        };
        match (self.role, team) {
            (Role::Admin, _) => Ok(()),
            (Role::Supervisor, Some(t)) if self.teams.iter().any(|own| own == t) => Ok(()),
            (Role::Supervisor, None) => refuse(
                "global reply templates are managed by admins; a supervisor names one of their \
                 teams in team"
                    .into(),
            ),
            (_, Some(t)) => refuse(format!(
                "a supervisor manages the reply templates of their own teams; {} is not one",
                quote(t)
            )),
            (_, None) => refuse(format!(
                "role {} does not manage reply templates",
                self.role
            )),
        }
    }

    /// Refuses a team's queue or agents outside a supervisor's or agent's teams.
    pub fn check_team(&self, team: &str) -> Result<(), Refusal> {
        if !matches!(self.role, Role::Supervisor | Role::Agent)
            || self.teams.iter().any(|t| t == team)
        {
            return Ok(());
        }
        Err(Refusal::not_found("team", team))
    }

    /// Refuses a change of agent `agent` (in `agent_teams`) beyond the caller's reach: agents
    /// change themselves alone, supervisors the agents of their teams, and only in `fields`
    /// they may touch (availability, capacity).
    pub fn check_agent_change(
        &self,
        agent: &str,
        agent_teams: &[String],
        fields: &[&str],
    ) -> Result<(), Refusal> {
        const SUPERVISED: [&str; 2] = ["availability", "capacity"];
        let refuse = |description: String| {
            Err(Refusal::Forbidden {
                permission: Permission::AgentsUpdate.as_str(),
                description,
            })
        };
        match self.role {
            Role::Agent if self.agent.as_deref() != Some(agent) => refuse(format!(
                "an agent changes their own availability, not {}'s",
                quote(agent)
            )),
            Role::Agent if fields.iter().any(|f| *f != "availability") => {
                refuse("an agent changes their own availability alone".into())
            }
            Role::Supervisor if !agent_teams.iter().any(|t| self.teams.contains(t)) => {
                refuse(format!(
                    "agent {} is in none of the supervisor's teams",
                    quote(agent)
                ))
            }
            Role::Supervisor if fields.iter().any(|f| !SUPERVISED.contains(f)) => {
                refuse("a supervisor changes their agents' availability and capacity alone".into())
            }
            _ => Ok(()),
        }
    }

    /// Refuses a ticket a customer credential opens for anyone but itself, or with a priority
    /// of its own choosing; what tier a customer is served at is the CRM's word, not theirs.
    pub fn check_intake(&self, new: &mut NewTicket) -> Result<(), Refusal> {
        let (Some(own), Role::Customer) = (&self.customer, self.role) else {
            return Ok(());
        };
        if *own != new.customer.external_id {
            return Err(Refusal::Forbidden {
                permission: Permission::TicketsCreate.as_str(),
                description: format!(
                    "customer.external_id {} is not the caller's own",
                    quote(&new.customer.external_id)
                ),
            });
        }
        if new.priority.is_some() {
            return Err(Refusal::invalid(
                "priority",
                "is set by triage, not by the customer; leave it out",
            ));
        }
        new.customer.tier = Tier::Standard;
        Ok(())
    }

    /// Refuses a comment this caller may not write on `ticket`: customers and connectors write
    /// public messages as the ticket's customer only; staff write as staff, and only admins
    /// may record a customer's message.
    pub fn check_comment(&self, ticket: &Ticket, comment: &NewComment) -> Result<(), Refusal> {
        let as_customer = comment.author_role == AuthorRole::Customer;
        let refuse = |description: String| {
            Err(Refusal::Forbidden {
                permission: Permission::TicketsComment.as_str(),
                description,
            })
        };
        match self.role {
            Role::Customer | Role::Connector if !as_customer => refuse(
                "customers and connectors write as the customer: author_role CUSTOMER".into(),
            ),
            Role::Customer | Role::Connector if comment.author != ticket.customer.external_id => {
                refuse(format!(
                    "author {} is not the ticket's customer",
                    quote(&comment.author)
                ))
            }
            Role::Supervisor | Role::Agent if as_customer => refuse(
                "staff do not write as the customer; a connector records the customer's messages"
                    .into(),
            ),
            _ => Ok(()),
        }
    }

    /// `event` as this caller may see it: `None` when it may not see it at all (another
    /// scope, or an internal note for a customer); without survey tokens unless it delivers
    /// surveys; with contact details masked for analysts.
    pub fn view(&self, mut event: TicketEvent) -> Option<TicketEvent> {
        if !self.shows(&event) {
            return None;
        }
        self.look().apply(&mut event);
        Some(event)
    }

    /// Whether this caller may see `event` at all: in its scope, and neither an internal
    /// note, an internal file nor a staff reminder for a customer.
    pub fn shows(&self, event: &TicketEvent) -> bool {
        if !self.sees(&event.ticket) {
            return false;
        }
        if self.sees_internal() {
            return true;
        }
        // Internal notes, tasks and links between tickets are between staff.
        let internal_note = event
            .comment
            .as_ref()
            .is_some_and(|c| c.visibility == Visibility::Internal)
            || event.task.is_some()
            || event.link.is_some()
            || event
                .attachment
                .as_ref()
                .is_some_and(|a| a.visibility == Visibility::Internal);
        // Staff reminders (assignment, escalation) are not for customers' eyes; the
        // notifications for the customer are.
        let staff_reminder = event.event_type == EventType::Notification
            && !event
                .notification
                .as_ref()
                .is_some_and(|n| n.recipient == Recipient::Customer);
        !internal_note && !staff_reminder
    }

    /// How the events this caller sees look to it; callers with the same look see each event
    /// exactly alike.
    pub fn look(&self) -> Look {
        Look {
            hides_survey_tokens: !self.sees_survey_tokens(),
            masks_contacts: self.masks_contacts(),
            hides_collaboration: !self.sees_internal(),
        }
    }

    /// `ticket` as this caller may read it: contact details masked for analysts.
    pub fn view_ticket(&self, mut ticket: Ticket) -> Ticket {
        if self.masks_contacts() {
            mask_ticket(&mut ticket);
        }
        if !self.sees_internal() {
            hide_collaboration(&mut ticket);
        }
        ticket
    }
}

/// `ticket` without what is between staff: its tasks, the teams they asked, and its links to
/// other tickets (which may be other customers').
fn hide_collaboration(ticket: &mut Ticket) {
    ticket.open_tasks = 0;
    ticket.task_teams.clear();
    ticket.links.clear();
}

/// `ticket` with its customer's phone and e-mail masked.
fn mask_ticket(ticket: &mut Ticket) {
    let customer = &mut ticket.customer;
    customer.phone = mask(&customer.phone);
    customer.email = mask(&customer.email);
}

/// What an event's viewer is not shown of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Look {
    hides_survey_tokens: bool,
    masks_contacts: bool,
    /// Customers and connectors: no tasks, asked teams or links between tickets.
    hides_collaboration: bool,
}

impl Look {
    /// Every look, numbered from 0, for keeping one rendering of an event per look.
    pub const COUNT: usize = 8;

    pub fn index(self) -> usize {
        usize::from(self.hides_survey_tokens)
            | usize::from(self.masks_contacts) << 1
            | usize::from(self.hides_collaboration) << 2
    }

    /// Takes out of `event` what this look does not show.
    pub fn apply(self, event: &mut TicketEvent) {
        if self.hides_survey_tokens {
            event.hide_survey_token();
        }
        if self.hides_collaboration {
            hide_collaboration(&mut event.ticket);
        }
        if self.masks_contacts {
            mask_ticket(&mut event.ticket);
            for change in &mut event.changes {
                if matches!(change.field.as_str(), "customer.phone" | "customer.email") {
                    change.before = mask(&change.before);
                    change.after = mask(&change.after);
                }
            }
        }
    }
}

/// Who a change is recorded under: the actor, and who acted for them when that was someone
/// else.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Acting {
    pub actor: String,
    /// The caller who acted on the actor's behalf.
    pub via: Option<String>,
}

impl Acting {
    /// The service itself, as `actor` (the router, the SLA, surveys), or a customer answering.
    pub fn service(actor: &str) -> Acting {
        Acting {
            actor: actor.to_owned(),
            via: None,
        }
    }
}

impl fmt::Display for Acting {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.via {
            Some(via) => write!(f, "{} (by {via})", self.actor),
            None => f.write_str(&self.actor),
        }
    }
}

/// What every API key starts with, so that a leaked one is recognised by secret scanners.
pub const KEY_PREFIX: &str = "fbk_";

/// A credential for a service or a person: a name, a role and its scope. Only a hash of the
/// key is kept; the key itself is shown once, when it is created.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ApiKey {
    pub name: String,
    pub role: Role,
    pub teams: Vec<String>,
    pub agent: Option<String>,
    pub customer: Option<String>,
    /// SHA-256 of the key, hex. Never in the configuration log.
    #[serde(skip)]
    pub hash: String,
    /// The key's first characters, to tell keys apart in a list.
    pub prefix: String,
    pub created_by: String,
    pub revoked_at: Option<DateTime<Utc>>,
    pub version: i64,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

versioned!(ApiKey);

/// The SHA-256 of a key, hex: what is stored and looked up. Keys are 256 random bits, so a
/// fast hash is enough: there is nothing to guess.
pub fn key_hash(key: &str) -> String {
    use sha2::Digest;
    sha2::Sha256::digest(key.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl ApiKey {
    /// A new key named `name` for `principal`'s role and scope, from the secret `key`.
    pub fn new(principal: &Principal, key: &str, created_by: &str, now: DateTime<Utc>) -> ApiKey {
        ApiKey {
            name: principal.name.clone(),
            role: principal.role,
            teams: principal.teams.clone(),
            agent: principal.agent.clone(),
            customer: principal.customer.clone(),
            hash: key_hash(key),
            prefix: key.chars().take(KEY_PREFIX.len() + 6).collect(),
            created_by: created_by.to_owned(),
            revoked_at: None,
            version: 1,
            created_at: now,
            updated_at: now,
        }
    }

    /// Who the key says its holder is.
    pub fn principal(&self) -> Principal {
        Principal {
            name: self.name.clone(),
            role: self.role,
            agent: self.agent.clone(),
            teams: self.teams.clone(),
            customer: self.customer.clone(),
        }
    }

    pub fn is_revoked(&self) -> bool {
        self.revoked_at.is_some()
    }
}

impl Principal {
    /// Refuses a scope its role cannot work in: agents name their agent, customers their
    /// customer, supervisors at least one team; the other roles take neither.
    pub fn check_scope(&self) -> Result<(), Refusal> {
        let blank = |v: &Option<String>| v.as_ref().is_some_and(|v| v.trim().is_empty());
        if blank(&self.agent)
            || blank(&self.customer)
            || self.teams.iter().any(|t| t.trim().is_empty())
        {
            let field = if blank(&self.agent) {
                "agent"
            } else if blank(&self.customer) {
                "customer"
            } else {
                "teams"
            };
            return Err(Refusal::invalid(field, "is blank"));
        }
        let needs = match self.role {
            Role::Agent if self.agent.is_none() => Some(("agent", "an agent key names its agent")),
            Role::Customer if self.customer.is_none() => {
                Some(("customer", "a customer key names its customer"))
            }
            Role::Supervisor if self.teams.is_empty() => {
                Some(("teams", "a supervisor key names at least one team"))
            }
            Role::Customer | Role::Connector | Role::Analyst | Role::Admin
                if !self.teams.is_empty() =>
            {
                Some(("teams", "only supervisors and agents work in teams"))
            }
            Role::Customer if self.agent.is_some() => Some(("agent", "a customer key is no agent")),
            _ if self.role != Role::Customer && self.customer.is_some() => {
                Some(("customer", "only a customer key names a customer"))
            }
            _ => None,
        };
        match needs {
            Some((field, why)) => Err(Refusal::invalid(field, why)),
            None => Ok(()),
        }
    }
}

/// One request's caller: who the credential says, and where the call came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub principal: std::sync::Arc<Principal>,
    /// The peer's address, for the audit; `-` when unknown.
    pub peer: String,
}

impl Caller {
    /// The service itself, for the command line and the clock's passes.
    pub fn system() -> Caller {
        Caller {
            principal: std::sync::Arc::new(Principal::system()),
            peer: "-".to_owned(),
        }
    }
}

impl std::ops::Deref for Caller {
    type Target = Principal;
    fn deref(&self) -> &Principal {
        &self.principal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rpc_is_declared_once() {
        let mut methods: Vec<_> = RPCS.iter().map(|r| r.method).collect();
        methods.sort_unstable();
        let before = methods.len();
        methods.dedup();
        assert_eq!(before, methods.len(), "an RPC is declared twice");
        assert_eq!(
            permission_of("/feedback.v1.TicketService/GetTicket"),
            Some(Permission::TicketsRead)
        );
        assert_eq!(permission_of("/grpc.health.v1.Health/Check"), None);
        assert_eq!(permission_of("/feedback.v1.TicketService/Nope"), None);
    }

    #[test]
    fn admin_holds_every_permission_and_analysts_only_read() {
        for &p in Permission::ALL {
            assert!(p.held_by(Role::Admin), "{p}");
            if p.held_by(Role::Analyst) {
                assert!(
                    p.as_str().ends_with(".read")
                        || p.as_str().ends_with("explain")
                        || p == Permission::Whoami,
                    "analysts hold {p}"
                );
            }
        }
    }

    fn principal(role: Role) -> Principal {
        Principal {
            name: "k".into(),
            role,
            agent: Some("ann".into()),
            teams: vec!["billing".into()],
            customer: Some("c-1".into()),
        }
    }

    #[test]
    fn actors_restate_the_caller_unless_admin_or_supervisor() {
        let agent = principal(Role::Agent);
        assert_eq!(agent.acting("actor", "").unwrap().actor, "ann");
        assert_eq!(agent.acting("actor", "ann").unwrap().via, None);
        assert!(matches!(
            agent.acting("actor", "bob"),
            Err(Refusal::Forbidden { .. })
        ));
        let admin = Principal {
            role: Role::Admin,
            agent: None,
            ..principal(Role::Admin)
        };
        let acting = admin.acting("actor", "bob").unwrap();
        assert_eq!(
            (acting.actor.as_str(), acting.via.as_deref()),
            ("bob", Some("key:k"))
        );
    }

    #[test]
    fn reply_templates_are_seen_by_their_teams_and_managed_by_supervisors() {
        let (agent, supervisor) = (principal(Role::Agent), principal(Role::Supervisor));
        let admin = Principal {
            teams: Vec::new(),
            ..principal(Role::Admin)
        };
        for staff in [&agent, &supervisor, &admin] {
            assert!(staff.sees_replies_of(None), "{}", staff.role);
            assert!(staff.sees_replies_of(Some("billing")), "{}", staff.role);
        }
        assert!(!agent.sees_replies_of(Some("tech")));
        assert!(!supervisor.sees_replies_of(Some("tech")));
        assert!(admin.sees_replies_of(Some("tech")));
        assert!(!principal(Role::Analyst).sees_replies_of(None));
        assert!(supervisor.check_manages_replies_of(Some("billing")).is_ok());
        for team in [None, Some("tech")] {
            assert!(matches!(
                supervisor.check_manages_replies_of(team),
                Err(Refusal::Forbidden { .. })
            ));
            assert!(admin.check_manages_replies_of(team).is_ok());
        }
        assert!(agent.check_manages_replies_of(Some("billing")).is_err());
    }

    #[test]
    fn masks_keep_only_the_edges() {
        assert_eq!(mask("li.lei@example.com"), "l•••@example.com");
        assert_eq!(mask("+86 138 0013 8000"), "+•• ••• •••• ••00");
        assert_eq!(mask("13800138000"), "•••••••••00");
        assert_eq!(mask(""), "");
    }
}
