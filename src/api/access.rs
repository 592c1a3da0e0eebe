//! AccessService: API keys, the caller's own identity, and the audit.

use tonic::Request;

use super::check::{Check, key, only_key};
use super::convert::timestamp;
use super::paging::{Page, by_id};
use super::{Context, Reply, caller, reply};
use crate::domain::access::{ApiKey, Permission, Principal};
use crate::domain::config::ConfigChange;
use crate::domain::ticket::limits;
use crate::proto::feedback::v1::{self as pb, access_service_server::AccessService};

/// Most teams a key names.
const MAX_TEAMS: usize = 50;

/// The AccessService handlers.
pub struct AccessApi {
    cx: Context,
}

impl AccessApi {
    pub fn new(cx: Context) -> Self {
        Self { cx }
    }
}

/// Who a new key is for, from a request.
fn holder(check: &mut Check, k: &pb::ApiKey) -> Principal {
    let teams: Vec<String> = k
        .teams
        .iter()
        .enumerate()
        .map(|(i, t)| key(check, &format!("key.teams[{i}]"), t))
        .collect();
    check.at_most("key.teams", teams.len(), MAX_TEAMS);
    Principal {
        name: key(check, "key.name", &k.name),
        role: check.required("key.role", k.role),
        agent: (!k.agent.is_empty()).then(|| key(check, "key.agent", &k.agent)),
        customer: check.optional_text("key.customer", &k.customer, limits::EXTERNAL_ID),
        teams,
    }
}

fn api_key(k: ApiKey) -> pb::ApiKey {
    pb::ApiKey {
        name: k.name,
        role: pb::Role::from(k.role).into(),
        teams: k.teams,
        agent: k.agent.unwrap_or_default(),
        customer: k.customer.unwrap_or_default(),
        prefix: k.prefix,
        created_by: k.created_by,
        create_time: Some(timestamp(k.created_at)),
        revoke_time: k.revoked_at.map(timestamp),
    }
}

fn audit_entry(c: ConfigChange) -> pb::AuditEntry {
    pb::AuditEntry {
        id: c.id,
        resource: c.resource,
        key: c.key,
        action: c.action.as_str().to_owned(),
        actor: c.actor,
        peer: c.peer.unwrap_or_default(),
        time: Some(timestamp(c.occurred_at)),
        before: c.before.map(structure),
        after: c.after.map(structure),
    }
}

/// A JSON object as a google.protobuf.Struct (anything else under the key "value").
fn structure(json: serde_json::Value) -> prost_types::Struct {
    use prost_types::value::Kind;
    fn value(json: serde_json::Value) -> prost_types::Value {
        let kind = match json {
            serde_json::Value::Null => Kind::NullValue(0),
            serde_json::Value::Bool(b) => Kind::BoolValue(b),
            serde_json::Value::Number(n) => Kind::NumberValue(n.as_f64().unwrap_or_default()),
            serde_json::Value::String(s) => Kind::StringValue(s),
            serde_json::Value::Array(items) => Kind::ListValue(prost_types::ListValue {
                values: items.into_iter().map(value).collect(),
            }),
            serde_json::Value::Object(fields) => Kind::StructValue(prost_types::Struct {
                fields: fields.into_iter().map(|(k, v)| (k, value(v))).collect(),
            }),
        };
        prost_types::Value { kind: Some(kind) }
    }
    match value(json) {
        prost_types::Value {
            kind: Some(Kind::StructValue(s)),
        } => s,
        other => prost_types::Struct {
            fields: [("value".to_owned(), other)].into(),
        },
    }
}

#[tonic::async_trait]
impl AccessService for AccessApi {
    async fn create_api_key(
        &self,
        request: Request<pb::CreateApiKeyRequest>,
    ) -> Reply<pb::CreateApiKeyResponse> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let given = super::check::given(&mut check, "key", r.key);
                let holder = holder(&mut check, &given);
                let holder = check.finish(holder)?;
                let (key, secret) = self.cx.app.create_api_key(&by, holder).await?;
                Ok(pb::CreateApiKeyResponse {
                    key: Some(api_key(key)),
                    secret,
                })
            }
            .await,
        )
    }

    async fn list_api_keys(
        &self,
        request: Request<pb::ListApiKeysRequest>,
    ) -> Reply<pb::ListApiKeysResponse> {
        let r = request.into_inner();
        reply(
            async {
                let app = &self.cx.app;
                let (keys, next_page_token) = by_id(
                    &r,
                    |after, rows| async move {
                        app.api_keys(after.as_deref(), r.show_revoked, rows).await
                    },
                    api_key,
                    |k| k.name.clone(),
                )
                .await?;
                Ok(pb::ListApiKeysResponse {
                    keys,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn revoke_api_key(&self, request: Request<pb::RevokeApiKeyRequest>) -> Reply<pb::ApiKey> {
        let by = caller(&request)?;
        let r = request.into_inner();
        reply(
            async {
                let name = only_key("name", &r.name)?;
                Ok(api_key(self.cx.app.revoke_api_key(&by, &name).await?))
            }
            .await,
        )
    }

    async fn list_audit_entries(
        &self,
        request: Request<pb::ListAuditEntriesRequest>,
    ) -> Reply<pb::ListAuditEntriesResponse> {
        let r = request.into_inner();
        reply(
            async {
                let mut check = Check::new();
                let resource = check.optional_text("resource", &r.resource, limits::NAME);
                let actor = check.optional_text("actor", &r.actor, limits::ACTOR);
                let page: Page<i64> = Page::read(&mut check, &r);
                check.done()?;
                let entries = self
                    .cx
                    .app
                    .audit_entries(
                        page.after,
                        resource.as_deref(),
                        actor.as_deref(),
                        page.fetch(),
                    )
                    .await?;
                let (entries, next_page_token) = page.finish(entries, audit_entry, |c| c.id);
                Ok(pb::ListAuditEntriesResponse {
                    entries,
                    next_page_token,
                })
            }
            .await,
        )
    }

    async fn get_caller(&self, request: Request<pb::GetCallerRequest>) -> Reply<pb::Caller> {
        let by = caller(&request)?;
        let permissions = Permission::ALL
            .iter()
            .filter(|p| p.held_by(by.role))
            .map(|p| p.as_str().to_owned())
            .collect();
        Ok(tonic::Response::new(pb::Caller {
            name: by.name.clone(),
            role: pb::Role::from(by.role).into(),
            teams: by.teams.clone(),
            agent: by.agent.clone().unwrap_or_default(),
            customer: by.customer.clone().unwrap_or_default(),
            actor: by.actor(),
            permissions,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_objects_become_structs() {
        let s = structure(serde_json::json!({"id": "billing", "members": ["ann"], "n": 2}));
        assert_eq!(s.fields.len(), 3);
        let wrapped = structure(serde_json::json!([1, 2]));
        assert!(wrapped.fields.contains_key("value"));
    }
}
