//! RoutingService: teams, agents, rules, the classifier, and ExplainRoute.

use tonic::Request;

use super::convert;
use super::paging::{self, DEFAULT_PAGE, MAX_PAGE};
use super::tickets::new_ticket;
use super::validate::{Check, actor, key, only_key, optional_key, patch};
use super::{Context, Reply, etag, reply};
use crate::domain::assignment::{Availability, Strategy};
use crate::domain::classifier::Candidate;
use crate::domain::rules::{Actions, Conditions, Rule};
use crate::domain::staff::{Agent, Team, normalize_labels};
use crate::domain::ticket::limits;
use crate::error::{Error, Result};
use crate::proto::feedback::v1::{self as pb, routing_service_server::RoutingService};
use crate::store::StoredModel;

/// Capacity of an agent created without one.
const DEFAULT_CAPACITY: u32 = 10;
/// Longest keyword, product or category a rule may name.
const RULE_TERM: usize = 128;

/// The RoutingService handlers.
pub struct RoutingApi {
    cx: Context,
}

impl RoutingApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }
}

/// A team from a request; `mask`, when given, limits the fields read.
fn team(check: &mut Check, t: &pb::Team, now: chrono::DateTime<chrono::Utc>) -> Team {
    let id = key(check, "team.id", &t.id);
    let display_name = check
        .optional_text("team.display_name", &t.display_name, limits::NAME)
        .unwrap_or_else(|| id.clone());
    Team {
        display_name,
        supervisor: optional_key(check, "team.supervisor", &t.supervisor),
        time_zone: check.time_zone("team.time_zone", &t.time_zone),
        calendar: check.optional_text("team.calendar", &t.calendar, limits::KEY),
        strategy: check
            .optional_enum("team.strategy", t.strategy)
            .unwrap_or(Strategy::RoundRobin),
        id,
        members: Vec::new(),
        queued: 0,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

fn agent(check: &mut Check, a: &pb::Agent, now: chrono::DateTime<chrono::Utc>) -> Agent {
    let id = key(check, "agent.id", &a.id);
    let display_name = check
        .optional_text("agent.display_name", &a.display_name, limits::NAME)
        .unwrap_or_else(|| id.clone());
    if a.teams.len() > limits::TEAMS_PER_AGENT {
        check.add(
            "agent.teams",
            format!("has more than {} teams", limits::TEAMS_PER_AGENT),
        );
    }
    let mut teams: Vec<String> = a
        .teams
        .iter()
        .enumerate()
        .map(|(i, t)| key(check, &format!("agent.teams[{i}]"), t))
        .collect();
    teams.sort();
    teams.dedup();
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

fn rule(check: &mut Check, r: &pb::RoutingRule, now: chrono::DateTime<chrono::Utc>) -> Rule {
    let name = check.text("rule.name", &r.name, true, limits::NAME);
    let c = r.conditions.clone().unwrap_or_default();
    let conditions = Conditions {
        kinds: check.enums("rule.conditions.kinds", &c.kinds),
        channels: check.enums("rule.conditions.channels", &c.channels),
        products: check.labels("rule.conditions.products", &c.products, 100, RULE_TERM),
        categories: check.labels(
            "rule.conditions.categories",
            &c.categories,
            100,
            limits::CATEGORY,
        ),
        tiers: check.enums("rule.conditions.tiers", &c.tiers),
        priorities: check.enums("rule.conditions.priorities", &c.priorities),
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
        name,
        enabled: !r.disabled,
        conditions,
        actions,
        version: 1,
        created_at: now,
        updated_at: now,
    }
}

impl RoutingApi {
    /// Refuses a supervisor or a rule's team that does not exist.
    async fn check_exists(&self, team: Option<&str>, agent: Option<&str>) -> Result<()> {
        if let Some(team) = team {
            self.cx.store.get_team(team).await?;
        }
        if let Some(agent) = agent {
            self.cx.store.get_agent(agent).await?;
        }
        Ok(())
    }

    fn classifier_info(&self, model: Option<&StoredModel>) -> pb::ClassifierInfo {
        let threshold = self.cx.router.settings().confidence_threshold;
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

fn predictions(candidates: Vec<Candidate>) -> Vec<pb::Prediction> {
    candidates
        .into_iter()
        .map(|c| pb::Prediction {
            label: c.label,
            confidence: c.confidence,
        })
        .collect()
}

fn rules_response(rules: Vec<Rule>) -> pb::ListRoutingRulesResponse {
    pb::ListRoutingRulesResponse {
        rules: rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| convert::rule(r, i + 1))
            .collect(),
    }
}

#[tonic::async_trait]
impl RoutingService for RoutingApi {
    async fn create_team(&self, request: Request<pb::CreateTeamRequest>) -> Reply<pb::Team> {
        let r = request.into_inner();
        reply(
            async {
                let Some(t) = r.team else {
                    return Err(Error::invalid("team", "is required"));
                };
                let mut check = Check::new();
                let team = team(&mut check, &t, self.cx.now());
                check.finish()?;
                self.check_exists(None, team.supervisor.as_deref()).await?;
                Ok(convert::team(self.cx.store.create_team(team).await?))
            }
            .await,
        )
    }

    async fn get_team(&self, request: Request<pb::GetTeamRequest>) -> Reply<pb::Team> {
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                Ok(convert::team(self.cx.store.get_team(&id).await?))
            }
            .await,
        )
    }

    async fn list_teams(
        &self,
        request: Request<pb::ListTeamsRequest>,
    ) -> Reply<pb::ListTeamsResponse> {
        let r = request.into_inner();
        let store = &self.cx.store;
        reply(
            async {
                let (teams, next_page_token) = paging::by_id(
                    &pb::ListTeamsRequest::default(),
                    r.page_size,
                    &r.page_token,
                    |after, limit| async move { store.list_teams(after.as_deref(), limit).await },
                    convert::team,
                    |x| x.id.clone(),
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
        let r = request.into_inner();
        reply(
            async {
                let Some(given) = r.team else {
                    return Err(Error::invalid(
                        "team",
                        "is required: set team.id and the new values",
                    ));
                };
                let mut check = Check::new();
                let (paths, new) = patch(
                    &mut check,
                    "team",
                    r.update_mask.as_ref(),
                    &[
                        "display_name",
                        "supervisor",
                        "time_zone",
                        "calendar",
                        "strategy",
                    ],
                    |check| team(check, &given, self.cx.now()),
                );
                if paths.iter().any(|p| p == "strategy") && given.strategy == 0 {
                    check.add("team.strategy", "is required");
                }
                check.finish()?;
                if paths.iter().any(|p| p == "supervisor") {
                    self.check_exists(None, new.supervisor.as_deref()).await?;
                }
                let team = self
                    .cx
                    .store
                    .update_team(&new.id, etag(&given.etag), self.cx.now(), |t| {
                        for path in &paths {
                            match path.as_str() {
                                "display_name" => t.display_name = new.display_name.clone(),
                                "supervisor" => t.supervisor = new.supervisor.clone(),
                                "time_zone" => t.time_zone = new.time_zone.clone(),
                                "calendar" => t.calendar = new.calendar.clone(),
                                "strategy" => t.strategy = new.strategy,
                                other => unreachable!("mask path {other} passed the check"),
                            }
                        }
                        Ok(())
                    })
                    .await?;
                Ok(convert::team(team))
            }
            .await,
        )
    }

    async fn delete_team(
        &self,
        request: Request<pb::DeleteTeamRequest>,
    ) -> Reply<pb::DeleteTeamResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = key(&mut check, "id", &r.id);
                if id == self.cx.router.settings().triage_team {
                    check.add("id", "is the triage team, which routing needs");
                }
                check.finish()?;
                self.cx.store.delete_team(&id, etag(&r.etag)).await?;
                Ok(pb::DeleteTeamResponse {})
            }
            .await,
        )
    }

    async fn list_team_queue(
        &self,
        request: Request<pb::ListTeamQueueRequest>,
    ) -> Reply<pb::ListTeamQueueResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let team = key(&mut check, "team", &r.team);
                let limit = check.page_size("page_size", r.page_size, DEFAULT_PAGE, MAX_PAGE);
                check.finish()?;
                self.cx.store.get_team(&team).await?;
                let query = paging::fingerprint(&pb::ListTeamQueueRequest {
                    team: team.clone(),
                    ..Default::default()
                });
                let after = paging::decode(query, &r.page_token)?;
                let tickets = self.cx.store.team_queue(&team, after, limit + 1).await?;
                let (tickets, next_page_token) =
                    paging::page(tickets, limit, query, convert::ticket, |t| {
                        (t.priority.rank(), t.id)
                    });
                Ok(pb::ListTeamQueueResponse {
                    tickets,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn create_agent(&self, request: Request<pb::CreateAgentRequest>) -> Reply<pb::Agent> {
        let r = request.into_inner();
        reply(
            async {
                let Some(a) = r.agent else {
                    return Err(Error::invalid("agent", "is required"));
                };
                let mut check = Check::new();
                let agent = agent(&mut check, &a, self.cx.now());
                check.finish()?;
                let agent = self.cx.store.create_agent(agent).await?;
                self.cx.router.after_agent_change(&agent).await;
                Ok(convert::agent(self.cx.store.get_agent(&agent.id).await?))
            }
            .await,
        )
    }

    async fn get_agent(&self, request: Request<pb::GetAgentRequest>) -> Reply<pb::Agent> {
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                Ok(convert::agent(self.cx.store.get_agent(&id).await?))
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
                let limit = check.page_size("page_size", r.page_size, DEFAULT_PAGE, MAX_PAGE);
                check.finish()?;
                let query = paging::fingerprint(&pb::ListAgentsRequest {
                    page_size: 0,
                    page_token: String::new(),
                    ..r.clone()
                });
                let after: Option<String> = paging::decode(query, &r.page_token)?;
                let agents = self
                    .cx
                    .store
                    .list_agents(team.as_deref(), availability, after.as_deref(), limit + 1)
                    .await?;
                let (agents, next_page_token) =
                    paging::page(agents, limit, query, convert::agent, |a| a.id.clone());
                Ok(pb::ListAgentsResponse {
                    agents,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn update_agent(&self, request: Request<pb::UpdateAgentRequest>) -> Reply<pb::Agent> {
        let r = request.into_inner();
        reply(
            async {
                let Some(given) = r.agent else {
                    return Err(Error::invalid(
                        "agent",
                        "is required: set agent.id and the new values",
                    ));
                };
                let mut check = Check::new();
                let (paths, new) = patch(
                    &mut check,
                    "agent",
                    r.update_mask.as_ref(),
                    &[
                        "display_name",
                        "teams",
                        "skills",
                        "capacity",
                        "availability",
                    ],
                    |check| agent(check, &given, self.cx.now()),
                );
                if paths.iter().any(|p| p == "availability") && given.availability == 0 {
                    check.add("agent.availability", "is required");
                }
                if paths.iter().any(|p| p == "capacity") && given.capacity == 0 {
                    check.add("agent.capacity", "is required");
                }
                check.finish()?;
                let (_, agent) = self
                    .cx
                    .store
                    .update_agent(&new.id, etag(&given.etag), self.cx.now(), |a| {
                        for path in &paths {
                            match path.as_str() {
                                "display_name" => a.display_name = new.display_name.clone(),
                                "teams" => a.teams = new.teams.clone(),
                                "skills" => a.skills = new.skills.clone(),
                                "capacity" => a.capacity = new.capacity,
                                "availability" => a.availability = new.availability,
                                other => unreachable!("mask path {other} passed the check"),
                            }
                        }
                        Ok(())
                    })
                    .await?;
                self.cx.router.after_agent_change(&agent).await;
                Ok(convert::agent(self.cx.store.get_agent(&agent.id).await?))
            }
            .await,
        )
    }

    async fn set_agent_availability(
        &self,
        request: Request<pb::SetAgentAvailabilityRequest>,
    ) -> Reply<pb::Agent> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = key(&mut check, "id", &r.id);
                let availability = check.required_enum("availability", r.availability);
                check.finish()?;
                let availability = availability.expect("checked");
                let (_, agent) = self
                    .cx
                    .store
                    .update_agent(&id, None, self.cx.now(), |a| {
                        a.availability = availability;
                        Ok(())
                    })
                    .await?;
                self.cx.router.after_agent_change(&agent).await;
                Ok(convert::agent(self.cx.store.get_agent(&id).await?))
            }
            .await,
        )
    }

    async fn delete_agent(
        &self,
        request: Request<pb::DeleteAgentRequest>,
    ) -> Reply<pb::DeleteAgentResponse> {
        let r = request.into_inner();
        reply(
            async {
                let id = only_key("id", &r.id)?;
                self.cx.store.delete_agent(&id, etag(&r.etag)).await?;
                Ok(pb::DeleteAgentResponse {})
            }
            .await,
        )
    }

    async fn create_routing_rule(
        &self,
        request: Request<pb::CreateRoutingRuleRequest>,
    ) -> Reply<pb::RoutingRule> {
        let r = request.into_inner();
        reply(
            async {
                let Some(given) = r.rule else {
                    return Err(Error::invalid("rule", "is required"));
                };
                let mut check = Check::new();
                let mut rule = rule(&mut check, &given, self.cx.now());
                rule.id = 0;
                if r.position < 0 {
                    check.add("position", "must not be negative");
                }
                check.finish()?;
                self.check_exists(rule.actions.team.as_deref(), None)
                    .await?;
                let position = usize::try_from(r.position).ok().filter(|&p| p > 0);
                let (created, at) = self.cx.store.create_rule(rule, position).await?;
                Ok(convert::rule(created, at))
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
                check.id("id", id);
                check.finish()?;
                let rules = self.cx.store.list_rules().await?;
                let at = rules
                    .iter()
                    .position(|r| r.id == id)
                    .ok_or_else(|| Error::not_found("routing rule", id))?;
                Ok(convert::rule(rules[at].clone(), at + 1))
            }
            .await,
        )
    }

    async fn list_routing_rules(
        &self,
        _request: Request<pb::ListRoutingRulesRequest>,
    ) -> Reply<pb::ListRoutingRulesResponse> {
        reply(self.cx.store.list_rules().await.map(rules_response))
    }

    async fn update_routing_rule(
        &self,
        request: Request<pb::UpdateRoutingRuleRequest>,
    ) -> Reply<pb::RoutingRule> {
        let r = request.into_inner();
        reply(
            async {
                let Some(given) = r.rule else {
                    return Err(Error::invalid(
                        "rule",
                        "is required: set rule.id and the new values",
                    ));
                };
                let mut check = Check::new();
                let id = check.id("rule.id", given.id);
                let (paths, new) = patch(
                    &mut check,
                    "rule",
                    r.update_mask.as_ref(),
                    &["name", "disabled", "conditions", "actions"],
                    |check| rule(check, &given, self.cx.now()),
                );
                check.finish()?;
                if paths.iter().any(|p| p == "actions") {
                    self.check_exists(new.actions.team.as_deref(), None).await?;
                }
                let (rule, at) = self
                    .cx
                    .store
                    .update_rule(id, etag(&given.etag), self.cx.now(), |rule| {
                        for path in &paths {
                            match path.as_str() {
                                "name" => rule.name = new.name.clone(),
                                "disabled" => rule.enabled = new.enabled,
                                "conditions" => rule.conditions = new.conditions.clone(),
                                "actions" => rule.actions = new.actions.clone(),
                                other => unreachable!("mask path {other} passed the check"),
                            }
                        }
                        Ok(())
                    })
                    .await?;
                Ok(convert::rule(rule, at))
            }
            .await,
        )
    }

    async fn delete_routing_rule(
        &self,
        request: Request<pb::DeleteRoutingRuleRequest>,
    ) -> Reply<pb::DeleteRoutingRuleResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("id", r.id);
                check.finish()?;
                self.cx.store.delete_rule(id, etag(&r.etag)).await?;
                Ok(pb::DeleteRoutingRuleResponse {})
            }
            .await,
        )
    }

    async fn reorder_routing_rules(
        &self,
        request: Request<pb::ReorderRoutingRulesRequest>,
    ) -> Reply<pb::ListRoutingRulesResponse> {
        let ids = request.into_inner().rule_ids;
        reply(self.cx.store.reorder_rules(&ids).await.map(rules_response))
    }

    async fn retrain_classifier(
        &self,
        request: Request<pb::RetrainClassifierRequest>,
    ) -> Reply<pb::ClassifierInfo> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let actor = actor(&mut check, "actor", &r.actor);
                check.finish()?;
                let model = self.cx.router.retrain(&actor).await?;
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
                let model = self.cx.router.current_model().await?;
                Ok(self.classifier_info(model.as_deref()))
            }
            .await,
        )
    }

    async fn explain_route(
        &self,
        request: Request<pb::ExplainRouteRequest>,
    ) -> Reply<pb::ExplainRouteResponse> {
        let r = request.into_inner();
        reply(
            async {
                let Some(draft) = r.ticket else {
                    return Err(Error::invalid("ticket", "is required: the draft to route"));
                };
                let new = new_ticket(draft, self.cx.now()).map_err(|e| match e {
                    Error::InvalidArgument(violations) => Error::InvalidArgument(
                        violations
                            .into_iter()
                            .map(|mut v| {
                                v.field = format!("ticket.{}", v.field);
                                v
                            })
                            .collect(),
                    ),
                    other => other,
                })?;
                let decision = self.cx.router.decide(&new).await?;
                let route = decision.route;
                let pick = self.cx.router.would_pick(&new, &route).await?;
                let mut tags = new.tags.clone();
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
                    strategy: pb::AssignmentStrategy::from(pick.strategy).into(),
                    agent: pick.agent.unwrap_or_default(),
                    assignment_reason: pick.reason,
                    repeat_of: route.repeat_of.clone().unwrap_or_default(),
                    tags: crate::domain::ticket::normalize_tags(tags),
                })
            }
            .await,
        )
    }
}
