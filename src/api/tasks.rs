//! TaskService: asking another team for something on a ticket, and its answer.

use tonic::Request;

use super::check::{Check, optional_key, request_id};
use super::convert::{self, from_duration, from_timestamp};
use super::paging::Page;
use super::{Context, Reply, caller, etag, reply};
use crate::app::tasks::{OnTask, TaskVerb};
use crate::domain::access::Caller;
use crate::domain::task::{Due, NewTask, TaskStatus, limits};
use crate::domain::ticket::limits as ticket_limits;
use crate::error::Result;
use crate::proto::feedback::v1::{self as pb, task_service_server::TaskService};
use crate::store::TaskFilter;

/// The TaskService handlers.
pub struct TaskApi {
    cx: Context,
}

impl TaskApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }

    /// A verb on one task: which, the etag seen and who acts, then the use case.
    async fn answer(
        &self,
        by: &Caller,
        (task_id, etag_seen, actor): (i64, &str, &str),
        read: impl FnOnce(&mut Check) -> TaskVerb,
    ) -> Result<Option<pb::Task>> {
        let acting = by.acting("actor", actor)?;
        let mut check = Check::new();
        let verb = read(&mut check);
        let task_id = check.id("task_id", task_id);
        let etag = etag(etag_seen).map(|e| check.text("etag", e, false, ticket_limits::KEY));
        check.done()?;
        let on = OnTask {
            task_id,
            etag,
            acting,
            by: by.principal.clone(),
        };
        let task = self.cx.app.answer_task(on, verb).await?;
        Ok(Some(convert::task(task)))
    }
}

#[tonic::async_trait]
impl TaskService for TaskApi {
    async fn create_task(
        &self,
        request: Request<pb::CreateTaskRequest>,
    ) -> Reply<pb::CreateTaskResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let acting = by.acting("actor", &r.actor)?;
                let mut check = Check::new();
                let ticket_id = check.id("ticket_id", r.ticket_id);
                let team = check.text("team", &r.team, true, ticket_limits::KEY);
                let agent = optional_key(&mut check, "agent", &r.agent);
                let ask = check.text("ask", &r.ask, true, limits::ASK);
                let milestone = check.optional_text("milestone", &r.milestone, limits::MILESTONE);
                let positive =
                    |check: &mut Check, field: &str, d: &Option<prost_types::Duration>| {
                        let d = d.as_ref()?;
                        match from_duration(d) {
                            Some(d) if d > limits::LONGEST => {
                                check.add(field, "is more than a year");
                                None
                            }
                            Some(d) if d > chrono::Duration::zero() => Some(d),
                            _ => {
                                check.add(field, "must be a positive duration");
                                None
                            }
                        }
                    };
                let due = match (&r.due_time, &r.due_within) {
                    (Some(at), None) => match from_timestamp(at) {
                        Some(at) if at > self.cx.app.now() + limits::LONGEST => {
                            check.add("due_time", "is more than a year ahead");
                            Due::At(at)
                        }
                        Some(at) => Due::At(at),
                        None => {
                            check.add("due_time", "is not a valid time");
                            Due::Within(chrono::Duration::zero())
                        }
                    },
                    (None, Some(_)) => Due::Within(
                        positive(&mut check, "due_within", &r.due_within).unwrap_or_default(),
                    ),
                    (Some(_), Some(_)) => {
                        check.add("due_within", "set due_time or due_within, not both");
                        Due::Within(chrono::Duration::zero())
                    }
                    (None, None) => {
                        check.add("due_time", "is required (or due_within)");
                        Due::Within(chrono::Duration::zero())
                    }
                };
                let accept_within = positive(&mut check, "accept_within", &r.accept_within);
                let new = NewTask {
                    ticket_id,
                    team,
                    agent,
                    ask,
                    due,
                    accept_within,
                    milestone,
                    // Idempotency keys are the caller's own.
                    request_id: request_id(&mut check, &r.request_id)
                        .map(|id| format!("{}/{id}", by.principal.actor())),
                };
                let new = check.finish(new)?;
                let task = self.cx.app.create_task(&by.principal, acting, new).await?;
                Ok(pb::CreateTaskResponse {
                    task: Some(convert::task(task)),
                })
            }
            .await,
        )
    }

    async fn get_task(&self, request: Request<pb::GetTaskRequest>) -> Reply<pb::Task> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let id = check.id("task_id", r.task_id);
                check.done()?;
                Ok(convert::task(self.cx.app.task(id, &by.principal).await?))
            }
            .await,
        )
    }

    async fn list_tasks(
        &self,
        request: Request<pb::ListTasksRequest>,
    ) -> Reply<pb::ListTasksResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let team = optional_key(&mut check, "team", &r.team);
                let ticket_id = (r.ticket_id != 0).then(|| check.id("ticket_id", r.ticket_id));
                if team.is_none() && ticket_id.is_none() {
                    check.add("team", "set team, ticket_id or both");
                }
                let statuses: Vec<TaskStatus> =
                    check.enums("statuses", &r.statuses, TaskStatus::ALL.len());
                let agent = optional_key(&mut check, "agent", &r.agent);
                let page: Page<i64> = Page::read(&mut check, &r);
                check.done()?;
                let filter = TaskFilter {
                    team,
                    ticket_id,
                    agent,
                    statuses,
                };
                let tasks = self
                    .cx
                    .app
                    .list_tasks(filter, page.after.unwrap_or(0), page.fetch(), &by.principal)
                    .await?;
                let (tasks, next_page_token) = page.finish(tasks, convert::task, |t| t.id);
                Ok(pb::ListTasksResponse {
                    tasks,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn accept_task(
        &self,
        request: Request<pb::AcceptTaskRequest>,
    ) -> Reply<pb::AcceptTaskResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let task = self
            .answer(&by, (r.task_id, &r.etag, &r.actor), |_| TaskVerb::Accept)
            .await;
        reply(task.map(|task| pb::AcceptTaskResponse { task }))
    }

    async fn complete_task(
        &self,
        request: Request<pb::CompleteTaskRequest>,
    ) -> Reply<pb::CompleteTaskResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let read = |check: &mut Check| TaskVerb::Complete {
            outcome: check.optional_text("outcome", &r.outcome, limits::NOTE),
        };
        let task = self.answer(&by, (r.task_id, &r.etag, &r.actor), read).await;
        reply(task.map(|task| pb::CompleteTaskResponse { task }))
    }

    async fn decline_task(
        &self,
        request: Request<pb::DeclineTaskRequest>,
    ) -> Reply<pb::DeclineTaskResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        let read = |check: &mut Check| TaskVerb::Decline {
            reason: check.text("reason", &r.reason, true, limits::NOTE),
        };
        let task = self.answer(&by, (r.task_id, &r.etag, &r.actor), read).await;
        reply(task.map(|task| pb::DeclineTaskResponse { task }))
    }
}
