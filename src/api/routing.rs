//! RoutingService: teams, agents, rules, the classifier, and ExplainRoute.

use chrono::{DateTime, Utc};
use tonic::Request;

use super::check::{Check, given, key, keys, only_key, optional_key, request_id};
use super::mask::{patch, patch_explained};
use super::paging::{Page, by_id};
use super::tickets::new_ticket;
use super::{Context, Reply, caller, convert, etag, reply};
use crate::domain::assignment::{Availability, Strategy};
use crate::domain::classifier::Candidate;
use crate::domain::idempotency::Requested;
use crate::domain::patch::{Field, Patch};
use crate::domain::rules::{Actions, Conditions, Rule};
use crate::domain::staff::{Agent, Team, normalize_labels};
use crate::domain::ticket::{limits, normalize_tags};
use crate::proto::feedback::v1::{self as pb, routing_service_server::RoutingService};
use crate::store::StoredModel;

/// Capacity of an agent created without one.
const DEFAULT_CAPACITY: u32 = 10;
/// Longest keyword, product or category a rule may name.
const RULE_TERM: usize = 128;
/// Most products or categories a rule's conditions may list.
const RULE_VALUES: usize = 100;

/// The RoutingService handlers.
pub struct RoutingApi {
    cx: Context,
}

impl RoutingApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }
}

/// The fields UpdateTeam may change.
const TEAM_FIELDS: &[Field<Team, Team>] = &[
    ("display_name", |t, v| {
        t.display_name = v.display_name.clone()
    }),
    ("supervisor", |t, v| t.supervisor = v.supervisor.clone()),
    ("calendar", |t, v| t.calendar = v.calendar.clone()),
    ("strategy", |t, v| t.strategy = v.strategy),
    ("members", |t, v| t.members = v.members.clone()),
];

/// Why UpdateTeam cannot name a field it has no entry for.
fn team_field_fixed(path: &str) -> Option<&'static str> {
    (path == "time_zone").then_some(
        "is output only: a team keeps the time zone of its calendar; change the calendar's \
         time_zone, or name another calendar",
    )
}

/// The fields UpdateAgent may change.
const AGENT_FIELDS: &[Field<Agent, Agent>] = &[
    ("display_name", |a, v| {
        a.display_name = v.display_name.clone()
    }),
    ("teams", |a, v| a.teams = v.teams.clone()),
    ("skills", |a, v| a.skills = v.skills.clone()),
    ("capacity", |a, v| a.capacity = v.capacity),
    ("availability", |a, v| a.availability = v.availability),
];

/// The fields UpdateRoutingRule may change, each replaced whole.
const RULE_FIELDS: &[Field<Rule, Rule>] = &[
    ("name", |r, v| r.name = v.name.clone()),
    ("disabled", |r, v| r.enabled = v.enabled),
    ("conditions", |r, v| r.conditions = v.conditions.clone()),
    ("actions", |r, v| r.actions = v.actions.clone()),
];

/// A team from a request.
fn team(check: &mut Check, t: &pb::Team, now: DateTime<Utc>) -> Team {
    let id = key(check, "team.id", &t.id);
    let display_name = check
        .optional_text("team.display_name", &t.display_name, limits::NAME)
        .unwrap_or_else(|| id.clone());
    Team {
        display_name,
        supervisor: optional_key(check, "team.supervisor", &t.supervisor),
        calendar: optional_key(check, "team.calendar", &t.calendar),
        strategy: check
            .optional_enum("team.strategy", t.strategy)
            .unwrap_or(Strategy::RoundRobin),
        id,
        members: keys(check, "team.members", &t.members, limits::MEMBERS),
        time_zone: String::new(),
        queued: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn agent(check: &mut Check, a: &pb::Agent, now: DateTime<Utc>) -> Agent {
    let id = key(check, "agent.id", &a.id);
    let display_name = check
        .optional_text("agent.display_name", &a.display_name, limits::NAME)
        .unwrap_or_else(|| id.clone());
    let teams = keys(check, "agent.teams", &a.teams, limits::TEAMS_PER_AGENT);
    let skills = check.labels("agent.skills", &a.skills, limits::SKILLS, limits::SKILL);
    let capacity = match a.capacity {
        0 => DEFAULT_CAPACITY,
        c if (1..=limits::MAX_CAPACITY).contains(&c) => c as u32,
        _ => {
            check.add(
                "agent.capacity",
                format!("must be 1 to {}", limits::MAX_CAPACITY),
            );
            DEFAULT_CAPACITY
        }
    };
    Agent {
        display_name,
        teams,
        skills: normalize_labels(&skills),
        capacity,
        availability: check
            .optional_enum("agent.availability", a.availability)
            .unwrap_or(Availability::Offline),
        id,
        open_tickets: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn rule(check: &mut Check, r: &pb::RoutingRule, now: DateTime<Utc>) -> Rule {
    let name = check.text("rule.name", &r.name, true, limits::NAME);
    let c = r.conditions.clone().unwrap_or_default();
    let most = limits::FILTER_VALUES;
    let conditions = Conditions {
        kinds: check.enums("rule.conditions.kinds", &c.kinds, most),
        channels: check.enums("rule.conditions.channels", &c.channels, most),
        products: check.labels(
            "rule.conditions.products",
            &c.products,
            RULE_VALUES,
            RULE_TERM,
        ),
        categories: check.labels(
            "rule.conditions.categories",
            &c.categories,
            RULE_VALUES,
            limits::CATEGORY,
        ),
        tiers: check.enums("rule.conditions.tiers", &c.tiers, most),
        priorities: check.enums("rule.conditions.priorities", &c.priorities, most),
        tags: normalize_labels(&check.labels(
            "rule.conditions.tags",
            &c.tags,
            limits::TAGS,
            limits::TAG,
        )),
        keywords: check.labels(
            "rule.conditions.keywords",
            &c.keywords,
            limits::KEYWORDS,
            RULE_TERM,
        ),
    };
    let a = r.actions.clone().unwrap_or_default();
    let actions = Actions {
        team: optional_key(check, "rule.actions.team", &a.team),
        category: check.optional_text("rule.actions.category", &a.category, limits::CATEGORY),
        priority_floor: check.optional_enum("rule.actions.priority_floor", a.priority_floor),
        tags: normalize_labels(&check.labels(
            "rule.actions.tags",
            &a.tags,
            limits::TAGS,
            limits::TAG,
        )),
        strategy: check.optional_enum("rule.actions.strategy", a.strategy),
    };
    if actions == Actions::default() {
        check.add(
            "rule.actions",
            "is required: set a team, category, priority floor, tags or strategy",
        );
    }
    Rule {
        id: r.id,
        position: 0,
        name,
        enabled: !r.disabled,
        conditions,
        actions,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn predictions(candidates: Vec<Candidate>) -> Vec<pb::Prediction> {
    candidates
        .into_iter()
        .map(|c| pb::Prediction {
            label: c.label,
            confidence: c.confidence,
        })
        .collect()
}

impl RoutingApi {
    fn classifier_info(&self, model: Option<&StoredModel>) -> pb::ClassifierInfo {
        let threshold = self.cx.app.settings().routing.confidence_threshold;
        let Some(m) = model else {
            return pb::ClassifierInfo {
                confidence_threshold: threshold,
                ..Default::default()
            };
        };
        pb::ClassifierInfo {
            trained: true,
            version: m.version,
            train_time: Some(convert::timestamp(m.trained_at)),
            trained_by: m.trained_by.clone(),
            examples: m.examples,
            categories: m.model.category.labels(),
            teams: m.model.team.labels(),
            category_accuracy: m.category_accuracy,
            team_accuracy: m.team_accuracy,
            confidence_threshold: threshold,
        }
    }
}

#[tonic::async_trait]
impl RoutingService for RoutingApi {
    async fn create_team(&self, request: Request<pb::CreateTeamRequest>) -> Reply<pb::Team> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let t = given(&mut check, "team", r.team);
                let new = team(&mut check, &t, self.cx.app.now());
                let new = check.finish(new)?;
                Ok(convert::team(self.cx.app.create_team(&by, new).await?))
            }
            .await,
        )
    }

    async fn get_team(&self, request: Request<pb::GetTeamRequest>) -> Reply<pb::Team> {
        reply(
            async {
                let id = only_key("id", &request.get_ref().id)?;
                Ok(convert::team(self.cx.app.team(&id).await?))
            }
            .await,
        )
    }

    async fn list_teams(
        &self,
        request: Request<pb::ListTeamsRequest>,
    ) -> Reply<pb::ListTeamsResponse> {
        let r = request.into_inner();
        reply(
            async {
                let app = &self.cx.app;
                let (teams, next_page_token) = by_id(
                    &r,
                    |after, rows| app.list_teams(after, rows),
                    convert::team,
                    |t| t.id.clone(),
                )
                .await?;
                Ok(pb::ListTeamsResponse {
                    teams,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_team(&self, request: Request<pb::UpdateTeamRequest>) -> Reply<pb::Team> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "team", r.team);
                let now = self.cx.app.now();
                let patch: Patch<Team> = patch_explained(
                    &mut check,
                    "team",
                    r.update_mask.as_ref(),
                    TEAM_FIELDS,
                    team_field_fixed,
                    |check| team(check, &given, now),
                );
                if patch.names("strategy") && given.strategy == 0 {
                    check.add("team.strategy", "is required");
                }
                check.done()?;
                let id = patch.value.id.clone();
                let updated = self
                    .cx
                    .app
                    .update_team(&by, &id, etag(&given.etag), &patch)
                    .await?;
                Ok(convert::team(updated))
            }
            .await,
        )
    }

    async fn delete_team(
        &self,
        request: Request<pb::DeleteTeamRequest>,
    ) -> Reply<pb::DeleteTeamResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                self.cx.app.delete_team(&by, &id, etag(&r.etag)).await?;
                Ok(pb::DeleteTeamResponse {})
            }
            .await,
        )
    }

    async fn list_team_queue(
        &self,
        request: Request<pb::ListTeamQueueRequest>,
    ) -> Reply<pb::ListTeamQueueResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let team = key(&mut check, "team", &r.team);
                let page: Page<(i16, i64)> = Page::read(&mut check, &r);
                check.done()?;
                let tickets = self
                    .cx
                    .app
                    .team_queue(&team, page.after, page.fetch(), &by)
                    .await?;
                let (tickets, next_page_token) =
                    page.finish(tickets, convert::ticket, |t| (t.priority.rank(), t.id));
                Ok(pb::ListTeamQueueResponse {
                    tickets,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn create_agent(&self, request: Request<pb::CreateAgentRequest>) -> Reply<pb::Agent> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let a = given(&mut check, "agent", r.agent);
                let new = agent(&mut check, &a, self.cx.app.now());
                let new = check.finish(new)?;
                Ok(convert::agent(self.cx.app.create_agent(&by, new).await?))
            }
            .await,
        )
    }

    async fn get_agent(&self, request: Request<pb::GetAgentRequest>) -> Reply<pb::Agent> {
        reply(
            async {
                let id = only_key("id", &request.get_ref().id)?;
                Ok(convert::agent(self.cx.app.agent(&id).await?))
            }
            .await,
        )
    }

    async fn list_agents(
        &self,
        request: Request<pb::ListAgentsRequest>,
    ) -> Reply<pb::ListAgentsResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let team = optional_key(&mut check, "team", &r.team);
                let availability = check.optional_enum("availability", r.availability);
                let page: Page<String> = Page::read(&mut check, &r);
                check.done()?;
                let agents = self
                    .cx
                    .app
                    .list_agents(
                        team.as_deref(),
                        availability,
                        page.after.clone(),
                        page.fetch(),
                    )
                    .await?;
                let (agents, next_page_token) =
                    page.finish(agents, convert::agent, |a| a.id.clone());
                Ok(pb::ListAgentsResponse {
                    agents,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_agent(&self, request: Request<pb::UpdateAgentRequest>) -> Reply<pb::Agent> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "agent", r.agent);
                let now = self.cx.app.now();
                let patch: Patch<Agent> = patch(
                    &mut check,
                    "agent",
                    r.update_mask.as_ref(),
                    AGENT_FIELDS,
                    |check| agent(check, &given, now),
                );
                if patch.names("availability") && given.availability == 0 {
                    check.add("agent.availability", "is required");
                }
                if patch.names("capacity") && given.capacity == 0 {
                    check.add("agent.capacity", "is required");
                }
                check.done()?;
                let id = patch.value.id.clone();
                let updated = self
                    .cx
                    .app
                    .update_agent(&by, &id, etag(&given.etag), &patch)
                    .await?;
                Ok(convert::agent(updated))
            }
            .await,
        )
    }

    async fn set_agent_availability(
        &self,
        request: Request<pb::SetAgentAvailabilityRequest>,
    ) -> Reply<pb::Agent> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = key(&mut check, "id", &r.id);
                let availability: Availability = check.required("availability", r.availability);
                check.done()?;
                let mut value = agent(&mut Check::new(), &pb::Agent::default(), self.cx.app.now());
                value.availability = availability;
                let patch = Patch::new(
                    value,
                    AGENT_FIELDS
                        .iter()
                        .filter(|(name, _)| *name == "availability")
                        .copied()
                        .collect(),
                );
                Ok(convert::agent(
                    self.cx.app.update_agent(&by, &id, None, &patch).await?,
                ))
            }
            .await,
        )
    }

    async fn delete_agent(
        &self,
        request: Request<pb::DeleteAgentRequest>,
    ) -> Reply<pb::DeleteAgentResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                self.cx.app.delete_agent(&by, &id, etag(&r.etag)).await?;
                Ok(pb::DeleteAgentResponse {})
            }
            .await,
        )
    }

    async fn create_routing_rule(
        &self,
        request: Request<pb::CreateRoutingRuleRequest>,
    ) -> Reply<pb::RoutingRule> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = r.rule.clone().unwrap_or_default();
                if r.rule.is_none() {
                    check.add("rule", "is required");
                }
                let mut new = rule(&mut check, &given, self.cx.app.now());
                new.id = 0;
                new.position = match usize::try_from(r.position) {
                    Ok(p) => p,
                    Err(_) => {
                        check.add("position", "must not be negative");
                        0
                    }
                };
                let request_id = request_id(&mut check, &r.request_id);
                let new = check.finish(new)?;
                let requested = Requested::of(
                    request_id,
                    &(
                        &new.name,
                        &new.conditions,
                        &new.actions,
                        new.enabled,
                        new.position,
                    ),
                );
                Ok(convert::rule(
                    self.cx.app.create_rule(&by, new, requested).await?,
                ))
            }
            .await,
        )
    }

    async fn get_routing_rule(
        &self,
        request: Request<pb::GetRoutingRuleRequest>,
    ) -> Reply<pb::RoutingRule> {
        let id = request.into_inner().id;
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("id", id);
                check.done()?;
                Ok(convert::rule(self.cx.app.rule(id).await?))
            }
            .await,
        )
    }

    async fn list_routing_rules(
        &self,
        request: Request<pb::ListRoutingRulesRequest>,
    ) -> Reply<pb::ListRoutingRulesResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let page: Page<usize> = Page::read(&mut check, &r);
                check.done()?;
                let rules = self.cx.app.list_rules(page.after, page.fetch()).await?;
                let (rules, next_page_token) = page.finish(rules, convert::rule, |r| r.position);
                Ok(pb::ListRoutingRulesResponse {
                    rules,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_routing_rule(
        &self,
        request: Request<pb::UpdateRoutingRuleRequest>,
    ) -> Reply<pb::RoutingRule> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = given(&mut check, "rule", r.rule);
                let id = check.id("rule.id", given.id);
                let now = self.cx.app.now();
                let patch: Patch<Rule> = patch(
                    &mut check,
                    "rule",
                    r.update_mask.as_ref(),
                    RULE_FIELDS,
                    |check| rule(check, &given, now),
                );
                check.done()?;
                let updated = self
                    .cx
                    .app
                    .update_rule(&by, id, etag(&given.etag), &patch)
                    .await?;
                Ok(convert::rule(updated))
            }
            .await,
        )
    }

    async fn delete_routing_rule(
        &self,
        request: Request<pb::DeleteRoutingRuleRequest>,
    ) -> Reply<pb::DeleteRoutingRuleResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("id", r.id);
                check.done()?;
                self.cx.app.delete_rule(&by, id, etag(&r.etag)).await?;
                Ok(pb::DeleteRoutingRuleResponse {})
            }
            .await,
        )
    }

    async fn reorder_routing_rules(
        &self,
        request: Request<pb::ReorderRoutingRulesRequest>,
    ) -> Reply<pb::ReorderRoutingRulesResponse> {
        let by = caller(&request)?;
        let ids = request.into_inner().rule_ids;
        reply(
            async {
                let mut check = Check::new();
                check.at_most("rule_ids", ids.len(), limits::IDS);
                check.done()?;
                let rules = self.cx.app.reorder_rules(&by, &ids).await?;
                Ok(pb::ReorderRoutingRulesResponse {
                    rules: rules.into_iter().map(convert::rule).collect(),
                })
            }
            .await,
        )
    }

    async fn retrain_classifier(
        &self,
        request: Request<pb::RetrainClassifierRequest>,
    ) -> Reply<pb::ClassifierInfo> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let acting = by.acting("actor", &r.actor)?;
                let model = self.cx.app.retrain(&acting.actor).await?;
                Ok(self.classifier_info(Some(&model)))
            }
            .await,
        )
    }

    async fn get_classifier(
        &self,
        _request: Request<pb::GetClassifierRequest>,
    ) -> Reply<pb::ClassifierInfo> {
        reply(
            async {
                let model = self.cx.app.current_model().await?;
                Ok(self.classifier_info(model.as_deref()))
            }
            .await,
        )
    }

    async fn explain_route(
        &self,
        request: Request<pb::ExplainRouteRequest>,
    ) -> Reply<pb::ExplainRouteResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let draft = match &r.ticket {
                    Some(draft) => new_ticket(draft, "ticket.", self.cx.app.now(), &by)?,
                    None => {
                        return Err(crate::error::Error::invalid(
                            "ticket",
                            "is required: the draft to route",
                        ));
                    }
                };
                let explained = self.cx.app.explain_route(&draft, &by).await?;
                let decision = explained.decision;
                let route = decision.route;
                let mut tags = draft.tags.clone();
                tags.extend(route.tags.iter().cloned());
                Ok(pb::ExplainRouteResponse {
                    rules: decision
                        .trials
                        .into_iter()
                        .map(|t| pb::RuleTrial {
                            rule_id: t.rule_id,
                            rule_name: t.rule,
                            matched: t.matched,
                            why: t.why,
                        })
                        .collect(),
                    category_predictions: predictions(decision.category_predictions),
                    team_predictions: predictions(decision.team_predictions),
                    category: route.category.clone().unwrap_or_default(),
                    priority: pb::Priority::from(route.priority).into(),
                    priority_reasons: route.priority_reasons.clone(),
                    team: route.team.clone(),
                    routing_reason: route.reason.clone(),
                    strategy: pb::AssignmentStrategy::from(explained.strategy).into(),
                    agent: explained.agent.unwrap_or_default(),
                    assignment_reason: explained.reason,
                    repeat_of: route.repeat_of.clone().unwrap_or_default(),
                    tags: normalize_tags(tags),
                })
            }
            .await,
        )
    }
}
