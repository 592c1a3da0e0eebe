//! Authentication at the edge: every call to the API carries `authorization: Bearer …`, an
//! API key or a signed JWT; the layer finds who it is, checks that their role holds the
//! permission the RPC needs ([`crate::domain::access::RPCS`]), takes one call from their
//! rate limit, and hands the handler the [`Caller`]. Health and reflection need nothing.
//! Row scope is the use cases' to check, on the row itself.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use tower::{Layer, Service};

use crate::api::limits::RateLimits;
use crate::app::App;
use crate::app::access::Rejected;
use crate::domain::access::{Caller, KEY_PREFIX, Permission, Principal, Role, permission_of};
use crate::error::Error;

/// How far a token's times may be off the server's clock.
const LEEWAY: Duration = Duration::from_secs(30);

/// Where JWTs come from and how their signatures are checked.
pub struct Jwt {
    validation: HashMap<Algorithm, Validation>,
    keys: JwtKeys,
}

enum JwtKeys {
    /// HS256 with a shared secret.
    Secret(DecodingKey),
    /// The identity provider's public keys by `kid`, each with its algorithm.
    Set(HashMap<String, (DecodingKey, Algorithm)>),
}

/// The claims feedbackd reads of a JWT, besides `iss`, `aud` and `exp`.
#[derive(Debug, Deserialize)]
struct Claims {
    sub: String,
    /// `admin`, `supervisor`, `agent`, `connector`, `customer` or `analyst`.
    role: String,
    /// The agent id, for role agent.
    #[serde(default)]
    agent: Option<String>,
    /// The teams, for supervisors and agents.
    #[serde(default)]
    teams: Vec<String>,
    /// The customer's external id, for role customer.
    #[serde(default)]
    customer: Option<String>,
}

impl Jwt {
    /// Tokens signed with the HS256 `secret`.
    pub fn with_secret(issuer: &str, audience: &str, secret: &[u8]) -> anyhow::Result<Jwt> {
        let key = DecodingKey::from_secret(secret)
            .map_err(|e| anyhow::anyhow!("the JWT secret is not usable: {e}"))?;
        Ok(Jwt {
            validation: [(
                Algorithm::HS256,
                validation(Algorithm::HS256, issuer, audience),
            )]
            .into(),
            keys: JwtKeys::Secret(key),
        })
    }

    /// Tokens signed by one of the keys of a JWKS document (each key with its `kid` and
    /// `alg`).
    pub fn with_jwks(issuer: &str, audience: &str, jwks: &[u8]) -> anyhow::Result<Jwt> {
        let set: JwkSet = serde_json::from_slice(jwks)
            .map_err(|e| anyhow::anyhow!("the JWKS is not a JSON Web Key Set: {e}"))?;
        let mut keys = HashMap::new();
        let mut validations = HashMap::new();
        for jwk in &set.keys {
            let kid = jwk
                .common
                .key_id
                .clone()
                .ok_or_else(|| anyhow::anyhow!("a key of the JWKS has no \"kid\""))?;
            let algorithm = jwk
                .common
                .key_algorithm
                .and_then(|a| Algorithm::try_from(a).ok())
                .ok_or_else(|| {
                    anyhow::anyhow!("key {kid:?} of the JWKS names no signing \"alg\"")
                })?;
            let key = DecodingKey::from_jwk(jwk)
                .map_err(|e| anyhow::anyhow!("key {kid:?} of the JWKS is not usable: {e}"))?;
            validations.insert(algorithm, validation(algorithm, issuer, audience));
            keys.insert(kid, (key, algorithm));
        }
        if keys.is_empty() {
            anyhow::bail!("the JWKS holds no keys");
        }
        Ok(Jwt {
            validation: validations,
            keys: JwtKeys::Set(keys),
        })
    }

    /// Who a token says its holder is, if its signature, issuer, audience and times hold.
    fn principal(&self, token: &str) -> Result<Principal, Rejected> {
        let bad = |e: jsonwebtoken::errors::Error| Rejected::Token(e.to_string());
        let (key, algorithm) = match &self.keys {
            JwtKeys::Secret(key) => (key, Algorithm::HS256),
            JwtKeys::Set(keys) => {
                let header = jsonwebtoken::decode_header(token).map_err(bad)?;
                let kid = header
                    .kid
                    .ok_or_else(|| Rejected::Token("it names no key (kid)".into()))?;
                let (key, algorithm) = keys
                    .get(&kid)
                    .ok_or_else(|| Rejected::Token(format!("key {kid:?} is not in the JWKS")))?;
                (key, *algorithm)
            }
        };
        let validation = &self.validation[&algorithm];
        let claims = jsonwebtoken::decode::<Claims>(token, key, validation)
            .map_err(bad)?
            .claims;
        let role: Role = claims
            .role
            .parse()
            .map_err(|_| Rejected::Token(format!("role {:?} is not a role", claims.role)))?;
        let principal = Principal {
            name: format!("jwt:{}", claims.sub),
            role,
            agent: claims.agent,
            teams: claims.teams,
            customer: claims.customer,
        };
        principal
            .check_scope()
            .map_err(|e| Rejected::Token(e.to_string()))?;
        Ok(principal)
    }
}

/// Checks the signature with `algorithm` alone (never the one the token's header asks for),
/// and requires the issuer, the audience, a subject and an expiry.
fn validation(algorithm: Algorithm, issuer: &str, audience: &str) -> Validation {
    let mut v = Validation::new(algorithm);
    v.set_issuer(&[issuer]);
    v.set_audience(&[audience]);
    v.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    v.validate_nbf = true;
    v.leeway = LEEWAY.as_secs();
    v
}

/// What the layer needs: the use cases (for keys), the JWT settings, and the rate limits.
pub struct Gate {
    pub app: Arc<App>,
    pub jwt: Option<Jwt>,
    pub limits: Arc<RateLimits>,
}

impl Gate {
    /// The caller that `token` (from `peer`) names, if it is good, holds `permission` and is
    /// within its rate limit.
    async fn admit(
        &self,
        token: Option<String>,
        peer: String,
        permission: Permission,
    ) -> Result<Caller, tonic::Status> {
        let token = token.ok_or(Rejected::Missing)?;
        let principal = self.authenticate(&token).await?;
        tracing::Span::current().record("caller", principal.name.as_str());
        principal.require(permission).map_err(Error::from)?;
        self.limits.call(&principal).map_err(Error::from)?;
        Ok(Caller { principal, peer })
    }

    async fn authenticate(&self, token: &str) -> Result<Arc<Principal>, Rejected> {
        if token.starts_with(KEY_PREFIX) {
            return self.app.authenticate_key(token).await;
        }
        match &self.jwt {
            Some(jwt) if token.matches('.').count() == 2 => jwt.principal(token).map(Arc::new),
            _ => Err(Rejected::Unknown),
        }
    }
}

/// The credential of `authorization: Bearer <credential>`.
fn bearer(headers: &http::HeaderMap) -> Option<&str> {
    let value = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, credential) = value.split_once(' ')?;
    let credential = credential.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !credential.is_empty()).then_some(credential)
}

#[derive(Clone)]
pub struct AuthLayer {
    pub gate: Arc<Gate>,
}

impl<S> Layer<S> for AuthLayer {
    type Service = Auth<S>;

    fn layer(&self, inner: S) -> Auth<S> {
        Auth {
            inner,
            gate: self.gate.clone(),
        }
    }
}

#[derive(Clone)]
pub struct Auth<S> {
    inner: S,
    gate: Arc<Gate>,
}

impl<S, B> Service<http::Request<B>> for Auth<S>
where
    S: Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Pin<Box<dyn Future<Output = Result<S::Response, S::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        let Some(permission) = permission_of(request.uri().path()) else {
            return Box::pin(self.inner.call(request));
        };
        // The clone is ready only after poll_ready: call the one that was polled.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let gate = self.gate.clone();
        let token = bearer(request.headers()).map(str::to_owned);
        let peer = super::rpc::peer(request.extensions());
        Box::pin(async move {
            match gate.admit(token, peer, permission).await {
                Ok(caller) => {
                    request.extensions_mut().insert(caller);
                    inner.call(request).await
                }
                Err(status) => Ok(status.into_http()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_credentials_are_read_from_the_header() {
        let mut headers = http::HeaderMap::new();
        assert_eq!(bearer(&headers), None);
        headers.insert("authorization", "Bearer fbk_abc".parse().unwrap());
        assert_eq!(bearer(&headers), Some("fbk_abc"));
        headers.insert("authorization", "bearer  fbk_abc ".parse().unwrap());
        assert_eq!(bearer(&headers), Some("fbk_abc"));
        headers.insert("authorization", "Basic dXNlcjpwYXNz".parse().unwrap());
        assert_eq!(bearer(&headers), None);
        headers.insert("authorization", "Bearer ".parse().unwrap());
        assert_eq!(bearer(&headers), None);
    }

    fn token(secret: &[u8], claims: serde_json::Value) -> String {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
        )
        .unwrap()
    }

    #[test]
    fn jwts_are_checked_and_mapped_to_a_principal() {
        let jwt = Jwt::with_secret(
            "https://idp",
            "feedbackd",
            b"0123456789abcdef0123456789abcdef",
        )
        .unwrap();
        let exp = chrono::Utc::now().timestamp() + 600;
        let good = serde_json::json!({
            "iss": "https://idp", "aud": "feedbackd", "sub": "ann@example.com", "exp": exp,
            "role": "agent", "agent": "ann", "teams": ["billing"],
        });
        let secret = b"0123456789abcdef0123456789abcdef";
        let p = jwt.principal(&token(secret, good.clone())).unwrap();
        assert_eq!((p.role, p.actor().as_str()), (Role::Agent, "ann"));
        assert_eq!(p.name, "jwt:ann@example.com");

        let mut expired = good.clone();
        expired["exp"] = serde_json::json!(exp - 3600);
        let mut other_audience = good.clone();
        other_audience["aud"] = serde_json::json!("crm");
        let mut no_agent = good.clone();
        no_agent.as_object_mut().unwrap().remove("agent");
        for bad in [
            token(secret, expired),
            token(secret, other_audience),
            token(secret, no_agent),
            token(b"another secret of thirty-two b..", good),
        ] {
            assert!(
                matches!(jwt.principal(&bad), Err(Rejected::Token(_))),
                "{bad}"
            );
        }
    }
}
